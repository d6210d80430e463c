package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/cluster"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// memBox is a Box held in memory for handler tests: a real repository
// (a directory store in the test's temporary folder, cheap scrypt), a
// real alert bus, the config's sources as fixed data, and no array, no
// daemon and no background work. Its backups are vault.Backup run on
// the calling goroutine, tagged as the daemon tags a source's. What it
// cannot do (change sources, run operations, restore, prune, the disk
// operations) fails with errMemBox: tests of those use the real daemon
// (newTestBox).
type memBox struct {
	cfg  *appliance.Config
	repo *vault.Repository
	bus  *appliance.Bus
	hide *strings.Replacer
	addr string // the HTTPS listener's address

	mu       sync.Mutex
	sources  []appliance.SourceInfo
	problems map[string]string
}

var _ Box = (*memBox)(nil)

// errMemBox is what the in-memory box answers for what only a daemon
// does.
var errMemBox = errors.New("the in-memory test box does not do this: use newTestBox")

// newMemBox is newTestBox on a memBox: the same config (and options),
// the same folders, the gateway on a real HTTPS port on loopback (with
// its plain-HTTP redirector), without the daemon.
func newMemBox(t testing.TB, opts ...boxOption) *testBox {
	t.Helper()
	b, c, set := newBoxConfig(t, opts...)
	repo := openMemRepo(t, filepath.Join(b.dir, "repo"))
	m := &memBox{cfg: c, repo: repo, bus: appliance.NewBus(), problems: map[string]string{},
		hide: strings.NewReplacer(c.StateDir, "STATE")}
	for _, s := range c.Sources {
		m.sources = append(m.sources, appliance.SourceInfo{SourceStatus: appliance.SourceStatus{Name: s.Name, Path: s.Path, Mode: s.Mode,
			Schedule: s.Schedule}, Retention: s.Retention, FromConfig: true})
	}
	b.mem, b.box = m, m

	// The HTTPS listener: httptest's certificate (for 127.0.0.1), HTTP/2
	// for gRPC; the gateway is built once the address is known.
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	m.addr = srv.Listener.Addr().String()
	cert := srv.Certificate()
	if err := os.MkdirAll(filepath.Join(b.state, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.state, "tls", "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	token := "sbl_" + hex.EncodeToString(tok)
	if err := os.WriteFile(filepath.Join(b.state, "api-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(set.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := newForBox(Options{Now: b.clock.Now, Params: &fastParams, Logger: logger}, m,
		appliance.APIEnv{Dir: filepath.Join(b.state, "gateway"), LocalToken: token, CertDER: cert.Raw})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	b.g, h = g, g.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx) }()
	t.Cleanup(func() {
		b.client.CloseIdleConnections()
		cancel()
		<-served
		srv.Close()
		g.Close()
		repo.Close()
	})
	for deadline := time.Now().Add(10 * time.Second); g.plainAddr.Load() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the plain-HTTP listener did not start")
		}
	}
	b.connect(m.addr)
	return b
}

// memRepoTemplate is an empty repository made once per test binary
// (making one costs a chunker polynomial and a key); each memBox opens
// its own copy. TestMain removes it.
var memRepoTemplate struct {
	once sync.Once
	dir  string
	err  error
}

const memRepoPassphrase = "test passphrase"

func TestMain(m *testing.M) {
	code := m.Run()
	if memRepoTemplate.dir != "" {
		os.RemoveAll(memRepoTemplate.dir)
	}
	os.Exit(code)
}

// openMemRepo opens a copy of the template repository at dir.
func openMemRepo(t testing.TB, dir string) *vault.Repository {
	t.Helper()
	tpl := &memRepoTemplate
	tpl.once.Do(func() {
		if tpl.dir, tpl.err = os.MkdirTemp("", "gateway-membox-"); tpl.err != nil {
			return
		}
		store, err := store.OpenDir(tpl.dir)
		if err != nil {
			tpl.err = err
			return
		}
		repo, _, err := vault.Init(context.Background(), store, vault.InitOptions{Passphrase: memRepoPassphrase, ScryptLogN: cheapScryptLogN})
		if err != nil {
			tpl.err = err
			return
		}
		tpl.err = repo.Close()
	})
	if tpl.err != nil {
		t.Fatal(tpl.err)
	}
	if err := os.CopyFS(dir, os.DirFS(tpl.dir)); err != nil {
		t.Fatal(err)
	}
	store, err := store.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := vault.Open(context.Background(), store, memRepoPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// backup is the daemon's backup of the family source, run now.
func (m *memBox) backup(ctx context.Context) (string, error) {
	src := m.source("family")
	sn, err := m.repo.Backup(ctx, vault.BackupOptions{Paths: []string{src.Path}, Tags: []string{appliance.SourceTag + src.Name}})
	if err != nil {
		return "", err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.sources {
		if m.sources[i].Name == src.Name {
			m.sources[i].LastSnap, m.sources[i].LastSuccess = sn.ID().String(), &now
		}
	}
	return sn.ID().String(), nil
}

func (m *memBox) source(name string) *appliance.SourceInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sources {
		if s.Name == name {
			return &s
		}
	}
	return nil
}

// Backups.

func (m *memBox) Repository() *vault.Repository { return m.repo }

func (m *memBox) Sources() []appliance.SourceInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sources)
}

func (m *memBox) AddSource(appliance.SourceConfig) (appliance.SourceInfo, error) {
	return appliance.SourceInfo{}, errMemBox
}

func (m *memBox) UpdateSource(appliance.SourceConfig) (appliance.SourceInfo, error) {
	return appliance.SourceInfo{}, errMemBox
}

func (m *memBox) RemoveSource(string) error { return errMemBox }
func (m *memBox) RunSource(string) error    { return errMemBox }

func (m *memBox) Operations() []appliance.Operation { return nil }

// StartOperation is only called by a restore, which OpenRestoreRoot
// refuses first.
func (m *memBox) StartOperation(kind, space, subject string) *appliance.Op {
	panic(fmt.Sprintf("memBox: operation %s %s: %v", kind, subject, errMemBox))
}

func (m *memBox) OpenRestoreRoot() (*os.Root, error) { return nil, errMemBox }

func (m *memBox) Forget(context.Context, vault.ForgetOptions) (*vault.ForgetReport, error) {
	return nil, errMemBox
}

func (m *memBox) Prune(context.Context, bool) (*vault.PruneResult, error) { return nil, errMemBox }

// Uploads: into the source's folder, as the daemon's; no card library.

func (m *memBox) SourceInbox(space string) (string, error) {
	if s := m.source(space); s != nil {
		return s.Path, nil
	}
	return "", fmt.Errorf("%w %q", appliance.ErrNoSource, space)
}

func (m *memBox) HoldsFile([32]byte) bool { return false }

// Disks: none (the repository is a folder).

func (m *memBox) DiskArray() *raid.Array               { return nil }
func (m *memBox) Capacity() (appliance.Capacity, bool) { return appliance.Capacity{}, false }
func (m *memBox) DiskHealth(raid.DiskStatus) appliance.DiskHealth {
	return appliance.DiskHealth{State: "UNKNOWN"}
}
func (m *memBox) DiskHistory(string) ([]appliance.HealthSample, error) { return nil, errMemBox }
func (m *memBox) StartScrub() error                                    { return errMemBox }
func (m *memBox) StartReplace(string, string) error                    { return errMemBox }
func (m *memBox) StartEvacuate(string) error                           { return errMemBox }

// Health: ready, no drills, no cards.

func (m *memBox) Alerts() *appliance.Bus { return m.bus }
func (m *memBox) NotReady() string       { return "" }

func (m *memBox) SetProblem(component, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg == "" {
		delete(m.problems, component)
	} else {
		m.problems[component] = msg
	}
}

func (m *memBox) Drills(context.Context) ([]maint.DrillResult, error) { return nil, nil }
func (m *memBox) Cards(context.Context) ([]cards.Verdict, error)      { return nil, nil }
func (m *memBox) CardLedger(context.Context, string) (*cards.Ledger, cards.Verdict, error) {
	return nil, cards.Verdict{}, cards.ErrNoLedger
}

// Site.

func (m *memBox) Configuration() *appliance.Config { return m.cfg }
func (m *memBox) PublicURL() string                { return "https://" + m.addr }
func (m *memBox) ListenAddr() string               { return m.addr }
func (m *memBox) HidePaths(msg string) string      { return m.hide.Replace(msg) }

// Cluster: the in-memory box is a home unit that is not paired and
// cannot dial.

func (m *memBox) ClusterStatus() appliance.ClusterStatus {
	return appliance.ClusterStatus{Role: m.cfg.Role}
}
func (m *memBox) OfferPairing(bool) (cluster.Offer, error) { return cluster.Offer{}, errMemBox }
func (m *memBox) PairWith(context.Context, string, string, string) (cluster.Peer, error) {
	return cluster.Peer{}, errMemBox
}
func (m *memBox) Unpair() error { return nil }
