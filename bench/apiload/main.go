// Command apiload is the API load test of `make bench` (bench/apiload.sh):
// it starts a real shoeboxd on a throwaway box on loopback and measures
// the latency and throughput of GET /v1/status, the snapshot list and
// snapshot browsing under concurrent clients, first with the box idle
// (baseline), then while backups run back to back.
//
//	go build -o /tmp/shoeboxd ./cmd/shoeboxd
//	go run ./bench/apiload -shoeboxd /tmp/shoeboxd [-clients 16] [-duration 20s] [-tsv out.tsv]
//
// The box: three folder disks in a 2+1 array (allow_same_drive), one
// continuous source seeded with -files files of generated, incompressible
// data (-size in all) and retention keep_last -keep-last, SMART off, the
// API on 127.0.0.1 with gateway.require_totp off. The program signs in as
// the first owner (the password from STATE/gateway/INITIAL-PASSWORD.txt),
// waits for the first backup, then backs up small changes until the source
// has -keep-last snapshots, so that both phases list and search the same
// number of snapshots (retention keeps it there while backups run).
//
// Each client is a closed loop (the next request as soon as the last one
// has answered) on its own HTTP/2 connection, trusting the box's
// certificate. In the backup phase one more goroutine writes -churn bytes
// of new files into the source, asks for a backup (POST
// /v1/sources/NAME/run), writes the next round while it runs, and starts
// the next backup when it is done; shoebox_backup_runs_total in /metrics
// and the newest snapshot prove that backups ran.
//
// The report (stdout, markdown; -tsv, tab-separated) has requests, errors,
// requests/s and the p50, p90, p99 and maximum latency per phase and
// endpoint, and the CPU used by the daemon, by this program and by other
// processes (from /proc). Any answer other than 200 is an error; the first
// few are printed with their bodies, and more than -max-errors of them (a
// fraction) in a phase make the exit status 1. The daemon gets SIGTERM at
// the end (SIGKILL if it has not stopped 30 s later); the temporary box is
// removed unless -keep is given.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoebox/shoebox/internal/units"
)

const sourceName = "photos"

type options struct {
	shoeboxd  string
	clients   int
	duration  time.Duration
	files     int
	size      int64
	churn     int64
	seed      uint64
	tsv       string
	tmp       string
	keep      bool
	keepLast  int
	maxErrors float64
	timeout   time.Duration
}

func main() {
	var o options
	var size, churn string
	flag.StringVar(&o.shoeboxd, "shoeboxd", "", "the shoeboxd `binary` to run (required)")
	flag.IntVar(&o.clients, "clients", 16, "concurrent API clients")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "length of each phase (baseline, then with backups)")
	flag.IntVar(&o.files, "files", 300, "files in the seeded source")
	flag.StringVar(&size, "size", "200MiB", "total size of the seeded source (bytes, or with a unit: 200MiB, 2GB; docs/UNITS.md)")
	flag.StringVar(&churn, "churn", "8MiB", "bytes of new files written before each backup of the backup phase (as -size)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the generated data and of the clients' request mix")
	flag.StringVar(&o.tsv, "tsv", "", "also write the results, tab-separated, to this `file`")
	flag.StringVar(&o.tmp, "tmp", "", "make the temporary box under this `dir` (default: the system's temp dir)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary box (disks, state, daemon log) at the end")
	flag.IntVar(&o.keepLast, "keep-last", 10, "the source's retention (keep_last); the box is given this many snapshots before the baseline (0: keep all, start from one)")
	flag.Float64Var(&o.maxErrors, "max-errors", 0.01, "fail when more than this fraction of the requests of a phase fail")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout (a timeout counts as an error)")
	flag.Parse()
	var err error
	if o.size, err = units.ParseSize(size); err == nil {
		o.churn, err = units.ParseSize(churn)
	}
	switch {
	case err != nil:
		fatalf("%v", err)
	case o.shoeboxd == "":
		fatalf("-shoeboxd is required: go build -o /tmp/shoeboxd ./cmd/shoeboxd")
	case o.clients < 1 || o.files < 1 || o.duration <= 0 || o.size < int64(o.files) || o.keepLast < 0:
		fatalf("want -clients ≥ 1, -files ≥ 1, -duration > 0, -size ≥ -files and -keep-last ≥ 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "apiload: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "apiload: "+format+"\n", args...)
	os.Exit(2)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}

// run sets up the box, runs both phases and reports; the exit code is 1
// when too many requests failed or no backup ran in the backup phase.
func run(ctx context.Context, o options) (int, error) {
	start := time.Now()
	b, err := newBox(o)
	if err != nil {
		return 1, err
	}
	defer b.cleanup()
	logf("seeding %s with %d files, %d MiB", b.src, o.files, o.size>>20)
	if err := seed(b.src, o.files, o.size, o.seed); err != nil {
		return 1, err
	}
	if err := b.start(ctx); err != nil {
		return 1, err
	}
	defer b.stop()
	if err := b.login(ctx); err != nil {
		return 1, err
	}
	logf("waiting for the first backup")
	t0 := time.Now()
	if err := b.waitIdle(ctx, 1, 5*time.Minute); err != nil {
		return 1, err
	}
	logf("first backup done after %.1f s", time.Since(t0).Seconds())
	if o.keepLast > 1 {
		// Both phases then list and look up the same number of
		// snapshots: retention keeps it at keep_last while backups run.
		t0 = time.Now()
		if err := b.makeSnapshots(ctx, o.keepLast); err != nil {
			return 1, err
		}
		logf("%d snapshots made in %.1f s", o.keepLast, time.Since(t0).Seconds())
	}
	if err := b.waitQuiet(ctx); err != nil {
		return 1, err
	}
	dirs, err := b.browseDirs(ctx)
	if err != nil {
		return 1, err
	}
	logf("%d folders to browse in the latest snapshot", len(dirs))

	base := b.phase(ctx, o, "baseline", dirs, false)
	if ctx.Err() != nil {
		return 1, ctx.Err()
	}
	load := b.phase(ctx, o, "with backup", dirs, true)
	if ctx.Err() != nil {
		return 1, ctx.Err()
	}

	report(os.Stdout, o, []*phaseResult{base, load}, time.Since(start))
	if o.tsv != "" {
		if err := writeTSV(o.tsv, []*phaseResult{base, load}); err != nil {
			return 1, err
		}
	}
	var bad []string
	for _, p := range []*phaseResult{base, load} {
		all := p.total()
		if float64(all.errors) > o.maxErrors*float64(max(all.requests(), 1)) {
			bad = append(bad, fmt.Sprintf("%s: %d of %d requests failed (more than %.3g%%)", p.name, all.errors, all.requests(), o.maxErrors*100))
		}
	}
	if load.backups < 1 || !load.newLatest {
		bad = append(bad, "no backup finished during the backup phase (no new snapshot): the phase measured nothing")
	}
	if len(bad) > 0 {
		return 1, errors.New(strings.Join(bad, "; "))
	}
	return 0, nil
}

// ---------------------------------------------------------------------------
// The box: a real shoeboxd on file-backed disks.

type box struct {
	o       options
	dir     string
	state   string
	src     string
	listen  string
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	waitErr error
	tlsCfg  *tls.Config
	token   string
	api     *http.Client
}

func newBox(o options) (*box, error) {
	dir, err := os.MkdirTemp(o.tmp, "shoebox-apiload-")
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	b := &box{o: o, dir: dir, state: filepath.Join(dir, "state"), src: filepath.Join(dir, "src")}
	var disks []string
	for i := 1; i <= 3; i++ {
		d := filepath.Join(dir, fmt.Sprintf("disk%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return b, err
		}
		disks = append(disks, d)
	}
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte("apiload-not-a-secret\n"), 0o600); err != nil {
		return b, err
	}
	if b.listen, err = freePort(); err != nil {
		return b, err
	}
	retention := ""
	if o.keepLast > 0 {
		retention = fmt.Sprintf("    retention: {keep_last: %d}\n", o.keepLast)
	}
	cfg := fmt.Sprintf(`# Written by bench/apiload.
state_dir: %s
listen: %s
gateway: {require_totp: false}
disks:
  members: [%s]
  data: 2
  parity: 1
  allow_same_drive: true
repository:
  passphrase_file: %s
sources:
  - name: %s
    path: %s
    mode: continuous
    settle: 1s
%ssmart:
  disabled: true
`, b.state, b.listen, strings.Join(disks, ", "), pass, sourceName, b.src, retention)
	return b, os.WriteFile(filepath.Join(dir, "shoeboxd.yaml"), []byte(cfg), 0o600)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (b *box) cleanup() {
	if b.o.keep {
		logf("kept the box in %s", b.dir)
		return
	}
	if err := os.RemoveAll(b.dir); err != nil {
		logf("removing %s: %v", b.dir, err)
	}
}

// start runs shoeboxd and waits for its certificate and /healthz.
func (b *box) start(ctx context.Context) error {
	f, err := os.Create(filepath.Join(b.dir, "shoeboxd.log"))
	if err != nil {
		return err
	}
	b.logFile = f
	b.cmd = exec.Command(b.o.shoeboxd, "-config", filepath.Join(b.dir, "shoeboxd.yaml"))
	b.cmd.Stdout, b.cmd.Stderr = f, f
	if err := b.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", b.o.shoeboxd, err)
	}
	b.exited = make(chan struct{})
	go func() { b.waitErr = b.cmd.Wait(); close(b.exited) }()
	logf("started shoeboxd (pid %d) on https://%s; log %s", b.cmd.Process.Pid, b.listen, f.Name())
	return b.waitFor(ctx, "/healthz", time.Minute, func() (bool, error) {
		if b.tlsCfg == nil {
			pem, err := os.ReadFile(filepath.Join(b.state, "tls", "cert.pem"))
			if err != nil {
				return false, nil
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return false, nil // being written
			}
			b.tlsCfg = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			b.api = newClient(b.tlsCfg, b.o.timeout)
		}
		code, _, err := b.do(ctx, "GET", "/healthz", nil)
		return err == nil && code == http.StatusOK, nil
	})
}

// waitFor polls cond every 100 ms until it holds, the daemon exits or d
// passes.
func (b *box) waitFor(ctx context.Context, what string, d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.exited:
			return fmt.Errorf("shoeboxd exited (%v) while waiting for %s; end of its log:\n%s", b.waitErr, what, b.logTail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s; end of the daemon's log:\n%s", d, what, b.logTail())
		}
	}
}

func (b *box) logTail() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "shoeboxd.log"))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// stop sends SIGTERM and waits up to 30 s, then kills the daemon.
func (b *box) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	defer b.logFile.Close()
	select {
	case <-b.exited:
		logf("shoeboxd had already exited: %v", b.waitErr)
		return
	default:
	}
	t0 := time.Now()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		if b.waitErr != nil {
			logf("shoeboxd after SIGTERM: %v; end of its log:\n%s", b.waitErr, b.logTail())
		} else {
			logf("shoeboxd stopped %.1f s after SIGTERM", time.Since(t0).Seconds())
		}
	case <-time.After(30 * time.Second):
		logf("shoeboxd did not stop within 30 s of SIGTERM: killing it")
		b.cmd.Process.Kill()
		<-b.exited
	}
}

func newClient(cfg *tls.Config, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4}}
}

// do sends one request with the session token (once signed in) and
// returns the status and body.
func (b *box) do(ctx context.Context, method, p string, body any) (int, []byte, error) {
	return doWith(ctx, b.api, b.listen, b.token, method, p, body)
}

func doWith(ctx context.Context, c *http.Client, host, token, method, p string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+host+p, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// getJSON GETs p and decodes a 200 answer into v.
func (b *box) getJSON(ctx context.Context, p string, v any) error {
	code, body, err := b.do(ctx, "GET", p, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", p, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", p, code, trim(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", p, err)
	}
	return nil
}

// login signs in as the first owner with the password the gateway wrote.
func (b *box) login(ctx context.Context) error {
	pwFile := filepath.Join(b.state, "gateway", "INITIAL-PASSWORD.txt")
	var user, pw string
	if err := b.waitFor(ctx, pwFile, 30*time.Second, func() (bool, error) {
		// The file holds the password alone; the account is the
		// default first owner.
		raw, err := os.ReadFile(pwFile)
		if err != nil {
			return false, nil
		}
		user, pw = "owner", strings.TrimSpace(string(raw))
		return pw != "", nil
	}); err != nil {
		return err
	}
	code, body, err := b.do(ctx, "POST", "/v1/auth/login", map[string]string{"username": user, "password": pw, "device": "apiload"})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	var r struct{ Token string }
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.Token == "" {
		return fmt.Errorf("login as %s: HTTP %d: %s", user, code, trim(body))
	}
	b.token = r.Token
	logf("signed in as %s", user)
	return nil
}

type snapshot struct {
	ID    string
	Paths []string
}

func (b *box) snapshots(ctx context.Context) ([]snapshot, error) {
	var r struct{ Snapshots []snapshot }
	err := b.getJSON(ctx, "/v1/snapshots?source="+sourceName, &r)
	return r.Snapshots, err
}

type sourceState struct {
	Running      bool
	LastSnapshot string `json:"last_snapshot"`
	LastError    string `json:"last_error"`
}

func (b *box) source(ctx context.Context) (sourceState, error) {
	var s sourceState
	err := b.getJSON(ctx, "/v1/sources/"+sourceName, &s)
	return s, err
}

// waitIdle waits until the source has at least n snapshots and no backup
// is running.
func (b *box) waitIdle(ctx context.Context, n int, d time.Duration) error {
	return b.waitFor(ctx, fmt.Sprintf("%d snapshot(s) of %s", n, sourceName), d, func() (bool, error) {
		snaps, err := b.snapshots(ctx)
		if err != nil || len(snaps) < n {
			return false, nil
		}
		s, err := b.source(ctx)
		return err == nil && !s.Running, nil
	})
}

// browseDirs lists the source's folder and every folder below it in the
// latest snapshot.
func (b *box) browseDirs(ctx context.Context) ([]string, error) {
	snaps, err := b.snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if len(snaps) == 0 || len(snaps[0].Paths) == 0 {
		return nil, errors.New("the latest snapshot has no paths")
	}
	var dirs []string
	queue := []string{snaps[0].Paths[0]}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		dirs = append(dirs, p)
		var r struct {
			Nodes []struct{ Name, Type string }
		}
		if err := b.getJSON(ctx, treePath(snaps[0].ID, p), &r); err != nil {
			return nil, err
		}
		for _, n := range r.Nodes {
			if n.Type == "dir" {
				queue = append(queue, path.Join(p, n.Name))
			}
		}
	}
	return dirs, nil
}

// waitQuiet waits until no backup has run for 3 s (the source's settle
// time is 1 s): files written before may still start one.
func (b *box) waitQuiet(ctx context.Context) error {
	var last string
	since := time.Now()
	return b.waitFor(ctx, "a quiet box", time.Minute, func() (bool, error) {
		s, err := b.source(ctx)
		if err != nil {
			return false, err
		}
		if s.Running || s.LastSnapshot != last {
			last, since = s.LastSnapshot, time.Now()
		}
		return time.Since(since) >= 3*time.Second, nil
	})
}

// backupRuns reads the source's successful and failed backup runs from
// /metrics (open to loopback).
func (b *box) backupRuns(ctx context.Context) (ok, failed int, err error) {
	code, body, err := b.do(ctx, "GET", "/metrics", nil)
	if err != nil || code != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: HTTP %d %v", code, err)
	}
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, "shoebox_backup_runs_total{") || !strings.Contains(line, `source="`+sourceName+`"`) {
			continue
		}
		f := strings.Fields(line)
		n, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/metrics: %q: %v", line, err)
		}
		switch {
		case strings.Contains(line, `result="ok"`):
			ok = int(n)
		case strings.Contains(line, `result="failed"`):
			failed = int(n)
		}
	}
	return ok, failed, nil
}

// makeSnapshots backs up small changes until the source has n snapshots.
func (b *box) makeSnapshots(ctx context.Context, n int) error {
	gen := rand.NewChaCha8([32]byte{'w', 'a', 'r', 'm', byte(b.o.seed)})
	for i := 1; ; i++ {
		snaps, err := b.snapshots(ctx)
		if err != nil {
			return err
		}
		if len(snaps) >= n {
			return nil
		}
		if err := writeFile(filepath.Join(b.src, "warm-up", fmt.Sprintf("note-%04d.txt", i)), 64<<10, gen); err != nil {
			return err
		}
		before, err := b.source(ctx)
		if err != nil {
			return err
		}
		if code, body, err := b.do(ctx, "POST", "/v1/sources/"+sourceName+"/run", map[string]string{}); err != nil || code != http.StatusOK {
			return fmt.Errorf("POST /v1/sources/%s/run: HTTP %d %v %s", sourceName, code, err, trim(body))
		}
		if err := b.waitFor(ctx, "a backup", time.Minute, func() (bool, error) {
			s, err := b.source(ctx)
			if err != nil {
				return false, err
			}
			if !s.Running && s.LastError != "" && s.LastError != before.LastError {
				return false, errors.New("backup failed: " + s.LastError)
			}
			return !s.Running && s.LastSnapshot != before.LastSnapshot, nil
		}); err != nil {
			return err
		}
	}
}

func treePath(id, p string) string {
	return "/v1/snapshots/" + url.PathEscape(id) + "/tree?path=" + url.QueryEscape(p)
}

// ---------------------------------------------------------------------------
// Data.

// seed writes files files of incompressible data, size bytes in all, in
// folders of 15 like a camera's day folders: 2024/2024-01-01/DSC_0001.JPG.
func seed(dir string, files int, size int64, s uint64) error {
	r := rand.New(rand.NewPCG(s, 0x5eed))
	gen := rand.NewChaCha8([32]byte{byte(s), byte(s >> 8), byte(s >> 16), byte(s >> 24), 'a', 'p', 'i'})
	mean := size / int64(files)
	left := size
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range files {
		n := mean/2 + r.Int64N(mean+1)
		if i == files-1 || n > left {
			n = left
		}
		left -= n
		d := day.AddDate(0, 0, i/15)
		p := filepath.Join(dir, d.Format("2006"), d.Format("2006-01-02"), fmt.Sprintf("DSC_%04d.JPG", i+1))
		if err := writeFile(p, n, gen); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, n int64, gen io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, gen, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---------------------------------------------------------------------------
// Load.

type endpoint int

const (
	epStatus endpoint = iota
	epSnapshots
	epTree
	numEndpoints
)

var endpointNames = [numEndpoints]string{
	epStatus:    "GET /v1/status",
	epSnapshots: "GET /v1/snapshots?source=…",
	epTree:      "GET /v1/snapshots/{id}/tree?path=…",
}

// The request mix: of every 5 requests, 2 status, 1 snapshot list, 2
// folder listings.
var mix = []endpoint{epStatus, epStatus, epSnapshots, epTree, epTree}

type sample struct {
	ep  endpoint
	lat time.Duration
}

type failure struct {
	ep   endpoint
	code int
	body string
}

type stats struct {
	lats   []time.Duration // of successful requests
	errors int
}

func (s *stats) requests() int { return len(s.lats) + s.errors }

type phaseResult struct {
	name    string
	elapsed time.Duration
	eps     [numEndpoints]stats
	fails   []failure
	codes   map[int]int // errors by HTTP status (0: no answer)
	http2   int
	other   int
	cpu     cpuUse

	// The backup phase only.
	backup        bool
	backups       int // backups that finished during the phase (shoebox_backup_runs_total)
	failedBackups int
	churnRounds   int
	churnBytes    int64
	busy          time.Duration // time a backup was seen running
	backupErrors  []string
	snapshotsFrom int
	snapshotsTo   int
	newLatest     bool // the latest snapshot changed
}

func (p *phaseResult) total() stats {
	var t stats
	for _, s := range p.eps {
		t.lats = append(t.lats, s.lats...)
		t.errors += s.errors
	}
	return t
}

// phase runs o.clients closed-loop clients for o.duration; with backup, a
// churner keeps backups running meanwhile.
func (b *box) phase(ctx context.Context, o options, name string, dirs []string, backup bool) *phaseResult {
	res := &phaseResult{name: name, backup: backup}
	snaps, err := b.snapshots(ctx)
	if err != nil || len(snaps) == 0 {
		res.fails = append(res.fails, failure{code: 0, body: fmt.Sprintf("listing snapshots before the phase: %v", err)})
		return res
	}
	res.snapshotsFrom = len(snaps)
	runsOK, runsFailed, err := b.backupRuns(ctx)
	if err != nil {
		res.backupErrors = append(res.backupErrors, err.Error())
	}
	var latest atomic.Pointer[string]
	latest.Store(&snaps[0].ID)

	// Connect every client first, so the phase measures requests, not TLS
	// handshakes.
	clients := make([]*http.Client, o.clients)
	for i := range clients {
		clients[i] = newClient(b.tlsCfg, o.timeout)
		doWith(ctx, clients[i], b.listen, b.token, "GET", "/healthz", nil)
	}

	var mu sync.Mutex
	var samples [][]sample
	var failed []failure
	var nfail [numEndpoints]int
	codes := map[int]int{}
	var h2, other atomic.Int64
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()

	churnDone := make(chan struct{})
	if backup {
		logf("phase %q: %d clients for %s while backups of %d MiB of new files run back to back", name, o.clients, o.duration, o.churn>>20)
		go func() {
			defer close(churnDone)
			b.churn(pctx, o, res)
		}()
	} else {
		logf("phase %q: %d clients for %s, no backup running", name, o.clients, o.duration)
		close(churnDone)
	}

	cpu0 := readCPU(b.cmd.Process.Pid)
	start := time.Now()
	deadline := start.Add(o.duration)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(o.seed, uint64(i)))
			mine := make([]sample, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				ep := mix[r.IntN(len(mix))]
				var p string
				switch ep {
				case epStatus:
					p = "/v1/status"
				case epSnapshots:
					p = "/v1/snapshots?source=" + sourceName
				case epTree:
					p = treePath(*latest.Load(), dirs[r.IntN(len(dirs))])
				}
				code, body, proto, lat, err := timed(ctx, c, b.listen, b.token, p)
				if proto == 2 {
					h2.Add(1)
				} else if err == nil {
					other.Add(1)
				}
				if err != nil || code != http.StatusOK {
					msg := string(trim(body))
					if err != nil {
						msg = err.Error()
					}
					mu.Lock()
					codes[code]++
					nfail[ep]++
					if len(failed) < 5 {
						failed = append(failed, failure{ep: ep, code: code, body: p + ": " + msg})
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, sample{ep, lat})
				if ep == epSnapshots {
					var r struct{ Snapshots []struct{ ID string } }
					if json.Unmarshal(body, &r) == nil && len(r.Snapshots) > 0 {
						latest.Store(&r.Snapshots[0].ID)
					}
				}
			}
			mu.Lock()
			samples = append(samples, mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu = readCPU(b.cmd.Process.Pid).since(cpu0, res.elapsed)
	cancel()
	<-churnDone
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	for _, ss := range samples {
		for _, s := range ss {
			res.eps[s.ep].lats = append(res.eps[s.ep].lats, s.lat)
		}
	}
	for ep := range res.eps {
		res.eps[ep].errors = nfail[ep]
		slices.Sort(res.eps[ep].lats)
	}
	res.fails = append(res.fails, failed...)
	res.codes = codes
	res.http2, res.other = int(h2.Load()), int(other.Load())
	if backup {
		ok, failed, err := b.backupRuns(ctx)
		if err != nil {
			res.backupErrors = append(res.backupErrors, err.Error())
		}
		res.backups, res.failedBackups = ok-runsOK, failed-runsFailed
		if after, err := b.snapshots(ctx); err == nil && len(after) > 0 {
			res.snapshotsTo = len(after)
			res.newLatest = after[0].ID != snaps[0].ID
		} else {
			res.backupErrors = append(res.backupErrors, fmt.Sprintf("listing snapshots after the phase: %v", err))
		}
		// Let the last backup finish, so that the daemon stops on an idle
		// box.
		if err := b.waitIdle(ctx, 1, 2*time.Minute); err != nil {
			logf("waiting for the last backup: %v", err)
		}
	}
	all := res.total()
	logf("phase %q: %d requests, %d errors, %.0f req/s", name, all.requests(), all.errors, float64(all.requests())/res.elapsed.Seconds())
	return res
}

// timed sends one GET and returns its status, body, HTTP major version and
// latency (until the whole body has arrived).
func timed(ctx context.Context, c *http.Client, host, token, p string) (int, []byte, int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+host+p, nil)
	if err != nil {
		return 0, nil, 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, 0, time.Since(t0), err
	}
	body, err := io.ReadAll(resp.Body)
	lat := time.Since(t0)
	resp.Body.Close()
	return resp.StatusCode, body, resp.ProtoMajor, lat, err
}

// churn keeps backups of the source running until ctx ends: it writes
// o.churn bytes of new files, asks for a backup (POST
// /v1/sources/NAME/run) and, while that backup runs, writes the next
// round, so that the next backup can start as soon as this one is done.
// Its polls (GET /v1/sources/NAME every 50 ms) are not in the statistics.
func (b *box) churn(ctx context.Context, o options, res *phaseResult) {
	gen := rand.NewChaCha8([32]byte{'c', 'h', 'u', 'r', 'n', byte(o.seed)})
	round := 0
	write := func() bool {
		const perRound = 4
		round++
		dir := filepath.Join(b.src, "incoming", fmt.Sprintf("round-%04d", round))
		for i := range perRound {
			n := o.churn / perRound
			if err := writeFile(filepath.Join(dir, fmt.Sprintf("IMG_%04d.CR3", i+1)), n, gen); err != nil {
				res.backupErrors = append(res.backupErrors, "writing new files: "+err.Error())
				return false
			}
			res.churnBytes += n
		}
		res.churnRounds++
		return true
	}
	problem := func(msg string) {
		if ctx.Err() == nil {
			res.backupErrors = append(res.backupErrors, msg)
		}
	}
	pause := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	if !write() {
		return
	}
	for ctx.Err() == nil {
		before, err := b.source(ctx)
		if err != nil {
			problem(err.Error())
			pause(time.Second)
			continue
		}
		code, body, err := b.do(ctx, "POST", "/v1/sources/"+sourceName+"/run", map[string]string{})
		if err != nil || code != http.StatusOK {
			problem(fmt.Sprintf("POST /v1/sources/%s/run: HTTP %d %v %s", sourceName, code, err, trim(body)))
			pause(time.Second)
			continue
		}
		wrote := false
		last, wasRunning := time.Now(), false
		for ctx.Err() == nil {
			s, err := b.source(ctx)
			now := time.Now()
			if wasRunning {
				res.busy += now.Sub(last)
			}
			last = now
			if err != nil {
				problem(err.Error())
				break
			}
			wasRunning = s.Running
			if s.Running && !wrote {
				if !write() {
					return
				}
				wrote = true
				continue
			}
			if !s.Running && (s.LastSnapshot != before.LastSnapshot || s.LastError != before.LastError) {
				if s.LastError != "" && s.LastError != before.LastError {
					problem("backup failed: " + s.LastError)
				}
				break
			}
			pause(50 * time.Millisecond)
		}
		if !wrote && ctx.Err() == nil && !write() {
			return
		}
	}
}

// cpuUse is CPU time from /proc in seconds, or, after since, in cores.
type cpuUse struct {
	daemon, self, busy float64
	ok                 bool
}

// readCPU reads the CPU time of the daemon (pid), of this program and of
// the whole machine from /proc (Linux; ok is false elsewhere).
func readCPU(pid int) cpuUse {
	const hz = 100 // USER_HZ
	proc := func(p string) (float64, bool) {
		data, err := os.ReadFile(p)
		i := bytes.LastIndexByte(data, ')')
		if err != nil || i < 0 {
			return 0, false
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 13 {
			return 0, false
		}
		u, err1 := strconv.ParseFloat(f[11], 64)
		s, err2 := strconv.ParseFloat(f[12], 64)
		return (u + s) / hz, err1 == nil && err2 == nil
	}
	var c cpuUse
	var ok1, ok2 bool
	c.daemon, ok1 = proc(fmt.Sprintf("/proc/%d/stat", pid))
	c.self, ok2 = proc("/proc/self/stat")
	data, err := os.ReadFile("/proc/stat")
	if err != nil || !ok1 || !ok2 {
		return c
	}
	f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
	if len(f) < 9 || f[0] != "cpu" {
		return c
	}
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		c.busy += v / hz
	}
	c.ok = true
	return c
}

// since turns two readings into cores used over d.
func (c cpuUse) since(c0 cpuUse, d time.Duration) cpuUse {
	if !c.ok || !c0.ok {
		return cpuUse{}
	}
	sec := d.Seconds()
	return cpuUse{daemon: (c.daemon - c0.daemon) / sec, self: (c.self - c0.self) / sec, busy: (c.busy - c0.busy) / sec, ok: true}
}

// ---------------------------------------------------------------------------
// Report.

// percentile is the nearest-rank q-quantile of sorted latencies.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 1, 64) }

type row struct {
	phase, endpoint string
	s               stats
	elapsed         time.Duration
}

func rows(phases []*phaseResult) []row {
	var out []row
	for _, p := range phases {
		for ep, s := range p.eps {
			out = append(out, row{p.name, endpointNames[ep], s, p.elapsed})
		}
		out = append(out, row{p.name, "all", p.total(), p.elapsed})
	}
	return out
}

func (r row) cells() []string {
	slices.Sort(r.s.lats)
	return []string{r.phase, r.endpoint, strconv.Itoa(r.s.requests()), strconv.Itoa(r.s.errors),
		strconv.FormatFloat(float64(r.s.requests())/r.elapsed.Seconds(), 'f', 0, 64),
		ms(percentile(r.s.lats, 0.50)), ms(percentile(r.s.lats, 0.90)), ms(percentile(r.s.lats, 0.99)),
		ms(percentile(r.s.lats, 1))}
}

func report(w io.Writer, o options, phases []*phaseResult, took time.Duration) {
	fmt.Fprintf(w, "%d closed-loop clients (each on its own HTTP/2 connection over TLS, loopback) for %s per phase; "+
		"mix: 40%% status, 20%% snapshot list, 40%% folder listings of the latest snapshot. "+
		"Source seeded with %d files, %d MiB; %d snapshots at the start%s. Latencies in ms, successful requests only; took %.0f s in all.\n\n",
		o.clients, o.duration, o.files, o.size>>20, phases[0].snapshotsFrom, keptBy(o.keepLast), took.Seconds())
	fmt.Fprintln(w, "| phase | endpoint | requests | errors | req/s | p50 | p90 | p99 | max |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows(phases) {
		c := r.cells()
		if r.endpoint == "all" {
			c[1] = "**all**"
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
	}
	fmt.Fprintln(w)
	if len(phases) == 2 {
		a, b := phases[0].total(), phases[1].total()
		ra := float64(a.requests()) / phases[0].elapsed.Seconds()
		rb := float64(b.requests()) / phases[1].elapsed.Seconds()
		slices.Sort(a.lats)
		slices.Sort(b.lats)
		fmt.Fprintf(w, "With a backup running: %.0f%% of the baseline's requests/s, p50 %.1f×, p99 %.1f× the baseline's.\n",
			100*rb/max(ra, 1e-9), ratio(percentile(b.lats, 0.5), percentile(a.lats, 0.5)), ratio(percentile(b.lats, 0.99), percentile(a.lats, 0.99)))
	}
	for _, p := range phases {
		if p.backup {
			fmt.Fprintf(w, "Backups during %q: %d finished (%d failed), each of a new round of files (%d rounds, %d MiB in all); "+
				"a backup was running %.0f%% of the phase (sampled every 50 ms); snapshots: %d before, %d after%s.\n",
				p.name, p.backups, p.failedBackups, p.churnRounds, p.churnBytes>>20, 100*p.busy.Seconds()/p.elapsed.Seconds(),
				p.snapshotsFrom, p.snapshotsTo, keptBy(o.keepLast))
			for _, e := range p.backupErrors[:min(len(p.backupErrors), 5)] {
				fmt.Fprintf(w, "- backup problem: %s\n", e)
			}
		}
		if p.cpu.ok {
			fmt.Fprintf(w, "CPU during %q, in cores of %d: shoeboxd %.2f, load generator%s %.2f, everything else (other processes, kernel threads) %.2f.\n",
				p.name, runtime.NumCPU(), p.cpu.daemon, map[bool]string{true: " and churner"}[p.backup], p.cpu.self, max(p.cpu.busy-p.cpu.daemon-p.cpu.self, 0))
		}
		if p.other > 0 {
			fmt.Fprintf(w, "Phase %q: %d responses came over HTTP/1, not HTTP/2.\n", p.name, p.other)
		}
		if len(p.fails) > 0 {
			var by []string
			for _, c := range slices.Sorted(maps.Keys(p.codes)) {
				by = append(by, fmt.Sprintf("HTTP %d × %d", c, p.codes[c]))
			}
			fmt.Fprintf(w, "\nErrors in %q: %s (HTTP 0: no answer, e.g. a timeout). The first ones:\n\n", p.name, strings.Join(by, ", "))
			for _, f := range p.fails {
				fmt.Fprintf(w, "- HTTP %d %s\n", f.code, f.body)
			}
		}
	}
}

func keptBy(keepLast int) string {
	if keepLast == 0 {
		return " (no retention)"
	}
	return fmt.Sprintf(" (retention keep_last %d)", keepLast)
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func writeTSV(name string, phases []*phaseResult) error {
	var buf bytes.Buffer
	buf.WriteString("phase\tendpoint\trequests\terrors\treq_per_s\tp50_ms\tp90_ms\tp99_ms\tmax_ms\n")
	for _, r := range rows(phases) {
		buf.WriteString(strings.Join(r.cells(), "\t") + "\n")
	}
	return os.WriteFile(name, buf.Bytes(), 0o644)
}

func trim(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > 300 {
		b = append(b[:300:300], "…"...)
	}
	return b
}
