package appliance_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/internal/keyscan"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// offsiteConfig is an offsite unit's config on three empty folder-backed
// disks under dir: no passphrase, no sources.
func offsiteConfig(t *testing.T, dir string) (*appliance.Config, []string) {
	t.Helper()
	var disks []string
	for i := 1; i <= 3; i++ {
		d := filepath.Join(dir, fmt.Sprintf("disk%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		disks = append(disks, d)
	}
	cfg, err := appliance.ParseConfig("offsite.yaml", []byte(fmt.Sprintf(`role: offsite
state_dir: %s/state
listen: 127.0.0.1:0
listen_http: 127.0.0.1:0
cluster: {listen: "127.0.0.1:0"}
disks:
  members: [%s]
  allow_same_drive: true
smart: {disabled: true}
scrub: {every: 1000h, first_delay: 1000h}
`, dir, strings.Join(disks, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, disks
}

// TestOffsiteUnit starts and stops a real offsite daemon, gateway
// mounted, on empty folder-backed disks, several times: it starts
// without a passphrase, makes the array but no repository (the disks
// hold no object, and nothing key-like is anywhere under its state and
// disks), serves /healthz and /metrics and scrubs, refuses what needs
// the keys with ErrOffsite, and leaves no goroutine behind (a scrub and
// an alert delivery in flight at each stop).
func TestOffsiteUnit(t *testing.T) {
	defer goleak.VerifyNone(t)
	before := goleak.IgnoreCurrent()
	dir := t.TempDir()
	cfg, disks := offsiteConfig(t, dir)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cycles := 5
	for i := range cycles {
		runCycle(t, i, cfg, logger, func(ctx context.Context, d *appliance.Daemon) {
			if d.Repo != nil || d.Store == nil || d.Array == nil {
				t.Errorf("cycle %d: Repo %v, Store %v, Array %v; want no repository, the array as the store", i, d.Repo, d.Store, d.Array)
			}
			checkServed(t, d)
			for name, err := range map[string]error{
				"Forget":    func() error { _, err := d.Forget(ctx, vault.ForgetOptions{IDs: []string{"abc"}}); return err }(),
				"Prune":     func() error { _, err := d.Prune(ctx, true); return err }(),
				"Drills":    func() error { _, err := d.Drills(ctx); return err }(),
				"AddSource": func() error { _, err := d.AddSource(appliance.SourceConfig{Name: "x", Path: dir}); return err }(),
				"RunSource": d.RunSource("x"),
				"SourceInbox": func() error {
					_, err := d.SourceInbox("x")
					return err
				}(),
			} {
				if !errors.Is(err, appliance.ErrOffsite) {
					t.Errorf("cycle %d: %s: %v, want ErrOffsite", i, name, err)
				}
			}
			if err := d.StartScrub(); err != nil {
				t.Errorf("cycle %d: scrub: %v", i, err)
			}
			d.Bus.Raise("test", "test/offsite", appliance.Warning, "test", "an alert to deliver")
		})
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left after %d offsite daemon runs: %v", cycles, err)
	}

	// Empty disks stayed empty: an array, no object in it.
	a, err := raid.OpenArray(disks, raid.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var objects []string
	a.List(context.Background(), "", func(fi store.ObjectInfo) error { objects = append(objects, fi.Name); return nil })
	if len(objects) > 0 {
		t.Errorf("the offsite unit's array holds %v, want no object", objects)
	}
	// Nothing to decrypt with: no repository to open, whatever the passphrase.
	if _, err := vault.Open(context.Background(), a, "test passphrase"); !errors.Is(err, vault.ErrNotRepository) {
		t.Errorf("opening a repository on the offsite unit's array: %v, want ErrNotRepository", err)
	}
	a.Close()
	keyscan.None(t, append([]string{cfg.StateDir}, disks...), keyscan.Options{NoRepository: true})
}

// checkServed: /healthz says ok and /metrics serves the array's series,
// over the daemon's HTTPS port.
func checkServed(t *testing.T, d *appliance.Daemon) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(d.Config.StateDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": "shoebox_array_degraded 0"} {
		resp, err := c.Get("https://" + d.ListenAddr() + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: HTTP %d %q, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
}
