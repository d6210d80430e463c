package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIncrementalBackup(t *testing.T) {
	// Every directory is made before the first backup: creating one later
	// would change the mtime of an ancestor of src.
	base, target, old := t.TempDir(), t.TempDir(), t.TempDir()
	src := filepath.Join(base, "src")
	files := map[string][]byte{
		"keep/a.jpg":     randBytes(1, 700<<10),
		"keep/b.txt":     []byte("unchanged text"),
		"change.bin":     randBytes(2, 600<<10),
		"delete-me.bin":  randBytes(3, 1000),
		"chmod-only.txt": []byte("mode changes"),
		"becomes-dir":    []byte("a file first"),
	}
	for rel, data := range files {
		writeFile(t, filepath.Join(src, rel), data, testEpoch)
	}
	fixDirTimes(t, src, testEpoch)
	r, store := newTestRepo(t, 1<<20)
	s1 := mustBackup(t, r, BackupOptions{Paths: []string{src}, Time: testEpoch})
	if got, want := s1.Summary.FilesNew, int64(len(files)); got != want {
		t.Errorf("first backup: got FilesNew %d, want %d", got, want)
	}

	// Same size, new bytes, new mtime.
	changed := randBytes(4, 600<<10)
	writeFile(t, filepath.Join(src, "change.bin"), changed, testEpoch.Add(time.Hour))
	must(t, os.Remove(filepath.Join(src, "delete-me.bin")))
	writeFile(t, filepath.Join(src, "added", "new.txt"), []byte("new file"), testEpoch)
	must(t, os.Chmod(filepath.Join(src, "chmod-only.txt"), 0o600))
	must(t, os.Remove(filepath.Join(src, "becomes-dir")))
	writeFile(t, filepath.Join(src, "becomes-dir", "inside"), []byte("x"), testEpoch)
	fixDirTimes(t, src, testEpoch)

	// A new process picks the parent by itself.
	r2 := reopen(t, store)
	s2 := mustBackup(t, r2, BackupOptions{Paths: []string{src}, Time: testEpoch.Add(24 * time.Hour)})
	if s2.Parent == nil || *s2.Parent != s1.ID() {
		t.Errorf("got parent %v, want %s", s2.Parent, s1.ID().Short())
	}
	want := Summary{
		FilesNew:       2, // added/new.txt, becomes-dir/inside
		FilesChanged:   2, // change.bin, chmod-only.txt (ctime changed)
		FilesUnchanged: 2, // keep/a.jpg, keep/b.txt
		FilesTotal:     6,
	}
	got := *s2.Summary
	got.Start, got.End, got.DirsTotal, got.BytesTotal, got.BlobsAdded, got.BytesAdded, got.BytesStored = time.Time{}, time.Time{}, 0, 0, 0, 0, 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second backup summary (-want +got):\n%s", diff)
	}
	// Only the changed and added content is new data.
	if s2.Summary.BytesAdded > int64(len(changed))+64<<10 {
		t.Errorf("got %d bytes added, want about %d", s2.Summary.BytesAdded, len(changed))
	}

	// Before anything reads src again (reading changes atimes).
	t.Run("unchanged tree", func(t *testing.T) {
		s3 := mustBackup(t, r2, BackupOptions{Paths: []string{src}, Time: testEpoch.Add(48 * time.Hour)})
		if s3.Summary.FilesUnchanged != 6 || s3.Summary.FilesNew+s3.Summary.FilesChanged != 0 {
			t.Errorf("got summary %+v, want 6 unchanged files", *s3.Summary)
		}
		// The ancestors of src (/tmp…) change under other tests' feet;
		// src's own tree must not.
		if got, want := subtree(t, r2, s3, src), subtree(t, r2, s2, src); got != want {
			t.Errorf("got tree %s for %s, want the parent's %s", got.Short(), src, want.Short())
		}
	})

	t.Run("diff", func(t *testing.T) {
		var got []Change
		err := r2.Diff(context.Background(), s1.Tree, s2.Tree, func(c Change) error {
			if strings.HasPrefix(c.Path, src+"/") {
				got = append(got, c)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []Change{
			{Path: src + "/added/", Kind: "+"},
			{Path: src + "/added/new.txt", Kind: "+"},
			{Path: src + "/becomes-dir", Kind: "T"},
			{Path: src + "/change.bin", Kind: "M"},
			{Path: src + "/chmod-only.txt", Kind: "U"},
			{Path: src + "/delete-me.bin", Kind: "-"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Diff (-want +got):\n%s", diff)
		}
	})

	t.Run("diff of identical trees", func(t *testing.T) {
		err := r2.Diff(context.Background(), s2.Tree, s2.Tree, func(c Change) error {
			t.Errorf("got change %v, want none", c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("both snapshots restore", func(t *testing.T) {
		mustRestore(t, r2, s2, RestoreOptions{Target: target})
		compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: true})
		mustRestore(t, r2, s1, RestoreOptions{Target: old})
		b, err := os.ReadFile(restoredPath(old, filepath.Join(src, "delete-me.bin")))
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(b, files["delete-me.bin"]) {
			t.Errorf("got %d bytes for the deleted file, want the original %d", len(b), len(files["delete-me.bin"]))
		}
	})

	t.Run("explicit NoParent rereads", func(t *testing.T) {
		s4 := mustBackup(t, r2, BackupOptions{Paths: []string{src}, NoParent: true})
		if s4.Parent != nil || s4.Summary.FilesNew != 6 {
			t.Errorf("got parent %v, summary %+v, want no parent and 6 new files", s4.Parent, *s4.Summary)
		}
		if s4.Summary.BytesAdded > 64<<10 {
			t.Errorf("got %d bytes added, want only trees", s4.Summary.BytesAdded)
		}
	})

	t.Run("other host gets no parent", func(t *testing.T) {
		s5 := mustBackup(t, r2, BackupOptions{Paths: []string{src}, Host: "elsewhere"})
		if s5.Parent != nil {
			t.Errorf("got parent %s, want none for another host", s5.Parent.Short())
		}
	})
}

// TestIncrementalSameSizeSameMtime documents the limit of change
// detection: a rewrite that keeps size and mtime is still caught through
// ctime.
func TestIncrementalSameSizeSameMtime(t *testing.T) {
	base := t.TempDir()
	p := filepath.Join(base, "src", "f.bin")
	writeFile(t, p, randBytes(1, 4096), testEpoch)
	r, _ := newTestRepo(t, 0)
	mustBackup(t, r, BackupOptions{Paths: []string{filepath.Dir(p)}})
	time.Sleep(10 * time.Millisecond) // let ctime move on
	writeFile(t, p, randBytes(2, 4096), testEpoch)
	s2 := mustBackup(t, r, BackupOptions{Paths: []string{filepath.Dir(p)}})
	if s2.Summary.FilesChanged != 1 {
		t.Errorf("got FilesChanged %d, want 1", s2.Summary.FilesChanged)
	}
	target := t.TempDir()
	mustRestore(t, r, s2, RestoreOptions{Target: target})
	compareTrees(t, filepath.Dir(p), restoredPath(target, filepath.Dir(p)), compareOpts{noXattrs: true})
}

// subtree returns the tree ID of a directory in a snapshot.
func subtree(t testing.TB, r *Repository, s *Snapshot, dir string) ID {
	t.Helper()
	n, err := r.Lookup(context.Background(), s.Tree, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n.Subtree == nil {
		t.Fatalf("%s is not a directory in snapshot %s", dir, s.ID().Short())
	}
	return *n.Subtree
}
