package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination the daemon's goroutines may share with
// the test that reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *syncBuffer) records() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// withMsg returns the records with message msg.
func (b *syncBuffer) withMsg(msg string) []map[string]any {
	var out []map[string]any
	for _, r := range b.records() {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// arrayBox is a daemon's folders: three file-backed disks, a passphrase
// and a source folder.
type arrayBox struct {
	dir, state, photos string
	disks              []string
}

func newArrayBox(t *testing.T) *arrayBox {
	t.Helper()
	dir := t.TempDir()
	b := &arrayBox{dir: dir, state: filepath.Join(dir, "state"), photos: filepath.Join(dir, "photos", "family")}
	for i := 1; i <= 3; i++ {
		d := filepath.Join(dir, fmt.Sprintf("disk%d", i))
		os.MkdirAll(d, 0o755)
		b.disks = append(b.disks, d)
	}
	os.MkdirAll(b.photos, 0o755)
	os.WriteFile(filepath.Join(dir, "pass"), []byte("test passphrase\n"), 0o600)
	return b
}

// config is the box's configuration with rest appended.
func (b *arrayBox) config(t *testing.T, rest string) *Config {
	t.Helper()
	cfg, err := ParseConfig("test.yaml", []byte(fmt.Sprintf(`state_dir: %s
listen: 127.0.0.1:0
disks:
  members: [%s]
  allow_same_drive: true
repository:
  passphrase_file: %s/pass
sources:
  - name: family
    path: %s
    settle: 100ms
    retention: {keep_last: 1}
scrub: {every: 1000h, first_delay: 1000h}
`, b.state, strings.Join(b.disks, ", "), b.dir, b.photos)+rest))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startDaemon runs d until stop is called or the test ends.
func startDaemon(t *testing.T, d *Daemon) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- d.Run(ctx, func(*Daemon) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon stopped with %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestDaemonLogsOperations: the daemon's log says what it did, one INFO
// line per finished operation: at start (version, the addresses it
// listens on, the array's state), after each backup (source, files, bytes
// new and in total, duration, snapshot), scrub and restore drill, and at
// shutdown (how long stopping took); retention's forget gets its line.
func TestDaemonLogsOperations(t *testing.T) {
	b := newArrayBox(t)
	os.WriteFile(filepath.Join(b.photos, "a.jpg"), bytes.Repeat([]byte("first photo "), 1000), 0o644)
	log := &syncBuffer{}
	d := New(b.config(t, "smart: {disabled: true}\ndrills: {every: 1s, files: 2}\n"),
		slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})))
	stop := startDaemon(t, d)

	// The start line: what runs, where, on what.
	starts := log.withMsg("shoeboxd started")
	if len(starts) != 1 {
		t.Fatalf("got %d start lines, want 1; log:\n%s", len(starts), log.buf.String())
	}
	st := starts[0]
	if st["level"] != "INFO" || st["version"] != "dev" || st["array"] != "healthy, 3 of 3 disks" {
		t.Errorf("start line %v: want INFO with version dev and array \"healthy, 3 of 3 disks\"", st)
	}
	https, _ := st["https"].(string)
	if _, port, err := net.SplitHostPort(https); err != nil || port == "0" || https != d.listenAddr.Load() {
		t.Errorf("start line https=%q: want the address the listener got (%v)", https, d.listenAddr.Load())
	}

	// One line per backup, with what it did.
	backupLine := func(snap string) map[string]any {
		for _, r := range log.withMsg("backup finished") {
			if r["snapshot"] == snap {
				return r
			}
		}
		return nil
	}
	var first map[string]any
	waitFor(t, 20*time.Second, "the first backup's log line", func() bool {
		snap := d.sourceInfo("family").LastSnap
		first = backupLine(shortID(snap))
		return first != nil
	})
	want := map[string]any{"level": "INFO", "op": "backup", "source": "family", "files": 1.0, "files_new": 1.0, "bytes_total": 12000.0}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("backup line %v: %s=%v, want %v", first, k, first[k], v)
		}
	}
	if n, _ := first["bytes_new"].(float64); n <= 0 {
		t.Errorf("backup line %v: bytes_new=%v, want the bytes the backup added", first, first["bytes_new"])
	}
	if _, ok := first["duration"].(float64); !ok {
		t.Errorf("backup line %v: no duration", first)
	}
	os.WriteFile(filepath.Join(b.photos, "b.jpg"), bytes.Repeat([]byte("second photo "), 1000), 0o644)
	waitFor(t, 20*time.Second, "the second backup's log line", func() bool {
		r := backupLine(shortID(d.sourceInfo("family").LastSnap))
		return r != nil && r["files"] == 2.0 && r["files_new"] == 1.0 && r["bytes_total"] == 25000.0
	})

	// Retention (keep_last: 1) forgot the first snapshot.
	waitFor(t, 20*time.Second, "retention's log line", func() bool {
		for _, r := range log.withMsg("forget finished") {
			if r["level"] == "INFO" && r["op"] == "forget" && r["source"] == "family" && r["removed"] == 1.0 && r["kept"] == 1.0 {
				return true
			}
		}
		return false
	})

	// A scrub (through the API's "scrub now") and a scheduled drill.
	if err := d.StartScrub(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the scrub's log line", func() bool {
		for _, r := range log.withMsg("scrub finished") {
			if r["level"] == "INFO" && r["op"] == "scrub" && r["objects"].(float64) > 0 && r["duration"] != nil {
				return true
			}
		}
		return false
	})
	waitFor(t, 20*time.Second, "a restore drill's log line", func() bool {
		for _, r := range log.withMsg("restore-drill finished") {
			if r["level"] == "INFO" && r["op"] == "restore-drill" && r["files"].(float64) > 0 && r["duration"] != nil && r["snapshot"] != nil {
				return true
			}
		}
		return false
	})

	// The shutdown line.
	stop()
	stops := log.withMsg("shoeboxd stopped")
	if len(stops) != 1 || stops[0]["level"] != "INFO" || stops[0]["duration"] == nil {
		t.Errorf("shutdown lines %v: want one INFO line with how long stopping took", stops)
	}
}

// shortID is the 8-character form of a snapshot ID ("" stays "").
func shortID(id string) string { return id[:min(8, len(id))] }
