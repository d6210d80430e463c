package gateway

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

const media = "../../shared/testdata/media"

// TestDecodePreview makes previews of real files: a JPEG decodes as
// itself; a camera RAW (DNG) gives its embedded preview; a file with
// nothing to show gives errNoPreview.
func TestDecodePreview(t *testing.T) {
	if _, err := os.Stat(media); err != nil {
		t.Skip("no test media at", media)
	}
	for _, tc := range []struct {
		file string
		w, h int
	}{
		{"exif-py/tests/resources/jpg/Canon_40D.jpg", 100, 68},
		{"photoprism/assets/examples/canon_eos_6d.dng", 1024, 683},
		{"exif-py/tests/resources/raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng", 640, 424},
	} {
		data, err := os.ReadFile(filepath.Join(media, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		img, err := decodePreview(data)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s: preview %dx%d, want %dx%d", tc.file, b.Dx(), b.Dy(), tc.w, tc.h)
		}
	}
	if _, err := decodePreview([]byte("not an image at all, nor a RAW file")); !errors.Is(err, errNoPreview) {
		t.Errorf("text: %v, want errNoPreview", err)
	}
}

// TestPreviewBomb: a header claiming a gigantic image is refused before
// anything is decoded.
func TestPreviewBomb(t *testing.T) {
	var buf bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	img.Set(1, 1, color.White)
	jpeg.Encode(&buf, img, nil)
	b := buf.Bytes()
	// Patch the SOF0 frame size to 60000 × 60000.
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	b[i+5], b[i+6], b[i+7], b[i+8] = 0xea, 0x60, 0xea, 0x60
	if _, err := decodePreview(b); !errors.Is(err, errNoPreview) {
		t.Errorf("a 3.6-gigapixel header: %v, want errNoPreview", err)
	}
}

func TestCapWriter(t *testing.T) {
	c := &capWriter{n: 10}
	if n, err := c.Write([]byte("12345")); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := c.Write([]byte("6789abcdef")); n != 5 || !errors.Is(err, errCapped) || c.buf.String() != "123456789a" {
		t.Fatal(n, err, c.buf.String())
	}
}
