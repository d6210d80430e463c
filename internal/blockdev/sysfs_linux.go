package blockdev

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// Sysfs reads drive identities below the given roots: Host's /sys and
// /dev, or a recorded copy in tests.
type Sysfs struct {
	Sys string // /sys
	Dev string // /dev
}

// Host is the running system's sysfs and /dev.
var Host = Sysfs{Sys: "/sys", Dev: "/dev"}

// Identity returns the identity of the whole disk under the block device
// major:minor (see DriveIdentity): its sysfs attributes, a loop device's
// backing file, then the /dev/disk/by-id names for what they leave out.
// It is the zero Identity when there is no single whole disk.
func (s Sysfs) Identity(major, minor uint32) Identity {
	disk := s.wholeDisk(major, minor)
	if disk == "" {
		return Identity{}
	}
	name := filepath.Base(disk)
	if strings.HasPrefix(name, "loop") {
		if f := ReadAttr(filepath.Join(disk, "loop", "backing_file")); f != "" {
			return Identity{Serial: "loop:" + f}
		}
		return Identity{}
	}
	id := DiskIdentity(disk)
	if id.Serial == "" || id.WWN == "" || id.Model == "" {
		s.byID(name, &id)
	}
	return id
}

// DiskIdentity reads the identity that the sysfs attributes of a whole
// disk's directory (/sys/block/sda, or where /sys/dev/block leads) give
// anyone, without a command sent to the disk: the serial from
// device/serial (NVMe), serial (virtio) or the SCSI VPD page 0x80 in
// device/vpd_pg80 (SATA, SAS); the WWN from wwid or device/wwid, the first
// that NormalizeWWN keeps; the model from device/model (cut at 16 bytes for
// SCSI and libata disks).
func DiskIdentity(dir string) Identity {
	var id Identity
	for _, n := range []string{"device/serial", "serial"} {
		if id.Serial = ReadAttr(filepath.Join(dir, n)); id.Serial != "" {
			break
		}
	}
	if id.Serial == "" {
		id.Serial = vpdSerial(filepath.Join(dir, "device", "vpd_pg80"))
	}
	for _, n := range []string{"wwid", "device/wwid"} {
		if id.WWN = NormalizeWWN(ReadAttr(filepath.Join(dir, n))); id.WWN != "" {
			break
		}
	}
	id.Model = ReadAttr(filepath.Join(dir, "device", "model"))
	return id
}

// wholeDisk returns the sysfs directory of the disk under the block device
// major:minor, or "" when there is no single one.
func (s Sysfs) wholeDisk(major, minor uint32) string {
	dir, err := filepath.EvalSymlinks(filepath.Join(s.Sys, "dev", "block", fmt.Sprintf("%d:%d", major, minor)))
	if err != nil {
		return ""
	}
	for range 8 { // partition of a LUKS volume on a partition of a disk…
		if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
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
func (s Sysfs) byID(name string, id *Identity) {
	dir := filepath.Join(s.Dev, "disk", "by-id")
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
			if id.WWN == "" {
				id.WWN = NormalizeWWN(strings.TrimPrefix(link, "wwn-"))
			}
		case strings.HasPrefix(link, "nvme-eui."), strings.HasPrefix(link, "nvme-nvme."):
			if id.WWN == "" {
				id.WWN = NormalizeWWN(strings.TrimPrefix(link, "nvme-"))
			}
		case strings.HasPrefix(link, "ata-"), strings.HasPrefix(link, "nvme-"):
			rest := link[strings.IndexByte(link, '-')+1:]
			i := strings.LastIndexByte(rest, '_')
			if i <= 0 || i == len(rest)-1 {
				continue
			}
			if id.Serial == "" {
				id.Serial = rest[i+1:]
			}
			if id.Model == "" {
				id.Model = strings.ReplaceAll(rest[:i], "_", " ")
			}
		case strings.HasPrefix(link, "virtio-"):
			if id.Serial == "" {
				id.Serial = strings.TrimPrefix(link, "virtio-")
			}
		}
	}
}

// vpdSerial returns the unit serial number in a raw SCSI VPD page 0x80:
// a 4-byte header whose last two bytes are the length of the serial that
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

// ReadAttr returns a sysfs attribute (or any small text file) without the
// spaces, newlines and NULs that pad it, or "" when it cannot be read.
func ReadAttr(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return trimPadding(string(b))
}

// trimPadding trims the white space and NULs that pad sysfs, VPD and ATA
// strings, at both ends.
func trimPadding(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == 0 || unicode.IsSpace(r) })
}
