package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shoebox/shoebox/store"
	"golang.org/x/sys/unix"
)

// testPassphrase opens every test repository; the KDF is made cheap with
// InitOptions.ScryptLogN.
const testPassphrase = "correct horse battery staple"

// testEpoch is the fixed time test trees and snapshots are dated from.
var testEpoch = time.Date(2024, 5, 17, 12, 0, 0, 123456789, time.UTC)

// newTestRepo initialises a repository with cheap key derivation in a
// fresh directory store. packSize 0 keeps the default.
func newTestRepo(t testing.TB, packSize int) (*Repository, *store.Dir) {
	t.Helper()
	return newTestRepoOpts(t, InitOptions{PackSize: packSize})
}

func newTestRepoOpts(t testing.TB, opt InitOptions) (*Repository, *store.Dir) {
	t.Helper()
	st, err := store.OpenDir(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	if opt.Passphrase == "" {
		opt.Passphrase = testPassphrase
	}
	if opt.ScryptLogN == 0 {
		opt.ScryptLogN = 10
	}
	r, _, err := Init(context.Background(), st, opt)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, st
}

// reopen opens the repository afresh, as a new process would: nothing is
// cached from earlier operations.
func reopen(t testing.TB, st store.ObjectStore) *Repository {
	t.Helper()
	r, err := Open(context.Background(), st, testPassphrase)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustBackup(t testing.TB, r *Repository, opt BackupOptions) *Snapshot {
	t.Helper()
	if opt.Host == "" {
		opt.Host = "testhost"
	}
	snap, err := r.Backup(context.Background(), opt)
	if err != nil {
		t.Fatalf("Backup(%v): %v", opt.Paths, err)
	}
	if len(snap.Summary.Errors) != 0 {
		t.Fatalf("Backup(%v) summary errors: %q", opt.Paths, snap.Summary.Errors)
	}
	return snap
}

func mustRestore(t testing.TB, r *Repository, snap *Snapshot, opt RestoreOptions) *RestoreSummary {
	t.Helper()
	sum, err := r.Restore(context.Background(), snap, opt)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if len(sum.Errors) != 0 {
		t.Fatalf("Restore summary errors: %q", sum.Errors)
	}
	return sum
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// writeFile creates a file with the given content, mode and mtime,
// creating its parents.
func writeFile(t testing.TB, p string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// setMtime sets a path's times without following symlinks.
func setMtime(t testing.TB, p string, mtime time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

// fixDirTimes sets every directory under root (and root) to mtime, deepest
// first, so that creating entries in them does not leave the clock's time.
func fixDirTimes(t testing.TB, root string, mtime time.Time) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		setMtime(t, dirs[i], mtime)
	}
}

// entryMeta is what compareTrees compares for one path.
type entryMeta struct {
	Type   string
	Mode   uint32 // st_mode: type, permission and special bits
	UID    uint32
	GID    uint32
	MTime  string
	Size   int64
	Target string
	Rdev   uint64
	SHA256 string
	Xattrs map[string]string
	// LinkGroup is the first path (in walk order) sharing the inode, for
	// regular files with more than one link inside the tree.
	LinkGroup string
}

type compareOpts struct {
	// noOwner skips uid/gid (not running as root).
	noOwner bool
	// noXattrs skips extended attributes (the file system refuses them).
	noXattrs bool
	// skip lists relative paths whose content is checked elsewhere.
	skip map[string]bool
}

// scanTree describes every entry under root, keyed by path relative to
// root ("." for root itself).
func scanTree(t testing.TB, root string, opt compareOpts) map[string]entryMeta {
	t.Helper()
	out := map[string]entryMeta{}
	inodes := map[[2]uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		m := entryMeta{Mode: st.Mode, UID: st.Uid, GID: st.Gid,
			MTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC().Format(time.RFC3339Nano)}
		if opt.noOwner {
			m.UID, m.GID = 0, 0
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			m.Type = "file"
			m.Size = st.Size
			if !opt.skip[rel] {
				m.SHA256 = fileSHA256(t, p)
			}
			if st.Nlink > 1 {
				k := [2]uint64{st.Dev, st.Ino}
				if first, ok := inodes[k]; ok {
					m.LinkGroup = first
				} else {
					inodes[k] = rel
					m.LinkGroup = rel
				}
			}
		case syscall.S_IFDIR:
			m.Type = "dir"
		case syscall.S_IFLNK:
			m.Type = "symlink"
			tgt, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m.Target = tgt
		case syscall.S_IFIFO:
			m.Type = "fifo"
		case syscall.S_IFCHR, syscall.S_IFBLK:
			m.Type = "dev"
			m.Rdev = st.Rdev
		case syscall.S_IFSOCK:
			return nil // not restored
		}
		if !opt.noXattrs {
			xs, err := readXattrs(p)
			if err != nil {
				return err
			}
			for _, x := range xs {
				if !strings.HasPrefix(x.Name, "user.") {
					continue
				}
				if m.Xattrs == nil {
					m.Xattrs = map[string]string{}
				}
				m.Xattrs[x.Name] = string(x.Value)
			}
		}
		out[rel] = m
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	return out
}

func fileSHA256(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// compareTrees fails the test unless got holds the same entries as want,
// byte for byte and with the same metadata.
func compareTrees(t testing.TB, want, got string, opt compareOpts) {
	t.Helper()
	w, g := scanTree(t, want, opt), scanTree(t, got, opt)
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("restored tree %s differs from %s (-want +got):\n%s", got, want, diff)
	}
}

// restoredPath is where Restore puts an absolute source path.
func restoredPath(target, src string) string {
	return filepath.Join(target, src)
}

// xattrsSupported reports whether user.* extended attributes can be set
// in dir.
func xattrsSupported(t testing.TB, dir string) bool {
	t.Helper()
	p := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	return unix.Lsetxattr(p, "user.probe", []byte("1"), 0) == nil
}

// snapshotFiles maps every file path of a snapshot to its node.
func snapshotFiles(t testing.TB, r *Repository, snap *Snapshot) map[string]*Node {
	t.Helper()
	out := map[string]*Node{}
	err := r.Walk(context.Background(), snap.Tree, func(p string, n *Node) error {
		if n.Type == NodeFile {
			out[p] = n
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return out
}

// packOf returns the pack holding a blob.
func packOf(t testing.TB, r *Repository, id ID) ID {
	t.Helper()
	_, p, ok := r.index.lookup(id)
	if !ok {
		t.Fatalf("blob %s not in the index", id.Short())
	}
	return p.ID
}

// storePath is the file of an object in a directory store.
func storePath(st *store.Dir, name string) string {
	return filepath.Join(st.Root(), filepath.FromSlash(name))
}

// flipByte inverts one byte of a file in place; a negative offset counts
// from the end.
func flipByte(t testing.TB, p string, off int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ = bytes.Equal
