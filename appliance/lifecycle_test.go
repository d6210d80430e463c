package appliance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoebox/shoebox/raid"
)

// TestNotifyUnsubscribes: the notifier's subscription to the bus ends
// with it; before, every restart of the notify service (and every
// daemon run on one bus) left a subscriber behind.
func TestNotifyUnsubscribes(t *testing.T) {
	d := New(&Config{StateDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d.notify(ctx)
	}
	d.Bus.mu.Lock()
	n := len(d.Bus.subs)
	d.Bus.mu.Unlock()
	if n != 0 {
		t.Errorf("got %d subscribers after the notifier stopped 3 times, want 0", n)
	}
}

// TestShutdownWaitsForAdminOperations: an array operation started
// through the API (adminOp: rebuild, evacuate) and a scrub started by
// hand are tasks of the supervisor: Run returns only once they have,
// and the repository is closed after them; once the daemon stops no new
// one starts.
func TestShutdownWaitsForAdminOperations(t *testing.T) {
	b := newArrayBox(t)
	d := New(b.config(t, "smart: {disabled: true}\ndrills: {every: 1000h}\n"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop := startDaemon(t, d)
	var finished atomic.Bool
	var repoErr atomic.Value
	err := d.adminOp("rebuild", "test", func(ctx context.Context, progress func(done, total int)) (*raid.ScrubReport, error) {
		<-ctx.Done()
		// Still using the repository after the daemon was told to
		// stop, as a rebuild finishing its last object does.
		time.Sleep(100 * time.Millisecond)
		if _, err := d.Repo.Snapshots(context.Background()); err != nil {
			repoErr.Store(err)
		}
		finished.Store(true)
		return &raid.ScrubReport{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if !finished.Load() {
		t.Fatal("Run returned while an admin operation was still running")
	}
	if err, _ := repoErr.Load().(error); err != nil {
		t.Errorf("the admin operation found the repository closed under it: %v", err)
	}
	if err := d.StartScrub(); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("StartScrub after shutdown: got %v, want ErrShuttingDown", err)
	}
}

// TestRemoveSourceWaitsForBackup: removing (or updating) an API source
// returns once its running backup has stopped, so the same source added
// again never has two backups at once.
func TestRemoveSourceWaitsForBackup(t *testing.T) {
	dir := t.TempDir()
	d := runDaemon(t, dir, "source_roots: ["+filepath.Join(dir, "photos")+"]\n")
	photos := filepath.Join(dir, "photos", "big")
	os.MkdirAll(photos, 0o755)
	for i := range 8 {
		os.WriteFile(filepath.Join(photos, "p"+string(rune('a'+i))+".raw"), bytes.Repeat([]byte{byte(i), 1, 2, 3, 5, 8, 13}, 1<<20), 0o644)
	}
	if _, err := d.AddSource(SourceConfig{Name: "big", Path: photos, Mode: "scheduled", Schedule: "daily 03:00"}); err != nil {
		t.Fatal(err)
	}
	d.srcs.mu.RLock()
	src := d.sources["big"]
	d.srcs.mu.RUnlock()
	if err := d.RunSource("big"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the backup to start", func() bool { return src.Status().Running })
	if err := d.RemoveSource("big"); err != nil {
		t.Fatal(err)
	}
	if src.Status().Running {
		t.Fatal("RemoveSource returned while the source's backup was still running")
	}
}

// TestSmartHistoryFailureReported: a SMART history folder that cannot be
// made is logged and raised as an alert naming it and what to do;
// before, disk health polling silently did not start.
func TestSmartHistoryFailureReported(t *testing.T) {
	state := t.TempDir()
	os.WriteFile(filepath.Join(state, "smart"), []byte("not a folder"), 0o600)
	log := &syncBuffer{}
	d := New(&Config{StateDir: state}, slog.New(slog.NewTextHandler(log, nil)))
	d.addMaintenance(context.Background())
	want := filepath.Join(state, "smart")
	log.mu.Lock()
	text := log.buf.String()
	log.mu.Unlock()
	if !strings.Contains(text, want) || !strings.Contains(text, "restart shoeboxd") {
		t.Errorf("log %q does not name %s and the next step", text, want)
	}
	al := d.Bus.List(false)
	if len(al) != 1 || !strings.Contains(al[0].Message, "STATE/smart") {
		t.Errorf("alerts %+v, want one naming STATE/smart", al)
	}
}
