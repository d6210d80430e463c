package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// box is a real shoeboxd process on file-backed disks.
type box struct {
	t       *testing.T
	dir     string
	state   string
	disks   []string
	inbox   string
	cards   string
	library string
	listen  string
	cmd     *exec.Cmd
	log     *bytes.Buffer
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// smtpServer is a minimal real SMTP server on loopback that records the
// messages it receives.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "220 test ESMTP\r\n")
	var data strings.Builder
	inData := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if inData {
			if line == ".\r\n" {
				inData = false
				s.mu.Lock()
				s.msgs = append(s.msgs, data.String())
				s.mu.Unlock()
				fmt.Fprint(c, "250 queued\r\n")
				continue
			}
			data.WriteString(line)
			continue
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			fmt.Fprint(c, "250 test\r\n")
		case cmd == "DATA":
			inData = true
			data.Reset()
			fmt.Fprint(c, "354 go ahead\r\n")
		case cmd == "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "250 ok\r\n")
		}
	}
}

func (s *smtpServer) received(substr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strings.Contains(m, substr) {
			return true
		}
	}
	return false
}

// newBoxDirs makes a box's folders (three disks, the card folder) and
// passphrase file, without a configuration.
func newBoxDirs(t *testing.T) *box {
	t.Helper()
	dir := t.TempDir()
	b := &box{t: t, dir: dir, state: filepath.Join(dir, "state"), inbox: filepath.Join(dir, "inbox"),
		cards: filepath.Join(dir, "cards"), library: filepath.Join(dir, "library"), listen: freePort(t)}
	for i := 1; i <= 3; i++ {
		d := filepath.Join(dir, fmt.Sprintf("disk%d", i))
		os.MkdirAll(d, 0o755)
		b.disks = append(b.disks, d)
	}
	os.MkdirAll(b.cards, 0o755)
	os.WriteFile(filepath.Join(dir, "pass"), []byte(testPassword+"\n"), 0o600)
	return b
}

// writeConfig writes shoeboxd.yaml: the box's state, listener, disks and
// passphrase, then rest (sources, cards, ...).
func (b *box) writeConfig(rest string) {
	b.t.Helper()
	cfg := fmt.Sprintf(`state_dir: %s
listen: %s
disks:
  members: [%s]
  data: 2
  parity: 1
  allow_same_drive: true
repository:
  passphrase_file: %s
`, b.state, b.listen, strings.Join(b.disks, ", "), filepath.Join(b.dir, "pass")) + rest
	if err := os.WriteFile(filepath.Join(b.dir, "shoeboxd.yaml"), []byte(cfg), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

func newBox(t *testing.T, webhook string, smtpAddr string) *box {
	t.Helper()
	b := newBoxDirs(t)
	dir := b.dir
	b.writeConfig(fmt.Sprintf(`sources:
  - name: inbox
    path: %s
    settle: 1s
    retention: {keep_last: 2}
  - name: never
    path: %s
    mode: scheduled
    schedule: every 6h
    expect_every: 2s
cards:
  watch: [%s]
  mount_roots: []
  library: %s
  required_copies: 1
smart:
  disabled: true
scrub:
  every: 3s
  first_delay: 1s
alerts:
  webhooks: [%s]
  email: {smtp: "%s", from: box@example.invalid, to: [owner@example.invalid]}
`, b.inbox, filepath.Join(dir, "never"), b.cards, b.library, webhook, smtpAddr))
	return b
}

func (b *box) start() {
	b.t.Helper()
	b.log = &bytes.Buffer{}
	b.cmd = exec.Command(shoeboxdBin, "-config", filepath.Join(b.dir, "shoeboxd.yaml"))
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { b.cmd.Process.Kill(); b.cmd.Wait() })
	b.waitFor("healthz ok", 60*time.Second, func() bool {
		code, _ := b.get("/healthz", false)
		return code == 200
	})
}

func (b *box) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// get fetches a path; with auth, the local API token is sent.
func (b *box) get(path string, auth bool) (int, []byte) {
	req, _ := http.NewRequest("GET", "https://"+b.listen+path, nil)
	if auth {
		tok, _ := os.ReadFile(filepath.Join(b.state, "api-token"))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := b.client().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// post sends an empty POST with the local API token.
func (b *box) post(path string) (int, []byte) {
	req, _ := http.NewRequest("POST", "https://"+b.listen+path, nil)
	tok, _ := os.ReadFile(filepath.Join(b.state, "api-token"))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := b.client().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// stop stops the daemon gracefully (SIGTERM) and waits for it.
func (b *box) stop() {
	b.t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b.t.Errorf("shoeboxd after SIGTERM: %v\n%s", err, b.log)
		}
	case <-time.After(40 * time.Second):
		b.t.Fatalf("shoeboxd did not stop on SIGTERM")
	}
}

func (b *box) waitFor(what string, d time.Duration, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.t.Fatalf("timed out after %s waiting for %s; daemon log:\n%s", d, what, b.log)
}

// cli runs the shoebox CLI against the daemon's state directory.
func (b *box) cli(args ...string) result {
	r := &repo{t: b.t, dir: "raid:" + strings.Join(b.disks, ","), password: testPassword,
		env: []string{"SHOEBOX_STATE_DIR=" + b.state, "SHOEBOX_DAEMON=https://" + b.listen}}
	return r.run(args...)
}

// cardsOf decodes GET /v1/cards ({"cards": [...]}) into rows of T.
func cardsOf[T any](body []byte) []T {
	var r struct{ Cards []T }
	json.Unmarshal(body, &r)
	return r.Cards
}

func (b *box) sources() map[string]map[string]any {
	_, body := b.get("/v1/sources", true)
	var resp struct{ Sources []map[string]any }
	json.Unmarshal(body, &resp)
	out := map[string]map[string]any{}
	for _, r := range resp.Sources {
		out[r["name"].(string)] = r
	}
	return out
}

// TestDaemon runs the real daemon on file-backed disks: continuous backup
// of a watched folder within seconds, card ingest to SAFE TO FORMAT, the
// stall alert delivered to a real webhook, the API's access rules, a
// SIGKILL mid-backup with recovery on restart, and a graceful stop.
func TestDaemon(t *testing.T) {
	var mu sync.Mutex
	var hooks []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		hooks = append(hooks, p)
		mu.Unlock()
	}))
	defer hook.Close()
	mail := newSMTPServer(t)
	b := newBox(t, hook.URL, mail.ln.Addr().String())
	b.start()

	// Access rules: /healthz open, the API needs the token.
	if code, _ := b.get("/v1/status", false); code != http.StatusUnauthorized {
		t.Errorf("API without token: HTTP %d, want 401", code)
	}
	if code, body := b.get("/metrics", false); code != 200 || !bytes.Contains(body, []byte("shoebox_backup_runs_total")) {
		t.Errorf("/metrics from loopback: HTTP %d", code)
	}

	// A photo dropped into the watched folder is in a snapshot within
	// seconds. (The scrub check below needs it.)
	os.MkdirAll(filepath.Join(b.inbox, "2026-11-22"), 0o755)
	photo := filepath.Join(b.inbox, "2026-11-22", "DSC_0001.JPG")
	os.WriteFile(photo, bytes.Repeat([]byte("jpeg"), 50000), 0o644)
	dropped := time.Now()
	b.waitFor("the photo in a snapshot", 30*time.Second, func() bool {
		res := b.cli("ls", "latest", "-R", b.inbox)
		return res.code == 0 && strings.Contains(res.stdout, "DSC_0001.JPG")
	})
	t.Logf("photo backed up %.1f s after it appeared", time.Since(dropped).Seconds())

	// A shard corrupted on a disk is found and repaired by the scheduled
	// scrub, which raises an alert.
	shards, _ := filepath.Glob(filepath.Join(b.disks[0], "shoebox", "shards", "data", "*", "*"))
	if len(shards) == 0 {
		t.Fatal("no data shards on the first disk")
	}
	sb, _ := os.ReadFile(shards[0])
	sb[len(sb)/2] ^= 0xff
	os.WriteFile(shards[0], sb, 0o600)
	b.waitFor("a scrub alert", 30*time.Second, func() bool {
		_, body := b.get("/v1/alerts?all=1", true)
		return bytes.Contains(body, []byte(`"kind":"scrub"`))
	})
	// The scrub is in the status's operations (running, or finished
	// within the last minute), and `shoebox status` shows it.
	var st struct {
		Operations []struct {
			Kind, Subject string
			FilesDone     int64 `json:"files_done,string"` // int64 is a string in the API's JSON
			FilesTotal    int64 `json:"files_total,string"`
		}
	}
	_, body := b.get("/v1/status", true)
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("status: %v: %s", err, body)
	}
	scrubbed := false
	for _, op := range st.Operations {
		scrubbed = scrubbed || op.Kind == "scrub" && op.Subject == "array" && op.FilesTotal > 0
	}
	if !scrubbed {
		t.Errorf("status operations: %s; want a scrub of the array with its object count", body)
	}
	if res := b.cli("status"); res.code != 0 || !strings.Contains(res.stdout, "OPERATION") || !strings.Contains(res.stdout, "scrub") {
		t.Errorf("shoebox status: %v; want the scrub among the operations", res)
	}

	// The stalled source raises an alert, delivered to the webhook.
	b.waitFor("a backup-stalled webhook", 40*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooks {
			if a, ok := h["alert"].(map[string]any); ok && a["kind"] == "backup-stalled" {
				return true
			}
		}
		return false
	})
	if res := b.cli("alerts"); res.code != 0 || !strings.Contains(res.stdout, "No backup of never") {
		t.Errorf("shoebox alerts: %v", res)
	}
	b.waitFor("the stall alert by email", 20*time.Second, func() bool { return mail.received("No backup of never") })

	// A card is ingested and becomes SAFE TO FORMAT once its files are
	// backed up and read back; a file changed on the card makes it unsafe.
	card := filepath.Join(b.cards, "CARD0001")
	os.MkdirAll(filepath.Join(card, "DCIM", "100CANON"), 0o755)
	for i := 0; i < 5; i++ {
		os.WriteFile(filepath.Join(card, "DCIM", "100CANON", fmt.Sprintf("IMG_%04d.CR2", i)), bytes.Repeat([]byte{byte(i)}, 100000), 0o644)
	}
	var verdicts []map[string]any
	b.waitFor("the card SAFE TO FORMAT", 60*time.Second, func() bool {
		_, body := b.get("/v1/cards", true)
		verdicts = cardsOf[map[string]any](body)
		return len(verdicts) == 1 && verdicts[0]["safe_to_format"] == true
	})
	// The card's ledger: every file, its library copy, verified.
	var ledger struct {
		Files []struct {
			CardPath string `json:"card_path"`
			Verified bool
			Sha256   string
		}
	}
	if code, body := b.get("/v1/cards/CARD0001", true); code != 200 || json.Unmarshal(body, &ledger) != nil {
		t.Errorf("GET /v1/cards/CARD0001: HTTP %d %s", code, body)
	}
	if len(ledger.Files) != 5 || !ledger.Files[0].Verified || len(ledger.Files[0].Sha256) != 64 {
		t.Errorf("card ledger: %+v; want 5 verified files with their SHA-256", ledger.Files)
	}
	os.WriteFile(filepath.Join(card, "DCIM", "100CANON", "IMG_0002.CR2"), []byte("changed"), 0o644)
	_, body = b.get("/v1/cards", true)
	verdicts = cardsOf[map[string]any](body)
	if len(verdicts) != 1 || verdicts[0]["safe_to_format"] != false {
		t.Errorf("after a file on the card changed: %s; want NOT SAFE", body)
	}

	// SIGKILL in the middle of a large backup; the restarted daemon
	// recovers and backs the file up; nothing earlier is lost.
	big := filepath.Join(b.inbox, "clip.MOV")
	f, _ := os.Create(big)
	buf := make([]byte, 1<<20)
	for i := 0; i < 120; i++ {
		for j := range buf {
			buf[j] = byte(i*31 + j*7)
		}
		f.Write(buf)
	}
	f.Close()
	b.waitFor("the large backup to start", 30*time.Second, func() bool {
		return b.sources()["inbox"]["running"] == true
	})
	b.cmd.Process.Signal(syscall.SIGKILL)
	b.cmd.Wait()
	b.start()
	b.waitFor("the large file in a snapshot after restart", 60*time.Second, func() bool {
		res := b.cli("ls", "latest", "-R", b.inbox)
		return res.code == 0 && strings.Contains(res.stdout, "clip.MOV")
	})

	// A graceful stop, then the repository checks clean and restores.
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shoeboxd after SIGTERM: %v\n%s", err, b.log)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("shoeboxd did not stop on SIGTERM")
	}
	if res := b.cli("check", "--read-data"); res.code != 0 {
		t.Errorf("check after the daemon stopped: %v", res)
	}
	// Retention (keep_last 2) was applied to the source's snapshots.
	var snaps []map[string]any
	res := b.cli("--json", "snapshots", "--tag", "source:inbox")
	json.Unmarshal([]byte(res.stdout), &snaps)
	if len(snaps) == 0 || len(snaps) > 2 {
		t.Errorf("inbox snapshots after retention keep_last 2: %d (%s)", len(snaps), res.stdout)
	}
	out := filepath.Join(b.dir, "restore")
	if res := b.cli("restore", "latest", "--target", out); res.code != 0 {
		t.Fatalf("restore: %v", res)
	}
	for _, p := range []string{photo, big} {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s: %d bytes (%v), want %d", p, len(got), err, len(want))
		}
	}
}
