package vault

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nodeFromInfo fills a node's metadata from lstat results.
func nodeFromInfo(name string, fi os.FileInfo) *Node {
	st := fi.Sys().(*syscall.Stat_t)
	n := &Node{
		Mode:    uint32(st.Mode) & 07777,
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC(),
		ATime:   time.Unix(st.Atim.Sec, st.Atim.Nsec).UTC(),
		CTime:   time.Unix(st.Ctim.Sec, st.Ctim.Nsec).UTC(),
		UID:     st.Uid,
		GID:     st.Gid,
		User:    lookupUser(st.Uid),
		Group:   lookupGroup(st.Gid),
		Inode:   st.Ino,
		Device:  uint64(st.Dev),
		Links:   uint64(st.Nlink),
	}
	n.setName(name)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		n.Type = NodeFile
		n.Size = uint64(st.Size)
	case syscall.S_IFDIR:
		n.Type = NodeDir
	case syscall.S_IFLNK:
		n.Type = NodeSymlink
	case syscall.S_IFBLK:
		n.Type = NodeDev
		n.Rdev = uint64(st.Rdev)
	case syscall.S_IFCHR:
		n.Type = NodeCharDev
		n.Rdev = uint64(st.Rdev)
	case syscall.S_IFIFO:
		n.Type = NodeFIFO
	case syscall.S_IFSOCK:
		n.Type = NodeSocket
	}
	if n.Type != NodeFile {
		n.Links = 0 // only regular files are restored as hard links
	}
	return n
}

// readDir lists a directory sorted by name, like os.ReadDir, but without
// updating its access time where the kernel allows (O_NOATIME needs
// ownership or CAP_FOWNER): otherwise every backup would change the atime
// it records and the next backup would store every directory tree anew.
func readDir(path string) ([]os.DirEntry, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOATIME|syscall.O_DIRECTORY, 0)
	if errors.Is(err, os.ErrPermission) {
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, err
}

var idNames sync.Map // "u123" / "g123" -> name

func lookupUser(uid uint32) string {
	k := "u" + strconv.Itoa(int(uid))
	if v, ok := idNames.Load(k); ok {
		return v.(string)
	}
	name := ""
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		name = u.Username
	}
	idNames.Store(k, name)
	return name
}

func lookupGroup(gid uint32) string {
	k := "g" + strconv.Itoa(int(gid))
	if v, ok := idNames.Load(k); ok {
		return v.(string)
	}
	name := ""
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		name = g.Name
	}
	idNames.Store(k, name)
	return name
}

// readXattrs returns the extended attributes of path (not following
// symlinks). File systems without xattr support yield none.
func readXattrs(path string) ([]Xattr, error) {
	sz, err := unix.Llistxattr(path, nil)
	if err != nil || sz == 0 {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, nil
		}
		return nil, err
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(path, buf)
	if err != nil {
		return nil, err
	}
	var out []Xattr
	for _, name := range splitNUL(buf[:sz]) {
		vsz, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsz)
		vsz, err = unix.Lgetxattr(path, name, val)
		if err != nil {
			continue
		}
		out = append(out, Xattr{Name: name, Value: val[:vsz]})
	}
	return out, nil
}

func splitNUL(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}

// euid is the effective user; ownership is restored only by root.
var euid = os.Geteuid()

// restoreMeta applies ownership, xattrs, mode and times to the restored
// entry name in the folder dir (a descriptor), never following a link in
// its place (the mode is not set on links, which have none). Ownership is
// applied only when running as root; failures to set xattrs in
// namespaces we may not write (security., trusted.) are ignored.
func restoreMeta(dir int, name string, n *Node) error {
	if euid == 0 {
		if err := unix.Fchownat(dir, name, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	// There is no lsetxattrat: the folder's descriptor under /proc names
	// exactly that folder, and lsetxattr does not follow name.
	at := "/proc/self/fd/" + strconv.Itoa(dir) + "/" + name
	for _, x := range n.Xattrs {
		if err := unix.Lsetxattr(at, x.Name, x.Value, 0); err != nil && !ignorableXattrErr(err) {
			return err
		}
	}
	if n.Type != NodeSymlink {
		// chmod after chown: chown clears the set-id bits.
		if err := unix.Fchmodat(dir, name, n.Mode&07777, 0); err != nil {
			return err
		}
	}
	return setTimes(dir, name, n)
}

// restoreFileMeta is restoreMeta, but for the times, for a regular file
// still open for writing: it goes through the descriptor, without
// looking the path up again.
func restoreFileMeta(f *os.File, n *Node) error {
	fd := int(f.Fd())
	if euid == 0 {
		if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil {
			return err
		}
	}
	for _, x := range n.Xattrs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil && !ignorableXattrErr(err) {
			return err
		}
	}
	// chmod after chown: chown clears the set-id bits.
	return f.Chmod(os.FileMode(n.Mode&0777) | modeBits(n.Mode))
}

func ignorableXattrErr(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

// setTimes sets the access and modification times of name in the
// folder dir (a descriptor), of a link itself rather than its target.
func setTimes(dir int, name string, n *Node) error {
	ts := []unix.Timespec{unix.NsecToTimespec(n.ATime.UnixNano()), unix.NsecToTimespec(n.ModTime.UnixNano())}
	return unix.UtimesNanoAt(dir, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func modeBits(m uint32) os.FileMode {
	var fm os.FileMode
	if m&syscall.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// rdevOf returns the device number of a device node's lstat results.
func rdevOf(fi os.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Rdev, true
}

// modTimeOf returns a file's modification time as nodeFromInfo records
// it.
func modTimeOf(fi os.FileInfo) time.Time {
	st := fi.Sys().(*syscall.Stat_t)
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec).UTC()
}

// openNoATime opens a file to back it up without updating its access
// time where the kernel allows (O_NOATIME needs ownership or
// CAP_FOWNER), as readDir does for folders.
func openNoATime(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOATIME, 0)
	if errors.Is(err, fs.ErrPermission) {
		f, err = os.Open(path) // O_NOATIME needs ownership
	}
	return f, err
}
