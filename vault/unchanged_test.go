package vault

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBackupSkipUnchanged: with SkipUnchanged, a backup whose tree equals
// its parent's writes no snapshot and says so; Heartbeat still writes one
// when the parent is that old; a change always makes one.
func TestBackupSkipUnchanged(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.jpg"), randBytes(1, 50<<10), testEpoch)
	r, _ := newTestRepo(t, 1<<20)
	first := mustBackup(t, r, BackupOptions{Paths: []string{src}, Time: testEpoch})
	count := func() int {
		snaps, err := r.Snapshots(ctx)
		must(t, err)
		return len(snaps)
	}
	for _, tc := range []struct {
		name      string
		at        time.Duration
		heartbeat time.Duration
		change    bool
		wantNew   bool
		touch     bool
	}{
		{"unchanged", time.Hour, 0, false, false, false},
		{"unchanged, a file read and a folder made beside the source", 90 * time.Minute, 0, false, false, true},
		{"unchanged, parent younger than the heartbeat", 2 * time.Hour, 24 * time.Hour, false, false, false},
		{"unchanged, parent as old as the heartbeat", 24 * time.Hour, 24 * time.Hour, false, true, false},
		{"changed", 25 * time.Hour, 0, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.touch {
				// Access times move on, and the folder above changes.
				must(t, os.Chtimes(filepath.Join(src, "a.jpg"), time.Now(), testEpoch))
				must(t, os.Mkdir(filepath.Join(filepath.Dir(src), "beside"), 0o755))
			}
			if tc.change {
				writeFile(t, filepath.Join(src, "b.jpg"), randBytes(2, 10<<10), testEpoch)
			}
			before := count()
			snap := mustBackup(t, r, BackupOptions{Paths: []string{src}, Time: testEpoch.Add(tc.at), SkipUnchanged: true, Heartbeat: tc.heartbeat})
			n := count() - before
			switch {
			case tc.wantNew && (n != 1 || snap.Summary.Unchanged):
				t.Errorf("got %d new snapshots (unchanged %v), want 1", n, snap.Summary.Unchanged)
			case !tc.wantNew && (n != 0 || !snap.Summary.Unchanged || snap.Tree != first.Tree):
				t.Errorf("got %d new snapshots (unchanged %v, tree %s), want none: the tree equals the parent's %s",
					n, snap.Summary.Unchanged, snap.Tree.Short(), first.Tree.Short())
			}
		})
	}
	// Without SkipUnchanged every run makes a snapshot, as before.
	before := count()
	mustBackup(t, r, BackupOptions{Paths: []string{src}, Time: testEpoch.Add(26 * time.Hour)})
	if n := count() - before; n != 1 {
		t.Errorf("without SkipUnchanged: got %d new snapshots, want 1", n)
	}
}
