package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// TestRoundTripMedia backs up and restores the media corpus (testcorpus):
// real photos, RAW files, sidecars and videos.
func TestRoundTripMedia(t *testing.T) {
	src := testcorpus.Media(t)
	r, _ := newTestRepo(t, 4<<20)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}, Time: testEpoch})
	if snap.Summary.FilesNew == 0 || snap.Summary.FilesTotal != snap.Summary.FilesNew {
		t.Errorf("got FilesNew %d of FilesTotal %d, want all files new", snap.Summary.FilesNew, snap.Summary.FilesTotal)
	}
	target := t.TempDir()
	sum := mustRestore(t, r, snap, RestoreOptions{Target: target})
	if sum.Files+sum.Links != snap.Summary.FilesTotal {
		t.Errorf("got %d files and %d links restored, want %d", sum.Files, sum.Links, snap.Summary.FilesTotal)
	}
	compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: !xattrsSupported(t, target)})

	// The corpus holds byte-identical copies: deduplication stores fewer
	// blobs than files reference.
	refs := map[ID]bool{}
	nrefs := 0
	for _, n := range snapshotFiles(t, r, snap) {
		for _, id := range n.Content {
			refs[id] = true
			nrefs++
		}
	}
	if len(refs) >= nrefs {
		t.Errorf("got %d distinct data blobs for %d references, want fewer (the corpus has duplicates)", len(refs), nrefs)
	}
}

// oddNames are file names a backup must keep byte for byte.
var oddNames = []string{
	"with space",
	" leading and trailing space ",
	"caf\u00e9 NFC",
	"cafe\u0301 NFD",
	"new\nline",
	"tab\there",
	"invalid \xff\xfe utf8",
	"\x80",
	"-rf",
	"--help",
	"*?[glob]",
	"back\\slash",
	"quote\"'",
	"emoji \U0001F4F7",
	strings.Repeat("long", 62) + "ab", // 250 bytes
	".hidden",
	"..dots",
}

// makeTestTree builds a tree with every kind of entry and odd metadata
// under root and returns whether xattrs were set.
func makeTestTree(t *testing.T, root string) (xattrs bool) {
	t.Helper()
	xattrs = xattrsSupported(t, filepath.Dir(root))
	mt := testEpoch
	file := func(rel string, data []byte) string {
		p := filepath.Join(root, rel)
		writeFile(t, p, data, mt)
		mt = mt.Add(time.Second + 7*time.Nanosecond)
		return p
	}
	for i, name := range oddNames {
		file(filepath.Join("names", name), randBytes(uint64(i), 100+i))
	}
	file("empty", nil)
	file("small.txt", []byte("hello\n"))
	big := file("big.bin", randBytes(100, 3<<20+12345))
	file("text/sidecar.xmp", []byte(strings.Repeat("<rdf:Description xmp:Rating=\"5\"/>\n", 2000)))

	// Permissions and special bits.
	exe := file("modes/setuid", []byte("#!/bin/sh\n"))
	must(t, os.Chmod(exe, 0o4755))
	ro := file("modes/readonly", []byte("ro"))
	must(t, os.Chmod(ro, 0o400))
	must(t, os.MkdirAll(filepath.Join(root, "modes", "sticky"), 0o755))
	must(t, os.Chmod(filepath.Join(root, "modes", "sticky"), 0o1777))
	must(t, os.MkdirAll(filepath.Join(root, "modes", "setgid"), 0o755))
	must(t, os.Chmod(filepath.Join(root, "modes", "setgid"), 0o2750))

	// Ownership (needs root).
	if os.Geteuid() == 0 {
		owned := file("owned", []byte("someone else's"))
		must(t, os.Lchown(owned, 1234, 5678))
	}

	// Hard links, inside one directory and across directories.
	must(t, os.MkdirAll(filepath.Join(root, "links", "sub"), 0o755))
	must(t, os.Link(big, filepath.Join(root, "links", "big-link")))
	must(t, os.Link(big, filepath.Join(root, "links", "sub", "big-link2")))
	a := file("links/a", []byte("linked twice"))
	must(t, os.Link(a, filepath.Join(root, "links", "a2")))

	// Symlinks: relative, absolute, dangling, to a directory, odd bytes.
	for name, target := range map[string]string{
		"rel":      "../small.txt",
		"abs":      "/etc/hostname",
		"dangling": "does/not/exist",
		"dir":      "../names",
		"odd":      "odd \xff target\n",
	} {
		p := filepath.Join(root, "symlinks", name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.Symlink(target, p))
		setMtime(t, p, mt)
		mt = mt.Add(time.Minute)
	}

	// Ownership of a directory and a symlink (needs root).
	if os.Geteuid() == 0 {
		must(t, os.Lchown(filepath.Join(root, "symlinks", "rel"), 42, 43))
		must(t, os.Lchown(filepath.Join(root, "modes", "setgid"), 7, 8))
	}

	// Empty directories, a FIFO and, where allowed, a device node.
	must(t, os.MkdirAll(filepath.Join(root, "empty-dir"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "nested", "empty", "dirs"), 0o700))
	fifo := filepath.Join(root, "special", "fifo")
	must(t, os.MkdirAll(filepath.Dir(fifo), 0o755))
	must(t, unix.Mkfifo(fifo, 0o640))
	dev := filepath.Join(root, "special", "null")
	if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Logf("no device node in the test tree: %v", err)
	}

	// A deep tree.
	deep := root
	for i := 0; i < 100; i++ {
		deep = filepath.Join(deep, "d")
	}
	file(filepath.Join(strings.TrimPrefix(deep, root+"/"), "bottom"), []byte("deep"))

	// Extended attributes on files and directories (Linux allows user.*
	// attributes on nothing else).
	if xattrs {
		for rel, attrs := range map[string]map[string]string{
			"small.txt": {"user.comment": "a note", "user.empty": ""},
			"big.bin":   {"user.checksum": "sha256:1234", "user.bin": "\x00\x01\xff"},
			"names":     {"user.dir": "yes"},
		} {
			for k, v := range attrs {
				must(t, unix.Lsetxattr(filepath.Join(root, rel), k, []byte(v), 0))
			}
		}
	}
	fixDirTimes(t, root, testEpoch.Add(-time.Hour))
	return xattrs
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripGenerated(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	xattrs := makeTestTree(t, src)
	r, store := newTestRepo(t, 1<<20)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}, Time: testEpoch})

	for _, tc := range []struct {
		name string
		repo func() *Repository
	}{
		{"same repository", func() *Repository { return r }},
		{"reopened", func() *Repository { return reopen(t, store) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := t.TempDir()
			sum := mustRestore(t, tc.repo(), snap, RestoreOptions{Target: target})
			compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: !xattrs})
			if sum.Links != 3 {
				t.Errorf("got %d hard links restored, want 3", sum.Links)
			}
		})
	}

	t.Run("restore twice over the same target", func(t *testing.T) {
		target := t.TempDir()
		mustRestore(t, r, snap, RestoreOptions{Target: target})
		// Verified in place: everything is the same, nothing rewritten.
		if sum := mustRestore(t, r, snap, RestoreOptions{Target: target, Existing: ExistingVerify}); sum.Replaced != 0 || sum.Same == 0 {
			t.Errorf("verify over a fresh restore: %d replaced, %d same; want 0 replaced", sum.Replaced, sum.Same)
		}
		compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: !xattrs})
	})

	t.Run("names survive the tree encoding", func(t *testing.T) {
		n, err := r.Lookup(context.Background(), snap.Tree, filepath.Join(src, "names"))
		if err != nil {
			t.Fatal(err)
		}
		tree, err := r.LoadTree(context.Background(), *n.Subtree)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range oddNames {
			if tree.Find(name) == nil {
				t.Errorf("got no node for %q, want one", name)
			}
		}
	})
}

func TestRestoreInclude(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "a", "one.jpg"), []byte("1"), testEpoch)
	writeFile(t, filepath.Join(src, "a", "two.txt"), []byte("2"), testEpoch)
	writeFile(t, filepath.Join(src, "b", "three.jpg"), []byte("3"), testEpoch)
	writeFile(t, filepath.Join(src, "c"), []byte("4"), testEpoch)
	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})

	tests := []struct {
		include []string
		want    []string
	}{
		{nil, []string{"a/one.jpg", "a/two.txt", "b/three.jpg", "c"}},
		{[]string{filepath.Join(src, "a")}, []string{"a/one.jpg", "a/two.txt"}},
		{[]string{filepath.Join(src, "a") + "/"}, []string{"a/one.jpg", "a/two.txt"}},
		{[]string{"*.jpg"}, []string{"a/one.jpg", "b/three.jpg"}},
		{[]string{filepath.Join(src, "c")}, []string{"c"}},
		{[]string{filepath.Join(src, "*", "t*")}, []string{"a/two.txt", "b/three.jpg"}},
		{[]string{filepath.Join(src, "nothing")}, nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.include, ","), func(t *testing.T) {
			target := t.TempDir()
			mustRestore(t, r, snap, RestoreOptions{Target: target, Include: tc.include})
			var got []string
			filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					rel, _ := filepath.Rel(restoredPath(target, src), p)
					got = append(got, rel)
				}
				return nil
			})
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRoundTripSparse(t *testing.T) {
	size := int64(2 << 30)
	if testing.Short() || raceEnabled {
		size = 64 << 20
	}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	must(t, os.MkdirAll(src, 0o755))
	p := filepath.Join(src, "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// A few MiB of data at the start, in the middle and at the end.
	regions := []int64{0, size / 2, size - 1<<20}
	for i, off := range regions {
		if _, err := f.WriteAt(randBytes(uint64(i+1), 1<<20), off); err != nil {
			t.Fatal(err)
		}
	}
	must(t, f.Truncate(size))
	must(t, f.Close())
	var st unix.Stat_t
	must(t, unix.Stat(p, &st))
	if st.Blocks*512 > size/4 {
		t.Skipf("the file system does not keep %s sparse", p)
	}

	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	if snap.Summary.BytesTotal != size {
		t.Errorf("got BytesTotal %d, want %d", snap.Summary.BytesTotal, size)
	}
	// Runs of zeros deduplicate: far less is stored than the size.
	if snap.Summary.BytesStored > 16<<20 {
		t.Errorf("got %d bytes stored for a sparse file with 3 MiB of data, want little", snap.Summary.BytesStored)
	}
	target := t.TempDir()
	mustRestore(t, r, snap, RestoreOptions{Target: target})
	got := restoredPath(target, p)
	must(t, unix.Stat(got, &st))
	if st.Size != size {
		t.Fatalf("got restored size %d, want %d", st.Size, size)
	}
	if st.Blocks*512 > 64<<20 {
		t.Errorf("got %d bytes allocated for the restored file, want it sparse (< 64 MiB)", st.Blocks*512)
	}
	compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: true})
}

// TestBackupSingleFile backs up a file given directly as a path.
func TestBackupSingleFile(t *testing.T) {
	base := t.TempDir()
	p := filepath.Join(base, "only.txt")
	writeFile(t, p, []byte("just me"), testEpoch)
	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{p}})
	target := t.TempDir()
	mustRestore(t, r, snap, RestoreOptions{Target: target})
	b, err := os.ReadFile(restoredPath(target, p))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "just me" {
		t.Errorf("got %q, want %q", b, "just me")
	}
	var out strings.Builder
	n, err := r.Lookup(context.Background(), snap.Tree, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Dump(context.Background(), n, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "just me" {
		t.Errorf("got Dump %q, want %q", out.String(), "just me")
	}
	if _, err := r.Backup(context.Background(), BackupOptions{Paths: []string{filepath.Join(base, "missing")}}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v for a missing path, want ErrNotExist", err)
	}
}

// TestRestoreOverExisting restores into a target where entries of other
// types stand at the snapshot's paths. In particular a symlink where the
// snapshot has a directory must be replaced, not followed: restore must
// never write outside its target.
func TestRestoreOverExisting(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "sub", "a.txt"), []byte("from the snapshot"), testEpoch)
	writeFile(t, filepath.Join(src, "file"), []byte("a file"), testEpoch)
	must(t, os.Symlink("sub/a.txt", filepath.Join(src, "link")))
	fixDirTimes(t, src, testEpoch)
	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})

	tests := []struct {
		name    string
		prepare func(t *testing.T, root, outside string)
	}{
		{"symlink to a directory outside where a directory was", func(t *testing.T, root, outside string) {
			must(t, os.Symlink(outside, filepath.Join(root, "sub")))
		}},
		{"symlink where a file was", func(t *testing.T, root, outside string) {
			must(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, "file")))
		}},
		{"file where a directory was", func(t *testing.T, root, outside string) {
			must(t, os.WriteFile(filepath.Join(root, "sub"), []byte("x"), 0o644))
		}},
		{"directory where a symlink was", func(t *testing.T, root, outside string) {
			must(t, os.Mkdir(filepath.Join(root, "link"), 0o755))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target, outside := t.TempDir(), t.TempDir()
			writeFile(t, filepath.Join(outside, "victim"), []byte("untouched"), testEpoch)
			root := restoredPath(target, src)
			must(t, os.MkdirAll(root, 0o755))
			tc.prepare(t, root, outside)
			_, err := r.Restore(context.Background(), snap, RestoreOptions{Target: target, Existing: ExistingOverwrite, NoKeep: true})
			entries, _ := os.ReadDir(outside)
			if len(entries) != 1 {
				t.Errorf("restore wrote outside its target: got %d entries in %s, want 1", len(entries), outside)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "untouched" {
				t.Errorf("restore changed a file outside its target: got %q", b)
			}
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			compareTrees(t, src, root, compareOpts{noXattrs: true})
		})
	}
}

// TestRestoreIntoRoot restores into a folder of an os.Root (the API's
// restores): the target is relative to the root, a link under the root
// (one an earlier restore made) cannot lead the restore or its target
// outside, and messages name paths relative to the root only.
func TestRestoreIntoRoot(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "sub", "a.txt"), []byte("from the snapshot"), testEpoch)
	must(t, os.Symlink("/", filepath.Join(src, "escape")))
	fixDirTimes(t, src, testEpoch)
	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})

	rootDir, outside := filepath.Join(base, "restores"), filepath.Join(base, "outside")
	must(t, os.MkdirAll(rootDir, 0o700))
	must(t, os.MkdirAll(outside, 0o700))
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	sum, err := r.Restore(context.Background(), snap, RestoreOptions{Root: root, Target: "first"})
	if err != nil {
		t.Fatalf("Restore: %v (%q)", err, sum.Errors)
	}
	compareTrees(t, src, restoredPath(filepath.Join(rootDir, "first"), src), compareOpts{noXattrs: true})

	// The restored link to / and a planted one to outside: targets
	// through them are refused, and nothing is written outside.
	must(t, os.Symlink(outside, filepath.Join(rootDir, "planted")))
	for _, target := range []string{
		filepath.Join("first", src, "escape", "tmp"),
		filepath.Join("planted", "x"),
		"../outside",
		"/etc",
	} {
		_, err := r.Restore(context.Background(), snap, RestoreOptions{Root: root, Target: target})
		if err == nil {
			t.Errorf("restore into %s through a link succeeded", target)
			continue
		}
		if strings.Contains(err.Error(), rootDir) {
			t.Errorf("restore into %s: %v names the root's place on the box", target, err)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("restore wrote outside the root: %v", ents)
	}

	// A refusal names the file relative to the target, and the target
	// relative to the root.
	must(t, os.MkdirAll(filepath.Join(rootDir, "second", src, "sub", "a.txt"), 0o700))
	must(t, os.WriteFile(filepath.Join(rootDir, "second", src, "sub", "a.txt", "keep"), []byte("x"), 0o600))
	_, err = r.Restore(context.Background(), snap, RestoreOptions{Root: root, Target: "second"})
	var ee *ExistingError
	if !errors.As(err, &ee) || strings.Contains(err.Error(), rootDir) || ee.Target != "second" || ee.Path != filepath.Join(strings.TrimPrefix(src, "/"), "sub", "a.txt") {
		t.Errorf("restore over a non-empty folder: got %v, want an ExistingError naming %s/sub/a.txt in second", err, src)
	}
}
