package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The attack harness: a real shoeboxd child process (file-backed 2+1
// array, one source, the gateway with its production argon2id cost), the
// daemon's peak resident memory read from /proc/PID/status (VmHWM), and
// a watcher that times /healthz throughout an attack. The memory
// findings of docs/SECURITY.md (parallel logins, decompression bombs
// through share links, parallel upload chunks) are each run against it.

// attackRSSLimit is the most the daemon may hold in memory during any
// attack, and attackHealthLimit how long /healthz may take to answer.
const (
	attackRSSLimit    = 512 << 20
	attackHealthLimit = time.Second
)

// newAttackBox starts a real daemon with a source "inbox" and TOTP not
// required (the attacks need a signed-in owner), plus extra config lines
// (top-level YAML, e.g. a gateway: section is merged by the caller).
func newAttackBox(t *testing.T, extra string) *box {
	t.Helper()
	b := newBoxDirs(t)
	os.MkdirAll(b.inbox, 0o755)
	gw := "gateway:\n  require_totp: false\n"
	if strings.Contains(extra, "gateway:\n") {
		// The caller's gateway section must carry require_totp itself.
		gw = ""
	}
	b.writeConfig(fmt.Sprintf(`sources:
  - name: inbox
    path: %s
    settle: 500ms
smart:
  disabled: true
scrub:
  every: 1000h
  first_delay: 1000h
drills:
  every: 1000h
%s%s`, b.inbox, gw, extra))
	b.start()
	return b
}

// ownerPassword reads the first owner's password from the state dir.
func (b *box) ownerPassword() (user, pw string) {
	b.t.Helper()
	raw, err := os.ReadFile(filepath.Join(b.state, "gateway", "INITIAL-PASSWORD.txt"))
	if err != nil {
		b.t.Fatal(err)
	}
	// The file holds the password alone; the account is the default
	// first owner.
	return "owner", strings.TrimSpace(string(raw))
}

// login signs in as user and returns the session token.
func (b *box) login(user, pw string) string {
	b.t.Helper()
	code, body := b.apiCall(b.client(), "POST", "/v1/auth/login", "", map[string]string{"username": user, "password": pw, "device": "attack test"})
	if code != 200 {
		b.t.Fatalf("login %s: %d %s", user, code, body)
	}
	var r struct{ Token string }
	json.Unmarshal(body, &r)
	return r.Token
}

// ownerToken signs in as the first owner.
func (b *box) ownerToken() string {
	b.t.Helper()
	return b.login(b.ownerPassword())
}

// statusField reads one "Key:   N kB" line of /proc/PID/status, in bytes.
func statusField(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, key)
}

// peakRSS is the daemon's peak resident memory so far (VmHWM), in bytes.
func (b *box) peakRSS() int64 {
	b.t.Helper()
	n, err := statusField(b.cmd.Process.Pid, "VmHWM")
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// rss is the daemon's resident memory now (VmRSS), in bytes.
func (b *box) rss() int64 {
	b.t.Helper()
	n, err := statusField(b.cmd.Process.Pid, "VmRSS")
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// healthWatch times GET /healthz every 100 ms until stop is called.
type healthWatch struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	worst   time.Duration
	fails   int
	samples int
}

// watchHealth starts timing /healthz; call (*healthWatch).Stop to end
// it and read the results. Every attack test calls it before attacking.
//
// Under the race detector the test is skipped: the attack's clients run
// in this instrumented process and take the two cores from the daemon,
// so a slow /healthz would measure the detector, not the box. `make
// attack`, part of `make test`, runs the attacks without it.
func (b *box) watchHealth() *healthWatch {
	if raceDetector {
		b.t.Skip("an attack measures the daemon's memory and latency: it runs without the race detector (make attack, part of make test)")
	}
	h := &healthWatch{stop: make(chan struct{}), done: make(chan struct{})}
	c := b.client()
	c.Timeout = 5 * time.Second
	go func() {
		defer close(h.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			start := time.Now()
			resp, err := c.Get("https://" + b.listen + "/healthz")
			took := time.Since(start)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if resp != nil {
				resp.Body.Close()
			}
			h.mu.Lock()
			h.samples++
			h.worst = max(h.worst, took)
			if !ok {
				h.fails++
			}
			h.mu.Unlock()
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Stop ends the watch and returns the slowest answer, the number of
// failed or non-200 answers, and the number of samples.
func (h *healthWatch) Stop() (worst time.Duration, fails, samples int) {
	close(h.stop)
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.worst, h.fails, h.samples
}

// checkAttack fails t when the daemon went past the memory limit or
// /healthz was slow or failing, and logs the figures docs/SECURITY.md
// reports.
func (b *box) checkAttack(name string, h *healthWatch) {
	b.t.Helper()
	worst, fails, samples := h.Stop()
	peak := b.peakRSS()
	b.t.Logf("%s: peak RSS %d MiB (VmHWM), slowest /healthz %s, %d of %d health checks failed",
		name, peak>>20, worst.Round(time.Millisecond), fails, samples)
	if peak > attackRSSLimit {
		b.t.Errorf("%s: daemon peak RSS %d MiB, want at most %d MiB", name, peak>>20, attackRSSLimit>>20)
	}
	if worst > attackHealthLimit || fails > 0 {
		b.t.Errorf("%s: /healthz slowest %s, %d failures; want every answer 200 within %s", name, worst, fails, attackHealthLimit)
	}
}

// TestAttackHarness checks the harness itself on an idle box: the
// figures are read, and an idle daemon is far under the limits.
func TestAttackHarness(t *testing.T) {
	b := newAttackBox(t, "")
	tok := b.ownerToken()
	if code, body := b.apiCall(b.client(), "GET", "/v1/status", tok, nil); code != 200 {
		t.Fatalf("status as owner: %d %s", code, body)
	}
	h := b.watchHealth()
	time.Sleep(500 * time.Millisecond)
	b.checkAttack("idle", h)
	if b.rss() <= 0 {
		t.Error("VmRSS not read")
	}
}
