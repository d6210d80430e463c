package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDaemonRestartMakesNoSnapshotOfUnchangedSources: a real daemon backs
// up a continuous and a scheduled source, is stopped and started again,
// backs both up again ("catch up" at start, "run now") with nothing
// changed: no new snapshot, yet each source's last success moves on. A
// changed file still makes one.
func TestDaemonRestartMakesNoSnapshotOfUnchangedSources(t *testing.T) {
	b := newBoxDirs(t)
	watched, nightly := filepath.Join(b.dir, "watched"), filepath.Join(b.dir, "nightly")
	b.writeConfig(fmt.Sprintf(`sources:
  - name: watched
    path: %s
    settle: 1s
  - name: nightly
    path: %s
    mode: scheduled
    schedule: every 6h
smart:
  disabled: true
`, watched, nightly))
	for i, dir := range []string{watched, nightly} {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "IMG_0001.JPG"), []byte(fmt.Sprintf("photo %d", i)), 0o644)
	}
	lastSuccess := func(name string) string {
		s, _ := b.sources()[name]["last_success"].(string)
		return s
	}
	runNow := func(name string) {
		t.Helper()
		before := lastSuccess(name)
		if code, body := b.post("/v1/sources/" + name + "/run"); code != 200 {
			t.Fatalf("run %s: HTTP %d %s", name, code, body)
		}
		b.waitFor("backup of "+name, 30*time.Second, func() bool {
			s := b.sources()[name]
			return s["running"] == false && lastSuccess(name) != before
		})
	}
	count := func() int {
		t.Helper()
		var rows []struct{ ID string }
		res := b.cli("--json", "snapshots")
		if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
			t.Fatalf("snapshots: %v\n%v", err, res)
		}
		return len(rows)
	}

	b.start()
	b.waitFor("the first backup of watched", 30*time.Second, func() bool { return lastSuccess("watched") != "" })
	runNow("nightly")
	first := lastSuccess("watched")
	b.stop()
	if n := count(); n != 2 {
		t.Fatalf("got %d snapshots after the first start, want 2 (one per source)", n)
	}

	b.start() // the watched source catches up at start: nothing changed
	b.waitFor("watched's backup at start", 30*time.Second, func() bool {
		s := b.sources()["watched"]
		return s["running"] == false && lastSuccess("watched") != first
	})
	runNow("nightly")
	b.stop()
	if n := count(); n != 2 {
		t.Errorf("got %d snapshots after a restart with nothing changed, want still 2: unchanged sources make no snapshot\n%s", n, b.log)
	}

	os.WriteFile(filepath.Join(nightly, "IMG_0002.JPG"), []byte("a new photo"), 0o644)
	b.start()
	runNow("nightly")
	b.stop()
	if n := count(); n != 3 {
		t.Errorf("got %d snapshots after a change, want 3\n%s", n, b.log)
	}
}
