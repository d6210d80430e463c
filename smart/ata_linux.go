package smart

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	smartgo "github.com/anatol/smart.go"
	"golang.org/x/sys/unix"
)

// ATA disks: the power mode, SMART READ DATA and the attributes, through
// SG_IO ATA pass-through (smart.go for the rest).

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
