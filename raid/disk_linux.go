package raid

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

// DriveIdentity names the physical drive that holds path, as far as the
// kernel tells: its serial number, its World Wide Name and its model. Two
// member directories with the same non-empty serial live on the same drive.
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
func DriveIdentity(path string) (serial, wwn, model string, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", "", "", fmt.Errorf("drive identity of %s: %w", path, &os.PathError{Op: "stat", Path: path, Err: err})
	}
	dev := uint64(st.Dev)
	if unix.Major(dev) == 0 {
		// An anonymous device: try the block device the file system was
		// mounted from.
		dev = mountSourceDevice("/proc/self/mountinfo", dev)
		if dev == 0 {
			return "", "", "", nil
		}
	}
	id := sysfs{sys: "/sys", dev: "/dev"}.identity(unix.Major(dev), unix.Minor(dev))
	return id.serial, id.wwn, id.model, nil
}

type driveID struct{ serial, wwn, model string }

// sysfs reads drive identities below the given roots (/sys and /dev, or a
// recorded copy in tests).
type sysfs struct{ sys, dev string }

func (s sysfs) identity(major, minor uint32) driveID {
	disk := s.wholeDisk(major, minor)
	if disk == "" {
		return driveID{}
	}
	name := filepath.Base(disk)
	if strings.HasPrefix(name, "loop") {
		if f := readAttr(filepath.Join(disk, "loop", "backing_file")); f != "" {
			return driveID{serial: "loop:" + f}
		}
		return driveID{}
	}
	var id driveID
	id.serial = firstAttr(disk, "device/serial", "serial")
	if id.serial == "" {
		id.serial = vpdSerial(filepath.Join(disk, "device", "vpd_pg80"))
	}
	id.wwn = NormalizeWWN(firstAttr(disk, "wwid", "device/wwid"))
	id.model = firstAttr(disk, "device/model")
	if id.serial == "" || id.wwn == "" || id.model == "" {
		s.byID(name, &id)
	}
	return id
}

// wholeDisk returns the sysfs directory of the disk under the block device
// major:minor, or "" when there is no single one.
func (s sysfs) wholeDisk(major, minor uint32) string {
	dir, err := filepath.EvalSymlinks(filepath.Join(s.sys, "dev", "block", fmt.Sprintf("%d:%d", major, minor)))
	if err != nil {
		return ""
	}
	for range 8 { // partition of a LUKS volume on a partition of a disk…
		if pathExists(filepath.Join(dir, "partition")) {
			dir = filepath.Dir(dir)
			continue
		}
		slaves, err := os.ReadDir(filepath.Join(dir, "slaves"))
		if err != nil || len(slaves) == 0 {
			return dir
		}
		if len(slaves) > 1 {
			return "" // spans several disks
		}
		next, err := filepath.EvalSymlinks(filepath.Join(dir, "slaves", slaves[0].Name()))
		if err != nil {
			return ""
		}
		dir = next
	}
	return ""
}

// byID fills the empty parts of id from the /dev/disk/by-id links to the
// whole disk name ("sda", "nvme0n1"): wwn-0x…, ata-MODEL_SERIAL,
// nvme-MODEL_SERIAL, virtio-SERIAL.
func (s sysfs) byID(name string, id *driveID) {
	dir := filepath.Join(s.dev, "disk", "by-id")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || filepath.Base(target) != name {
			continue
		}
		link := e.Name()
		switch {
		case strings.HasPrefix(link, "wwn-"):
			if id.wwn == "" {
				id.wwn = NormalizeWWN(strings.TrimPrefix(link, "wwn-"))
			}
		case strings.HasPrefix(link, "nvme-eui."), strings.HasPrefix(link, "nvme-nvme."):
			if id.wwn == "" {
				id.wwn = NormalizeWWN(strings.TrimPrefix(link, "nvme-"))
			}
		case strings.HasPrefix(link, "ata-"), strings.HasPrefix(link, "nvme-"):
			rest := link[strings.IndexByte(link, '-')+1:]
			i := strings.LastIndexByte(rest, '_')
			if i <= 0 || i == len(rest)-1 {
				continue
			}
			if id.serial == "" {
				id.serial = rest[i+1:]
			}
			if id.model == "" {
				id.model = strings.ReplaceAll(rest[:i], "_", " ")
			}
		case strings.HasPrefix(link, "virtio-"):
			if id.serial == "" {
				id.serial = strings.TrimPrefix(link, "virtio-")
			}
		}
	}
}

// NormalizeWWN writes an NAA name as the by-id links do ("naa.5000C500…"
// becomes "0x5000c500…") and drops wwids that are no WWN at all (the
// "t10.ATA MODEL SERIAL" that libata makes up).
func NormalizeWWN(w string) string {
	w = strings.ToLower(strings.TrimSpace(w))
	switch {
	case w == "", strings.HasPrefix(w, "t10."):
		return ""
	case strings.HasPrefix(w, "naa."):
		return "0x" + strings.TrimPrefix(w, "naa.")
	}
	return w
}

// vpdSerial returns the unit serial number in a raw SCSI VPD page 0x80:
// a 4-byte header whose last byte is the length of the serial that
// follows.
func vpdSerial(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	b = b[4:]
	if n < len(b) {
		b = b[:n]
	}
	return trimPadding(string(b))
}

func firstAttr(dir string, names ...string) string {
	for _, n := range names {
		if v := readAttr(filepath.Join(dir, n)); v != "" {
			return v
		}
	}
	return ""
}

func readAttr(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return trimPadding(string(b))
}

// trimPadding trims the spaces and NULs that pad sysfs and VPD strings.
func trimPadding(s string) string {
	return strings.Trim(s, " \t\n\x00")
}

func pathExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
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
