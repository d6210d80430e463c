package gateway

import (
	"bytes"
	"context"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shoebox/shoebox/gateway/preview/previewtest"
)

// TestSecurityPreviewBombs (finding 4): through a view-only link, images
// whose decoding would take more memory than the preview budget — a
// progressive JPEG and a 16-bit PNG, both well under the old 200-megapixel
// cap — are refused from their headers; a photo still gets its preview.
func TestSecurityPreviewBombs(t *testing.T) {
	// Not parallel: it decodes images of tens of megapixels, which under
	// -race beside the other tests outlasts the visitor's HTTP timeout.
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{
		"album/progressive.jpg": previewtest.Bytes(previewtest.ProgressiveJPEG, 8000, 8000), // 64 Mpx, ~1 GB to decode
		"album/deep.png":        previewtest.Bytes(previewtest.PNG16, 6000, 6000),           // 36 Mpx, 288 MB to decode
		"album/photo.jpg":       previewtest.Bytes(previewtest.Photo, 2400, 1800),
	})
	c := b.createShare(own, map[string]any{"snapshot": snap, "path": "album", "download": false})
	v := b.newVisitor()
	var served []byte // the photo's preview, as a visitor got it
	for round := range 3 {
		for _, name := range []string{"progressive.jpg", "deep.png"} {
			resp, body := v.get("/s/" + c.Token + "/" + name + "?as=preview")
			if resp.StatusCode != http.StatusNotFound || !bytes.Contains(body, []byte("No preview")) {
				t.Fatalf("round %d: %s preview: HTTP %d (%d bytes), want 404 \"No preview\"", round, name, resp.StatusCode, len(body))
			}
		}
		resp, body := v.get("/s/" + c.Token + "/photo.jpg?as=preview")
		wantStatus(t, "photo preview", resp, body, http.StatusOK)
		served = body
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil || img.Bounds().Dx() > previewMax || img.Bounds().Dx() < previewMax/2 {
			t.Fatalf("photo preview: %v, %v", err, img.Bounds())
		}
	}

	// Nothing was decoded but the photo, once; every other answer came
	// from the cache, which holds three sealed entries.
	if s := b.g.public.previews.Stats(); s.Decodes != 1 || s.Scans != 3 || s.Refused != 2 || s.Hits != 6 || s.CacheEntries != 3 {
		t.Errorf("previews: %+v; want 3 files read, 1 decode, 2 refused, 6 answers from the cache", s)
	}
	ents, err := os.ReadDir(filepath.Join(b.state, "gateway", "previews"))
	if err != nil || len(ents) != 3 {
		t.Fatalf("preview cache: %d files, %v; want 3", len(ents), err)
	}
	// Sealed: neither the preview's bytes nor a refusal's words are in
	// the files. (Fragments long enough that random ciphertext never
	// holds them: 3-byte ones such as a JPEG marker or "MiB" turned up by
	// chance in about one run in a hundred.)
	for _, e := range ents {
		raw, _ := os.ReadFile(filepath.Join(b.state, "gateway", "previews", e.Name()))
		if bytes.Contains(raw, served[:32]) || bytes.Contains(raw, served[len(served)/2:len(served)/2+32]) || bytes.Contains(raw, []byte("budget")) {
			t.Errorf("preview cache file %s is not sealed", e.Name())
		}
	}
}

// TestPreviewStopsWithVisitor: a visitor who hangs up while a large
// preview is made stops it; nothing is cached, the turn is free, and the
// next visitor gets the preview.
func TestPreviewStopsWithVisitor(t *testing.T) {
	// Not parallel: it decodes images of tens of megapixels, which under
	// -race beside the other tests outlasts the visitor's HTTP timeout.
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"big.jpg": previewtest.Bytes(previewtest.Photo, 7000, 5000)}) // 52 MiB to decode: a large one
	c := b.createShare(own, map[string]any{"snapshot": snap, "path": "big.jpg", "download": false})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+"/s/"+c.Token+"?as=preview", nil)
	go func() {
		// Hang up once the decode has begun.
		for b.g.public.previews.Stats().Decodes == 0 {
			runtime.Gosched()
		}
		cancel()
	}()
	if resp, err := b.newVisitor().c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the visitor who hung up got HTTP %d", resp.StatusCode)
	}
	resp, body := b.newVisitor().get("/s/" + c.Token + "?as=preview")
	wantStatus(t, "the next visitor", resp, body, http.StatusOK)
	if s := b.g.public.previews.Stats(); s.Decodes != 2 || s.CacheEntries != 1 || s.Refused != 0 {
		t.Errorf("previews: %+v; want the abandoned decode, then one that finished and was cached", s)
	}
}
