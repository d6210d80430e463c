package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/internal/process"
)

// Dir is an ObjectStore in a plain directory: one file per object, written
// to a temporary file, synced, renamed into place and the directory synced.
// It is the store of a repository on one disk, a USB drive or a folder in a
// test, and the reference implementation the conformance suite is written
// against.
type Dir struct {
	root string
}

var _ ObjectStore = (*Dir)(nil)

// tmpDir holds objects being written. Leftovers of a killed writer are
// removed by OpenDir.
const tmpDir = ".tmp"

// OpenDir opens (creating if needed) a directory store at root and removes
// temporary files left by writers that no longer run.
func OpenDir(root string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(root, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	d := &Dir{root: root}
	d.cleanTemp()
	return d, nil
}

// Root returns the directory the store lives in.
func (d *Dir) Root() string { return d.root }

func (d *Dir) String() string { return d.root }

// cleanTemp removes temporary files whose writer process is gone, or that
// are older than a day (a writer on another host sharing the directory).
func (d *Dir) cleanTemp() {
	entries, err := os.ReadDir(filepath.Join(d.root, tmpDir))
	if err != nil {
		return
	}
	host, _ := os.Hostname()
	for _, e := range entries {
		p := filepath.Join(d.root, tmpDir, e.Name())
		parts := strings.SplitN(e.Name(), "-", 3)
		if len(parts) == 3 && parts[0] == sanitizeHost(host) {
			if pid, err := strconv.Atoi(parts[1]); err == nil && pid != os.Getpid() && !process.Alive(pid) {
				os.Remove(p)
				continue
			}
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			os.Remove(p)
		}
	}
}

func sanitizeHost(h string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '/' {
			return '_'
		}
		return r
	}, h)
}

// CheckName reports whether name is a valid object name.
func CheckName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") ||
		path.Clean(name) != name || name == "." || strings.HasPrefix(name, "../") || name == ".." ||
		strings.HasPrefix(name, tmpDir) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

func (d *Dir) path(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

// Put implements ObjectStore.
func (d *Dir) Put(ctx context.Context, name string, r io.Reader) error {
	if _, err := d.path(name); err != nil {
		return err
	}
	p, err := d.createPending(ctx)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if _, err := io.Copy(p.f, r); err != nil {
		p.Abort()
		return fmt.Errorf("put %s: %w", name, explain(err, d.root))
	}
	return p.Commit(ctx, name)
}

// dirPending is an object being written to a temporary file of the store.
type dirPending struct {
	d   *Dir
	f   *os.File
	tmp string
}

var _ PendingCreator = (*Dir)(nil)

// CreatePending implements PendingCreator.
func (d *Dir) CreatePending(ctx context.Context) (Pending, error) {
	return d.createPending(ctx)
}

func (d *Dir) createPending(ctx context.Context) (*dirPending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(d.root, tmpDir, fmt.Sprintf("%s-%d-%s", sanitizeHost(host), os.Getpid(), hex.EncodeToString(rnd[:])))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, explain(err, d.root)
	}
	return &dirPending{d: d, f: f, tmp: tmp}, nil
}

func (p *dirPending) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	if err != nil {
		err = explain(err, p.d.root)
	}
	return n, err
}

func (p *dirPending) Abort() error {
	p.f.Close()
	return os.Remove(p.tmp)
}

// Commit syncs the temporary file, renames it into place and syncs the
// directory.
func (p *dirPending) Commit(ctx context.Context, name string) (err error) {
	dst, err := p.d.path(name)
	if err != nil {
		p.Abort()
		return err
	}
	defer func() {
		if err != nil {
			p.Abort()
			err = fmt.Errorf("put %s: %w", name, explain(err, p.d.root))
		}
	}()
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = p.f.Sync(); err != nil {
		return err
	}
	if err = p.f.Close(); err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err = p.d.mkdirAll(dir); err != nil {
		return err
	}
	if err = os.Rename(p.tmp, dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// mkdirAll creates dir and its missing parents below the root, syncing each
// parent so the new directory entries are durable.
func (d *Dir) mkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && parent != d.root {
		if err := d.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return atomicfile.SyncDir(parent)
}

// explain adds the next step to errors a user can act on.
func explain(err error, root string) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: the disk holding %s is full; free space or add a disk, then run the command again (nothing stored so far is lost)", err, root)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %s is on a read-only file system; check the disk and remount it read-write", err, root)
	case errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: quota exceeded under %s", err, root)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: check the owner and permissions of %s", err, root)
	}
	return err
}

type dirObject struct {
	*os.File
	size int64
}

func (o dirObject) Size() int64 { return o.size }

// Open implements ObjectStore.
func (d *Dir) Open(ctx context.Context, name string) (Object, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open %s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("open %s: %w", name, explain(err, d.root))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return dirObject{f, fi.Size()}, nil
}

// Stat implements ObjectStore.
func (d *Dir) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ObjectInfo{}, fmt.Errorf("stat %s: %w", name, ErrNotFound)
		}
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", name, ErrNotFound)
	}
	return ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements ObjectStore.
func (d *Dir) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	// Walk the deepest directory that the prefix names completely.
	dir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
	}
	start := filepath.Join(d.root, filepath.FromSlash(dir))
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(d.root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			if rel == tmpDir {
				return filepath.SkipDir
			}
			// Prune directories that cannot contain a match.
			if rel != "." && !strings.HasPrefix(rel+"/", prefix) && !strings.HasPrefix(prefix, rel+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(rel, prefix) {
			return nil
		}
		fi, ierr := e.Info()
		if ierr != nil {
			if errors.Is(ierr, fs.ErrNotExist) {
				return nil
			}
			return ierr
		}
		return fn(ObjectInfo{Name: rel, Size: fi.Size(), ModTime: fi.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list %s in %s: %w", prefix, d.root, err)
	}
	return nil
}

// Delete implements ObjectStore.
func (d *Dir) Delete(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", name, ErrNotFound)
		}
		return fmt.Errorf("delete %s: %w", name, explain(err, d.root))
	}
	return atomicfile.SyncDir(filepath.Dir(p))
}
