package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// existingFixture is a snapshot of a small tree (files, a hard link, a
// symbolic link, a folder) restored once into target, ready to be
// changed and restored over.
type existingFixture struct {
	r      *Repository
	snap   *Snapshot
	src    string
	target string
}

func newExistingFixture(t *testing.T) *existingFixture {
	t.Helper()
	r, _ := newTestRepo(t, 0)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.jpg"), randBytes(1, 3<<20), testEpoch) // several blobs
	writeFile(t, filepath.Join(src, "b.txt"), []byte("bee\n"), testEpoch)
	writeFile(t, filepath.Join(src, "dir", "c.cr3"), []byte("sea\n"), testEpoch)
	writeFile(t, filepath.Join(src, "e.txt"), []byte("ee\n"), testEpoch)
	must(t, os.Link(filepath.Join(src, "b.txt"), filepath.Join(src, "dir", "b-link.txt")))
	must(t, os.Symlink("b.txt", filepath.Join(src, "link")))
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	target := filepath.Join(t.TempDir(), "target")
	mustRestore(t, r, snap, RestoreOptions{Target: target})
	return &existingFixture{r: r, snap: snap, src: src, target: target}
}

// in is where a source-relative path is restored.
func (f *existingFixture) in(p string) string { return filepath.Join(f.target, f.src, p) }

// tree lists what the restored tree holds: each path with its content
// (files), "->target" (links) or "/" (folders).
func (f *existingFixture) tree(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := f.in("")
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.IsDir():
			out[rel] = "/"
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "->" + l
		default:
			b, _ := os.ReadFile(p)
			if len(b) > 100 {
				b = []byte("big:" + fileSHA256(t, p)[:8])
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ino(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestRestoreExisting restores over a target holding, at the snapshot's
// paths, an edited file (same size), an unchanged one, a folder where a
// file goes, a file where a folder goes, a link to elsewhere, and a file
// removed, under each choice for existing entries.
func TestRestoreExisting(t *testing.T) {
	type counts struct{ Files, Same, Skipped, Replaced int64 }
	for _, tc := range []struct {
		name    string
		opt     RestoreOptions
		want    counts
		changed map[string]string // what differs from a clean restore (path → content, "" gone)
	}{
		{"skip", RestoreOptions{Existing: ExistingSkip}, counts{Skipped: 5},
			map[string]string{"b.txt": "BEE\n", "dir": "a file where a folder was\n", "link": "->elsewhere",
				"dir/b-link.txt": "", "dir/c.cr3": "", "a.jpg": "/", "a.jpg/note": "in the way\n"}},
		{"verify", RestoreOptions{Existing: ExistingVerify}, counts{Files: 3, Same: 1, Replaced: 4},
			map[string]string{"b.txt.shoebox-old.1": "BEE\n", "dir.shoebox-old": "a file where a folder was\n",
				"link.shoebox-old": "->elsewhere", "a.jpg.shoebox-old": "/", "a.jpg.shoebox-old/note": "in the way\n"}},
		{"verify, no keep", RestoreOptions{Existing: ExistingVerify, NoKeep: true}, counts{Files: 3, Same: 1, Replaced: 4},
			// A folder in the way is kept all the same.
			map[string]string{"a.jpg.shoebox-old": "/", "a.jpg.shoebox-old/note": "in the way\n"}},
		{"overwrite", RestoreOptions{Existing: ExistingOverwrite}, counts{Files: 4, Replaced: 5},
			map[string]string{"b.txt.shoebox-old.1": "BEE\n", "dir.shoebox-old": "a file where a folder was\n",
				"link.shoebox-old": "->elsewhere", "a.jpg.shoebox-old": "/", "a.jpg.shoebox-old/note": "in the way\n",
				"e.txt.shoebox-old": "ee\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newExistingFixture(t)
			clean := f.tree(t)
			// The owner's changes since the first restore: b.txt edited
			// to the same size (with a b.txt.shoebox-old already there),
			// a file where the folder dir was, a link to elsewhere, a
			// folder where a.jpg was.
			must(t, os.WriteFile(f.in("b.txt"), []byte("BEE\n"), 0o644))
			must(t, os.WriteFile(f.in("b.txt.shoebox-old"), []byte("taken before\n"), 0o644))
			clean["b.txt.shoebox-old"] = "taken before\n"
			must(t, os.RemoveAll(f.in("dir")))
			must(t, os.WriteFile(f.in("dir"), []byte("a file where a folder was\n"), 0o644))
			must(t, os.Remove(f.in("link")))
			must(t, os.Symlink("elsewhere", f.in("link")))
			must(t, os.Remove(f.in("a.jpg")))
			must(t, os.MkdirAll(f.in("a.jpg"), 0o755))
			must(t, os.WriteFile(f.in("a.jpg/note"), []byte("in the way\n"), 0o644))
			before := ino(t, f.in("a.jpg/note"))

			tc.opt.Target = f.target
			sum, err := f.r.Restore(context.Background(), f.snap, tc.opt)
			if err != nil || len(sum.Errors) != 0 {
				t.Fatalf("restore: %v, %q", err, sum.Errors)
			}
			got := counts{sum.Files, sum.Same, sum.Skipped, sum.Replaced}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			want := map[string]string{}
			for p, c := range clean {
				want[p] = c
			}
			for p, c := range tc.changed {
				if c == "" {
					delete(want, p)
				} else {
					want[p] = c
				}
			}
			if d := cmp.Diff(want, f.tree(t)); d != "" {
				t.Errorf("restored tree (-want +got):\n%s", d)
			}
			if tc.opt.Existing != ExistingSkip {
				if ino(t, f.in("b.txt")) != ino(t, f.in("dir/b-link.txt")) {
					t.Errorf("b.txt and dir/b-link.txt are not one file again")
				}
				if ino(t, f.in("a.jpg.shoebox-old/note")) != before {
					t.Errorf("the folder in the way was not moved aside as it was")
				}
			}
		})
	}
}

// TestRestoreExistingRefused: by default a restore over anything in the
// way writes nothing and names the first entry in the way (the
// snapshot's order), relative to the target.
func TestRestoreExistingRefused(t *testing.T) {
	f := newExistingFixture(t)
	must(t, os.Remove(f.in("dir/c.cr3")))
	must(t, os.Remove(f.in("link")))
	must(t, os.WriteFile(f.in("b.txt"), []byte("BEE\n"), 0o644))
	before := f.tree(t)
	_, err := f.r.Restore(context.Background(), f.snap, RestoreOptions{Target: f.target})
	var ee *ExistingError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v, want an ExistingError", err)
	}
	if want := filepath.Join(strings.TrimPrefix(f.src, "/"), "a.jpg"); ee.Path != want || ee.Target != f.target {
		t.Errorf("got %q in %q, want %q in %q", ee.Path, ee.Target, want, f.target)
	}
	if d := cmp.Diff(before, f.tree(t)); d != "" {
		t.Errorf("a refused restore changed the target (-before +after):\n%s", d)
	}
	// Folders that are folders are not in the way: a part of the
	// snapshot that is missing restores.
	sum, err := f.r.Restore(context.Background(), f.snap, RestoreOptions{Target: f.target, Include: []string{filepath.Join(f.src, "dir/c.cr3")}})
	if err != nil || sum.Files != 1 {
		t.Errorf("restore of the missing file alone: %v, %+v", err, sum)
	}
	if _, err := ParseExisting("merge"); err == nil || !strings.Contains(err.Error(), "verify") {
		t.Errorf("ParseExisting(merge): %v; want an error listing the choices", err)
	}
}

// TestRestoreVerifyHashes: verify compares content, not size and time: a
// file edited to the same size with its time put back is rewritten; the
// others are not touched (same inode).
func TestRestoreVerifyHashes(t *testing.T) {
	f := newExistingFixture(t)
	p := f.in("a.jpg")
	fi, _ := os.Stat(p)
	flipByte(t, p, 2<<20) // in the second blob
	must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
	inodes := map[string]uint64{}
	for _, q := range []string{"a.jpg", "b.txt", "dir/c.cr3"} {
		inodes[q] = ino(t, f.in(q))
	}
	sum := mustRestore(t, f.r, f.snap, RestoreOptions{Target: f.target, Existing: ExistingVerify, NoKeep: true})
	if sum.Replaced != 1 || sum.Same != 5 || sum.Files != 1 { // b.txt, its hard link, c.cr3, e.txt, link
		t.Errorf("got %d replaced, %d same, %d files; want 1, 5, 1", sum.Replaced, sum.Same, sum.Files)
	}
	if ino(t, f.in("a.jpg")) == inodes["a.jpg"] || fileSHA256(t, f.in("a.jpg")) != fileSHA256(t, filepath.Join(f.src, "a.jpg")) {
		t.Errorf("a.jpg, changed at the same size and time, was not rewritten")
	}
	for _, q := range []string{"b.txt", "dir/c.cr3"} {
		if ino(t, f.in(q)) != inodes[q] {
			t.Errorf("%s, unchanged, was rewritten", q)
		}
	}
	names, _ := os.ReadDir(f.in(""))
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	sort.Strings(got)
	if d := cmp.Diff([]string{"a.jpg", "b.txt", "dir", "e.txt", "link"}, got); d != "" {
		t.Errorf("left in the folder (-want +got):\n%s", d)
	}
}

// TestRestoreOverwriteDamaged: a file whose data is damaged is not
// restored, and the file in its way stays where it was, unchanged.
func TestRestoreOverwriteDamaged(t *testing.T) {
	r, store := newTestRepo(t, 0)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.jpg"), randBytes(2, 100<<10), testEpoch)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	target := filepath.Join(t.TempDir(), "target")
	p := filepath.Join(target, src, "a.jpg")
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte("the owner's file\n"), 0o644))
	n := snapshotFiles(t, r, snap)[filepath.Join(src, "a.jpg")]
	flipByte(t, storePath(store, packName(packOf(t, r, n.Content[0]))), 100)
	r = reopen(t, store)
	_, err := r.Restore(context.Background(), snap, RestoreOptions{Target: target, Existing: ExistingOverwrite})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "the owner's file\n" {
		t.Errorf("a.jpg after a failed overwrite: %q", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("left beside a.jpg: %v", ents)
	}
}
