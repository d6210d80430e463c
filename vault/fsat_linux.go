package vault

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// The restore's file operations on an entry of a restored folder. On
// Linux they are *at system calls on a descriptor of the folder (opened
// through the target's os.Root), so they act on exactly that entry and
// never follow a link put in its place; fsat_other.go has the portable
// fallbacks through the os.Root.

// atDir is a restored folder: a descriptor of it.
type atDir = int

// errExist is the error of an entry that is already there.
var errExist error = unix.EEXIST

// at calls fn with a descriptor of local's folder, opened through the
// root, and local's last element: the *at system calls then act on
// exactly that entry, never following a link in its place.
func (rs *restorer) at(local string, fn func(dir atDir, name string) error) error {
	d, err := rs.root.Open(filepath.Dir(local))
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(int(d.Fd()), filepath.Base(local))
}

// unlinkAt removes the file (not a folder) name.
func unlinkAt(dir atDir, name string) error { return unix.Unlinkat(dir, name, 0) }

// rmdirAt removes the empty folder name.
func rmdirAt(dir atDir, name string) error { return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR) }

// renameAt renames from to to, replacing what is there.
func renameAt(dir atDir, from, to string) error { return unix.Renameat(dir, from, dir, to) }

// renameNoReplace renames from to to in the folder dir, failing with
// errExist when to exists.
func renameNoReplace(dir atDir, from, to string) error {
	err := unix.Renameat2(dir, from, dir, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE: look, then rename.
		var st unix.Stat_t
		if unix.Fstatat(dir, to, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return unix.EEXIST
		}
		return unix.Renameat(dir, from, dir, to)
	}
	return err
}

// openToCompare opens name for reading if it is a regular file of size
// bytes, and returns nil (and no error) if it is anything else: neither
// blocking on a FIFO nor following a link, swapped in since.
func openToCompare(dir atDir, name string, size uint64) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Size) != size {
		return nil, nil
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// createAt creates the new file name for writing, never through a link
// and never over anything (errExist).
func createAt(dir atDir, name, shown string) (*os.File, error) {
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), shown), nil
}

// mkfifoAt makes the FIFO name.
func mkfifoAt(dir atDir, name string, perm uint32) error { return unix.Mkfifoat(dir, name, perm) }

// mknodAt makes the block (or, with char, character) device name.
func mknodAt(dir atDir, name string, char bool, perm uint32, rdev uint64) error {
	mode := uint32(syscall.S_IFBLK)
	if char {
		mode = syscall.S_IFCHR
	}
	return unix.Mknodat(dir, name, mode|perm, int(rdev))
}
