package smart

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// Fuzz targets for the parsers of bytes from disks and from smartctl,
// which a broken bridge, a new smartctl version or a damaged disk can
// make anything. They must never panic, and what they accept must go
// through the policy. Run one with go test -fuzz FuzzParseSmartctlJSON
// ./smart/ (CI runs each briefly).

// seedFiles adds up to n real files from sub as seeds, when present.
func seedFiles(f *testing.F, sub string, n int, add func(b []byte)) {
	dir, err := testcorpus.Path("smart", sub)
	if err != nil {
		return
	}
	fs, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range fs {
		if n == 0 {
			return
		}
		if filepath.Base(p) == "README" || filepath.Base(p) == "README.md" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			add(b)
			n--
		}
	}
}

// judgeParsed runs what a parser accepted through the policy.
func judgeParsed(t *testing.T, r *Record) {
	t.Helper()
	v := Evaluate(r, []Sample{SampleOf(r, ArrayErrors{}, Verdict{State: OK})}, nil, ArrayErrors{}, policyNow.Add(time.Hour))
	switch v.State {
	case OK, Warning, Failing, Unknown:
	default:
		t.Fatalf("verdict state %q", v.State)
	}
	if r.HasTemperature && !plausibleTemperature(r.Temperature) {
		t.Fatalf("implausible temperature %d accepted", r.Temperature)
	}
}

func FuzzParseSmartctlJSON(f *testing.F) {
	seedFiles(f, filepath.Join("smartctl-json", "testdata"), 12, func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"device":{"protocol":"ATA"},"model_name":"ST1","ata_smart_attributes":{"table":[{"id":188,"name":"Command_Timeout","value":100,"thresh":0,"raw":{"value":17180131332}}]}}`))
	f.Add([]byte(`{"nvme_smart_health_information_log":{"critical_warning":255,"temperature":-273}}`))
	f.Add([]byte(`{"scsi_grown_defect_list":1,"smart_status":{"passed":false}}`))
	f.Add([]byte(`{"wwn":{"naa":99,"oui":99999999999,"id":18446744073709551615}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSmartctlJSON(b)
		if err != nil {
			return
		}
		judgeParsed(t, r)
	})
}

// fixChecksum makes a 512-byte page's checksum right, so that the fuzzer
// reaches the decoding (bad checksums are tested in atapages_test.go).
func fixChecksum(b []byte) []byte {
	if len(b) != ataPageSize {
		return b
	}
	c := append([]byte(nil), b...)
	var s byte
	for _, x := range c[:511] {
		s += x
	}
	c[511] = -s
	return c
}

func FuzzParseATAPages(f *testing.F) {
	seedFiles(f, filepath.Join("ata-pages", "blob-examples"), 19, func(b []byte) {
		if r, err := splitSkdumpSections(b); err == nil {
			f.Add(r["IDFY"], r["SMDT"], r["SMTH"])
		}
	})
	page := make([]byte, ataPageSize)
	f.Add(page, page, page)
	f.Add(page, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, id, data, thr []byte) {
		if len(id) == ataPageSize && id[510] == ataIdentifySigned {
			id = fixChecksum(id)
		}
		r, err := ParseATAPages(id, fixChecksum(data), fixChecksum(thr))
		if err != nil {
			return
		}
		judgeParsed(t, r)
	})
}

func FuzzParseSkdump(f *testing.F) {
	seedFiles(f, filepath.Join("ata-pages", "blob-examples"), 4, func(b []byte) { f.Add(b) })
	f.Add([]byte("IDFY\x00\x00\x00\x04abcd"))
	f.Add([]byte("SMST\x00\x00\x00\x04\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSkdump(b)
		if err != nil {
			return
		}
		judgeParsed(t, r)
	})
}

// splitSkdumpSections splits a blob for seeding, without a testing.T.
func splitSkdumpSections(b []byte) (map[string][]byte, error) {
	sec := map[string][]byte{}
	for len(b) >= 8 {
		n := int(b[4])<<24 | int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		if n > len(b)-8 {
			return nil, ErrCorrupt
		}
		sec[string(b[:4])] = b[8 : 8+n]
		b = b[8+n:]
	}
	return sec, nil
}
