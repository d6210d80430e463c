package smart

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

func skdumpFiles(t testing.TB) []string {
	return realFiles(t, filepath.Join("ata-pages", "blob-examples"), "*")
}

func readSkdumpFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testcorpus.SMART(t, "ata-pages", "blob-examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitSkdump returns the sections of an skdump blob by tag.
func splitSkdump(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	sec, err := splitSkdumpSections(b)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

// TestParseSkdumpAll parses every recorded blob, and its pages again with
// ParseATAPages.
func TestParseSkdumpAll(t *testing.T) {
	files := skdumpFiles(t)
	if len(files) != 19 {
		t.Errorf("got %d skdump files, want 19", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b := readSkdumpFile(t, filepath.Base(f))
			r, err := ParseSkdump(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Protocol != ATA || r.Model == "" || r.Serial == "" || r.Firmware == "" || r.Capacity == 0 || r.Unknown != "" {
				t.Errorf("identity: %+v", r)
			}
			if r.ATA == nil || len(r.ATA.Attributes) == 0 {
				t.Fatalf("no attributes")
			}
			if r.PowerOnHours == 0 || r.PowerOnHours > 200_000 {
				t.Errorf("power-on hours %d", r.PowerOnHours)
			}
			s := splitSkdump(t, b)
			p, err := ParseATAPages(s["IDFY"], s["SMDT"], s["SMTH"])
			if err != nil {
				t.Fatal(err)
			}
			r.SMARTStatus = ""
			if diff := cmp.Diff(r, p); diff != "" {
				t.Errorf("ParseSkdump and ParseATAPages differ (-skdump +pages):\n%s", diff)
			}
		})
	}
}

// TestParseSkdumpFields compares two blobs with values read from their
// bytes by hand.
func TestParseSkdumpFields(t *testing.T) {
	tests := []struct {
		file string
		ids  []int
		want *Record
	}{{
		// The failed Maxtor: attribute 10 below its threshold, SMART
		// RETURN STATUS "threshold exceeded" (SMST 0), 9 in minutes
		// (0x21254 = 135764 min).
		file: "Maxtor_96147H8--BAC51KJ0--2",
		ids:  []int{5, 9, 10, 197},
		want: &Record{
			Protocol: ATA, Model: "Maxtor 96147H8", Serial: "N80BR8EC", Firmware: "BAC51KJ0",
			Capacity: 61471162368, PowerOnHours: 2262, PowerCycles: 1810, SMARTStatus: "failed",
			ATA: &ATAHealth{Attributes: []Attribute{
				{ID: 5, Name: "Reallocated_Sector_Ct", Current: 226, Worst: 226, Threshold: 63, Raw: 69, RawCount: 69, Prefailure: true},
				{ID: 9, Name: "Power_On_Minutes", Current: 247, Worst: 247, Raw: 0x21254},
				{ID: 10, Name: "Spin_Retry_Count", Current: 212, Worst: 210, Threshold: 223, Raw: 0x2900000063, RawCount: 99, Prefailure: true, Failing: true},
				{ID: 197, Name: "Current_Pending_Sector", Current: 251, Worst: 251, Raw: 2, RawCount: 2},
			}},
		},
	}, {
		// Fujitsu: attribute 5 keeps the spare pool (2000) in bytes 4-5,
		// 196 its count in the second word; 194 packs min/max.
		file: "FUJITSU_MHY2120BH--0084000D",
		ids:  []int{5, 9, 194, 196},
		want: &Record{
			Protocol: ATA, Model: "FUJITSU MHY2120BH", Serial: "K434T81257SL", Firmware: "0084000D",
			WWN: "0x500000e04167f90c", Capacity: 120034123776, Temperature: 28, HasTemperature: true,
			PowerOnHours: 2208, PowerCycles: 635, SMARTStatus: "passed",
			ATA: &ATAHealth{Attributes: []Attribute{
				{ID: 5, Name: "Reallocated_Sector_Ct", Current: 100, Worst: 100, Threshold: 24, Raw: 0x07d000000000, Prefailure: true},
				{ID: 9, Name: "Power_On_Hours", Current: 96, Worst: 96, Raw: 0x8a0},
				{ID: 194, Name: "Temperature_Celsius", Current: 100, Worst: 100, Raw: 0x36000f001c},
				{ID: 196, Name: "Reallocated_Event_Count", Current: 100, Worst: 100, Raw: 0x1b650000},
			}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := ParseSkdump(readSkdumpFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, trimAttrs(r, tt.ids...)); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseATAPagesCorrupt(t *testing.T) {
	s := splitSkdump(t, readSkdumpFile(t, "WDC_WD5000AAKS--00TMA0-12.01C01"))
	id, data, thr := s["IDFY"], s["SMDT"], s["SMTH"]
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		return c
	}
	tests := []struct {
		name           string
		id, data, thr  []byte
		wantErr        bool
		wantUnknown    bool
		wantNoThreshld bool
	}{
		{name: "intact", id: id, data: data, thr: thr},
		{name: "identify bit flip", id: flip(id, 100), data: data, thr: thr, wantErr: true},
		{name: "data bit flip", id: id, data: flip(data, 7), thr: thr, wantErr: true},
		{name: "thresholds bit flip", id: id, data: data, thr: flip(thr, 3), wantErr: true},
		{name: "short identify", id: id[:500], data: data, thr: thr, wantErr: true},
		{name: "short data", id: id, data: data[:362], thr: thr, wantErr: true},
		{name: "long thresholds", id: id, data: data, thr: append(thr, 0), wantErr: true},
		{name: "no SMART data", id: id, wantUnknown: true},
		{name: "no thresholds", id: id, data: data, wantNoThreshld: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseATAPages(tt.id, tt.data, tt.thr)
			if tt.wantErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (r.Unknown != "") != tt.wantUnknown {
				t.Errorf("unknown %q", r.Unknown)
			}
			if tt.wantNoThreshld {
				for _, a := range r.ATA.Attributes {
					if a.Threshold != 0 || a.Failing {
						t.Errorf("attribute %d: threshold %d, failing %v", a.ID, a.Threshold, a.Failing)
					}
				}
			}
		})
	}
}

func TestParseSkdumpCorrupt(t *testing.T) {
	b := readSkdumpFile(t, "WDC_WD2500JB--00REA0-20.00K20")
	r, err := ParseSkdump(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.SMARTStatus != "" {
		t.Errorf("blob without status: SMART status %q, want none", r.SMARTStatus)
	}
	bad := map[string][]byte{
		"empty":           nil,
		"truncated":       b[:len(b)-1],
		"short header":    b[:5],
		"no identify":     b[520:],
		"twice":           append(append([]byte(nil), b...), b[:520]...),
		"status of 3":     append(append([]byte(nil), b...), 'S', 'M', 'S', 'T', 0, 0, 0, 3, 0, 0, 1),
		"length overflow": append([]byte("IDFY"), 0xff, 0xff, 0xff, 0xff),
	}
	for name, in := range bad {
		if _, err := ParseSkdump(in); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}
