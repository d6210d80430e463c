package appliance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoebox/shoebox/vault"
)

// runDaemon starts a real daemon on a folder repository with the given
// sources section and returns it, running until the test ends.
func runDaemon(t *testing.T, dir, sources string) *Daemon {
	t.Helper()
	os.WriteFile(filepath.Join(dir, "pass"), []byte("test passphrase\n"), 0o600)
	cfg, err := ParseConfig("test.yaml", []byte(fmt.Sprintf(`state_dir: %s/state
listen: 127.0.0.1:0
repository:
  passphrase_file: %s/pass
  path: %s/repo
smart: {disabled: true}
drills: {every: 1000h}
%s`, dir, dir, dir, sources)))
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	startDaemon(t, d)
	return d
}

// waitFor polls cond every 20 ms for up to d, failing with what.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSourceWatchRearms moves a continuous source's folder away and back
// (a disk unmounted and mounted again, a folder renamed by mistake): the
// alert raised while it is gone stays open until a backup of the
// returned folder succeeds, the box never recreates the folder empty,
// and a file added after the return is backed up within seconds by the
// real fsnotify watcher.
func TestSourceWatchRearms(t *testing.T) {
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos", "family")
	os.MkdirAll(filepath.Join(photos, "2026"), 0o755)
	os.WriteFile(filepath.Join(photos, "2026", "a.jpg"), []byte("first photo"), 0o644)
	d := runDaemon(t, dir, "sources:\n  - name: family\n    path: "+photos+"\n    settle: 100ms\n")
	status := func() SourceInfo { return d.sourceInfo("family") }
	has := func(snap, rel string) bool {
		if snap == "" {
			return false
		}
		sn, err := d.Repo.FindSnapshot(context.Background(), snap, vault.SnapshotFilter{})
		if err != nil {
			return false
		}
		_, err = d.Repo.Lookup(context.Background(), sn.Tree, filepath.Join(photos, rel))
		return err == nil
	}
	waitFor(t, 10*time.Second, "first backup", func() bool { return has(status().LastSnap, "2026/a.jpg") })
	alertOpen := func() bool {
		for _, a := range d.Bus.List(false) {
			if a.Space == "family" && a.Kind == "backup-failed" {
				return true
			}
		}
		return false
	}

	away := filepath.Join(dir, "photos", "family.away")
	if err := os.Rename(photos, away); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "an alert for the missing folder", alertOpen)
	// While it is away, nothing resolves the alert, and the folder is
	// not recreated (an empty folder backed up would look like success
	// and, with keep_last, push the real snapshots out).
	d.RunSource("family")
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(photos); err == nil {
		t.Fatal("the daemon recreated the missing source folder")
	}
	if !alertOpen() {
		t.Fatal("the alert resolved while the folder is still away")
	}

	if err := os.Rename(away, photos); err != nil {
		t.Fatal(err)
	}
	// A new photo in a new folder after the return.
	os.MkdirAll(filepath.Join(photos, "2027"), 0o755)
	os.WriteFile(filepath.Join(photos, "2027", "b.jpg"), []byte("second photo"), 0o644)
	waitFor(t, 10*time.Second, "a backup of the photo added after the folder came back", func() bool {
		return has(status().LastSnap, "2027/b.jpg")
	})
	waitFor(t, 2*time.Second, "the alert resolved by that backup", func() bool { return !alertOpen() })

	// The watch is really back: another photo, deeper.
	os.WriteFile(filepath.Join(photos, "2027", "c.jpg"), []byte("third photo"), 0o644)
	waitFor(t, 10*time.Second, "a backup of the next photo", func() bool { return has(status().LastSnap, "2027/c.jpg") })
}

// TestSourceWatchRescan: when no event tells of the folder's return (its
// parent folder moved away and back, as a disk unmounted and mounted
// again), the periodic rescan finds it and watches it again.
func TestSourceWatchRescan(t *testing.T) {
	defer func(old time.Duration) { rescanEvery = old }(rescanEvery)
	rescanEvery = 100 * time.Millisecond
	dir := t.TempDir()
	parent := filepath.Join(dir, "disk")
	photos := filepath.Join(parent, "family")
	os.MkdirAll(photos, 0o755)
	os.WriteFile(filepath.Join(photos, "a.jpg"), []byte("first photo"), 0o644)
	d := runDaemon(t, dir, "sources:\n  - name: family\n    path: "+photos+"\n    settle: 100ms\n")
	has := func(rel string) bool {
		sn, err := d.Repo.FindSnapshot(context.Background(), "latest", vault.SnapshotFilter{Tags: []string{SourceTag + "family"}})
		if err != nil {
			return false
		}
		_, err = d.Repo.Lookup(context.Background(), sn.Tree, filepath.Join(photos, rel))
		return err == nil && !d.sourceInfo("family").Running
	}
	waitFor(t, 10*time.Second, "first backup", func() bool { return has("a.jpg") })
	alertOpen := func() bool {
		for _, a := range d.Bus.List(false) {
			if a.Key == "backup-failed/family" {
				return true
			}
		}
		return false
	}
	if err := os.Rename(parent, parent+".unmounted"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "an alert for the missing folder", alertOpen)
	if err := os.Rename(parent+".unmounted", parent); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(photos, "b.jpg"), []byte("second photo"), 0o644)
	waitFor(t, 10*time.Second, "a backup after the folder came back", func() bool { return has("b.jpg") })
	waitFor(t, 2*time.Second, "the alert resolved", func() bool { return !alertOpen() })
	os.WriteFile(filepath.Join(photos, "c.jpg"), []byte("third photo"), 0o644)
	waitFor(t, 10*time.Second, "a backup of the next photo", func() bool { return has("c.jpg") })
}
