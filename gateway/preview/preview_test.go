package preview

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoebox/shoebox/gateway/preview/previewtest"
	"github.com/shoebox/shoebox/internal/testcorpus"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func newMaker(t *testing.T, o Options) *Maker {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Key == nil {
		o.Key = testKey
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// bytesSource is a file held in memory; its ID is its SHA-256.
func bytesSource(data []byte) Source {
	id := sha256.Sum256(data)
	return Source{ID: id[:], Open: func(context.Context) (io.Reader, error) { return bytes.NewReader(data), nil }}
}

// headOf is the first n bytes of the image write makes at w×h: for the
// bombs whose headers are all a test needs (making a whole 14000² PNG
// means deflating 1.2 GB), cut off like an upload in progress.
func headOf(t testing.TB, write func(io.Writer, int, int) error, w, h, n int) []byte {
	t.Helper()
	c := &cutWriter{n: n}
	if err := write(c, w, h); err != nil && err != errCut {
		t.Fatal(err)
	}
	return c.buf.Bytes()
}

type cutWriter struct {
	buf bytes.Buffer
	n   int
}

var errCut = errors.New("enough")

func (c *cutWriter) Write(p []byte) (int, error) {
	if room := c.n - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:room])
		return room, errCut
	}
	return c.buf.Write(p)
}

func encoded(t testing.TB, enc func(io.Writer, image.Image) error, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegOf(img image.Image) func(io.Writer, image.Image) error {
	return func(w io.Writer, img image.Image) error { return jpeg.Encode(w, img, nil) }
}

func gifOf(w io.Writer, img image.Image) error { return gif.Encode(w, img, nil) }

// TestBudget: what a header says decoding takes, for the decoder's own
// representation of each kind of image.
func TestBudget(t *testing.T) {
	const M = 1 << 20
	for _, tc := range []struct {
		name     string
		data     []byte
		min, max int64 // need, in bytes
	}{
		{"14000² progressive JPEG 4:4:4", previewtest.Bytes(previewtest.ProgressiveJPEG, 14000, 14000), 2800 * M, 2850 * M}, // 15 bytes a pixel
		{"14000² 16-bit PNG", headOf(t, previewtest.PNG16, 14000, 14000, 64<<10), 14000 * 14000 * 8, 14000*14000*8 + 12*M},
		{"3000×2000 baseline JPEG 4:2:0", previewtest.Bytes(previewtest.Photo, 3000, 2000), 9_000_000, 9_000_000 + 9*M}, // and a 1500×1000 RGBA copy
		{"1000² gray JPEG", encoded(t, jpegOf(nil), image.NewGray(image.Rect(0, 0, 1000, 1000))), 1_000_000, 1_000_000 + 6*M},
		{"1000² 8-bit RGBA PNG", encoded(t, png.Encode, image.NewNRGBA(image.Rect(0, 0, 1000, 1000))), 4_000_000, 4_000_000 + 6*M},
		{"1000² 16-bit gray PNG", encoded(t, png.Encode, image.NewGray16(image.Rect(0, 0, 1000, 1000))), 8_000_000, 8_000_000 + 6*M},
		{"1000² paletted PNG", encoded(t, png.Encode, image.NewPaletted(image.Rect(0, 0, 1000, 1000), palette.Plan9)), 1_000_000, 1_000_000 + 6*M},
		{"1000² GIF", encoded(t, gifOf, image.NewPaletted(image.Rect(0, 0, 1000, 1000), palette.Plan9)), 1_000_000, 1_000_000 + 6*M},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hd, err := sniff(tc.data, DefaultMaxSide)
			if err != nil {
				t.Fatal(err)
			}
			if err := confirm(hd, tc.data); err != nil {
				t.Fatalf("the standard decoder reads the header otherwise: %v", err)
			}
			if hd.need < tc.min || hd.need > tc.max {
				t.Errorf("need %d MiB, want %d to %d MiB", hd.need>>20, tc.min>>20, tc.max>>20)
			}
		})
	}
	for name, data := range map[string][]byte{
		"text":            []byte("not an image at all, nor a RAW file"),
		"empty":           nil,
		"JPEG, no frame":  {0xff, 0xd8, 0xff, 0xd9},
		"lossless JPEG":   {0xff, 0xd8, 0xff, 0xc3, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0},
		"PNG, no IHDR":    []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIDAT0123456789abcdefghijklm"),
		"zero-width GIF":  []byte("GIF89a\x00\x00\x10\x00\x00\x00\x00"),
		"12-bit JPEG SOF": {0xff, 0xd8, 0xff, 0xc0, 0, 11, 12, 0, 16, 0, 16, 1, 1, 0x11, 0},
	} {
		if _, err := sniff(data, DefaultMaxSide); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestMakeBombs: decompression bombs get no preview, from their headers
// alone; the verdict is cached, so asking again reads nothing.
func TestMakeBombs(t *testing.T) {
	m := newMaker(t, Options{})
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"progressive JPEG", previewtest.Bytes(previewtest.ProgressiveJPEG, 14000, 14000)},
		{"16-bit PNG", headOf(t, previewtest.PNG16, 8000, 8000, 64<<10)},
		{"GIF screen", []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")},
	} {
		for range 3 {
			_, err := m.Make(context.Background(), bytesSource(tc.data))
			if !errors.Is(err, ErrNoPreview) || !strings.Contains(err.Error(), "MiB") {
				t.Errorf("%s: %v, want ErrNoPreview saying how much memory it would take", tc.name, err)
			}
		}
	}
	if s := m.Stats(); s.Decodes != 0 || s.Scans != 3 || s.Refused != 3 || s.Hits != 6 {
		t.Errorf("stats %+v; want 3 files read, none decoded, 6 answers from the cache", s)
	}
}

// TestMakeRealMedia: previews of real files: a JPEG as itself, camera
// RAW files (DNG) from the preview they embed.
func TestMakeRealMedia(t *testing.T) {
	media := testcorpus.Media(t)
	m := newMaker(t, Options{})
	for _, tc := range []struct {
		file string
		w, h int
	}{
		{"exif-py/tests/resources/jpg/Canon_40D.jpg", 100, 68},
		{"photoprism/internal/meta/testdata/altitude.jpg", 1056, 792}, // 2112×1584, halved
		{"photoprism/assets/examples/canon_eos_6d.dng", 1024, 683},
		{"exif-py/tests/resources/raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng", 640, 424},
	} {
		data, err := os.ReadFile(filepath.Join(media, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Make(context.Background(), bytesSource(data))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		img, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("%s: the preview is not a JPEG: %v", tc.file, err)
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s: preview %dx%d, want %dx%d", tc.file, b.Dx(), b.Dy(), tc.w, tc.h)
		}
		if bytes.Contains(out, []byte("Exif")) {
			t.Errorf("%s: the preview keeps EXIF", tc.file)
		}
	}
	if _, err := m.Make(context.Background(), bytesSource([]byte("not an image at all, nor a RAW file"))); !errors.Is(err, ErrNoPreview) {
		t.Errorf("text: %v, want ErrNoPreview", err)
	}
}

// TestMakePrefersEmbedded: a large image carrying a preview of 1000 px or
// more is shown from that preview, without decoding the image.
func TestMakePrefersEmbedded(t *testing.T) {
	big := previewtest.Bytes(previewtest.ProgressiveJPEG, 9000, 6000) // over the budget
	thumb := previewtest.Bytes(previewtest.Photo, 1200, 800)
	// As cameras do (MPF): the preview after the main image.
	data := append(append([]byte{}, big...), thumb...)
	m := newMaker(t, Options{})
	out, err := m.Make(context.Background(), bytesSource(data))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := jpeg.DecodeConfig(bytes.NewReader(out)); err != nil || c.Width != 1200 || c.Height != 800 {
		t.Errorf("preview %+v, %v; want the embedded 1200×800", c, err)
	}
	if s := m.Stats(); s.Decodes != 1 {
		t.Errorf("%d decodes, want 1", s.Decodes)
	}
}

// gatedSource serves data, but its second opening (the first decode,
// after the scan) stops after after bytes until gate is closed; stopped
// says when it got there, and late counts the reads past the gate.
type gatedSource struct {
	data    []byte
	after   int
	gate    chan struct{}
	stopped chan struct{}
	mu      sync.Mutex
	opens   int
	late    int
}

func newGated(data []byte, after int) *gatedSource {
	return &gatedSource{data: data, after: after, gate: make(chan struct{}), stopped: make(chan struct{})}
}

func (g *gatedSource) source() Source {
	s := bytesSource(g.data)
	s.Open = func(context.Context) (io.Reader, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.opens++
		if g.opens != 2 {
			return bytes.NewReader(g.data), nil
		}
		return &gatedReader{g: g, r: bytes.NewReader(g.data)}, nil
	}
	return s
}

type gatedReader struct {
	g    *gatedSource
	r    *bytes.Reader
	read int
	once sync.Once
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.read >= r.g.after {
		r.once.Do(func() { close(r.g.stopped) })
		<-r.g.gate
		r.g.mu.Lock()
		r.g.late++
		r.g.mu.Unlock()
	}
	p = p[:min(len(p), max(r.g.after-r.read, 1))]
	n, err := r.r.Read(p)
	r.read += n
	return n, err
}

// TestMakeStopsWhenAskerLeaves: a client that hangs up mid-decode stops
// the decoding at its next read; nothing is cached, and the next asker
// gets the preview.
func TestMakeStopsWhenAskerLeaves(t *testing.T) {
	m := newMaker(t, Options{})
	g := newGated(previewtest.Bytes(previewtest.Photo, 1200, 900), 32<<10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := m.Make(ctx, g.source())
		done <- err
	}()
	<-g.stopped // decoding, and waiting for the rest of the file
	cancel()
	close(g.gate) // the read under way returns; the next must not happen
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Make after the asker left: %v, want context.Canceled", err)
	}
	if g.late != 1 {
		t.Errorf("%d reads after the asker left, want only the one under way", g.late)
	}
	if s := m.Stats(); s.CacheEntries != 0 {
		t.Errorf("an abandoned preview was cached: %+v", s)
	}
	out, err := m.Make(context.Background(), g.source())
	if err != nil || len(out) == 0 {
		t.Fatalf("the next asker: %v", err)
	}
}

// TestMakeTurns: one large decode at a time, beside one small one; a
// third request waits for a turn (here, QueueWait is a nanosecond: it is
// told to come back).
func TestMakeTurns(t *testing.T) {
	m := newMaker(t, Options{Large: 3 << 20, QueueWait: 1})
	large := func(w, h int) []byte { return previewtest.Bytes(previewtest.Photo, w, h) } // over 3 MiB from 1 Mpx
	a := newGated(large(1600, 1200), 32<<10)
	resA := make(chan error)
	go func() {
		_, err := m.Make(context.Background(), a.source())
		resA <- err
	}()
	<-a.stopped // A decodes, holding the large turn

	if _, err := m.Make(context.Background(), bytesSource(large(1700, 1250))); !errors.Is(err, ErrBusy) {
		t.Errorf("a second large image while one decodes: %v, want ErrBusy", err)
	}
	small := previewtest.Bytes(previewtest.Photo, 400, 300)
	c := newGated(small, 4<<10)
	resC := make(chan error)
	go func() {
		_, err := m.Make(context.Background(), c.source())
		resC <- err
	}()
	<-c.stopped // a small one decodes beside the large one
	if _, err := m.Make(context.Background(), bytesSource(previewtest.Bytes(previewtest.Photo, 300, 200))); !errors.Is(err, ErrBusy) {
		t.Errorf("a third preview while two are made: %v, want ErrBusy", err)
	}
	close(a.gate)
	close(c.gate)
	if err := <-resA; err != nil {
		t.Errorf("the large image: %v", err)
	}
	if err := <-resC; err != nil {
		t.Errorf("the small image: %v", err)
	}
	if _, err := m.Make(context.Background(), bytesSource(large(1700, 1250))); err != nil {
		t.Errorf("the second large image, its turn come: %v", err)
	}
	if s := m.Stats(); s.CacheEntries != 3 {
		t.Errorf("cache holds %d entries, want 3 (busy answers are not cached)", s.CacheEntries)
	}
}

// TestMakeOnceForMany: parallel requests for one file make one preview.
func TestMakeOnceForMany(t *testing.T) {
	m := newMaker(t, Options{})
	g := newGated(previewtest.Bytes(previewtest.Photo, 1200, 900), 32<<10)
	var wg sync.WaitGroup
	outs := make([][]byte, 8)
	for i := range outs {
		wg.Go(func() {
			out, err := m.Make(context.Background(), g.source())
			if err != nil {
				t.Error(err)
			}
			outs[i] = out
		})
	}
	<-g.stopped
	close(g.gate)
	wg.Wait()
	for i := range outs {
		if !bytes.Equal(outs[i], outs[0]) {
			t.Fatalf("answer %d differs", i)
		}
	}
	if s := m.Stats(); s.Decodes != 1 || s.Scans != 1 {
		t.Errorf("stats %+v; want one file read, one decode", s)
	}
}

// TestCache: entries are sealed (no plain JPEG on disk, no content
// identity in names), bound to their names, bounded, and survive a
// restart.
func TestCache(t *testing.T) {
	dir := t.TempDir()
	photo := previewtest.Bytes(previewtest.Photo, 1000, 700)
	m := newMaker(t, Options{Dir: dir, CacheBytes: 1 << 30})
	prev, err := m.Make(context.Background(), bytesSource(photo))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("cache holds %d files, want 1", len(ents))
	}
	id := sha256.Sum256(photo)
	raw, _ := os.ReadFile(filepath.Join(dir, ents[0].Name()))
	if bytes.Contains(raw, prev[:64]) || bytes.Contains(raw, []byte{0xff, 0xd8, 0xff}) || strings.Contains(ents[0].Name(), string(id[:4])) {
		t.Error("the cache file holds the preview in the clear")
	}
	if fi, _ := ents[0].Info(); fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v", fi.Mode().Perm())
	}

	// A restart finds it; another key does not open it.
	m2 := newMaker(t, Options{Dir: dir})
	if out, err := m2.Make(context.Background(), bytesSource(photo)); err != nil || !bytes.Equal(out, prev) || m2.Stats().Hits != 1 {
		t.Errorf("after a restart: %v, stats %+v", err, m2.Stats())
	}
	other := newMaker(t, Options{Dir: dir, Key: bytes.Repeat([]byte{8}, 32)})
	if _, err := other.Make(context.Background(), bytesSource(photo)); err != nil || other.Stats().Hits != 0 {
		t.Errorf("another key: %v, stats %+v", err, other.Stats())
	}

	// A file renamed onto another entry's name does not open as it.
	m3 := newMaker(t, Options{})
	m3.Make(context.Background(), bytesSource(photo))
	small := previewtest.Bytes(previewtest.Photo, 200, 100)
	m3.Make(context.Background(), bytesSource(small))
	a, b := m3.cache.name(id[:], DefaultMaxSide), m3.cache.name(sha(small), DefaultMaxSide)
	if err := os.Rename(filepath.Join(m3.o.Dir, a), filepath.Join(m3.o.Dir, b)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m3.cache.get(b); ok {
		t.Error("an entry moved under another name opened")
	}

	// Bounded: least recently used first.
	m4 := newMaker(t, Options{CacheBytes: 3 * int64(len(raw)) / 2 * 3})
	var imgs [][]byte
	for i := range 6 {
		imgs = append(imgs, previewtest.Bytes(previewtest.Photo, 1000, 700+i))
		m4.Make(context.Background(), bytesSource(imgs[i]))
		if i == 2 {
			m4.Make(context.Background(), bytesSource(imgs[0])) // used again: kept
		}
	}
	if s := m4.Stats(); s.CacheBytes > m4.o.CacheBytes || s.CacheEntries < 3 {
		t.Errorf("cache %+v over its %d bytes, or emptier than needed", s, m4.o.CacheBytes)
	}
	if _, _, ok := m4.cache.get(m4.cache.name(sha(imgs[1]), DefaultMaxSide)); ok {
		t.Error("the least recently used entry was kept")
	}
	if _, _, ok := m4.cache.get(m4.cache.name(sha(imgs[5]), DefaultMaxSide)); !ok {
		t.Error("the newest entry was dropped")
	}
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestDownscale: the longer side ends at most at the limit, an image
// already small is kept, and a cancelled context stops it.
func TestDownscale(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4000, 1000))
	img.Set(0, 0, color.White)
	out, err := downscale(context.Background(), img, 1600)
	if err != nil || out.Bounds().Dx() != 1333 || out.Bounds().Dy() != 333 {
		t.Errorf("downscale: %v, %v", out.Bounds(), err)
	}
	if out, _ := downscale(context.Background(), img, 4000); out != image.Image(img) {
		t.Error("an image within the limit was copied")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := downscale(ctx, img, 1600); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
