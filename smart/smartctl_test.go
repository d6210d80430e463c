package smart

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// realFiles lists the real data files under sub of the SMART corpus
// (testcorpus.SMART: smartctl --json outputs under smartctl-json/testdata,
// libatasmart skdump blobs under ata-pages/blob-examples; see its README.md).
func realFiles(t testing.TB, sub, pattern string) []string {
	t.Helper()
	dir := testcorpus.SMART(t, sub)
	fs, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		if b := filepath.Base(f); b != "README" && b != "README.md" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no real SMART data in %s", dir)
	}
	return out
}

func smartctlFiles(t testing.TB) []string {
	return realFiles(t, filepath.Join("smartctl-json", "testdata"), "*.json")
}

func readSmartctl(t testing.TB, name string) *Record {
	t.Helper()
	return parseSmartctlFile(t, testcorpus.SMART(t, "smartctl-json", "testdata", name))
}

// parseSmartctlFile reads and parses one smartctl --json file.
func parseSmartctlFile(t testing.TB, p string) *Record {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseSmartctlJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(p), err)
	}
	return r
}

// TestParseSmartctlAll parses every real file and checks what every
// reading must have.
func TestParseSmartctlAll(t *testing.T) {
	files := smartctlFiles(t)
	if len(files) != 168 {
		t.Errorf("got %d smartctl files, want 168", len(files))
	}
	count := map[Protocol]int{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := readSmartctl(t, filepath.Base(f))
			count[r.Protocol]++
			if r.Model == "" || r.Serial == "" || r.Unknown != "" {
				t.Errorf("model %q, serial %q, unknown %q", r.Model, r.Serial, r.Unknown)
			}
			if r.SMARTStatus != "passed" && r.SMARTStatus != "failed" {
				t.Errorf("SMART status %q", r.SMARTStatus)
			}
			if r.HasTemperature != (r.Temperature != 0) {
				t.Errorf("temperature %d, has %v", r.Temperature, r.HasTemperature)
			}
			switch r.Protocol {
			case ATA:
				if r.ATA == nil || len(r.ATA.Attributes) == 0 || r.NVMe != nil || r.SCSI != nil {
					t.Errorf("ATA record with ATA %v, NVMe %v, SCSI %v", r.ATA, r.NVMe, r.SCSI)
				}
				for _, a := range r.ATA.Attributes {
					if a.Raw >= 1<<48 || a.RawCount > a.Raw {
						t.Errorf("attribute %d: raw %#x, count %d", a.ID, a.Raw, a.RawCount)
					}
				}
			case NVMe:
				if r.NVMe == nil || r.ATA != nil {
					t.Errorf("NVMe record with NVMe %v, ATA %v", r.NVMe, r.ATA)
				}
			case SCSI:
				if r.SCSI == nil || r.SCSI.HealthOK == nil {
					t.Errorf("SCSI record with SCSI %+v", r.SCSI)
				}
			default:
				t.Errorf("protocol %q", r.Protocol)
			}
		})
	}
	if want := (map[Protocol]int{ATA: 108, NVMe: 55, SCSI: 5}); !t.Failed() && !cmp.Equal(count, want) {
		t.Errorf("protocols: got %v, want %v", count, want)
	}
}

// trimAttrs keeps the attributes with the given IDs, to compare a few.
func trimAttrs(r *Record, ids ...int) *Record {
	if r.ATA == nil {
		return r
	}
	c := *r
	h := *r.ATA
	h.Attributes = nil
	for _, id := range ids {
		if a, ok := r.ATA.Attribute(id); ok {
			h.Attributes = append(h.Attributes, a)
		}
	}
	c.ATA = &h
	return &c
}

// TestParseSmartctlFields compares a few files field by field with
// values read from them by hand.
func TestParseSmartctlFields(t *testing.T) {
	smartctlTime := time.Unix(1234567890, 0).UTC()
	yes := true
	tests := []struct {
		file string
		ids  []int
		want *Record
	}{{
		// Seagate: attribute 188 packs three 16-bit counters
		// (0x000400040004 = 17180131332); 194 packs min/max.
		file: "sat-Seagate_Constellation_ES.3-ST3000NM0033-9ZM178-sdc.json",
		ids:  []int{5, 9, 188, 194, 197, 199},
		want: &Record{
			Time: smartctlTime, Device: "/dev/sdc", Protocol: ATA,
			Model: "ST3000NM0033-9ZM178", Serial: "REDACTED", WWN: "0x5000c500499602d2", Firmware: "REDACTED",
			Capacity: 3000592982016, Temperature: 22, HasTemperature: true, PowerOnHours: 57744, PowerCycles: 140,
			SMARTStatus: "passed",
			ATA: &ATAHealth{Attributes: []Attribute{
				{ID: 5, Name: "Reallocated_Sector_Ct", Current: 100, Worst: 100, Threshold: 10, Raw: 1, RawCount: 1, Prefailure: true},
				{ID: 9, Name: "Power_On_Hours", Current: 35, Worst: 35, Raw: 57744},
				{ID: 188, Name: "Command_Timeout", Current: 100, Worst: 99, Raw: 17180131332, RawCount: 4},
				{ID: 194, Name: "Temperature_Celsius", Current: 22, Worst: 44, Raw: 77309411350},
				{ID: 197, Name: "Current_Pending_Sector", Current: 100, Worst: 100},
				{ID: 199, Name: "UDMA_CRC_Error_Count", Current: 200, Worst: 200},
			}},
		},
	}, {
		// HGST with 12 interface CRC errors and 12 in the error log.
		file: "HGST_HUS724020ALE640_28.json",
		ids:  []int{5, 199},
		want: &Record{
			Time: smartctlTime, Device: "/dev/sdb", Protocol: ATA,
			Model: "HGST HUS724020ALE640", Serial: "REDACTED", WWN: "0x5000cca0499602d2", Firmware: "REDACTED",
			Capacity: 2000398934016, Temperature: 26, HasTemperature: true, PowerOnHours: 83425, PowerCycles: 81,
			SMARTStatus: "passed", SmartctlExit: ExitErrorLog,
			ATA: &ATAHealth{ErrorLogCount: 12, Attributes: []Attribute{
				{ID: 5, Name: "Reallocated_Sector_Ct", Current: 100, Worst: 100, Threshold: 5, Prefailure: true},
				{ID: 199, Name: "UDMA_CRC_Error_Count", Current: 200, Worst: 200, Raw: 12, RawCount: 12},
			}},
		},
	}, {
		// NVMe with critical warning 16 (volatile memory backup failed).
		file: "nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json",
		want: &Record{
			Time: smartctlTime, Device: "/dev/nvme0", Protocol: NVMe,
			Model: "SAMSUNG MZWLL3T2HAJQ-00005", Serial: "REDACTED", Firmware: "REDACTED",
			Capacity: 3200631791616, Temperature: 40, HasTemperature: true, PowerOnHours: 18376, PowerCycles: 6,
			SMARTStatus: "failed", SmartctlExit: ExitDiskFailing,
			NVMe: &NVMeHealth{CriticalWarning: 16, AvailableSpare: 100, SpareThreshold: 10, UnsafeShutdowns: 4,
				DataUnitsRead: 146935678, DataUnitsWritten: 147556750, ControllerBusyMins: 93891},
		},
	}, {
		// NVMe namespace EUI-64 as the kernel's wwid.
		file: "nvme-null-Samsung_SSD_970_EVO_Plus_250GB-nvme0.json",
		want: &Record{
			Time: smartctlTime, Device: "/dev/nvme0", Protocol: NVMe,
			Model: "Samsung SSD 970 EVO Plus 250GB", Serial: "REDACTED", WWN: "eui.0025385a11b3699d", Firmware: "REDACTED",
			Capacity: 250059350016, Temperature: 35, HasTemperature: true, PowerOnHours: 3149, PowerCycles: 16,
			SMARTStatus: "passed",
			NVMe: &NVMeHealth{AvailableSpare: 100, SpareThreshold: 10, IntegrityErrors: 22, UnsafeShutdowns: 12,
				DataUnitsRead: 2025034, DataUnitsWritten: 1969459, ControllerBusyMins: 892},
		},
	}, {
		// SCSI with a grown defect list and uncorrected errors.
		file: "SEAGATE_ST373453LC_26.json",
		want: &Record{
			Time: smartctlTime, Device: "/dev/sdb", Protocol: SCSI,
			Model: "SEAGATE ST373453LC", Serial: "REDACTED", Firmware: "DX10",
			Capacity: 73407820800, Temperature: 33, HasTemperature: true, PowerOnHours: 102880,
			SMARTStatus: "passed",
			SCSI:        &SCSIHealth{GrownDefects: 260, UncorrectedReadErrors: 1, UncorrectedWriteErrs: 535, HealthOK: &yes},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := trimAttrs(readSmartctl(t, tt.file), tt.ids...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSmartctlOdd(t *testing.T) {
	tests := []struct {
		name, json string
		check      func(t *testing.T, r *Record)
	}{{
		name: "0 K temperature",
		json: `{"device":{"name":"/dev/nvme0","protocol":"NVMe"},"model_name":"QEMU NVMe Ctrl","serial_number":"s1",
			"temperature":{"current":-273},
			"nvme_smart_health_information_log":{"temperature":-273,"available_spare":0,"available_spare_threshold":0}}`,
		check: func(t *testing.T, r *Record) {
			if r.HasTemperature || r.Temperature != 0 {
				t.Errorf("temperature %d, has %v; want none", r.Temperature, r.HasTemperature)
			}
		},
	}, {
		name: "absurd temperature",
		json: `{"device":{"protocol":"ATA"},"temperature":{"current":400},"ata_smart_attributes":{"table":[]}}`,
		check: func(t *testing.T, r *Record) {
			if r.HasTemperature {
				t.Errorf("temperature %d accepted", r.Temperature)
			}
		},
	}, {
		name: "could not open",
		json: `{"smartctl":{"exit_status":2,"messages":[{"string":"Smartctl open device: /dev/sdz failed: Permission denied","severity":"error"}]},
			"device":{"name":"/dev/sdz"}}`,
		check: func(t *testing.T, r *Record) {
			want := "health unknown: smartctl: Smartctl open device: /dev/sdz failed: Permission denied"
			if r.Unknown != want {
				t.Errorf("unknown %q, want %q", r.Unknown, want)
			}
		},
	}, {
		name: "asleep (smartctl -n standby)",
		json: `{"smartctl":{"exit_status":2,"messages":[{"string":"Device is in STANDBY mode, exit(2)","severity":"information"}]},
			"device":{"name":"/dev/sda","protocol":"ATA"}}`,
		check: func(t *testing.T, r *Record) {
			if !r.Standby || r.Unknown != "disk in standby, not woken" {
				t.Errorf("standby %v, unknown %q", r.Standby, r.Unknown)
			}
		},
	}, {
		name: "SMART disabled",
		json: `{"device":{"protocol":"ATA"},"model_name":"X","smart_support":{"available":true,"enabled":false}}`,
		check: func(t *testing.T, r *Record) {
			if r.Unknown == "" {
				t.Error("no reason for the missing health")
			}
		},
	}, {
		name: "failing now and in the past",
		json: `{"device":{"protocol":"ATA"},"model_name":"WDC X","ata_smart_attributes":{"table":[
			{"id":5,"name":"Reallocated_Sector_Ct","value":100,"worst":100,"thresh":140,"when_failed":"FAILING_NOW","flags":{"prefailure":true},"raw":{"value":2000}},
			{"id":3,"name":"Spin_Up_Time","value":180,"worst":1,"thresh":21,"when_failed":"In_the_past","flags":{"prefailure":true},"raw":{"value":0}}]}}`,
		check: func(t *testing.T, r *Record) {
			a5, _ := r.ATA.Attribute(5)
			a3, _ := r.ATA.Attribute(3)
			if !a5.Failing || a3.Failing {
				t.Errorf("failing: 5 %v, 3 %v; want true, false", a5.Failing, a3.Failing)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseSmartctlJSON([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestParseSmartctlCorrupt(t *testing.T) {
	for _, in := range []string{"", "null", "[]", `"x"`, "{", "smartctl 7.3: not JSON"} {
		if _, err := ParseSmartctlJSON([]byte(in)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: got %v, want ErrCorrupt", in, err)
		}
	}
	// A value out of range is one unreadable field, not a corrupt file.
	r, err := ParseSmartctlJSON([]byte(`{"ata_smart_attributes":{"table":[{"id":5,"raw":{"value":-1}}]}}`))
	if err != nil || len(r.Unreadable) != 1 || r.Unreadable[0] != "ata_smart_attributes.table[0].raw.value" {
		t.Errorf("raw value -1: %v, unreadable %q", err, r.Unreadable)
	}
}

func TestAttrRawCount(t *testing.T) {
	const tb = 1 << 40
	tests := []struct {
		name            string
		id              int
		attr, model, fw string
		raw, capacity   uint64
		want            uint64
	}{
		{"plain reallocated", 5, "Reallocated_Sector_Ct", "WDC WD20EFRX", "", 304, 2 * tb, 304},
		{"Fujitsu spare pool in bytes 4-5", 5, "Reallocated_Sector_Ct", "FUJITSU MHY2120BH", "0084000D", 0x07d000000000, 120e9, 0},
		{"Seagate 188 three counters", 188, "Command_Timeout", "ST3000NM0033-9ZM178", "", 0x000400040004, 3 * tb, 4},
		{"Seagate 188 as raw16", 188, "Command_Timeout", "ST2000NM0008-2F3100", "", 8590065666, 2 * tb, 2},
		{"Micron 188 is a plain count", 188, "Command_Timeout", "Micron_5300_MTFDDAK1T9TDS", "", 29, 2 * tb, 29},
		{"196 low word", 196, "Reallocated_Event_Count", "FUJITSU MHY2120BH", "0084000D", 0x1b650000, 120e9, 0},
		{"197 above the sector count", 197, "Current_Pending_Sector", "X", "", 0xfd220002, 120e9, 0},
		{"197 all ones", 197, "Current_Pending_Sector", "X", "", 0xffffffff, 0, 0},
		{"Fujitsu 0085000B 197 is no count", 197, "Current_Pending_Sector", "FUJITSU MHY2250BH", "0085000B", 0x27c51e8f0003, 250e9, 0},
		{"Apple SSD 5 is no count", 5, "Reallocated_Sector_Ct", "MCCOE64GEMPP", "2.9.09", 0x245000, 60e9, 0},
		{"201 soft read error rate is a rate", 201, "Soft_Read_Error_Rate", "Maxtor 96147H8", "", 0x5a00053c16, 61e9, 0},
		{"201 power-loss test is not 201's counter", 201, "Power_Loss_Cap_Test", "SSDSCKJB240G7R", "", 1331519965652, 240e9, 0},
		{"197 not in use", 197, "Not_In_Use", "KINGSTON SKC400S371T", "", 7, 1 * tb, 0},
		{"199 low 32 bits", 199, "UDMA_CRC_Error_Count", "X", "", 0x0001_0000_0003, 0, 3},
		{"temperature is no count", 194, "Temperature_Celsius", "X", "", 77309411350, 0, 0},
		{"power-on hours are no count", 9, "Power_On_Hours", "X", "", 57744, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := attrRawCount(tt.id, tt.attr, tt.model, tt.fw, tt.raw, tt.capacity); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
