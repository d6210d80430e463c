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

// TestDaemonRetention runs the real daemon with three scheduled sources
// that keep only their last snapshot: one locks every snapshot for 30
// days (lock_days), one is under a client contract that ended in 2000
// (until, in the past), one under a contract that runs until 2099. Each
// is backed up three times ("run now"). The locked source keeps all
// three, and forget refuses to remove them; the ended contract keeps one;
// the running contract keeps all three.
func TestDaemonRetention(t *testing.T) {
	b := newBoxDirs(t)
	names := []string{"locked", "ended", "client"}
	b.writeConfig(fmt.Sprintf(`sources:
  - name: locked
    path: %s
    mode: scheduled
    schedule: every 6h
    retention: {keep_last: 1, lock_days: 30}
  - name: ended
    path: %s
    mode: scheduled
    schedule: every 6h
    retention: {keep_last: 1, until: 2000-01-01}
  - name: client
    path: %s
    mode: scheduled
    schedule: every 6h
    retention: {keep_last: 1, until: 2099-12-31}
smart:
  disabled: true
`, filepath.Join(b.dir, "locked"), filepath.Join(b.dir, "ended"), filepath.Join(b.dir, "client")))
	for _, n := range names {
		os.MkdirAll(filepath.Join(b.dir, n), 0o755)
	}
	b.start()

	for run := 1; run <= 3; run++ {
		for _, n := range names {
			os.WriteFile(filepath.Join(b.dir, n, fmt.Sprintf("IMG_%04d.JPG", run)), []byte(strings.Repeat(n, 1000*run)), 0o644)
			before := b.sources()[n]["last_snapshot"]
			if code, body := b.post("/v1/sources/" + n + "/run"); code != 200 {
				t.Fatalf("run %s: HTTP %d %s", n, code, body)
			}
			b.waitFor("backup "+n, 30*time.Second, func() bool {
				s := b.sources()[n]
				return s["running"] == false && s["last_snapshot"] != nil && s["last_snapshot"] != before
			})
		}
	}
	b.stop() // the CLI may write the array only when the daemon is gone

	snaps := func(source string) []string {
		t.Helper()
		var rows []struct{ ID string }
		res := b.cli("--json", "snapshots", "--tag", "source:"+source)
		if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
			t.Fatalf("snapshots of %s: %v\n%v", source, err, res)
		}
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		source string
		want   int
	}{{"locked", 3}, {"ended", 1}, {"client", 3}} {
		if got := snaps(tc.source); len(got) != tc.want {
			t.Errorf("%s: got %d snapshots after 3 backups with keep_last 1, want %d\n%s", tc.source, len(got), tc.want, b.log)
		}
	}

	locked := snaps("locked")
	if len(locked) == 0 {
		t.Fatal("no locked snapshots")
	}
	res := b.cli("forget", locked[0])
	if res.code == 0 || !strings.Contains(res.stderr, "immutable") {
		t.Errorf("forget of a locked snapshot: %v; want a refusal naming the lock", res)
	}
	res = b.cli("forget", "--keep-last", "1", "--prune")
	if res.code != 0 {
		t.Errorf("forget --keep-last 1: %v", res)
	}
	if got := snaps("locked"); len(got) != 3 {
		t.Errorf("after forget --keep-last 1: %d locked snapshots, want all 3 kept until the lock expires", len(got))
	}
}
