package smart

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	smartgo "github.com/anatol/smart.go"
	"github.com/shoebox/shoebox/internal/blockdev"
)

// Discovery: the block devices of /sys/block, their identity from sysfs,
// and whether the process may send the commands that read SMART.

// privileged reports whether the process may send ATA pass-through and
// NVMe admin commands: CAP_SYS_ADMIN (21) and CAP_SYS_RAWIO (17) in its
// effective set. Without /proc it falls back to "is root".
func (e devEnv) privileged() bool {
	b, err := os.ReadFile(e.procStatus)
	if err != nil {
		return os.Geteuid() == 0
	}
	ok, err := hasDiskCaps(b)
	if err != nil {
		return os.Geteuid() == 0
	}
	return ok
}

// hasDiskCaps reads CapEff from a /proc/<pid>/status.
func hasDiskCaps(status []byte) (bool, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("CapEff %q: %w", strings.TrimSpace(v), err)
		}
		const need = 1<<21 | 1<<17 // CAP_SYS_ADMIN, CAP_SYS_RAWIO
		return caps&need == need, nil
	}
	return false, errors.New("no CapEff line")
}

// sysFacts is what sysfs says about a disk's transport.
type sysFacts struct {
	ataVendor bool // device/vendor "ATA": a libata disk
	usb       bool
}

func (e devEnv) sysFacts(name string) sysFacts {
	dir := filepath.Join(e.sysBlock, name)
	var f sysFacts
	f.ataVendor = blockdev.ReadAttr(filepath.Join(dir, "device", "vendor")) == "ATA"
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		f.usb = strings.Contains(real, "/usb")
	}
	return f
}

// sysIdentity is a disk's identity as sysfs gives it to anyone, without a
// command sent to the disk: model, serial and WWN as blockdev.DiskIdentity
// reads them (as raid does for its members), firmware, capacity. For
// libata disks the IDENTIFY data cached in the ATA information VPD page
// (89h) gives the full model name (the SCSI one is cut at 16 bytes).
func (e devEnv) sysIdentity(name string) Record {
	dir := filepath.Join(e.sysBlock, name)
	r := Record{}
	if strings.HasPrefix(name, "nvme") {
		r.Protocol = NVMe
	}
	disk := blockdev.DiskIdentity(dir)
	r.Model, r.Serial, r.WWN = disk.Model, disk.Serial, disk.WWN
	r.Firmware = blockdev.ReadAttr(filepath.Join(dir, "device", "firmware_rev"))
	if r.Firmware == "" {
		r.Firmware = blockdev.ReadAttr(filepath.Join(dir, "device", "rev"))
	}
	if s, err := strconv.ParseUint(blockdev.ReadAttr(filepath.Join(dir, "size")), 10, 64); err == nil {
		r.Capacity = s * 512 // always in 512-byte units
	}
	_, err := os.Stat(filepath.Join(dir, "device", "scsi_level"))
	isSCSI := err == nil // sd: not virtio (whose vendor is a PCI ID), not NVMe
	switch vendor := blockdev.ReadAttr(filepath.Join(dir, "device", "vendor")); {
	case !isSCSI:
	case vendor != "ATA":
		// SCSI names a disk "VENDOR PRODUCT", as smartctl does.
		r.Protocol = SCSI
		r.Model = strings.TrimSpace(vendor + " " + r.Model)
	default:
		r.Protocol = ATA
		if b, err := os.ReadFile(filepath.Join(dir, "device", "vpd_pg89")); err == nil && len(b) >= 60+512 && b[1] == 0x89 {
			var id smartgo.AtaIdentifyDevice
			if binary.Read(bytes.NewReader(b[60:60+512]), binary.LittleEndian, &id) == nil && id.ModelNumber() != "" {
				capacity := r.Capacity
				wwn := r.WWN
				fillATAIdentity(&r, &id)
				if r.Capacity == 0 {
					r.Capacity = capacity
				}
				if r.WWN == "" {
					r.WWN = wwn
				}
			}
		}
	}
	return r
}

// Discover lists the machine's whole disks from /sys/block, skipping
// loop, RAM, zram, device-mapper, md, optical, floppy, network block
// devices, hidden NVMe multipath paths and empty drives. Each disk is
// opened with Open; a disk Open refuses gets a Reader that returns a
// Record with Unknown saying why, so that it is still listed.
func Discover() ([]Disk, error) {
	return defaultEnv().discover(func(e devEnv, path string) (Reader, error) { return e.open(path) })
}

func (e devEnv) discover(open func(devEnv, string) (Reader, error)) ([]Disk, error) {
	names, err := e.diskNames()
	if err != nil {
		return nil, err
	}
	var disks []Disk
	for _, name := range names {
		path := filepath.Join(e.dev, name)
		r, err := open(e, path)
		if err != nil {
			id := e.sysIdentity(name)
			id.Device = path
			r = openFailed{id: id, err: err, now: e.now}
		}
		disks = append(disks, Disk{Path: path, Reader: r})
	}
	return disks, nil
}

// diskNames lists the whole disks under sysBlock, sorted.
func (e devEnv) diskNames() ([]string, error) {
	entries, err := os.ReadDir(e.sysBlock)
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var names []string
	for _, ent := range entries {
		name := ent.Name()
		if skipBlockDevice(name) {
			continue
		}
		dir := filepath.Join(e.sysBlock, name)
		if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
			continue
		}
		if blockdev.ReadAttr(filepath.Join(dir, "hidden")) == "1" {
			continue
		}
		if s := blockdev.ReadAttr(filepath.Join(dir, "size")); s == "0" {
			continue // card reader without a card, empty drive
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func skipBlockDevice(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "rbd", "drbd", "pmem", "zd", "mtdblock"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.Contains(name, "boot") && strings.HasPrefix(name, "mmcblk") // eMMC boot partitions
}

// openFailed reads as a disk Open refused.
type openFailed struct {
	id  Record
	err error
	now func() time.Time
}

func (o openFailed) Read(ctx context.Context) (*Record, error) {
	r := o.id
	r.Time = o.now()
	r.Unknown = "health unknown: " + o.err.Error()
	return &r, nil
}
