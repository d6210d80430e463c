package appliance_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
	"go.uber.org/goleak"
)

// TestDaemonLeavesNoGoroutine starts and stops a real daemon 50 times,
// with the gateway mounted, on three folder-backed disks, with a backup
// of a real source and a scrub started by hand in flight at every stop,
// and checks that no goroutine is left: everything the daemon starts is
// owned by its supervisor and waited for, the gateway is closed.
func TestDaemonLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t)
	// A real webhook receiver, answering: a delivery leaves no
	// connection open behind it.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer hook.Close()
	// Checked again before the receiver closes its end: a kept-alive
	// connection would otherwise end only with it.
	before := goleak.IgnoreCurrent()
	cycles := 50
	if testing.Short() {
		cycles = 5
	}
	dir := t.TempDir()
	var disks []string
	for i := 1; i <= 3; i++ {
		d := filepath.Join(dir, fmt.Sprintf("disk%d", i))
		os.MkdirAll(d, 0o755)
		disks = append(disks, d)
	}
	photos := filepath.Join(dir, "photos")
	os.MkdirAll(photos, 0o755)
	os.WriteFile(filepath.Join(dir, "pass"), []byte("test passphrase\n"), 0o600)
	// The array and repository made beforehand with a cheap KDF: the
	// daemon opens them as it would after its first start.
	a, err := raid.Create(disks, raid.Layout{Data: 2, Parity: 1}, raid.Options{AllowSameDrive: true})
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := vault.Init(context.Background(), a, vault.InitOptions{Passphrase: "test passphrase", ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	cfg, err := appliance.ParseConfig("test.yaml", []byte(fmt.Sprintf(`state_dir: %s/state
listen: 127.0.0.1:0
listen_http: 127.0.0.1:0
disks:
  members: [%s]
  allow_same_drive: true
repository:
  passphrase_file: %s/pass
sources:
  - name: family
    path: %s
    mode: scheduled
    schedule: daily 03:00
smart: {disabled: true}
drills: {every: 1000h}
scrub: {every: 1000h, first_delay: 1000h}
alerts: {webhooks: ["%s/hook"]}
`, dir, strings.Join(disks, ", "), dir, photos, hook.URL)))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range cycles {
		// A new file each time: every backup has something to store.
		os.WriteFile(filepath.Join(photos, fmt.Sprintf("img%02d.jpg", i)), bytes.Repeat([]byte{byte(i), 7, 42}, 50<<10), 0o644)
		runCycle(t, i, cfg, logger, func(_ context.Context, d *appliance.Daemon) {
			if err := d.RunSource("family"); err != nil {
				t.Errorf("cycle %d: run the source: %v", i, err)
			}
			if err := d.StartScrub(); err != nil {
				t.Errorf("cycle %d: scrub: %v", i, err)
			}
			// An alert to notify: a webhook delivery in flight.
			d.Bus.Raise("test", "test/leak", appliance.Warning, "test", "an alert to deliver")
			// Stop once the backup is under way.
			for !running(d) {
				time.Sleep(time.Millisecond)
			}
		})
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left after %d daemon runs: %v", cycles, err)
	}
}

// runCycle runs a daemon on cfg with the gateway mounted, calls started
// once it runs, and stops it when started returns; the test fails when
// the daemon fails or does not stop within 2 minutes. i numbers the
// cycle in messages.
func runCycle(t *testing.T, i int, cfg *appliance.Config, logger *slog.Logger, started func(ctx context.Context, d *appliance.Daemon)) {
	t.Helper()
	d := appliance.New(cfg, logger)
	d.API = gateway.Mount(gateway.Options{Logger: logger, Params: &password.Params{Memory: 64, Time: 1, Threads: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, func(d *appliance.Daemon) {
			defer cancel()
			started(ctx, d)
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("cycle %d: the daemon did not stop", i)
	}
}

// running reports whether a backup is in progress or has been made.
func running(d *appliance.Daemon) bool {
	for _, op := range d.Operations() {
		if op.Kind == appliance.OpBackup {
			return true
		}
	}
	return false
}
