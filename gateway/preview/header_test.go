package preview

import (
	"bytes"
	"image"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/shoebox/shoebox/gateway/preview/previewtest"
)

// FuzzPreviewBudget feeds the header parser arbitrary bytes: it must not
// panic, must agree with the standard decoder on the image's size, and
// when it admits an image, decoding it with the standard decoder must
// allocate no more than the budget it worked out.
func FuzzPreviewBudget(f *testing.F) {
	for _, seed := range [][]byte{
		previewtest.Bytes(previewtest.ProgressiveJPEG, 64, 48),
		previewtest.Bytes(previewtest.PNG16, 40, 30),
		previewtest.Bytes(previewtest.Photo, 64, 48),
		encoded(f, jpegOf(nil), image.NewGray(image.Rect(0, 0, 33, 17))),
		encoded(f, jpegOf(nil), image.NewCMYK(image.Rect(0, 0, 20, 20))),
		encoded(f, png.Encode, image.NewPaletted(image.Rect(0, 0, 30, 20), palette.WebSafe)),
		encoded(f, png.Encode, image.NewGray16(image.Rect(0, 0, 30, 20))),
		encoded(f, png.Encode, image.NewNRGBA(image.Rect(0, 0, 30, 20))),
		encoded(f, gifOf, image.NewPaletted(image.Rect(0, 0, 30, 20), palette.Plan9)),
		{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xc2, 0, 11, 8, 0x40, 0, 0x40, 0, 1, 1, 0x22, 0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hd, err := sniff(data, DefaultMaxSide)
		if err != nil {
			return
		}
		if hd.need < decodeOverhead || hd.w <= 0 || hd.h <= 0 {
			t.Fatalf("header %+v", hd)
		}
		if confirm(hd, data) != nil || hd.need > 8<<20 {
			return // refused, or too big to decode quickly here
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := bytes.NewReader(data)
		switch hd.format {
		case "jpeg":
			jpeg.Decode(r)
		case "png":
			png.Decode(r)
		case "gif":
			gif.Decode(r)
		}
		runtime.ReadMemStats(&after)
		if got := int64(after.TotalAlloc - before.TotalAlloc); got > hd.need {
			t.Fatalf("%s %d×%d: decoding allocated %d bytes, the budget said %d", hd.format, hd.w, hd.h, got, hd.need)
		}
	})
}

// TestScanFindsEmbedded: JPEGs embedded anywhere in the first ScanBytes
// of a file are found — across the scan's window boundaries too — with
// their offsets; beyond the limit they are not.
func TestScanFindsEmbedded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	junk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(255)) // never 0xff: no stray markers
		}
		return b
	}
	thumb := previewtest.Bytes(previewtest.Photo, 160, 120)
	big := previewtest.Bytes(previewtest.Photo, 1200, 900)
	var file []byte
	var offs []int
	for _, at := range []int{100, scanWindow - 1, scanWindow + headerRoom - 2, 3*scanWindow + 5} {
		file = append(file, junk(at-len(file))...)
		offs = append(offs, len(file))
		img := thumb
		if at == scanWindow-1 {
			img = big
		}
		file = append(file, img...)
	}
	main, emb, err := scan(bytes.NewReader(file), int64(len(file)), DefaultMaxSide)
	if err != nil || main.format != "" {
		t.Fatalf("scan: main %+v, %v", main, err)
	}
	if len(emb) != 4 || emb[0].off != int64(offs[1]) || emb[0].w != 1200 {
		t.Fatalf("found %+v; want 4, the largest at %d", emb, offs[1])
	}
	seen := map[int64]bool{}
	for _, c := range emb {
		seen[c.off] = true
	}
	for _, o := range offs {
		if !seen[int64(o)] {
			t.Errorf("the JPEG at %d was not found", o)
		}
	}
	_, emb, _ = scan(bytes.NewReader(file), int64(offs[3]), DefaultMaxSide)
	if len(emb) != 3 {
		t.Errorf("with the limit before the last JPEG: found %d, want 3", len(emb))
	}
}
