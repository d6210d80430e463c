//go:build !linux

package vault

import (
	"io/fs"
	"os"
	"time"
)

// The portable fallbacks of meta_linux.go, so that the command line can
// back up and restore on a laptop (macOS, Windows): a node records what
// os.Lstat tells on every system (type, permission bits, size,
// modification time); owners, access and change times, inode numbers,
// device numbers and extended attributes are recorded and restored on
// Linux only.

// nodeFromInfo fills a node's metadata from lstat results.
func nodeFromInfo(name string, fi os.FileInfo) *Node {
	m := fi.Mode()
	n := &Node{Mode: unixMode(m), ModTime: modTimeOf(fi)}
	n.setName(name)
	switch {
	case m.IsRegular():
		n.Type = NodeFile
		n.Size = uint64(fi.Size())
	case m.IsDir():
		n.Type = NodeDir
	case m&fs.ModeSymlink != 0:
		n.Type = NodeSymlink
	case m&fs.ModeCharDevice != 0:
		n.Type = NodeCharDev
	case m&fs.ModeDevice != 0:
		n.Type = NodeDev
	case m&fs.ModeNamedPipe != 0:
		n.Type = NodeFIFO
	case m&fs.ModeSocket != 0:
		n.Type = NodeSocket
	}
	return n
}

// unixMode is the permission and set-id bits of m as a Unix mode.
func unixMode(m fs.FileMode) uint32 {
	mode := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// fileMode is the reverse of unixMode.
func fileMode(mode uint32) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// readDir lists a directory sorted by name.
func readDir(path string) ([]os.DirEntry, error) { return os.ReadDir(path) }

// readXattrs records no extended attributes off Linux.
func readXattrs(path string) ([]Xattr, error) { return nil, nil }

// restoreMeta applies mode and times to the restored entry name in the
// folder dir; a link keeps its own (the system's) mode and times.
func restoreMeta(dir atDir, name string, n *Node) error {
	if n.Type == NodeSymlink {
		return nil
	}
	if err := dir.root.Chmod(dir.join(name), fileMode(n.Mode)); err != nil {
		return err
	}
	return setTimes(dir, name, n)
}

// restoreFileMeta sets the mode of a regular file still open for
// writing.
func restoreFileMeta(f *os.File, n *Node) error {
	return f.Chmod(fileMode(n.Mode))
}

// setTimes sets the modification time (and the access time, to the
// same: it is not recorded here) of name in the folder dir.
func setTimes(dir atDir, name string, n *Node) error {
	atime := n.ATime
	if atime.IsZero() {
		atime = n.ModTime
	}
	return dir.root.Chtimes(dir.join(name), atime, n.ModTime)
}

// rdevOf: device numbers are Linux's only.
func rdevOf(fi os.FileInfo) (uint64, bool) { return 0, false }

// modTimeOf returns a file's modification time as nodeFromInfo records
// it.
func modTimeOf(fi os.FileInfo) time.Time { return fi.ModTime().UTC() }

// openNoATime opens a file to back it up.
func openNoATime(path string) (*os.File, error) { return os.Open(path) }
