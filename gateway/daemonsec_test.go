package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/vault"
)

// Security tests of the daemon side of the API: what sources may read,
// where restores write, what each role sees, and the TLS the box offers.
// Each reproduces an attack from issue 12 against a real daemon and
// gateway on loopback.

// runSource backs up the named source now and returns its new snapshot
// (or "" with the source's error when the backup failed).
func (b *testBox) runSource(name string) (snap, lastErr string) {
	b.t.Helper()
	status := func() appliance.SourceInfo {
		for _, s := range b.d.Sources() {
			if s.Name == name {
				return s
			}
		}
		b.t.Fatalf("no source %s", name)
		return appliance.SourceInfo{}
	}
	before := status()
	if err := b.d.RunSource(name); err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	seenRunning := false
	for time.Now().Before(deadline) {
		s := status()
		seenRunning = seenRunning || s.Running
		if !s.Running && s.LastSnap != before.LastSnap {
			return s.LastSnap, ""
		}
		if !s.Running && s.LastError != "" && (seenRunning || s.LastError != before.LastError) {
			return "", s.LastError
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.t.Fatalf("source %s: no backup ended within 60 s", name)
	return "", ""
}

// TestSecuritySourceUnderStateDir: an admin must not be able to add a
// source that reads the box's own secrets (the state directory with
// box.key, the gateway database and the API token; the disks; /etc), by
// naming it, through a symbolic link, or by swapping a folder for a link
// after the source was added. Every refusal names the path and the
// allowed roots.
func TestSecuritySourceUnderStateDir(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	adm := b.user("ada", "admin", nil)
	link := filepath.Join(b.dir, "innocent")
	if err := os.Symlink(b.state, link); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	for _, tc := range []struct{ name, path string }{
		{"root", "/"},
		{"state", b.state},
		{"gateway", filepath.Join(b.state, "gateway")},
		{"link", link},
		{"link-child", filepath.Join(link, "gateway")},
		{"etc", "/etc"},
		{"etc-child", "/etc/ssl"},
		{"proc", "/proc/self"},
		{"disk", filepath.Join(b.dir, "disk-a")},
		{"parent", b.dir},
		{"outside", elsewhere},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := b.do("POST", "/v1/sources", adm, map[string]any{"name": "x" + tc.name, "path": tc.path, "mode": "scheduled", "schedule": "daily 04:00"})
			if code != http.StatusBadRequest {
				t.Fatalf("source at %s: HTTP %d, want 400: %s", tc.path, code, raw)
			}
			msg := string(raw)
			if !strings.Contains(msg, tc.path) || !strings.Contains(msg, "allowed: "+b.dir) {
				t.Errorf("refusal %s: want it to name %s and the allowed root %s", msg, tc.path, b.dir)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(b.state, "sources.json")); err == nil {
		raw, _ := os.ReadFile(filepath.Join(b.state, "sources.json"))
		if strings.Contains(string(raw), "\"x") {
			t.Errorf("a refused source was saved: %s", raw)
		}
	}

	// A folder under an allowed root is fine; swapped for a link to the
	// state directory after it was added, its next backup is refused.
	shared := filepath.Join(b.dir, "shared")
	os.MkdirAll(filepath.Join(shared, "gateway"), 0o755)
	os.WriteFile(filepath.Join(shared, "gateway", "notes.txt"), []byte("harmless"), 0o644)
	src := filepath.Join(shared, "gateway")
	b.must("POST", "/v1/sources", adm, map[string]any{"name": "shared", "path": src, "mode": "scheduled", "schedule": "daily 04:00"}, nil)
	if snap, errText := b.runSource("shared"); snap == "" {
		t.Fatalf("the harmless source did not back up: %s", errText)
	}
	if err := os.Rename(shared, shared+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(b.state, shared); err != nil {
		t.Fatal(err)
	}
	snap, errText := b.runSource("shared")
	if snap != "" {
		code, raw := b.do("GET", "/v1/snapshots/"+snap+"/tree?path="+url.QueryEscape(src), adm, nil)
		t.Fatalf("the swapped source was backed up (snapshot %s; its tree: HTTP %d %s)", snap, code, raw)
	}
	// Those who may read the space see why, without the box's paths.
	if !strings.Contains(errText, src) || !strings.Contains(errText, "protects") || strings.Contains(errText, b.state) {
		t.Errorf("the refused backup's error %q should name %s and say it leads into a protected folder, without naming %s", errText, src, b.state)
	}
}

// TestSecurityRestoreTargetRelative: a member restoring a snapshot of
// their space learns where the files went relative to the restore
// folder, and no answer (success or error) shows the box's state
// directory, where restores live.
func TestSecurityRestoreTargetRelative(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	mia := b.user("mia", "member", map[string]string{"family": "restore"})
	snap := b.backup(map[string][]byte{"a.txt": []byte("alpha")})

	var r struct {
		Target string
		Files  string
	}
	b.must("POST", "/v1/snapshots/"+snap+"/restore", mia, map[string]any{"path": b.family, "target": "mine"}, &r)
	if r.Target != "mine" {
		t.Errorf("restore answered target %q, want %q (relative to the restore folder)", r.Target, "mine")
	}
	got, err := os.ReadFile(filepath.Join(b.state, "restores", "mine", b.family, "a.txt"))
	if err != nil || string(got) != "alpha" {
		t.Fatalf("restored file: %q %v", got, err)
	}
	var auto struct{ Target string }
	b.must("POST", "/v1/snapshots/"+snap+"/restore", mia, map[string]any{"path": b.family}, &auto)
	if !strings.HasPrefix(auto.Target, "restore-") || strings.Contains(auto.Target, "/") {
		t.Errorf("restore without a target answered %q, want restore-<time>", auto.Target)
	}

	for _, tc := range []struct {
		name string
		body map[string]any
		code int
	}{
		{"files in the way", map[string]any{"path": b.family, "target": "mine"}, http.StatusBadRequest},
		{"climbs", map[string]any{"path": b.family, "target": "../../etc"}, http.StatusBadRequest},
		{"absolute", map[string]any{"path": b.family, "target": "/etc"}, http.StatusBadRequest},
		{"the restore folder itself", map[string]any{"path": b.family, "target": "./"}, http.StatusBadRequest},
		{"through a file", map[string]any{"path": b.family, "target": "mine" + b.family + "/a.txt/x"}, http.StatusBadRequest},
		{"not in snapshot", map[string]any{"path": "/nowhere", "target": "other"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, raw := b.do("POST", "/v1/snapshots/"+snap+"/restore", mia, tc.body)
			if tc.code != 0 && code != tc.code {
				t.Errorf("HTTP %d, want %d: %s", code, tc.code, raw)
			}
			if strings.Contains(string(raw), b.state) {
				t.Errorf("answer shows the box's state directory: %s", raw)
			}
		})
	}
	if _, err := os.Stat("/etc/" + b.family); err == nil {
		t.Fatal("a restore wrote under /etc")
	}

	// Browsing and downloading what is not there names only the
	// snapshot path asked for.
	for _, p := range []string{
		"/v1/snapshots/" + snap + "/tree?path=/nowhere",
		"/v1/snapshots/" + snap + "/download?path=/nowhere",
		"/v1/snapshots/deadbeefdeadbeef/tree?path=/",
	} {
		code, raw := b.do("GET", p, mia, nil)
		if code != http.StatusNotFound || strings.Contains(string(raw), b.state) {
			t.Errorf("GET %s: HTTP %d %s, want 404 without box paths", p, code, raw)
		}
	}
}

// TestSecurityNoBoxPathsInErrors: when the disks fail, what a member of
// a space is told (browse, download and restore errors, the source's
// last error, its alert) says what happened without the disks' or the
// state directory's places on the box.
func TestSecurityNoBoxPathsInErrors(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	mia := b.user("mia", "member", map[string]string{"family": "read"})
	snap := b.backup(map[string][]byte{"a.txt": []byte("alpha")})
	// Two of the three disks go away: the data is beyond the array's
	// redundancy, and every error names the missing shards' disks.
	for _, d := range []string{"disk-a", "disk-b"} {
		if err := os.Rename(filepath.Join(b.dir, d), filepath.Join(b.dir, "pulled-"+d)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(b.family, "b.txt"), []byte("new"), 0o644)
	if s, _ := b.runSource("family"); s != "" {
		t.Fatal("a backup with two of three disks gone succeeded")
	}
	leaks := func(what string, raw []byte) {
		t.Helper()
		for _, p := range []string{filepath.Join(b.dir, "disk-"), b.state} {
			if strings.Contains(string(raw), p) {
				t.Errorf("%s shows the box path %s: %s", what, p, raw)
			}
		}
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/snapshots/" + snap + "/tree?path=" + url.QueryEscape(b.family)},
		{"GET", "/v1/snapshots/" + snap + "/download?path=" + url.QueryEscape(b.family+"/a.txt")},
		{"POST", "/v1/snapshots/" + snap + "/restore"},
		{"GET", "/v1/sources/family"},
		{"GET", "/v1/sources"},
		{"GET", "/v1/alerts"},
		{"GET", "/v1/status"},
	} {
		var body any
		if r.method == "POST" {
			body = map[string]string{"path": b.family, "target": "back"}
		}
		code, raw := b.do(r.method, r.path, mia, body)
		if r.method == "GET" && strings.HasPrefix(r.path, "/v1/sources/") && code == http.StatusOK && !strings.Contains(string(raw), "last_error") {
			t.Errorf("%s: no last_error: %s", r.path, raw)
		}
		leaks(r.method+" "+r.path, raw)
	}
}

// alertList is GET /v1/alerts.
type alertList struct {
	Alerts []struct {
		ID, Key, Kind, Message string
	}
}

func (l alertList) keys() map[string]bool {
	out := map[string]bool{}
	for _, a := range l.Alerts {
		out[a.Key] = true
	}
	return out
}

// TestSecurityViewerAlertsDrillsScoped: alerts and restore drills about
// a space are shown only to those who may read that space; box-wide
// hardware alerts to those who may see the disks (not viewers).
func TestSecurityViewerAlertsDrillsScoped(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	vic := b.user("vic", "viewer", map[string]string{"family": "read"})
	mel := b.user("mel", "member", map[string]string{"family": "read"})
	famSnap := b.backup(map[string][]byte{"kids.jpg": []byte("family photo")})
	os.WriteFile(filepath.Join(b.clients, "invoice.pdf"), []byte("client invoice"), 0o644)
	cliSnap, errText := b.runSource("clients")
	if cliSnap == "" {
		t.Fatal(errText)
	}

	// The viewer opens a stream before anything happens.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := pb.NewAlertServiceClient(b.grpcConn(vic)).StreamAlerts(ctx, &pb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	streamed := make(chan string, 16)
	go func() {
		for {
			a, err := stream.Recv()
			if err != nil {
				close(streamed)
				return
			}
			streamed <- a.Key
		}
	}()
	time.Sleep(200 * time.Millisecond) // the stream subscribes

	// A real failure in the clients space: its folder is gone.
	if err := os.RemoveAll(b.clients); err != nil {
		t.Fatal(err)
	}
	if snap, _ := b.runSource("clients"); snap != "" {
		t.Fatal("a backup of a missing folder succeeded")
	}
	// A box-wide hardware alert.
	b.d.Bus.Raise("disk", "disk/WD-TEST", appliance.Critical, "Disk failing: WD-TEST", "reallocated sectors rising")

	var all alertList
	b.must("GET", "/v1/alerts", own, nil, &all)
	cliKey := ""
	for _, a := range all.Alerts {
		if strings.HasSuffix(a.Key, "/clients") {
			cliKey = a.Key
		}
	}
	if cliKey == "" || !all.keys()["disk/WD-TEST"] {
		t.Fatalf("the owner should see the clients alert and the disk alert: %+v", all.Alerts)
	}

	var seen alertList
	b.must("GET", "/v1/alerts", vic, nil, &seen)
	if k := seen.keys(); k[cliKey] || k["disk/WD-TEST"] {
		t.Errorf("viewer of family sees %v; want neither %s nor the disk alert", k, cliKey)
	}
	seen = alertList{}
	b.must("GET", "/v1/alerts", mel, nil, &seen)
	if k := seen.keys(); k[cliKey] || !k["disk/WD-TEST"] {
		t.Errorf("member of family sees %v; want the disk alert and not %s", k, cliKey)
	}
	var st struct{ Alerts []struct{ Key string } }
	b.must("GET", "/v1/status", vic, nil, &st)
	for _, a := range st.Alerts {
		if a.Key == cliKey || a.Key == "disk/WD-TEST" {
			t.Errorf("viewer's status shows alert %s", a.Key)
		}
	}
	cancel()
	for k := range streamed {
		if k == cliKey || k == "disk/WD-TEST" {
			t.Errorf("viewer's alert stream delivered %s", k)
		}
	}

	// Drills: one of each space's snapshots.
	for _, s := range []string{famSnap, cliSnap} {
		sn, err := b.d.Repo.FindSnapshot(context.Background(), s, vault.SnapshotFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if err := maint.AppendHistory(filepath.Join(b.state, "drills.jsonl"), maint.DrillResult{Time: time.Now(),
			Snapshot: sn.ID().String(), Files: 1, OK: false, Failures: []string{sn.Paths[0] + "/secret.pdf: damaged"}}); err != nil {
			t.Fatal(err)
		}
	}
	var drills struct {
		Drills []struct {
			Snapshot string
			Failures []string
		}
	}
	b.must("GET", "/v1/drills", vic, nil, &drills)
	if len(drills.Drills) != 1 || !strings.HasPrefix(drills.Drills[0].Snapshot, famSnap[:8]) {
		t.Errorf("viewer of family sees drills %+v, want only the one of family's snapshot %s", drills.Drills, famSnap)
	}
	drills.Drills = nil
	b.must("GET", "/v1/drills", own, nil, &drills)
	if len(drills.Drills) != 2 {
		t.Errorf("the owner sees %d drills, want 2", len(drills.Drills))
	}
}

// TestSecurity404ForForbidden: a thing the caller may not see answers
// exactly what a thing that does not exist answers, so that IDs and
// names cannot be probed; a thing the caller sees but may not act on
// still answers 403.
func TestSecurity404ForForbidden(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	// mia may back up, lock and restore in family (so those routes let
	// her through to the lookup), and nothing in clients.
	mia := b.user("mia", "member", map[string]string{"family": "write,restore"})
	vera := b.user("vera", "viewer", map[string]string{"family": "read"})
	os.WriteFile(filepath.Join(b.clients, "invoice.pdf"), []byte("client invoice"), 0o644)
	cli, errText := b.runSource("clients")
	if cli == "" {
		t.Fatal(errText)
	}
	fam := b.backup(map[string][]byte{"a.txt": []byte("alpha")})
	const ghost = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	until := b.clock.Now().AddDate(0, 1, 0).Format(time.RFC3339)

	same := func(method, pathFmt string, body any, hidden, missing string) {
		t.Helper()
		c1, r1 := b.do(method, strings.ReplaceAll(pathFmt, "{}", hidden), mia, body)
		c2, r2 := b.do(method, strings.ReplaceAll(pathFmt, "{}", missing), mia, body)
		n1 := strings.ReplaceAll(string(r1), hidden, "X")
		n2 := strings.ReplaceAll(string(r2), missing, "X")
		if c1 != http.StatusNotFound || c2 != http.StatusNotFound || n1 != n2 {
			t.Errorf("%s %s: hidden %d %s; missing %d %s; want both 404 with the same body", method, pathFmt, c1, r1, c2, r2)
		}
	}
	same("GET", "/v1/snapshots/{}/tree?path=/", nil, cli, ghost)
	same("GET", "/v1/snapshots/{}/tree?path=/", nil, cli[:8], ghost[:8])
	same("GET", "/v1/snapshots/{}/download?path="+url.QueryEscape(b.clients+"/invoice.pdf"), nil, cli, ghost)
	same("POST", "/v1/snapshots/{}/restore", map[string]string{}, cli, ghost)
	same("POST", "/v1/snapshots/{}/lock", map[string]string{"until": until}, cli, ghost)
	same("GET", "/v1/snapshots/"+fam+"/diff/{}", nil, cli, ghost)
	same("GET", "/v1/sources/{}", nil, "clients", "nosuch")
	same("POST", "/v1/sources/{}/run", struct{}{}, "clients", "nosuch")

	// Seen but not allowed: 403.
	wantCode(t, b, http.StatusForbidden, "POST", "/v1/sources/family/run", vera, struct{}{})
	wantCode(t, b, http.StatusForbidden, "POST", "/v1/snapshots/"+fam+"/restore", vera, map[string]string{})
}

// TestSecurityDiskHistoryUnknown: a disk the box does not know is a 404
// naming it, not a server error.
func TestSecurityDiskHistoryUnknown(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	code, raw := b.do("GET", "/v1/disks/WD-NOSUCHDISK/history", own, nil)
	var body struct {
		Error, Code string
		Status      int
	}
	json.Unmarshal(raw, &body)
	if code != http.StatusNotFound || body.Code != "NotFound" || !strings.Contains(body.Error, "WD-NOSUCHDISK") {
		t.Errorf("history of an unknown disk: HTTP %d %s, want 404 naming the disk", code, raw)
	}
	// An array member without SMART data has an empty history.
	var disks struct{ Disks []struct{ ID string } }
	b.must("GET", "/v1/disks", own, nil, &disks)
	if len(disks.Disks) == 0 {
		t.Fatal("no disks")
	}
	wantCode(t, b, http.StatusOK, "GET", "/v1/disks/"+disks.Disks[0].ID+"/history", own, nil)
}

// TestSecurityReplaceDiskPath: a disk replacement may not be pointed at
// the state directory, another array disk, / or /etc (the daemon would
// write its shards there, and the disk being replaced would be marked
// failed first); the refusal changes nothing.
func TestSecurityReplaceDiskPath(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	adm := b.user("ada", "admin", nil)
	var disks struct {
		Disks []struct{ ID, State string }
	}
	b.must("GET", "/v1/disks", adm, nil, &disks)
	id := disks.Disks[0].ID
	// (/ itself is refused by the same check: TestDiskPathCheck. A
	// regression here must not write at the file system's root.)
	t.Cleanup(func() { os.RemoveAll("relative") })
	for _, p := range []string{b.state, filepath.Join(b.state, "gateway", "new-disk"), filepath.Join(b.dir, "disk-b"), "/etc/shoebox-disk", "relative/disk"} {
		code, raw := b.do("POST", "/v1/disks/"+id+"/replace", adm, map[string]string{"new_path": p})
		if code != http.StatusBadRequest || !strings.Contains(string(raw), p) {
			t.Errorf("replace onto %s: HTTP %d %s, want 400 naming the path", p, code, raw)
		}
	}
	time.Sleep(200 * time.Millisecond) // a replacement, had one started, runs in the background
	disks.Disks = nil
	b.must("GET", "/v1/disks", adm, nil, &disks)
	for _, d := range disks.Disks {
		if d.State != "active" {
			t.Errorf("after refused replacements, disk %s is %s, want active", d.ID, d.State)
		}
	}
	if _, err := os.Stat("/etc/shoebox-disk"); err == nil {
		os.RemoveAll("/etc/shoebox-disk")
		t.Error("a replacement wrote under /etc")
	}
}

// TestSecurityTLSNoCBC: the box's HTTPS port refuses a client that
// offers only CBC-mode suites with SHA-1 MACs, and serves one offering
// AEAD suites (TLS 1.2) or TLS 1.3.
func TestSecurityTLSNoCBC(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	addr := strings.TrimPrefix(b.base, "https://")
	dial := func(cfg *tls.Config) error {
		cfg.RootCAs = b.pool
		cfg.ServerName = "localhost"
		c, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
	}{
		{"cbc-sha1", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}}, false},
		{"cbc-sha256", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}, false},
		{"gcm", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"chacha20", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"tls13", &tls.Config{MinVersion: tls.VersionTLS13}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dial(tc.cfg)
			if tc.wantOK && err != nil {
				t.Errorf("handshake failed: %v", err)
			}
			if !tc.wantOK && err == nil {
				t.Error("the box accepted a client offering only CBC suites")
			}
		})
	}
}
