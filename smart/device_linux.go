package smart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	smartgo "github.com/anatol/smart.go"
)

// Why a Record from Open carries no health (Record.Unknown).
const (
	UnknownPrivilege = "health unknown: insufficient privilege (reading SMART needs root, or CAP_SYS_ADMIN and CAP_SYS_RAWIO)"
	UnknownStandby   = "disk in standby, not woken"
	UnknownNoSMART   = "health unknown: the disk does not support SMART"
	UnknownDisabled  = "health unknown: SMART is disabled on the disk (enable it with smartctl -s on)"
	UnknownSCSI      = "health unknown: SCSI health needs smartmontools, which is not installed"
)

// devEnv is where Open and Discover look: the real /proc and /sys, or a
// recorded copy in tests.
type devEnv struct {
	procStatus string // /proc/self/status
	sysBlock   string // /sys/block
	dev        string // /dev
	// smartctl returns the path of the smartctl binary, "" when
	// smartmontools is not installed.
	smartctl func() string
	now      func() time.Time
}

func defaultEnv() devEnv {
	return devEnv{
		procStatus: "/proc/self/status",
		sysBlock:   "/sys/block",
		dev:        "/dev",
		smartctl:   findSmartctl,
		now:        time.Now,
	}
}

func findSmartctl() string {
	if p, err := exec.LookPath("smartctl"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/smartctl", "/sbin/smartctl", "/usr/local/sbin/smartctl"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Open returns a Reader for the whole disk at path (/dev/sda,
// /dev/nvme0n1, or a /dev/disk/by-id link to one).
//
// SATA disks (also behind SAS HBAs and USB bridges that pass ATA commands
// through) are read with smart.go's IDENTIFY, SMART READ DATA, SMART READ
// THRESHOLDS and the error log; the power mode (CHECK POWER MODE), the
// overall verdict (SMART RETURN STATUS) and the attributes smart.go drops
// after an empty slot of the table (a raw SMART READ DATA) are asked over
// the same SG_IO ATA PASS-THROUGH (16) as smart.go uses. Self-tests are
// never started. NVMe disks are read with Identify and the SMART / health
// log. Disks smart.go cannot read health from (USB
// bridges without ATA pass-through, SCSI/SAS disks) are read with
// `smartctl --json -a -n standby` when smartmontools is installed;
// otherwise a SCSI disk's Record has its identity and Unknown set.
//
// Without root, or CAP_SYS_ADMIN and CAP_SYS_RAWIO, the kernel refuses
// ATA pass-through and NVMe admin commands (and a SATA disk would look
// like a SCSI disk without SMART): Open then succeeds, and every Read
// returns a Record with the identity sysfs gives and Unknown set to
// UnknownPrivilege, never a healthy-looking one.
//
// Open fails when path is not a whole disk, or is a disk that neither
// smart.go nor smartctl can read (a virtio disk, say). It sends no
// command that spins up a disk: a disk asleep at Open is examined at its
// first Read that finds it awake.
func Open(path string) (Reader, error) {
	return defaultEnv().open(path)
}

// device is the Reader Open returns. Its methods are safe for concurrent
// use; reads of one disk are serialized.
type device struct {
	env        devEnv
	path       string // as given to Open
	dev        string // /dev/<name>
	name       string // kernel name: sda, nvme0n1
	privileged bool

	mu   sync.Mutex
	kind devKind // "" until known: the disk was asleep at Open
	id   Record  // identity from sysfs, then from the latest reading
}

var _ Reader = (*device)(nil)

// devKind is how a device is read.
type devKind string

const (
	kindATA      devKind = "ata"      // smart.go SataDevice + our SG_IO
	kindNVMe     devKind = "nvme"     // smart.go NVMeDevice
	kindSCSI     devKind = "scsi"     // smart.go ScsiDevice: identity only
	kindSmartctl devKind = "smartctl" // smartctl --json fallback
	kindNoAccess devKind = "noaccess" // not privileged: identity from sysfs only
)

func (e devEnv) open(path string) (*device, error) {
	dev, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("open disk %s: %w", path, err)
	}
	name := filepath.Base(dev)
	if _, err := os.Stat(filepath.Join(e.sysBlock, name)); err != nil {
		return nil, fmt.Errorf("open disk %s: %s is not a whole disk (no %s): use the disk, not a partition", path, name, filepath.Join(e.sysBlock, name))
	}
	if strings.HasPrefix(name, "vd") || strings.HasPrefix(name, "xvd") {
		return nil, fmt.Errorf("open disk %s: %w: a virtual disk", path, ErrNoSMART)
	}
	d := &device{env: e, path: path, dev: filepath.Join(e.dev, name), name: name}
	d.privileged = e.privileged()
	d.id = e.sysIdentity(name)
	d.id.Device = path
	if !d.privileged {
		d.kind = kindNoAccess
		return d, nil
	}
	if strings.HasPrefix(name, "nvme") {
		n, err := smartgo.OpenNVMe(d.dev)
		if err != nil {
			return nil, fmt.Errorf("open disk %s: %w", path, err)
		}
		defer n.Close()
		if _, _, err := n.Identify(); err != nil {
			return nil, fmt.Errorf("open disk %s: nvme identify: %w", path, err)
		}
		d.kind = kindNVMe
		return d, nil
	}
	if d.asleep() {
		return d, nil // classify when awake
	}
	if err := d.classify(); err != nil {
		return nil, fmt.Errorf("open disk %s: %w", path, err)
	}
	return d, nil
}

// classify asks smart.go what the disk is and picks how to read it.
func (d *device) classify() error {
	opened := ""
	dev, err := smartgo.Open(d.dev)
	if err == nil {
		opened = dev.Type()
		dev.Close()
	} else {
		// smart.Open joins one error per protocol tried, one a line.
		err = errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	sys := d.env.sysFacts(d.name)
	kind, err := chooseKind(probeFacts{
		privileged: d.privileged,
		opened:     opened,
		openErr:    err,
		ataVendor:  sys.ataVendor,
		usb:        sys.usb,
		smartctl:   d.env.smartctl() != "",
	})
	if err != nil {
		return err
	}
	d.kind = kind
	return nil
}

// probeFacts is what chooseKind decides on.
type probeFacts struct {
	privileged bool
	// opened is smart.go's Device.Type() ("sata", "scsi", "nvme"), or ""
	// when smart.Open failed with openErr.
	opened    string
	openErr   error
	ataVendor bool // sysfs device/vendor is "ATA": libata drives the disk
	usb       bool // the disk hangs off a USB bus
	smartctl  bool // smartmontools is installed
}

// chooseKind decides how to read a disk. A SATA disk that smart.go could
// only open as a SCSI device did not accept ATA pass-through: the kernel
// allows it only with CAP_SYS_RAWIO, so it is a privilege problem and
// never "a SCSI disk without SMART".
func chooseKind(f probeFacts) (devKind, error) {
	if !f.privileged {
		return kindNoAccess, nil
	}
	switch f.opened {
	case "nvme":
		return kindNVMe, nil
	case "sata":
		return kindATA, nil
	case "scsi":
		switch {
		case f.ataVendor && !f.usb:
			return kindNoAccess, nil
		case f.smartctl:
			return kindSmartctl, nil
		}
		return kindSCSI, nil
	}
	if f.smartctl {
		return kindSmartctl, nil
	}
	if f.openErr == nil {
		f.openErr = fmt.Errorf("unknown device type %q", f.opened)
	}
	return "", fmt.Errorf("%w: %w (smartmontools, not installed, reads some USB bridges smart.go cannot see through)", ErrNoSMART, f.openErr)
}

// Read implements Reader. It returns a Record with Standby set when an
// ATA disk is asleep (CHECK POWER MODE says standby), without reading
// SMART. It returns a Record with Unknown set when the disk is there but
// its health cannot be read (privilege, no SMART, SCSI without
// smartctl), and an error when the disk cannot be talked to at all.
// NVMe disks are not checked for power state: they do not spin, and
// reading the health log only moves a controller out of a low-power
// state for an instant.
func (d *device) Read(ctx context.Context) (*Record, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.kind == "" || d.kind == kindATA {
		// Look at the power mode before anything else.
		if d.asleep() {
			r := d.unknown(UnknownStandby)
			r.Standby = true
			return r, nil
		}
		if d.kind == "" {
			if err := d.classify(); err != nil {
				return nil, fmt.Errorf("read disk %s: %w", d.path, err)
			}
		}
	}
	switch d.kind {
	case kindATA:
		return d.readATA(ctx)
	case kindNVMe:
		return d.readNVMe(ctx)
	case kindSmartctl:
		return d.readSmartctl(ctx)
	case kindSCSI:
		return d.readSCSI()
	}
	return d.unknown(UnknownPrivilege), nil
}

// unknown returns a Record with the disk's last known identity and the
// reason no health was read.
func (d *device) unknown(why string) *Record {
	r := d.id
	r.Time = d.env.now()
	r.Device = d.path
	r.Unknown = why
	r.Standby = false
	return &r
}

// remember keeps r's identity for Records of a disk asleep later.
func (d *device) remember(r *Record) {
	d.id = Record{Device: r.Device, Protocol: r.Protocol, Model: r.Model, Serial: r.Serial,
		WWN: r.WWN, Firmware: r.Firmware, Capacity: r.Capacity}
}

// readSmartctl runs `smartctl --json -a -n standby` and parses its output
// with ParseSmartctlJSON. smartctl's exit status is a bit mask: bits 0–1
// mean no reading (bad arguments, device not opened, or asleep with -n
// standby), bits 2–7 report problems with a reading that is still there.
func (d *device) readSmartctl(ctx context.Context) (*Record, error) {
	bin := d.env.smartctl()
	if bin == "" {
		return nil, fmt.Errorf("read disk %s: smartctl not found: install smartmontools", d.path)
	}
	cmd := exec.CommandContext(ctx, bin, "--json", "-a", "-n", "standby", d.dev)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	status := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("read disk %s: smartctl: %w", d.path, err)
		}
		status = ee.ExitCode()
	}
	return d.smartctlRecord(out, status)
}

// smartctlRecord turns smartctl's output and exit status into a Record.
func (d *device) smartctlRecord(out []byte, status int) (*Record, error) {
	var meta struct {
		Smartctl struct {
			Messages []struct {
				String   string `json:"string"`
				Severity string `json:"severity"`
			} `json:"messages"`
			ExitStatus *int `json:"exit_status"`
		} `json:"smartctl"`
	}
	if err := json.Unmarshal(out, &meta); err != nil {
		return nil, fmt.Errorf("read disk %s: smartctl exit status %d, output not JSON: %w", d.path, status, err)
	}
	if meta.Smartctl.ExitStatus != nil {
		status = *meta.Smartctl.ExitStatus
	}
	var msgs []string
	for _, m := range meta.Smartctl.Messages {
		msgs = append(msgs, m.String)
	}
	if status&3 != 0 {
		for _, m := range msgs {
			if strings.Contains(m, "STANDBY") || strings.Contains(m, "SLEEP") {
				r := d.unknown(UnknownStandby)
				r.Standby = true
				return r, nil
			}
		}
		why := strings.Join(msgs, "; ")
		if why == "" {
			why = "exit status " + strconv.Itoa(status)
		}
		why = "health unknown: smartctl could not read the disk: " + why
		// What smart.go sees of it still names the disk (sysfs has no
		// serial for USB disks).
		if r, err := d.readSCSI(); err == nil {
			r.Unknown = why
			return r, nil
		}
		return d.unknown(why), nil
	}
	r, err := ParseSmartctlJSON(out)
	if err != nil {
		return nil, fmt.Errorf("read disk %s: smartctl output: %w", d.path, err)
	}
	r.Time = d.env.now()
	r.Device = d.path
	// The process's exit status when the JSON does not repeat it
	// (smartctl before 7.0).
	r.SmartctlExit = status
	if r.WWN == "" {
		r.WWN = d.id.WWN
	}
	d.remember(r)
	return r, nil
}
