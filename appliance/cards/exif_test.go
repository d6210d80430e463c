package cards

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// TestReadExifMatchesExiftool compares the reader with exiftool's values
// recorded in the media manifest, for JPEG and TIFF-based files.
func TestReadExifMatchesExiftool(t *testing.T) {
	media := testcorpus.Media(t)
	f, err := os.Open(filepath.Join(media, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	var checked, dates, models int
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 8 {
			continue
		}
		switch c[4] {
		case "JPEG", "TIFF", "DNG", "CR2", "NEF", "ARW", "PEF", "ORF":
		default:
			continue
		}
		wantDate, wantModel := exifDate(c[7]), c[6]
		if wantModel == "-" {
			wantModel = ""
		}
		if c[0] == "exiftool/t/images/ExifTool.jpg" {
			continue // exiftool's own test image holds conflicting blocks on purpose
		}
		got := exifOf(filepath.Join(media, c[0]))
		checked++
		if got.Date == wantDate && wantDate != "" {
			dates++
		}
		if got.Model == wantModel && wantModel != "" {
			models++
		}
		if got.Date != "" && got.Date != wantDate {
			t.Errorf("%s: date %q, exiftool %q", c[0], got.Date, wantDate)
		}
		if got.Model != "" && got.Model != wantModel {
			t.Errorf("%s: model %q, exiftool %q", c[0], got.Model, wantModel)
		}
	}
	t.Logf("%d files: %d dates and %d models read as exiftool does", checked, dates, models)
	if checked > 0 && dates == 0 {
		t.Errorf("no date read")
	}
}

func FuzzReadExif(f *testing.F) {
	if p, err := testcorpus.Path("media", "exif-py/tests/resources/jpg/Canon_40D.jpg"); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x10\x01\x02\x00\x04\x00\x00\x00abc\x00"))
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\x00\x00\x00\x08"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info := readExif(bytes.NewReader(b), int64(len(b)))
		if info.Date != "" && len(info.Date) != 10 {
			t.Errorf("date %q", info.Date)
		}
	})
}
