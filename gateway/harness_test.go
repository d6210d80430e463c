package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/internal/fakeclock"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// The harness runs a real daemon (file-backed 2+1 array, two sources) in
// the test process with the gateway on a real HTTPS port on loopback, a
// plain-HTTP redirector, and an injectable clock for the gateway (share
// expiry, lock-outs, TOTP). Tests talk to it over real TLS: REST with
// net/http (or curl), gRPC with grpc-go.

type testClock = fakeclock.Clock

// testBox is a running daemon with its gateway.
type testBox struct {
	t     testing.TB
	dir   string
	state string
	// box is the box the gateway serves: d, the running daemon
	// (newTestBox), or mem, an in-memory box (newMemBox).
	box    Box
	d      *appliance.Daemon
	mem    *memBox
	g      *Gateway
	clock  *testClock
	base   string // https://127.0.0.1:PORT
	plain  string // http://127.0.0.1:PORT
	client *http.Client
	pool   *x509.CertPool
	// family and clients are the sources' folders (spaces "family" and
	// "clients").
	family, clients string
}

// boxSettings are what options change: the daemon's config text and
// where its log goes (discarded by default).
type boxSettings struct {
	cfg     string
	log     io.Writer
	prepare func(state string)
}

type boxOption func(*boxSettings)

// withTOTPRequired keeps the box's default: people must enrol a second
// factor before doing anything else. Without it the harness turns the
// requirement off, so that tests about other things stay short.
func withTOTPRequired() boxOption {
	return func(s *boxSettings) { s.cfg = strings.Replace(s.cfg, "require_totp: false", "require_totp: true", 1) }
}

// withLog writes the daemon's (and the gateway's) log, at debug level,
// to w: for tests of what the logs hold.
func withLog(w io.Writer) boxOption {
	return func(s *boxSettings) { s.log = w }
}

// withState runs prepare on the state directory before the daemon
// starts: for tests of state left by an earlier version.
func withState(prepare func(state string)) boxOption {
	return func(s *boxSettings) { s.prepare = prepare }
}

// fastParams makes argon2id cheap in tests.
var fastParams = password.Params{Memory: 64, Time: 1, Threads: 1}

// cheapScryptLogN is the repository passphrase's scrypt cost in tests
// (the daemon's is vault.DefaultScryptLogN: 64 MiB, a noticeable
// fraction of a second, several seconds under -race).
const cheapScryptLogN = 10

// cheapRepository makes the array and the repository a configured box
// would make on its first start, with a cheap passphrase cost: the
// daemon then opens them as it opens any existing repository (the cost
// is stored with the key). Boxes whose config names a repository
// folder, or whose disks are already labelled, are left to the daemon.
func cheapRepository(t testing.TB, c *appliance.Config) {
	t.Helper()
	dc := c.Disks
	if c.Offsite() || c.Repository.Path != "" || len(dc.Members) == 0 {
		return
	}
	for _, m := range dc.Members {
		if _, err := os.Stat(filepath.Join(m, "shoebox-disk.json")); err == nil {
			return
		}
	}
	layout := raid.Layout{Data: dc.Data, Parity: dc.Parity}
	if dc.Mirror {
		layout = raid.Mirror(len(dc.Members))
	}
	a, err := raid.Create(dc.Members, layout, raid.Options{AllowSameDrive: dc.AllowSameDrive, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pass, err := os.ReadFile(c.Repository.PassphraseFile)
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := vault.Init(context.Background(), a, vault.InitOptions{Passphrase: strings.TrimRight(string(pass), "\r\n"), ScryptLogN: cheapScryptLogN})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
}

// newBoxConfig makes a box's folders and config, with opts applied and
// the state prepared: the part of a box both kinds share.
func newBoxConfig(t testing.TB, opts ...boxOption) (*testBox, *appliance.Config, boxSettings) {
	t.Helper()
	dir := t.TempDir()
	b := &testBox{t: t, dir: dir, state: filepath.Join(dir, "state"), clock: fakeclock.New(time.Now()),
		family: filepath.Join(dir, "family"), clients: filepath.Join(dir, "clients")}
	var disks []string
	for _, d := range []string{"disk-a", "disk-b", "disk-c", "family", "clients"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		if strings.HasPrefix(d, "disk") {
			disks = append(disks, filepath.Join(dir, d))
		}
	}
	os.WriteFile(filepath.Join(dir, "pass"), []byte("test passphrase\n"), 0o600)
	cfg := fmt.Sprintf(`state_dir: %s
listen: 127.0.0.1:0
listen_http: 127.0.0.1:0
gateway:
  require_totp: false
disks:
  members: [%s]
  allow_same_drive: true
repository:
  passphrase_file: %s
sources:
  - name: family
    path: %s
    settle: 300ms
  - name: clients
    path: %s
    mode: scheduled
    schedule: daily 03:00
smart:
  disabled: true
drills:
  every: 1000h
scrub:
  every: 1000h
  first_delay: 1000h
`, b.state, strings.Join(disks, ", "), filepath.Join(dir, "pass"), b.family, b.clients)
	set := boxSettings{cfg: cfg, log: io.Discard}
	for _, o := range opts {
		o(&set)
	}
	c, err := appliance.ParseConfig("test.yaml", []byte(set.cfg))
	if err != nil {
		t.Fatal(err)
	}
	if set.prepare != nil {
		set.prepare(b.state)
	}
	return b, c, set
}

// newTestBox runs a real daemon with its gateway.
func newTestBox(t testing.TB, opts ...boxOption) *testBox {
	t.Helper()
	b, c, set := newBoxConfig(t, opts...)
	cheapRepository(t, c)
	b.d = appliance.New(c, slog.New(slog.NewTextHandler(set.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	b.box = b.d
	b.d.API = func(d *appliance.Daemon, env appliance.APIEnv) (http.Handler, appliance.Service, error) {
		g, err := newForDaemon(Options{Now: b.clock.Now, Params: &fastParams}, d, env)
		b.g = g
		if err != nil {
			return nil, nil, err
		}
		return g.Handler(), g, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- b.d.Run(ctx, func(*appliance.Daemon) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	}
	t.Cleanup(func() {
		// The client's idle HTTP/2 connections would hold the server's
		// graceful shutdown for its GOAWAY timeout (a second): the test
		// is over, close them first.
		if b.client != nil {
			b.client.CloseIdleConnections()
		}
		cancel()
		<-done
		if b.g != nil {
			b.g.Close()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for b.d.PublicURL() == "https://127.0.0.1:0" || b.g.plainAddr.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("listeners did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The continuous source backs up once at start; wait for it, so that
	// tests see only their own snapshots arrive.
	for len(c.Sources) > 0 && b.lastSnapshot() == "" {
		if time.Now().After(deadline) {
			t.Fatal("no first backup of family")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.connect(b.d.ListenAddr())
	return b
}

// connect points the test's clients at the box's HTTPS listener, addr,
// trusting the certificate in STATE/tls/cert.pem, and at the gateway's
// plain-HTTP listener.
func (b *testBox) connect(addr string) {
	t := b.t
	t.Helper()
	b.base = "https://" + addr
	b.plain = "http://" + b.g.plainAddr.Load().(string)
	pem, err := os.ReadFile(filepath.Join(b.state, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b.pool = x509.NewCertPool()
	b.pool.AppendCertsFromPEM(pem)
	b.client = &http.Client{Timeout: 30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.pool}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ownerPassword reads the first owner's password from the file the
// gateway wrote on first start.
func (b *testBox) ownerPassword() string {
	raw, err := os.ReadFile(filepath.Join(b.state, "gateway", InitialPasswordFile))
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimSuffix(string(raw), "\n")
}

// localToken is the daemon's local API token (the CLI's credential).
func (b *testBox) localToken() string {
	raw, err := os.ReadFile(filepath.Join(b.state, "api-token"))
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// do sends a REST request; body is JSON-encoded unless it is []byte or
// nil. It returns the status and the response body.
func (b *testBox) do(method, path, token string, body any) (int, []byte) {
	b.t.Helper()
	return b.doHost("", method, path, token, body)
}

// doHost is do with the Host header set to host ("" for the address
// dialled).
func (b *testBox) doHost(host, method, path, token string, body any) (int, []byte) {
	b.t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(v)
	default:
		j, _ := json.Marshal(v)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// must is do that fails the test unless the status is 200, and decodes
// the answer into out (when not nil).
func (b *testBox) must(method, path, token string, body, out any) {
	b.t.Helper()
	code, raw := b.do(method, path, token, body)
	b.decodeOK(method, path, code, raw, out)
}

// decodeOK fails the test unless code is 200, and decodes raw into out
// (when not nil).
func (b *testBox) decodeOK(method, path string, code int, raw []byte, out any) {
	b.t.Helper()
	if code != http.StatusOK {
		b.t.Fatalf("%s %s: HTTP %d: %s", method, path, code, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// login signs in with REST and returns the session token.
func (b *testBox) login(user, pw, code string) string {
	b.t.Helper()
	var r struct{ Token string }
	b.must("POST", "/v1/auth/login", "", map[string]string{"username": user, "password": pw, "code": code, "device": "test"}, &r)
	return r.Token
}

// owner signs the owner in.
func (b *testBox) owner() string { return b.login("owner", b.ownerPassword(), "") }

// user makes a person with role and grants (space → permissions,
// comma-separated: "read", "read,write,share,restore") as the owner and
// signs them in.
func (b *testBox) user(name, role string, grants map[string]string) string {
	b.t.Helper()
	own := b.localToken()
	pw := "password-of-" + name
	b.must("POST", "/v1/users", own, map[string]string{"name": name, "password": pw, "role": role}, nil)
	for sp, perms := range grants {
		b.must("POST", "/v1/users/"+name+"/grants", own, map[string]any{"space": sp, "permissions": strings.Split(perms, ",")}, nil)
	}
	return b.login(name, pw, "")
}

// currentSessionID is the public ID of the session tok.
func (b *testBox) currentSessionID(tok string) string {
	b.t.Helper()
	var r struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	b.must("GET", "/v1/auth/sessions", tok, nil, &r)
	for _, s := range r.Sessions {
		if s.Current {
			return s.ID
		}
	}
	b.t.Fatal("no current session")
	return ""
}

// enrolTOTP turns on two-step sign-in for the signed-in person and
// returns the secret and recovery codes.
func (b *testBox) enrolTOTP(tok string) (secret string, recovery []string) {
	b.t.Helper()
	var begin struct{ Secret string }
	b.must("POST", "/v1/auth/totp/begin", tok, struct{}{}, &begin)
	var conf struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	b.must("POST", "/v1/auth/totp/confirm", tok, map[string]string{"code": b.totp(begin.Secret, 0)}, &conf)
	return begin.Secret, conf.RecoveryCodes
}

// totp is the code for secret, steps 30-second steps from the gateway's
// clock.
func (b *testBox) totp(secret string, steps int) string {
	code, err := totp.GenerateCode(secret, b.clock.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		b.t.Fatal(err)
	}
	return code
}

// backup puts files into the family folder, runs a backup and returns
// the new snapshot's ID.
func (b *testBox) backup(files map[string][]byte) string {
	b.t.Helper()
	for name, data := range files {
		p := filepath.Join(b.family, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	if b.mem != nil {
		snap, err := b.mem.backup(context.Background())
		if err != nil {
			b.t.Fatal(err)
		}
		return snap
	}
	before := b.lastSnapshot()
	if err := b.d.RunSource("family"); err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s := b.lastSnapshot(); s != "" && s != before {
			return s
		}
		if time.Now().After(deadline) {
			b.t.Fatal("no new snapshot of family within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *testBox) lastSnapshot() string {
	for _, s := range b.box.Sources() {
		if s.Name == "family" && !s.Running {
			return s.LastSnap
		}
	}
	return ""
}

// grpcConn is a gRPC connection over TLS to the box, sending token (if
// any) with every call.
func (b *testBox) grpcConn(token string) *grpc.ClientConn {
	b.t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: b.pool}))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerCreds(token)))
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(b.base, "https://"), opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { conn.Close() })
	return conn
}

type bearerCreds string

func (c bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(c)}, nil
}

func (bearerCreds) RequireTransportSecurity() bool { return true }

// waitFor waits until cond holds, failing the test after 30 s: what the
// test waits for is said in what.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}

// held is what f has reserved in all.
func (f *inflight) held() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}
