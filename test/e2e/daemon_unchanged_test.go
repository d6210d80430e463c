package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestDaemonForgetPruneWhileRunning: with shoeboxd running and holding
// the array, `shoebox forget --prune` and `shoebox prune` go through it
// instead of failing ("array in use"): the owner never stops the box.
// The repository then checks clean, data read back included.
func TestDaemonForgetPruneWhileRunning(t *testing.T) {
	b := newBoxDirs(t)
	src := filepath.Join(b.dir, "photos")
	b.writeConfig(fmt.Sprintf(`sources:
  - name: photos
    path: %s
    mode: scheduled
    schedule: every 6h
smart:
  disabled: true
`, src))
	os.MkdirAll(src, 0o755)
	b.start()
	for run := 1; run <= 3; run++ {
		// Each run replaces the photo: forgetting a snapshot frees data.
		os.WriteFile(filepath.Join(src, "IMG.JPG"), []byte(strings.Repeat(fmt.Sprintf("photo %d ", run), 20000)), 0o644)
		before, _ := b.sources()["photos"]["last_snapshot"].(string)
		if code, body := b.post("/v1/sources/photos/run"); code != 200 {
			t.Fatalf("run: HTTP %d %s", code, body)
		}
		b.waitFor("backup", 30*time.Second, func() bool {
			s := b.sources()["photos"]
			last, _ := s["last_snapshot"].(string)
			return s["running"] == false && last != "" && last != before
		})
	}
	res := b.cli("forget", "--keep-last", "1", "--prune")
	if res.code != 0 || !strings.Contains(res.stdout, "2 snapshots removed") || !strings.Contains(res.stdout, "prune:") {
		t.Fatalf("forget --keep-last 1 --prune while the daemon runs: %v; want 2 snapshots removed and pruned through the daemon", res)
	}
	if res := b.cli("prune"); res.code != 0 || !strings.Contains(res.stdout, "0 packs deleted") {
		t.Errorf("prune while the daemon runs, after a prune: %v; want it to run through the daemon and find nothing to delete", res)
	}
	b.stop()
	var rows []struct{ ID string }
	res = b.cli("--json", "snapshots")
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil || len(rows) != 1 {
		t.Errorf("snapshots after forget --keep-last 1: %v (%v); want 1", res, err)
	}
	if res := b.cli("check", "--read-data"); res.code != 0 {
		t.Errorf("check --read-data after forget and prune through the daemon: %v", res)
	}
}
