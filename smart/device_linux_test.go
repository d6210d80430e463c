package smart

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	smartgo "github.com/anatol/smart.go"
	"github.com/google/go-cmp/cmp"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

var devTestTime = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// Recorded /proc/self/status CapEff lines.
const (
	capsRoot      = "000001ffffffffff" // root on the host
	capsDocker    = "00000000a80425fb" // docker's default set: no SYS_ADMIN, no SYS_RAWIO
	capsUser      = "0000000000000000"
	capsAdminOnly = "0000000000200000"
	capsRawIOOnly = "0000000000020000"
	capsBoth      = "0000000000220000"
)

func procStatus(capEff string) []byte {
	return []byte("Name:\tshoebox\nUmask:\t0022\nState:\tR (running)\nUid:\t0\t0\t0\t0\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t" + capEff + "\nCapEff:\t" + capEff +
		"\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n")
}

func TestHasDiskCaps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status []byte
		want   bool
		err    bool
	}{
		{"root", procStatus(capsRoot), true, false},
		{"docker default", procStatus(capsDocker), false, false},
		{"user", procStatus(capsUser), false, false},
		{"CAP_SYS_ADMIN only", procStatus(capsAdminOnly), false, false},
		{"CAP_SYS_RAWIO only", procStatus(capsRawIOOnly), false, false},
		{"both", procStatus(capsBoth), true, false},
		{"no CapEff", []byte("Name:\tx\nCapPrm:\t000001ffffffffff\n"), false, true},
		{"garbage", []byte("CapEff:\tzz\n"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hasDiskCaps(tc.status)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestChooseKind(t *testing.T) {
	openErr := errors.New("inappropriate ioctl for device")
	for _, tc := range []struct {
		name string
		f    probeFacts
		want devKind
		err  bool
	}{
		{"unprivileged", probeFacts{opened: "sata"}, kindNoAccess, false},
		{"unprivileged, with smartctl", probeFacts{opened: "scsi", ataVendor: true, smartctl: true}, kindNoAccess, false},
		{"sata", probeFacts{privileged: true, opened: "sata"}, kindATA, false},
		{"nvme", probeFacts{privileged: true, opened: "nvme"}, kindNVMe, false},
		// The trap: a libata disk that only answered SCSI commands was
		// refused ATA pass-through, whatever CapEff said.
		{"libata disk opened as scsi", probeFacts{privileged: true, opened: "scsi", ataVendor: true}, kindNoAccess, false},
		{"libata disk opened as scsi, smartctl", probeFacts{privileged: true, opened: "scsi", ataVendor: true, smartctl: true}, kindNoAccess, false},
		{"usb bridge without SAT, smartctl", probeFacts{privileged: true, opened: "scsi", usb: true, smartctl: true}, kindSmartctl, false},
		{"usb bridge without SAT reporting ATA, smartctl", probeFacts{privileged: true, opened: "scsi", ataVendor: true, usb: true, smartctl: true}, kindSmartctl, false},
		{"usb bridge without SAT, no smartctl", probeFacts{privileged: true, opened: "scsi", usb: true}, kindSCSI, false},
		{"sas disk, smartctl", probeFacts{privileged: true, opened: "scsi", smartctl: true}, kindSmartctl, false},
		{"sas disk, no smartctl", probeFacts{privileged: true, opened: "scsi"}, kindSCSI, false},
		{"unopenable, smartctl", probeFacts{privileged: true, openErr: openErr, smartctl: true}, kindSmartctl, false},
		{"unopenable, no smartctl", probeFacts{privileged: true, openErr: openErr}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseKind(tc.f)
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, openErr) {
				t.Errorf("error %v does not wrap smart.go's %v", err, openErr)
			}
		})
	}
}

func TestStandbyPowerMode(t *testing.T) {
	for count, want := range map[uint8]bool{
		0x00: true,  // standby
		0x01: true,  // standby_y (EPC)
		0x40: true,  // NV cache power mode, spun down
		0x41: true,  // NV cache power mode, spinning down
		0x80: false, // idle
		0x81: false, // idle_a
		0x82: false, // idle_b: heads unloaded, still spinning
		0x83: false, // idle_c: reduced speed
		0xff: false, // active or idle (and QEMU, always)
	} {
		if got := standbyPowerMode(count); got != want {
			t.Errorf("standbyPowerMode(%#02x) = %v, want %v", count, got, want)
		}
	}
}

func TestATACDB(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  ataCmd
		want [16]byte
	}{
		{"CHECK POWER MODE", ataCmd{command: ataCheckPowerMode},
			[16]byte{0x85, 0x06, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe5, 0}},
		{"SMART RETURN STATUS", ataCmd{feature: ataSMARTStatus, lbaMid: 0x4f, lbaHigh: 0xc2, command: ataSMART},
			[16]byte{0x85, 0x06, 0x20, 0, 0xda, 0, 0, 0, 0, 0, 0x4f, 0, 0xc2, 0, 0xb0, 0}},
	} {
		if got := tc.cmd.cdb(); got != tc.want {
			t.Errorf("%s: cdb % x, want % x", tc.name, got, tc.want)
		}
	}
}

// descSense is descriptor-format sense as libata builds it for ATA
// PASS-THROUGH with CK_COND: RECOVERED ERROR, 00h/1Dh, and the ATA Status
// Return descriptor.
func descSense(r ataRegs) []byte {
	return []byte{0x72, 0x01, 0x00, 0x1d, 0, 0, 0, 14,
		0x09, 0x0c, 0x00, r.err, 0x00, r.count, 0x00, r.lbaLow, 0x00, r.lbaMid, 0x00, r.lbaHigh, r.device, r.status}
}

// fixedSense is the fixed-format equivalent (SAT-3 12.2.2.6), which Linux
// 6.11 and later send when the disk's D_SENSE is 0.
func fixedSense(r ataRegs) []byte {
	return []byte{0xf0, 0, 0x01, r.err, r.status, r.device, r.count, 10,
		0, r.lbaLow, r.lbaMid, r.lbaHigh, 0x00, 0x1d, 0, 0, 0, 0}
}

func TestParseATASense(t *testing.T) {
	passed := ataRegs{lbaMid: 0x4f, lbaHigh: 0xc2, device: 0xa0, status: 0x50}
	failed := ataRegs{lbaMid: 0xf4, lbaHigh: 0x2c, device: 0xa0, status: 0x50}
	standby := ataRegs{count: 0x00, device: 0xa0, status: 0x50}
	active := ataRegs{count: 0xff, device: 0xa0, status: 0x50}
	infoDesc := []byte{0x72, 0x01, 0x00, 0x1d, 0, 0, 0, 12, 0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name   string
		sense  []byte
		want   ataRegs
		ok     bool
		status string
	}{
		{"descriptor passed", descSense(passed), passed, true, "passed"},
		{"descriptor failed", descSense(failed), failed, true, "failed"},
		{"descriptor standby", descSense(standby), standby, true, ""},
		{"descriptor active", descSense(active), active, true, ""},
		{"fixed passed", fixedSense(passed), passed, true, "passed"},
		{"fixed failed", fixedSense(failed), failed, true, "failed"},
		{"fixed standby", fixedSense(standby), standby, true, ""},
		{"descriptor after another descriptor", append(append([]byte{0x72, 0x01, 0x00, 0x1d, 0, 0, 0, 26}, infoDesc[8:]...), descSense(passed)[8:]...), passed, true, "passed"},
		{"only an information descriptor", infoDesc, ataRegs{}, false, ""},
		{"fixed, other ASC (invalid field in CDB)", append(fixedSense(passed)[:12:12], 0x24, 0x00, 0, 0, 0, 0), ataRegs{}, false, ""},
		{"truncated descriptor", descSense(passed)[:15], ataRegs{}, false, ""},
		{"empty", nil, ataRegs{}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseATASense(tc.sense)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
			if ok {
				if s := smartReturnStatus(got); s != tc.status {
					t.Errorf("smartReturnStatus = %q, want %q", s, tc.status)
				}
			}
		})
	}
}

func FuzzParseATASense(f *testing.F) {
	f.Add(descSense(ataRegs{lbaMid: 0x4f, lbaHigh: 0xc2}))
	f.Add(fixedSense(ataRegs{count: 0xff}))
	f.Add([]byte{0x72, 0, 0, 0, 0, 0, 0, 0xff, 0x09, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := parseATASense(b)
		if !ok && r != (ataRegs{}) {
			t.Errorf("registers %+v without ok", r)
		}
		_ = smartReturnStatus(r)
	})
}

// skdumpBlock returns a block of a libatasmart `skdump --save` file: a
// 4-byte tag, a big-endian 32-bit length, the data.
func skdumpBlock(t *testing.T, b []byte, tag string) []byte {
	t.Helper()
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b[4:8]))
		if len(b) < 8+n {
			break
		}
		if string(b[:4]) == tag {
			return b[8 : 8+n]
		}
		b = b[8+n:]
	}
	t.Fatalf("no %s block", tag)
	return nil
}

func readATAPage(t *testing.T, drive, tag string) []byte {
	t.Helper()
	b, err := os.ReadFile(testcorpus.SMART(t, "ata-pages", "blob-examples", drive))
	if err != nil {
		t.Fatal(err)
	}
	return skdumpBlock(t, b, tag)
}

// vpdPage89 wraps IDENTIFY DEVICE data in the ATA Information VPD page,
// as libata answers it and sysfs shows it in device/vpd_pg89.
func vpdPage89(identify []byte) []byte {
	p := make([]byte, 572)
	p[1] = 0x89
	binary.BigEndian.PutUint16(p[2:4], 572-4)
	copy(p[8:], "linux   ")
	copy(p[16:], "libata          ")
	p[56] = 0xec
	copy(p[60:], identify)
	return p
}

// fakeSys is a recorded /sys/block and /proc/self/status.
type fakeSys struct {
	t    *testing.T
	root string
}

func newFakeSys(t *testing.T, capEff string) fakeSys {
	f := fakeSys{t: t, root: t.TempDir()}
	f.write("proc/self/status", procStatus(capEff))
	for _, d := range []string{"sys/block", "dev"} {
		if err := os.MkdirAll(filepath.Join(f.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f fakeSys) write(name string, b []byte) {
	f.t.Helper()
	p := filepath.Join(f.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// disk adds /sys/block/<name> with attributes (path below it → content)
// and a /dev/<name> stand-in.
func (f fakeSys) disk(name string, attrs map[string]string) {
	f.t.Helper()
	for k, v := range attrs {
		f.write(filepath.Join("sys/block", name, k), []byte(v))
	}
	if err := os.MkdirAll(filepath.Join(f.root, "sys/block", name), 0o755); err != nil {
		f.t.Fatal(err)
	}
	f.write(filepath.Join("dev", name), nil)
}

func (f fakeSys) env() devEnv {
	return devEnv{
		procStatus: filepath.Join(f.root, "proc/self/status"),
		sysBlock:   filepath.Join(f.root, "sys/block"),
		dev:        filepath.Join(f.root, "dev"),
		smartctl:   func() string { return "" },
		now:        func() time.Time { return devTestTime },
	}
}

// A SATA disk read without CAP_SYS_ADMIN and CAP_SYS_RAWIO: its Record has
// the identity sysfs gives anyone (here the full IDENTIFY data libata
// keeps in VPD page 89h, recorded from a real Maxtor) and says why there
// is no health; it is never healthy-looking.
func TestOpenWithoutPrivilege(t *testing.T) {
	identify := readATAPage(t, "Maxtor_96147H8--BAC51KJ0", "IDFY")
	for _, caps := range []string{capsUser, capsDocker, capsAdminOnly, capsRawIOOnly} {
		t.Run(caps, func(t *testing.T) {
			f := newFakeSys(t, caps)
			f.disk("sda", map[string]string{
				"size":              "120060864\n",
				"device/vendor":     "ATA     \n",
				"device/model":      "Maxtor 96147H8  \n",
				"device/rev":        "BAC5\n",
				"device/vpd_pg89":   string(vpdPage89(identify)),
				"device/vpd_pg80":   "\x00\x80\x00\x14            N80BR8EC",
				"wwid":              "t10.ATA     Maxtor 96147H8                          N80BR8EC\n",
				"device/scsi_level": "6\n",
			})
			r, err := f.env().open(filepath.Join(f.root, "dev/sda"))
			if err != nil {
				t.Fatal(err)
			}
			if r.kind != kindNoAccess {
				t.Fatalf("kind %q, want %q", r.kind, kindNoAccess)
			}
			rec, err := r.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := &Record{
				Time: devTestTime, Device: filepath.Join(f.root, "dev/sda"), Protocol: ATA,
				Model: "Maxtor 96147H8", Serial: "N80BR8EC", Firmware: "BAC51KJ0",
				Capacity: 120060864 * 512, Unknown: UnknownPrivilege,
			}
			if diff := cmp.Diff(want, rec); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSysIdentity(t *testing.T) {
	f := newFakeSys(t, capsRoot)
	f.disk("nvme0n1", map[string]string{
		"size":                "1953525168\n",
		"device/model":        "Samsung SSD 970 EVO Plus 1TB            \n",
		"device/serial":       "S4EWNX0R123456      \n",
		"device/firmware_rev": "2B2QEXM7\n",
		"wwid":                "eui.0025385b91b12345\n",
	})
	f.disk("sdb", map[string]string{
		"size":              "1172123568\n",
		"device/vendor":     "HITACHI \n",
		"device/scsi_level": "7\n",
		"device/model":      "H109060SESUN600G\n",
		"device/rev":        "A31A\n",
		"device/vpd_pg80":   "\x00\x80\x00\x14001234E5R6TK        ",
		"device/wwid":       "naa.5000CCA01234ABCD\n",
	})
	for _, tc := range []struct {
		name string
		want Record
	}{
		{"nvme0n1", Record{Protocol: NVMe, Model: "Samsung SSD 970 EVO Plus 1TB", Serial: "S4EWNX0R123456",
			Firmware: "2B2QEXM7", WWN: "eui.0025385b91b12345", Capacity: 1953525168 * 512}},
		{"sdb", Record{Protocol: SCSI, Model: "HITACHI H109060SESUN600G", Serial: "001234E5R6TK",
			Firmware: "A31A", WWN: "0x5000cca01234abcd", Capacity: 1172123568 * 512}},
	} {
		if diff := cmp.Diff(tc.want, f.env().sysIdentity(tc.name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestDiskNames(t *testing.T) {
	f := newFakeSys(t, capsRoot)
	for _, n := range []string{"loop0", "ram0", "zram0", "dm-0", "md127", "sr0", "fd0", "nbd0",
		"sda", "sdb", "sdc", "nvme0n1", "nvme0c0n1", "vda", "mmcblk0", "mmcblk0boot0", "mmcblk0boot1"} {
		f.disk(n, map[string]string{"size": "1000\n"})
	}
	f.disk("sdc", map[string]string{"size": "0\n"})         // card reader, no card
	f.disk("nvme0c0n1", map[string]string{"hidden": "1\n"}) // multipath path
	f.disk("sdb", map[string]string{"partition": "1\n"})    // cannot be in /sys/block, but skip it if it is
	got, err := f.env().diskNames()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"mmcblk0", "nvme0n1", "sda", "vda"}, got); diff != "" {
		t.Errorf("disks (-want +got):\n%s", diff)
	}
}

// Discover lists a disk Open refuses with a Reader saying why.
func TestDiscoverKeepsUnopenable(t *testing.T) {
	f := newFakeSys(t, capsRoot)
	f.disk("sda", map[string]string{"size": "1000\n", "device/vendor": "ATA\n", "device/model": "WDC WD40EFRX-68N\n", "device/scsi_level": "6\n"})
	f.disk("vda", map[string]string{"size": "1000\n", "serial": "VIRT01\n"})
	refused := errors.New("no SMART access")
	disks, err := f.env().discover(func(e devEnv, path string) (Reader, error) {
		if strings.HasSuffix(path, "vda") {
			return nil, refused
		}
		return e.open(path)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 2 {
		t.Fatalf("got %d disks, want 2", len(disks))
	}
	r, err := disks[1].Reader.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &Record{Time: devTestTime, Device: filepath.Join(f.root, "dev/vda"), Serial: "VIRT01", Capacity: 512000,
		Unknown: "health unknown: no SMART access"}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("unopenable disk (-want +got):\n%s", diff)
	}
}

// Open on something that is not a whole disk.
func TestOpenNotADisk(t *testing.T) {
	f := newFakeSys(t, capsRoot)
	f.write("dev/sda1", nil)
	if _, err := f.env().open(filepath.Join(f.root, "dev/sda1")); err == nil || !strings.Contains(err.Error(), "not a whole disk") {
		t.Errorf("open partition: %v, want not a whole disk", err)
	}
	if _, err := f.env().open(filepath.Join(f.root, "dev/nosuch")); err == nil {
		t.Error("open missing device: no error")
	}
}

// The standby decision end to end on a Reader: smartctl's answer for a
// disk asleep, and its answer when it could not open the device.
func TestSmartctlStandby(t *testing.T) {
	d := &device{env: newFakeSys(t, capsRoot).env(), path: "/dev/sdx", id: Record{Device: "/dev/sdx", Serial: "WD-1"}}
	standby := []byte(`{"json_format_version":[1,0],"smartctl":{"version":[7,3],"messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}],"exit_status":2},"device":{"name":"/dev/sdx","type":"sat","protocol":"ATA"}}`)
	r, err := d.smartctlRecord(standby, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Standby || r.Unknown != UnknownStandby || r.Serial != "WD-1" || r.ATA != nil {
		t.Errorf("standby: %+v", r)
	}
	noOpen := []byte(`{"smartctl":{"messages":[{"string":"/dev/sdx: Unable to detect device type","severity":"error"}],"exit_status":1}}`)
	r, err = d.smartctlRecord(noOpen, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Standby || !strings.Contains(r.Unknown, "Unable to detect device type") {
		t.Errorf("unopenable: %+v", r)
	}
	if _, err := d.smartctlRecord([]byte("Segmentation fault"), 139); err == nil {
		t.Error("garbage output: no error")
	}
}

// Attributes as smart.go decodes them, with values recorded from real
// drives (smartctl --json of the same drives in the SMART corpus).
func TestATAAttributes(t *testing.T) {
	attr := func(id uint8, name string, typ int, flags uint16, cur, worst uint8, raw uint64) smartgo.AtaSmartAttr {
		a := smartgo.AtaSmartAttr{Id: id, Name: name, Type: typ, Flags: flags, Current: cur, Worst: worst, ValueRaw: raw}
		for i := range a.VendorBytes {
			a.VendorBytes[i] = byte(raw >> (8 * i))
		}
		return a
	}
	// sat-Seagate_Enterprise_Capacity_3.5_HDD-ST2000NM0008-2F3100-sdl.json
	page := &smartgo.AtaSmartPage{Attrs: map[uint8]smartgo.AtaSmartAttr{
		5:   attr(5, "Reallocated_Sector_Ct", smartgo.AtaDeviceAttributeTypeRaw48, 0x33, 100, 100, 0),
		9:   attr(9, "Power_On_Hours", smartgo.AtaDeviceAttributeTypeMsec24Hour32, 0x32, 58, 58, 0x0b_e1_c5_00_00_90_be), // 37054 h
		188: attr(188, "Command_Timeout", smartgo.AtaDeviceAttributeTypeRaw16, 0x32, 100, 97, 8590065666),                // "2 2 2"
		194: attr(194, "Temperature_Celsius", smartgo.AtaDeviceAttributeTypeTempMinMax, 0x22, 34, 48, 0x1300000022),      // 34 (0 19 0 0 0)
		197: attr(197, "Current_Pending_Sector", smartgo.AtaDeviceAttributeTypeRaw48, 0x12, 100, 100, 8),
		12:  attr(12, "Power_Cycle_Count", smartgo.AtaDeviceAttributeTypeRaw48, 0x32, 100, 100, 21),
		10:  attr(10, "Spin_Retry_Count", smartgo.AtaDeviceAttributeTypeRaw48, 0x13, 20, 20, 69), // below threshold
		250: attr(250, "", 0, 0x00, 100, 100, 0x0102030405),
	}}
	thr := &smartgo.AtaSmartThresholdsPage{Thresholds: map[uint8]uint8{5: 10, 9: 0, 10: 97, 188: 0, 194: 0, 197: 0}}
	disk := &Record{Model: "ST2000NM0008-2F3100", Firmware: "SN02", Capacity: 2000398934016}
	got := ataAttributes(disk, page, thr)
	want := []Attribute{
		{ID: 5, Name: "Reallocated_Sector_Ct", Current: 100, Worst: 100, Threshold: 10, Prefailure: true},
		{ID: 9, Name: "Power_On_Hours", Current: 58, Worst: 58, Raw: 0xe1c5000090be}, // a duration, not a count
		{ID: 10, Name: "Spin_Retry_Count", Current: 20, Worst: 20, Threshold: 97, Raw: 69, RawCount: 69, Prefailure: true, Failing: true},
		{ID: 12, Name: "Power_Cycle_Count", Current: 100, Worst: 100, Raw: 21, RawCount: 21},
		{ID: 188, Name: "Command_Timeout", Current: 100, Worst: 97, Raw: 8590065666, RawCount: 2}, // Seagate: 3 × 16 bits
		{ID: 194, Name: "Temperature_Celsius", Current: 34, Worst: 48, Raw: 0x1300000022},
		{ID: 197, Name: "Current_Pending_Sector", Current: 100, Worst: 100, Raw: 8, RawCount: 8},
		{ID: 250, Name: "Read_Error_Retry_Rate", Current: 100, Worst: 100, Raw: 0x0102030405},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	var r Record
	fillATAGeneric(&r, page)
	if r.Temperature != 34 || !r.HasTemperature || r.PowerOnHours != 37054 || r.PowerCycles != 21 {
		t.Errorf("temperature %d (%v), power-on hours %d, cycles %d; want 34, 37054, 21", r.Temperature, r.HasTemperature, r.PowerOnHours, r.PowerCycles)
	}
	// No thresholds page (bad checksum): nothing is failing.
	for _, a := range ataAttributes(disk, page, nil) {
		if a.Failing || a.Threshold != 0 {
			t.Errorf("without thresholds: %+v", a)
		}
	}
}

// A drive reporting 0 °C (no sensor) or junk has no temperature.
func TestATATemperatureImplausible(t *testing.T) {
	for _, raw := range []uint64{0, 0xc8 /* 200 °C */} {
		page := &smartgo.AtaSmartPage{Attrs: map[uint8]smartgo.AtaSmartAttr{
			194: {Id: 194, Name: "Temperature_Celsius", Type: smartgo.AtaDeviceAttributeTypeTempMinMax, ValueRaw: raw},
		}}
		var r Record
		fillATAGeneric(&r, page)
		if r.HasTemperature || r.Temperature != 0 {
			t.Errorf("raw %#x: temperature %d (%v), want none", raw, r.Temperature, r.HasTemperature)
		}
	}
}

// The recorded ATA pages of bad and odd drives, decoded the way
// SataDevice.ReadSMARTData and ReadSMARTThresholds decode them for a drive
// without a database entry, give the same attributes as ParseSkdump: the
// device path and recorded data follow one set of rules. The failing
// Maxtor (second snapshot) has attribute 10 below its threshold.
func TestATAAttributesMatchRecorded(t *testing.T) {
	ataPages := testcorpus.SMART(t, "ata-pages", "blob-examples")
	files, err := filepath.Glob(filepath.Join(ataPages, "*--*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded ATA pages in %s", ataPages)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			blob, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ParseSkdump(blob)
			if err != nil {
				t.Fatal(err)
			}
			var raw smartgo.AtaSmartPageRaw
			if err := binary.Read(bytes.NewReader(skdumpBlock(t, blob, "SMDT")[:362]), binary.LittleEndian, &raw); err != nil {
				t.Fatal(err)
			}
			var thrRaw smartgo.AtaSmartThresholdsPageRaw
			if err := binary.Read(bytes.NewReader(skdumpBlock(t, blob, "SMTH")), binary.LittleEndian, &thrRaw); err != nil {
				t.Fatal(err)
			}
			page := &smartgo.AtaSmartPage{Attrs: map[uint8]smartgo.AtaSmartAttr{}}
			for _, a := range raw.Attrs {
				if a.Id == 0 {
					break // as smart.go does
				}
				page.Attrs[a.Id] = smartgo.AtaSmartAttr{Id: a.Id, Flags: a.Flags, Current: a.Current, Worst: a.Worst,
					VendorBytes: a.VendorBytes, Type: smartgo.AtaDeviceAttributeTypeRaw48, ValueRaw: raw48(a.VendorBytes)}
			}
			addMissingAttributes(page, &raw)
			thr := &smartgo.AtaSmartThresholdsPage{Thresholds: map[uint8]uint8{}}
			for _, e := range thrRaw.ThresholdEntries {
				if e.Id != 0 {
					thr.Thresholds[e.Id] = e.Threshold
				}
			}
			got := ataAttributes(want, page, thr)
			// ParseSkdump keeps the page order of attributes with the
			// same ID; there are none in these files.
			if diff := cmp.Diff(want.ATA.Attributes, got); diff != "" {
				t.Errorf("attributes (-ParseSkdump +device path):\n%s", diff)
			}
			if filepath.Base(f) == "Maxtor_96147H8--BAC51KJ0--2" {
				if a, _ := (&ATAHealth{Attributes: got}).Attribute(AttrSpinRetries); !a.Failing {
					t.Errorf("attribute 10 of the failing Maxtor: %+v, want failing", a)
				}
			}
		})
	}
}

func TestNVMeRecord(t *testing.T) {
	var c smartgo.NvmeIdentController
	copy(c.ModelNumberRaw[:], "QEMU NVMe Ctrl                          ")
	copy(c.SerialNumberRaw[:], "SBNVME01            ")
	copy(c.FirmwareRevRaw[:], "7.2.22  ")
	var ns smartgo.NvmeIdentNamespace
	ns.Nsze = 131072 // 512-byte blocks: LBA format 0, Ds 9
	ns.Lbaf[0].Ds = 9
	for _, tc := range []struct {
		name string
		log  smartgo.NvmeSMARTLog
		want *Record
	}{
		{"QEMU, healthy", smartgo.NvmeSMARTLog{Temperature: 323, PowerOnHours: smartgo.Uint128{Val: [2]uint64{3}}, DataUnitsRead: smartgo.Uint128{Val: [2]uint64{1}}},
			&Record{Protocol: NVMe, Model: "QEMU NVMe Ctrl", Serial: "SBNVME01", Firmware: "7.2.22", Capacity: 64 << 20,
				Temperature: 50, HasTemperature: true, PowerOnHours: 3, SMARTStatus: "passed",
				NVMe: &NVMeHealth{DataUnitsRead: 1}}},
		{"critical warning, no sensor", smartgo.NvmeSMARTLog{CritWarning: NVMeWarnReliability | NVMeWarnReadOnly, AvailSpare: 3, SpareThresh: 10,
			PercentUsed: 120, MediaErrors: smartgo.Uint128{Val: [2]uint64{7}}, NumErrLogEntries: smartgo.Uint128{Val: [2]uint64{9}},
			UnsafeShutdowns: smartgo.Uint128{Val: [2]uint64{2}}},
			&Record{Protocol: NVMe, Model: "QEMU NVMe Ctrl", Serial: "SBNVME01", Firmware: "7.2.22", Capacity: 64 << 20,
				SMARTStatus: "failed",
				NVMe: &NVMeHealth{CriticalWarning: 0x0c, AvailableSpare: 3, SpareThreshold: 10, PercentageUsed: 120,
					MediaErrors: 7, IntegrityErrors: 9, UnsafeShutdowns: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nvmeRecord(&c, []smartgo.NvmeIdentNamespace{ns}, &tc.log)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

// Real devices: only where the machine has a disk and the privilege.
func TestDiscoverReal(t *testing.T) {
	disks, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, d := range disks {
		r, err := d.Reader.Read(context.Background())
		if err != nil {
			t.Logf("%s: %v", d.Path, err)
			continue
		}
		t.Logf("%s: %s %s %s unknown=%q standby=%v", d.Path, r.Protocol, r.Model, r.Serial, r.Unknown, r.Standby)
		if r.Unknown == "" && r.ATA == nil && r.NVMe == nil && r.SCSI == nil {
			t.Errorf("%s: a Record with neither health nor a reason: %+v", d.Path, r)
		}
		n++
	}
	if n == 0 {
		t.Skip("no disk with SMART here")
	}
}

// fakeSmartctl writes a stand-in for smartctl that records its arguments
// and prints a recorded `smartctl --json` output with its exit status: the
// real smartctl needs a real disk.
func fakeSmartctl(t *testing.T, output string, status int) (bin, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	bin = filepath.Join(dir, "smartctl")
	script := "#!/bin/sh\necho \"$@\" >" + argsFile + "\ncat " + output + "\nexit " + strconv.Itoa(status) + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

// The smartctl fallback end to end: the command line (never waking a
// disk), a failing NVMe's recorded output with exit status 8 (bit 3: the
// disk is failing, a reading all the same) parsed into a Record, and a
// disk asleep.
func TestSmartctlFallback(t *testing.T) {
	failing := testcorpus.SMART(t, "smartctl-json", "testdata", "nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json")
	standby := filepath.Join(t.TempDir(), "standby.json")
	if err := os.WriteFile(standby, []byte(`{"json_format_version":[1,0],"smartctl":{"version":[7,3],"messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}],"exit_status":2},"device":{"name":"/dev/sdx","type":"sat","protocol":"ATA"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		output  string
		status  int
		check   func(*Record) string
		standby bool
	}{
		{"failing nvme", failing, 8, func(r *Record) string {
			if r.NVMe == nil || r.NVMe.CriticalWarning != 16 || r.SMARTStatus != "failed" || r.Model != "SAMSUNG MZWLL3T2HAJQ-00005" {
				return "want the recorded NVMe health, critical warning 16, failed"
			}
			return ""
		}, false},
		{"asleep", standby, 2, func(r *Record) string {
			if !r.Standby || r.Unknown != UnknownStandby || r.NVMe != nil || r.ATA != nil {
				return "want Standby and no health"
			}
			return ""
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, argsFile := fakeSmartctl(t, tc.output, tc.status)
			env := newFakeSys(t, capsRoot).env()
			env.smartctl = func() string { return bin }
			d := &device{env: env, path: "/dev/disk/by-id/usb-X", dev: "/dev/sdx", name: "sdx", privileged: true, kind: kindSmartctl}
			r, err := d.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(r); msg != "" {
				t.Errorf("%s; got %+v", msg, r)
			}
			if r.Device != d.path || !r.Time.Equal(devTestTime) {
				t.Errorf("device %q time %v, want %q %v", r.Device, r.Time, d.path, devTestTime)
			}
			args, _ := os.ReadFile(argsFile)
			if got, want := strings.TrimSpace(string(args)), "--json -a -n standby /dev/sdx"; got != want {
				t.Errorf("smartctl %s, want %s", got, want)
			}
		})
	}
}
