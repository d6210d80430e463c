// Package looptest gives tests real, small file systems to fill, break and
// remount: ext4 on a loop device, tmpfs, and read-only remounts. They need
// root (CAP_SYS_ADMIN) and the util-linux and e2fsprogs tools; where those
// are missing, or the kernel or container refuses loop devices or mounts,
// the helpers skip the test and say why.
//
// Every helper registers its own cleanup with t.Cleanup, so a test leaves
// no mounts or loop devices behind when it ends, passes or fails.
package looptest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shoebox/shoebox/internal/mountinfo"
)

// Ext4 formats an ext4 file system of size bytes on a loop device backed by
// a sparse image file in t.TempDir(), mounts it on a fresh temporary
// directory and returns that directory. The file system starts with a
// lost+found directory; root may use its 5 % reserve, so the space that
// root can fill is a little under size. A size below about 1 MiB is too
// small for mkfs.ext4.
//
// Ext4 skips the test when losetup, mkfs.ext4 or mount are not installed,
// when no loop device can be attached, or when mounting is not allowed.
// Cleanup unmounts (lazily, so open files do not block it) and detaches the
// loop device.
func Ext4(t testing.TB, size int64) (mountDir string) {
	t.Helper()
	dev := Ext4Device(t, size)
	mountDir = t.TempDir()
	Mount(t, dev, mountDir)
	return mountDir
}

// Ext4Device is Ext4 without the mount: it returns the loop device
// ("/dev/loop3") holding a fresh ext4 file system, for tests that mount
// it themselves, where and as often as they like (a memory card pulled
// and inserted again). mkfsArgs go to mkfs.ext4 before the device, e.g.
// "-U", "0b5e8cd2-...", "-L", "EOS_DIGITAL". Cleanup detaches the device;
// mounts made with Mount are undone before that.
func Ext4Device(t testing.TB, size int64, mkfsArgs ...string) (dev string) {
	t.Helper()
	need(t, "losetup", "mount (util-linux)")
	need(t, "mkfs.ext4", "e2fsprogs")
	need(t, "mount", "mount (util-linux)")
	need(t, "umount", "mount (util-linux)")

	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatalf("create loop image: %v", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("size loop image %s to %d bytes: %v", img, size, err)
	}

	out, err := run("losetup", "--find", "--show", img)
	if err != nil {
		t.Skipf("loop devices unavailable here: losetup --find --show: %v: %s", err, out)
	}
	dev = strings.TrimSpace(out)
	t.Cleanup(func() {
		if out, err := run("losetup", "-d", dev); err != nil {
			t.Errorf("detach loop device %s: %v: %s", dev, err, out)
		}
	})

	args := append(append([]string{"-q", "-F"}, mkfsArgs...), dev)
	if out, err := run("mkfs.ext4", args...); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return dev
}

// Mount mounts the ext4 file system on dev (from Ext4Device) on dir, and
// returns a function that unmounts it lazily (so that open files do not
// block it, like a card pulled from its reader). It skips the test when
// mounting is not allowed. The returned function may be called any
// number of times; cleanup calls it too.
func Mount(t testing.TB, dev, dir string) (unmount func()) {
	t.Helper()
	if out, err := run("mount", "-t", "ext4", dev, dir); err != nil {
		t.Skipf("cannot mount ext4 on a loop device here: mount %s %s: %v: %s", dev, dir, err, out)
	}
	var once sync.Once
	unmount = func() {
		t.Helper()
		once.Do(func() { unmountLazily(t, dir) })
	}
	t.Cleanup(unmount)
	return unmount
}

// Tmpfs mounts a tmpfs of at most size bytes (rounded up to whole pages) on
// a fresh temporary directory and returns the directory. It skips the test
// when mounting is not allowed. Cleanup unmounts it lazily.
func Tmpfs(t testing.TB, size int64) (mountDir string) {
	t.Helper()
	need(t, "mount", "mount (util-linux)")
	need(t, "umount", "mount (util-linux)")
	mountDir = t.TempDir()
	opt := "size=" + strconv.FormatInt(size, 10)
	if out, err := run("mount", "-t", "tmpfs", "-o", opt, "tmpfs", mountDir); err != nil {
		t.Skipf("cannot mount a tmpfs here: mount -t tmpfs -o %s tmpfs %s: %v: %s", opt, mountDir, err, out)
	}
	t.Cleanup(func() { unmountLazily(t, mountDir) })
	return mountDir
}

// SetReadOnly makes dir read-only, so that writes below it fail with EROFS,
// and returns a function that makes it writable again. A mount point (such
// as the directory from Ext4 or Tmpfs) is remounted read-only, as a kernel
// does with a file system after an I/O error; any other directory is
// bind-mounted on itself and the bind mount made read-only. SetReadOnly
// fails the test when the remount fails, which for a mount point with files
// open for writing is EBUSY.
//
// The returned function may be called any number of times; cleanup calls
// it too.
func SetReadOnly(t testing.TB, dir string) (restore func()) {
	t.Helper()
	dir, err := filepath.Abs(dir)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		t.Fatalf("set read-only: %v", err)
	}
	if dir == "/" {
		t.Fatalf("set read-only: refusing to remount the root file system")
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		t.Fatalf("set read-only %s: %v", dir, err)
	}

	var undo func() error
	if mounted {
		if out, err := run("mount", "-o", "remount,ro", dir); err != nil {
			t.Fatalf("mount -o remount,ro %s: %v: %s", dir, err, out)
		}
		undo = func() error {
			if out, err := run("mount", "-o", "remount,rw", dir); err != nil {
				return fmt.Errorf("mount -o remount,rw %s: %v: %s", dir, err, out)
			}
			return nil
		}
	} else {
		if out, err := run("mount", "--bind", dir, dir); err != nil {
			t.Skipf("cannot bind-mount here: mount --bind %s %s: %v: %s", dir, dir, err, out)
		}
		undo = func() error {
			if out, err := run("umount", dir); err != nil {
				return fmt.Errorf("umount %s: %v: %s", dir, err, out)
			}
			return nil
		}
		if out, err := run("mount", "-o", "remount,bind,ro", dir); err != nil {
			err = fmt.Errorf("mount -o remount,bind,ro %s: %v: %s", dir, err, out)
			if uerr := undo(); uerr != nil {
				err = fmt.Errorf("%v; undo: %v", err, uerr)
			}
			t.Fatal(err)
		}
	}

	var once sync.Once
	restore = func() {
		t.Helper()
		once.Do(func() {
			if err := undo(); err != nil {
				t.Errorf("make %s writable again: %v", dir, err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// need skips the test when the named program is not on PATH.
func need(t testing.TB, prog, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("%s not found (Debian package %s): %v", prog, pkg, err)
	}
}

// run runs a program and returns its combined output, trimmed.
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(bytes.TrimSpace(out)), err
}

func unmountLazily(t testing.TB, dir string) {
	t.Helper()
	if out, err := run("umount", "-l", dir); err != nil {
		t.Errorf("unmount %s: %v: %s", dir, err, out)
	}
}

// isMountPoint reports whether dir (absolute, without symlinks) is the
// mount point of some mount in /proc/self/mountinfo, bind mounts included.
func isMountPoint(dir string) (bool, error) {
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m.Point == dir {
			return true, nil
		}
	}
	return false, nil
}
