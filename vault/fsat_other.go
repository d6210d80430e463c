//go:build !linux

package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// The portable fallbacks of fsat_linux.go: the same operations through
// the restore target's os.Root, which keeps every one of them inside the
// target, links or not. What Linux does atomically (rename without
// replacing) is a look, then an act here; FIFOs and device nodes are not
// restored.

// atDir is a restored folder: the target's root and the folder's path
// in it.
type atDir struct {
	root *os.Root
	path string
}

func (d atDir) join(name string) string { return filepath.Join(d.path, name) }

// errExist is the error of an entry that is already there.
var errExist = fs.ErrExist

// at calls fn with local's folder and last element.
func (rs *restorer) at(local string, fn func(dir atDir, name string) error) error {
	return fn(atDir{rs.root, filepath.Dir(local)}, filepath.Base(local))
}

// unlinkAt removes the file (not a folder) name.
func unlinkAt(dir atDir, name string) error {
	fi, err := dir.root.Lstat(dir.join(name))
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &fs.PathError{Op: "unlink", Path: dir.join(name), Err: errors.New("is a folder")}
	}
	return dir.root.Remove(dir.join(name))
}

// rmdirAt removes the empty folder name.
func rmdirAt(dir atDir, name string) error {
	fi, err := dir.root.Lstat(dir.join(name))
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "rmdir", Path: dir.join(name), Err: errors.New("not a folder")}
	}
	return dir.root.Remove(dir.join(name))
}

// renameAt renames from to to, replacing what is there.
func renameAt(dir atDir, from, to string) error {
	return dir.root.Rename(dir.join(from), dir.join(to))
}

// renameNoReplace renames from to to in the folder dir, failing with
// errExist when to exists.
func renameNoReplace(dir atDir, from, to string) error {
	if _, err := dir.root.Lstat(dir.join(to)); err == nil {
		return &fs.PathError{Op: "rename", Path: dir.join(to), Err: fs.ErrExist}
	}
	return renameAt(dir, from, to)
}

// openToCompare opens name for reading if it is a regular file of size
// bytes, and returns nil (and no error) if it is anything else.
func openToCompare(dir atDir, name string, size uint64) (*os.File, error) {
	fi, err := dir.root.Lstat(dir.join(name))
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || uint64(fi.Size()) != size {
		return nil, nil
	}
	return dir.root.Open(dir.join(name))
}

// createAt creates the new file name for writing, never over anything
// (errExist).
func createAt(dir atDir, name, shown string) (*os.File, error) {
	return dir.root.OpenFile(dir.join(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// mkfifoAt fails: FIFOs are restored on Linux only.
func mkfifoAt(dir atDir, name string, perm uint32) error {
	return fmt.Errorf("%s: %w: FIFOs are restored on Linux only, not on %s", dir.join(name), errors.ErrUnsupported, runtime.GOOS)
}

// mknodAt fails: device nodes are restored on Linux only.
func mknodAt(dir atDir, name string, char bool, perm uint32, rdev uint64) error {
	return fmt.Errorf("%s: %w: device nodes are restored on Linux only, not on %s", dir.join(name), errors.ErrUnsupported, runtime.GOOS)
}
