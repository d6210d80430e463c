package blockdev

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoebox/shoebox/internal/mountinfo"
	"golang.org/x/sys/unix"
)

// DeviceOf returns the device number (st_dev) of the file system that holds
// path.
func DeviceOf(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return uint64(st.Dev), nil
}

// IsMountPoint reports whether path (after symbolic links) is the root of a
// mounted file system: "/", a directory whose st_dev differs from its
// parent's, or a bind mount, which keeps its parent's st_dev but is listed
// in /proc/self/mountinfo. A member disk whose directory is not a mount
// point failed to mount, and writing there would fill the system disk.
func IsMountPoint(path string) (bool, error) {
	dir, err := filepath.Abs(path)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return false, fmt.Errorf("check mount point %s: %w", path, err)
	}
	if dir == "/" {
		return true, nil
	}
	dev, err := DeviceOf(dir)
	if err != nil {
		return false, fmt.Errorf("check mount point: %w", err)
	}
	parent, err := DeviceOf(filepath.Dir(dir))
	if err != nil {
		return false, fmt.Errorf("check mount point: %w", err)
	}
	if dev != parent {
		return true, nil
	}
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("check mount point %s: %w", path, err)
	}
	for _, m := range mounts {
		if m.Point == dir {
			return true, nil
		}
	}
	return false, nil
}

// DriveIdentity names the physical drive that holds path.
//
// The file system's device is followed down to a whole disk: a partition
// to its disk, a device-mapper or md device with exactly one underlying
// device (LUKS, a one-disk LVM volume) to that device. Anonymous devices
// (btrfs and the like) are looked up through their mount source. The
// serial comes from sysfs (device/serial for NVMe, serial for virtio, the
// SCSI VPD page 0x80 for SATA and SAS) or else from the /dev/disk/by-id
// names; a loop device has no serial and reports "loop:" and its backing
// file, so two members on one image count as one drive. The WWN is the
// kernel's wwid ("0x…" for NAA names, "eui.…" and the like as given) or the
// by-id "wwn-0x…" name.
//
// Identity is best-effort: whatever is unknown (virtual disks, tmpfs,
// overlay, ZFS, a multi-disk volume) is "", and the error is non-nil only
// when path itself cannot be examined.
func DriveIdentity(path string) (Identity, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Identity{}, fmt.Errorf("drive identity of %s: %w", path, &os.PathError{Op: "stat", Path: path, Err: err})
	}
	dev := uint64(st.Dev)
	if unix.Major(dev) == 0 {
		// An anonymous device: try the block device the file system was
		// mounted from.
		dev = mountSourceDevice("/proc/self/mountinfo", dev)
		if dev == 0 {
			return Identity{}, nil
		}
	}
	return Host.Identity(unix.Major(dev), unix.Minor(dev)), nil
}

// mountSourceDevice returns the device number of the block device that the
// file system with anonymous device number dev was mounted from, or 0.
func mountSourceDevice(path string, dev uint64) uint64 {
	mounts, err := mountinfo.Read(path)
	if err != nil {
		return 0
	}
	for _, m := range mounts {
		if m.Dev != dev || !strings.HasPrefix(m.Source, "/dev/") {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(m.Source, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return uint64(st.Rdev)
		}
	}
	return 0
}
