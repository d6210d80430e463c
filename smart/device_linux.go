package smart

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	smartgo "github.com/anatol/smart.go"
	"github.com/shoebox/shoebox/raid"
	"golang.org/x/sys/unix"
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

// asleep reports whether an ATA disk is in standby. Any failure (not an
// ATA disk, a bridge that does not return the registers) counts as
// awake, as with smartctl -n.
func (d *device) asleep() bool {
	fd, err := unix.Open(d.dev, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	regs, err := ataNonData(fd, ataCmd{command: ataCheckPowerMode})
	if err != nil {
		return false
	}
	return standbyPowerMode(regs.count)
}

// ATA commands we send ourselves.
const (
	ataCheckPowerMode  = 0xe5
	ataSMART           = 0xb0
	ataSMARTStatus     = 0xda // feature of ataSMART: SMART RETURN STATUS
	ataSMARTReadData   = 0xd0 // feature of ataSMART: SMART READ DATA
	ataStatusErr       = 0x01
	ataStatusDF        = 0x20
	sgIO               = 0x2285
	sgDxferNone        = -1
	sgDxferFromDev     = -3
	scsiCheckCondition = 0x02
)

// standbyPowerMode reports whether CHECK POWER MODE's count register means
// the disk is spun down: 00h standby (01h standby_y with EPC), 40h/41h
// NV-cache power mode with the spindle down. 80h–83h are idle states and
// FFh active or idle: reading those does not spin anything up.
func standbyPowerMode(count uint8) bool {
	switch count {
	case 0x00, 0x01, 0x40, 0x41:
		return true
	}
	return false
}

// ataCmd is a non-data ATA command sent through SCSI ATA PASS-THROUGH (16).
type ataCmd struct {
	feature, count, lbaLow, lbaMid, lbaHigh, command uint8
}

// ataRegs are the ATA registers a command left behind.
type ataRegs struct {
	err, count, lbaLow, lbaMid, lbaHigh, device, status uint8
}

// cdb returns the ATA PASS-THROUGH (16) CDB: protocol 3 (non-data),
// CK_COND set so that the registers come back in the sense data.
func (c ataCmd) cdb() [16]byte {
	var b [16]byte
	b[0] = 0x85
	b[1] = 3 << 1
	b[2] = 0x20 // CK_COND; no data: T_DIR, BYT_BLOK, T_LENGTH zero
	b[4] = c.feature
	b[6] = c.count
	b[8] = c.lbaLow
	b[10] = c.lbaMid
	b[12] = c.lbaHigh
	b[14] = c.command
	return b
}

// sgIoHdr is struct sg_io_hdr of <scsi/sg.h>.
type sgIoHdr struct {
	interfaceID    int32
	dxferDirection int32
	cmdLen         uint8
	mxSbLen        uint8
	iovecCount     uint16
	dxferLen       uint32
	dxferp         uintptr
	cmdp           uintptr
	sbp            uintptr
	timeout        uint32
	flags          uint32
	packID         int32
	usrPtr         uintptr
	status         uint8
	maskedStatus   uint8
	msgStatus      uint8
	sbLenWr        uint8
	hostStatus     uint16
	driverStatus   uint16
	resid          int32
	duration       uint32
	info           uint32
}

// sgCall holds everything one SG_IO call points at, in one heap object.
type sgCall struct {
	hdr   sgIoHdr
	cdb   [16]byte
	sense [64]byte
	data  [512]byte
}

// sgATA sends an ATA PASS-THROUGH (16) CDB, reading one 512-byte sector
// into call.data when dataIn is set.
func sgATA(fd int, cdb [16]byte, dataIn bool) (*sgCall, error) {
	call := new(sgCall)
	call.cdb = cdb
	call.hdr = sgIoHdr{
		interfaceID:    'S',
		dxferDirection: sgDxferNone,
		cmdLen:         uint8(len(call.cdb)),
		mxSbLen:        uint8(len(call.sense)),
		cmdp:           uintptr(unsafe.Pointer(&call.cdb[0])),
		sbp:            uintptr(unsafe.Pointer(&call.sense[0])),
		timeout:        20000,
	}
	if dataIn {
		call.hdr.dxferDirection = sgDxferFromDev
		call.hdr.dxferLen = uint32(len(call.data))
		call.hdr.dxferp = uintptr(unsafe.Pointer(&call.data[0]))
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), sgIO, uintptr(unsafe.Pointer(&call.hdr)))
	runtime.KeepAlive(call)
	if errno != 0 {
		return nil, fmt.Errorf("SG_IO ATA command %#02x: %w", cdb[14], errno)
	}
	if call.hdr.hostStatus != 0 {
		return nil, fmt.Errorf("SG_IO ATA command %#02x: transport status %#x", cdb[14], call.hdr.hostStatus)
	}
	return call, nil
}

func (c *sgCall) senseData() []byte {
	return c.sense[:min(int(c.hdr.sbLenWr), len(c.sense))]
}

// ataNonData sends a non-data ATA command and returns the registers.
func ataNonData(fd int, c ataCmd) (ataRegs, error) {
	call, err := sgATA(fd, c.cdb(), false)
	if err != nil {
		return ataRegs{}, err
	}
	sense := call.senseData()
	regs, ok := parseATASense(sense)
	if !ok {
		if call.hdr.status == scsiCheckCondition && len(sense) >= 3 {
			return ataRegs{}, fmt.Errorf("ATA command %#02x rejected: sense key %#x", c.command, senseKey(sense))
		}
		return ataRegs{}, errNoRegisters
	}
	if regs.status&(ataStatusErr|ataStatusDF) != 0 {
		return regs, fmt.Errorf("ATA command %#02x aborted: status %#02x, error %#02x", c.command, regs.status, regs.err)
	}
	return regs, nil
}

// ataSMARTReadDataRaw reads the SMART READ DATA page itself, to see the
// attributes smart.go's ReadSMARTData drops: it stops at the first empty
// slot of the table, and some drives (Fujitsu MHY2/MHZ2) leave one before
// their last attributes.
func ataSMARTReadDataRaw(fd int) (*smartgo.AtaSmartPageRaw, error) {
	cdb := [16]byte{0x85, 4 << 1, 0x0e, 0, ataSMARTReadData, 0, 1, 0, 0, 0, 0x4f, 0, 0xc2, 0, ataSMART, 0} // PIO data-in, 1 sector
	call, err := sgATA(fd, cdb, true)
	if err != nil {
		return nil, err
	}
	if call.hdr.status != 0 || call.hdr.driverStatus != 0 {
		return nil, fmt.Errorf("SMART READ DATA: SCSI status %#x, sense key %#x", call.hdr.status, senseKey(call.senseData()))
	}
	if !ataChecksumOK(call.data[:]) {
		return nil, fmt.Errorf("SMART READ DATA checksum mismatch: %w", ErrCorrupt)
	}
	var page smartgo.AtaSmartPageRaw
	if err := binary.Read(bytes.NewReader(call.data[:smartDataAttrBytes]), binary.LittleEndian, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// addMissingAttributes adds to page the attributes of the raw page it
// lacks (those after an empty slot), as raw 48-bit values.
func addMissingAttributes(page *smartgo.AtaSmartPage, raw *smartgo.AtaSmartPageRaw) {
	for _, a := range raw.Attrs {
		if a.Id == 0 || a.Id == 0xff {
			continue
		}
		if _, ok := page.Attrs[a.Id]; ok {
			continue
		}
		page.Attrs[a.Id] = smartgo.AtaSmartAttr{Id: a.Id, Flags: a.Flags, Current: a.Current, Worst: a.Worst,
			VendorBytes: a.VendorBytes, Type: smartgo.AtaDeviceAttributeTypeRaw48, ValueRaw: raw48(a.VendorBytes)}
	}
}

func senseKey(sb []byte) uint8 {
	switch {
	case len(sb) > 1 && sb[0]&0x7f >= 0x72:
		return sb[1] & 0x0f
	case len(sb) > 2:
		return sb[2] & 0x0f
	}
	return 0
}

// parseATASense reads the ATA registers out of the sense data of an ATA
// PASS-THROUGH command with CK_COND: the ATA Status Return descriptor
// (09h) of descriptor-format sense, or the fixed-format layout SAT-3
// defines for ASC/ASCQ 00h/1Dh "ATA pass-through information available"
// (newer Linux kernels honour D_SENSE=0 and answer in fixed format).
func parseATASense(sb []byte) (ataRegs, bool) {
	if len(sb) < 8 {
		return ataRegs{}, false
	}
	switch sb[0] & 0x7f {
	case 0x72, 0x73:
		end := min(8+int(sb[7]), len(sb))
		for i := 8; i+1 < end; i += 2 + int(sb[i+1]) {
			d := sb[i:]
			if d[0] != 0x09 || int(d[1]) < 0x0c || len(d) < 14 {
				continue
			}
			return ataRegs{err: d[3], count: d[5], lbaLow: d[7], lbaMid: d[9], lbaHigh: d[11], device: d[12], status: d[13]}, true
		}
	case 0x70, 0x71:
		if len(sb) < 14 || sb[12] != 0x00 || sb[13] != 0x1d {
			return ataRegs{}, false
		}
		return ataRegs{err: sb[3], status: sb[4], device: sb[5], count: sb[6], lbaLow: sb[9], lbaMid: sb[10], lbaHigh: sb[11]}, true
	}
	return ataRegs{}, false
}

// smartReturnStatus is the drive's own verdict from SMART RETURN STATUS:
// LBA mid/high 4Fh/C2h is "passed", F4h/2Ch "threshold exceeded", anything
// else (a bridge that loses the registers) unknown.
func smartReturnStatus(r ataRegs) string {
	switch {
	case r.lbaMid == 0x4f && r.lbaHigh == 0xc2:
		return "passed"
	case r.lbaMid == 0xf4 && r.lbaHigh == 0x2c:
		return "failed"
	}
	return ""
}

func (d *device) readATA(ctx context.Context) (*Record, error) {
	dev, err := smartgo.OpenSata(d.dev)
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	defer dev.Close()
	id, err := dev.Identify()
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	r := &Record{Time: d.env.now(), Device: d.path, Protocol: ATA}
	fillATAIdentity(r, id)
	if r.Capacity == 0 {
		r.Capacity = d.id.Capacity
	}
	if r.WWN == "" {
		r.WWN = d.id.WWN
	}
	d.remember(r)
	switch {
	case id.CommandsSupported1&1 == 0:
		r.Unknown = UnknownNoSMART
		return r, nil
	case id.CommandsEnabled1&1 == 0:
		r.Unknown = UnknownDisabled
		return r, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	page, err := dev.ReadSMARTData()
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	fd, err := unix.Open(d.dev, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	defer unix.Close(fd)
	if raw, err := ataSMARTReadDataRaw(fd); err == nil {
		addMissingAttributes(page, raw)
	}
	// A thresholds page with a bad checksum is no reason to drop the
	// attributes: they are kept with threshold 0 (never "failing now").
	thr, _ := dev.ReadSMARTThresholds()
	r.ATA = &ATAHealth{Attributes: ataAttributes(r, page, thr)}
	fillATAGeneric(r, page)
	// Asked whether or not IDENTIFY claims error logging (QEMU does not,
	// but keeps the log): a drive without it aborts the command.
	if s, err := dev.ReadSMARTErrorLogSummary(); err == nil && errorLogValid(s) {
		r.ATA.ErrorLogCount = uint64(s.ErrorCount)
	}
	if regs, err := ataNonData(fd, ataCmd{feature: ataSMARTStatus, lbaMid: 0x4f, lbaHigh: 0xc2, command: ataSMART}); err == nil {
		r.SMARTStatus = smartReturnStatus(regs)
	}
	return r, nil
}

// errorLogValid checks the error log's revision and checksum.
func errorLogValid(s *smartgo.AtaSmartErrorLogSummary) bool {
	var b bytes.Buffer
	if binary.Write(&b, binary.LittleEndian, s) != nil || b.Len() != 512 || s.Version == 0 {
		return false
	}
	var sum byte
	for _, c := range b.Bytes() {
		sum += c
	}
	return sum == 0
}

// fillATAIdentity copies IDENTIFY DEVICE data into r.
func fillATAIdentity(r *Record, id *smartgo.AtaIdentifyDevice) {
	r.Model = cleanATAString(id.ModelNumber())
	r.Serial = cleanATAString(id.SerialNumber())
	r.Firmware = cleanATAString(id.FirmwareRevision())
	// Word 84/87 bit 8: the WWN in words 108..111 is valid.
	if w := id.WWN(); w != 0 && (id.CommandsSupported3&(1<<8) != 0 || id.CommandsEnabled3&(1<<8) != 0) {
		r.WWN = fmt.Sprintf("0x%016x", w)
	}
	_, r.Capacity, _, _, _ = id.Capacity()
}

// ataAttributes converts smart.go's decoded attributes of the disk r
// names (model, firmware, capacity), sorted by ID. Names come from
// smart.go's drive database; the counts from the raw values follow the
// same rules as for smartctl output and recorded pages (attrRawCount).
func ataAttributes(r *Record, page *smartgo.AtaSmartPage, thr *smartgo.AtaSmartThresholdsPage) []Attribute {
	q := quirksFor(r.Model, r.Firmware)
	out := make([]Attribute, 0, len(page.Attrs))
	for _, a := range page.Attrs {
		if a.Id == 0 || a.Id == 0xff {
			continue
		}
		at := Attribute{
			ID:         int(a.Id),
			Name:       a.Name,
			Current:    int(a.Current),
			Worst:      int(a.Worst),
			Raw:        raw48(a.VendorBytes),
			Prefailure: a.Flags&smartgo.AtaAttributeFlagPrefailure != 0,
		}
		if at.Name == "" {
			at.Name = q.name(at.ID)
		}
		at.RawCount = attrRawCount(at.ID, at.Name, r.Model, r.Firmware, at.Raw, r.Capacity)
		if thr != nil {
			at.Threshold = int(thr.Thresholds[a.Id])
		}
		at.Failing = failingNow(at.Current, at.Threshold)
		out = append(out, at)
	}
	slices.SortFunc(out, func(a, b Attribute) int { return a.ID - b.ID })
	return out
}

// ataPrimary is the number smartctl prints first for an attribute of
// smart.go's type: hours for durations, the low word or bytes where
// vendors pack more (raw16, raw24 with raw8 extras), the raw value
// otherwise.
func ataPrimary(a smartgo.AtaSmartAttr) uint64 {
	switch a.Type {
	case smartgo.AtaDeviceAttributeTypeSec2Hour, smartgo.AtaDeviceAttributeTypeMin2Hour,
		smartgo.AtaDeviceAttributeTypeHalfMin2Hour, smartgo.AtaDeviceAttributeTypeMsec24Hour32:
		if dur, err := a.ParseAsDuration(); err == nil {
			return uint64(dur.Hours())
		}
	case smartgo.AtaDeviceAttributeTypeRaw16, smartgo.AtaDeviceAttributeTypeRaw16OptRaw16,
		smartgo.AtaDeviceAttributeTypeRaw16OptAvg16:
		return a.ValueRaw & 0xffff
	case smartgo.AtaDeviceAttributeTypeRaw24OptRaw8:
		return a.ValueRaw & 0xffffff
	case smartgo.AtaDeviceAttributeTypeRaw8:
		return a.ValueRaw & 0xff
	}
	return a.ValueRaw
}

// fillATAGeneric sets temperature, power-on hours and power cycles from
// the decoded attributes.
func fillATAGeneric(r *Record, page *smartgo.AtaSmartPage) {
	// 194 is the drive temperature; 190 (airflow) only when 194 is absent.
	for _, id := range []uint8{194, 190, 231} {
		a, ok := page.Attrs[id]
		if !ok || (a.Type != smartgo.AtaDeviceAttributeTypeTempMinMax && a.Type != smartgo.AtaDeviceAttributeTypeTemp10X) {
			continue
		}
		if t, _, _, _, err := a.ParseAsTemperature(); err == nil && plausibleTemperature(t) {
			r.Temperature, r.HasTemperature = t, true
			break
		}
	}
	if a, ok := page.Attrs[9]; ok {
		r.PowerOnHours = ataPrimary(a)
	}
	if a, ok := page.Attrs[12]; ok {
		r.PowerCycles = ataPrimary(a) & 0xffffffff
	}
}

// nvmeCelsius converts the composite temperature (kelvin); 0 K means no
// sensor.
func nvmeCelsius(k uint16) (int, bool) {
	if k == 0 {
		return 0, false
	}
	c := int(k) - 273
	return c, plausibleTemperature(c)
}

func (d *device) readNVMe(ctx context.Context) (*Record, error) {
	n, err := smartgo.OpenNVMe(d.dev)
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	defer n.Close()
	c, nss, err := n.Identify()
	if err != nil {
		return nil, fmt.Errorf("read disk %s: nvme identify: %w", d.path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log, err := n.ReadSMART()
	if err != nil {
		return nil, fmt.Errorf("read disk %s: nvme smart log: %w", d.path, err)
	}
	r := nvmeRecord(c, nss, log)
	r.Time = d.env.now()
	r.Device = d.path
	r.WWN = d.id.WWN
	if r.Capacity == 0 {
		r.Capacity = d.id.Capacity
	}
	d.remember(r)
	return r, nil
}

// nvmeRecord builds a Record from the controller identify data and the
// SMART / health log.
func nvmeRecord(c *smartgo.NvmeIdentController, nss []smartgo.NvmeIdentNamespace, log *smartgo.NvmeSMARTLog) *Record {
	r := &Record{Protocol: NVMe, Model: c.ModelNumber(), Serial: c.SerialNumber(), Firmware: c.FirmwareRev()}
	r.Capacity = c.Tnvmcap.Val[0]
	if r.Capacity == 0 {
		for _, ns := range nss {
			r.Capacity += ns.Nsze * ns.LbaSize()
		}
	}
	r.Temperature, r.HasTemperature = nvmeCelsius(log.Temperature)
	if !r.HasTemperature {
		r.Temperature = 0
	}
	r.PowerOnHours = log.PowerOnHours.Val[0]
	r.PowerCycles = log.PowerCycles.Val[0]
	r.SMARTStatus = "passed"
	if log.CritWarning != 0 {
		r.SMARTStatus = "failed"
	}
	r.NVMe = &NVMeHealth{
		CriticalWarning:    log.CritWarning,
		AvailableSpare:     int(log.AvailSpare),
		SpareThreshold:     int(log.SpareThresh),
		PercentageUsed:     int(log.PercentUsed),
		MediaErrors:        log.MediaErrors.Val[0],
		IntegrityErrors:    log.NumErrLogEntries.Val[0],
		UnsafeShutdowns:    log.UnsafeShutdowns.Val[0],
		DataUnitsRead:      log.DataUnitsRead.Val[0],
		DataUnitsWritten:   log.DataUnitsWritten.Val[0],
		ControllerBusyMins: log.CtrlBusyTime.Val[0],
	}
	return r
}

// readSCSI reads a SCSI disk with smart.go, which knows its identity but
// no health: the Record says so.
func (d *device) readSCSI() (*Record, error) {
	s, err := smartgo.OpenScsi(d.dev)
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	defer s.Close()
	r := d.unknown(UnknownSCSI)
	r.Protocol = SCSI
	if inq, err := s.Inquiry(); err == nil {
		r.Model = strings.TrimSpace(strings.TrimSpace(string(inq.VendorIdent[:])) + " " + strings.TrimSpace(string(inq.ProductIdent[:])))
		r.Firmware = strings.TrimSpace(string(inq.ProductRev[:]))
	}
	if sn, err := s.SerialNumber(); err == nil && strings.TrimSpace(sn) != "" {
		r.Serial = strings.TrimSpace(sn)
	}
	if c, err := s.Capacity(); err == nil && c > 0 {
		r.Capacity = c
	}
	d.remember(r)
	return r, nil
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
	f.ataVendor = readSysAttr(filepath.Join(dir, "device", "vendor")) == "ATA"
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		f.usb = strings.Contains(real, "/usb")
	}
	return f
}

// sysIdentity is a disk's identity as sysfs gives it to anyone, without a
// command sent to the disk: model, serial, firmware, WWN, capacity. For
// libata disks the IDENTIFY data cached in the ATA information VPD page
// (89h) gives the full model name (the SCSI one is cut at 16 bytes).
func (e devEnv) sysIdentity(name string) Record {
	dir := filepath.Join(e.sysBlock, name)
	r := Record{}
	if strings.HasPrefix(name, "nvme") {
		r.Protocol = NVMe
	}
	r.Model = readSysAttr(filepath.Join(dir, "device", "model"))
	r.Serial = readSysAttr(filepath.Join(dir, "device", "serial"))
	if r.Serial == "" {
		r.Serial = readSysAttr(filepath.Join(dir, "serial"))
	}
	if r.Serial == "" {
		r.Serial = vpdPage80Serial(filepath.Join(dir, "device", "vpd_pg80"))
	}
	r.Firmware = readSysAttr(filepath.Join(dir, "device", "firmware_rev"))
	if r.Firmware == "" {
		r.Firmware = readSysAttr(filepath.Join(dir, "device", "rev"))
	}
	r.WWN = raid.NormalizeWWN(readSysAttr(filepath.Join(dir, "wwid")))
	if r.WWN == "" {
		r.WWN = raid.NormalizeWWN(readSysAttr(filepath.Join(dir, "device", "wwid")))
	}
	if s, err := strconv.ParseUint(readSysAttr(filepath.Join(dir, "size")), 10, 64); err == nil {
		r.Capacity = s * 512 // always in 512-byte units
	}
	_, err := os.Stat(filepath.Join(dir, "device", "scsi_level"))
	isSCSI := err == nil // sd: not virtio (whose vendor is a PCI ID), not NVMe
	switch vendor := readSysAttr(filepath.Join(dir, "device", "vendor")); {
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

func readSysAttr(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
}

// vpdPage80Serial is the unit serial number in a raw VPD page 80h.
func vpdPage80Serial(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	b = b[4:]
	if n < len(b) {
		b = b[:n]
	}
	return strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
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
		if readSysAttr(filepath.Join(dir, "hidden")) == "1" {
			continue
		}
		if s := readSysAttr(filepath.Join(dir, "size")); s == "0" {
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
