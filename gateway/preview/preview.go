package preview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxSide    = 1600
	DefaultBudget     = 160 << 20
	DefaultLarge      = 32 << 20
	DefaultCacheBytes = 256 << 20
	DefaultScanBytes  = 64 << 20
	DefaultQueueWait  = 20 * time.Second
	// minEmbedded is the longer side from which an embedded preview is
	// preferred to decoding the image itself.
	minEmbedded = 1000
	// minSide is the smallest embedded image worth showing.
	minSide = 64
)

// Options configure a Maker. Zero fields take the defaults.
type Options struct {
	// Dir is the cache's folder; Key (32 bytes or more, secret) derives
	// the keys that encrypt and name its entries.
	Dir string
	Key []byte
	// MaxSide is a preview's longer side, in pixels.
	MaxSide int
	// Budget is the most memory one decode may take, worked out from the
	// image's header before decoding; an image needing more has no
	// preview. Large is the size from which a decode is large: one large
	// decode runs at a time, beside at most one small one.
	Budget, Large int64
	// CacheBytes bounds the cache on disk.
	CacheBytes int64
	// ScanBytes is how far into a file embedded previews are looked for
	// (cameras put theirs near the start).
	ScanBytes int64
	// QueueWait is how long a request waits for a turn before ErrBusy.
	QueueWait time.Duration
	Now       func() time.Time
}

// Source is a file to preview.
type Source struct {
	// ID is the file's content identity: equal IDs mean equal bytes
	// (the vault's content blob IDs). The cache is keyed by it.
	ID []byte
	// Open returns a reader of the file from its start; Make may open it
	// more than once. Make stops reading as soon as its context ends.
	Open func(ctx context.Context) (io.Reader, error)
}

// Maker makes previews. It is safe for concurrent use.
type Maker struct {
	o     Options
	cache *cache
	slots chan struct{} // every preview being made holds one
	large chan struct{} // and a large decode this one too

	mu      sync.Mutex
	flights map[string]*flight

	stats struct{ scans, decodes, refused, hits atomic.Int64 }
}

// flight is a preview being made, which other requests for the same
// file wait for rather than make again.
type flight struct {
	done chan struct{}
	out  []byte
	err  error
}

// Stats counts what a Maker has done.
type Stats struct {
	Scans   int64 // files read for their headers
	Decodes int64 // images decoded
	Refused int64 // files found to have no preview (budget, format, damage)
	Hits    int64 // answers from the cache
	// CacheEntries and CacheBytes are what the cache holds now.
	CacheEntries int
	CacheBytes   int64
}

// New returns a Maker whose cache lives in o.Dir.
func New(o Options) (*Maker, error) {
	if len(o.Key) < 32 {
		return nil, errors.New("preview: a key of 32 bytes or more is needed")
	}
	o.MaxSide = cmpOr(o.MaxSide, DefaultMaxSide)
	o.Budget = cmpOr(o.Budget, DefaultBudget)
	o.Large = cmpOr(o.Large, DefaultLarge)
	o.CacheBytes = cmpOr(o.CacheBytes, DefaultCacheBytes)
	o.ScanBytes = cmpOr(o.ScanBytes, DefaultScanBytes)
	o.QueueWait = cmpOr(o.QueueWait, DefaultQueueWait)
	if o.Now == nil {
		o.Now = time.Now
	}
	c, err := openCache(o.Dir, o.Key, o.CacheBytes, o.Now)
	if err != nil {
		return nil, err
	}
	return &Maker{o: o, cache: c, slots: make(chan struct{}, 2), large: make(chan struct{}, 1), flights: map[string]*flight{}}, nil
}

func cmpOr[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Stats returns the Maker's counts.
func (m *Maker) Stats() Stats {
	n, b := m.cache.size()
	return Stats{Scans: m.stats.scans.Load(), Decodes: m.stats.decodes.Load(), Refused: m.stats.refused.Load(),
		Hits: m.stats.hits.Load(), CacheEntries: n, CacheBytes: b}
}

// Make returns src's preview, a JPEG whose longer side is at most
// MaxSide, or an error wrapping ErrNoPreview — from the cache when it
// was made before, whatever the answer was. Requests for a file whose
// preview is being made wait for it. Errors other than ErrNoPreview (the
// context ending, ErrBusy, reading the file) are not cached.
func (m *Maker) Make(ctx context.Context, src Source) ([]byte, error) {
	name := m.cache.name(src.ID, m.o.MaxSide)
	for {
		if kind, payload, ok := m.cache.get(name); ok {
			m.stats.hits.Add(1)
			if kind == kindJPEG {
				return payload, nil
			}
			return nil, fmt.Errorf("%w: %s", ErrNoPreview, payload)
		}
		m.mu.Lock()
		f := m.flights[name]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			m.flights[name] = f
			m.mu.Unlock()
			f.out, f.err = m.make(ctx, src, name)
			m.mu.Lock()
			delete(m.flights, name)
			m.mu.Unlock()
			close(f.done)
			return f.out, f.err
		}
		m.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err == nil || errors.Is(f.err, ErrNoPreview) {
			return f.out, f.err
		}
		// The maker gave up (its client left, or reading failed): try
		// again, as the maker if no one else is.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// make makes src's preview and caches the verdict.
func (m *Maker) make(ctx context.Context, src Source, name string) ([]byte, error) {
	release, err := m.acquire(ctx, m.slots)
	if err != nil {
		return nil, err
	}
	defer release()
	out, why, err := m.try(ctx, src)
	switch {
	case err != nil: // not the file's fault: not cached
		return nil, err
	case out == nil:
		m.stats.refused.Add(1)
		m.cache.put(name, kindNone, []byte(why))
		return nil, fmt.Errorf("%w: %s", ErrNoPreview, why)
	}
	m.cache.put(name, kindJPEG, out)
	return out, nil
}

// acquire takes a turn from sem, waiting at most QueueWait.
func (m *Maker) acquire(ctx context.Context, sem chan struct{}) (func(), error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	default:
	}
	t := time.NewTimer(m.o.QueueWait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, ErrBusy
	}
}

// try finds what to decode in src and decodes it: the preview, or nil
// and why there is none; err only when the file could not be read (or
// the context ended).
func (m *Maker) try(ctx context.Context, src Source) (out []byte, why string, err error) {
	r, err := m.open(ctx, src)
	if err != nil {
		return nil, "", err
	}
	m.stats.scans.Add(1)
	main, embedded, err := scan(r, m.o.ScanBytes, m.o.MaxSide)
	if err != nil {
		return nil, "", err
	}
	var order []candidate
	for _, c := range embedded { // a camera's own preview first, if it is large enough
		if max(c.w, c.h) >= minEmbedded && c.need <= m.o.Budget {
			order = append(order, c)
			break
		}
	}
	if main.format != "" {
		order = append(order, main)
	}
	for _, c := range embedded {
		if max(c.w, c.h) < minEmbedded && min(c.w, c.h) >= minSide && c.need <= m.o.Budget {
			order = append(order, c)
			break
		}
	}
	why = "not an image, and no preview inside"
	for _, c := range order {
		if c.need > m.o.Budget {
			why = fmt.Sprintf("the %d×%d image would take %d MiB to decode, more than the %d MiB a preview may use",
				c.w, c.h, c.need>>20, m.o.Budget>>20)
			continue
		}
		out, err := m.decode(ctx, src, c)
		if err == nil {
			return out, "", nil
		}
		if errors.Is(err, errRead) || errors.Is(err, ErrBusy) || ctx.Err() != nil {
			return nil, "", err
		}
		why = fmt.Sprintf("the %d×%d %s image does not decode: %v", c.w, c.h, c.format, err)
	}
	return nil, why, nil
}

// decode decodes candidate c of src and makes the preview, within the
// large slot if c is large.
func (m *Maker) decode(ctx context.Context, src Source, c candidate) ([]byte, error) {
	if c.need > m.o.Large {
		release, err := m.acquire(ctx, m.large)
		if err != nil {
			return nil, err
		}
		defer func() {
			// Return the decode's memory before the next large one
			// starts, rather than when the collector next runs: with a
			// large image live the heap goal is high, and the garbage
			// of two large decodes would count twice.
			runtime.GC()
			release()
		}()
	}
	r, err := m.open(ctx, src)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, c.off); err != nil {
		return nil, err
	}
	m.stats.decodes.Add(1)
	var img image.Image
	switch c.format {
	case "jpeg":
		img, err = jpeg.Decode(r)
	case "png":
		img, err = png.Decode(r)
	case "gif":
		img, err = gif.Decode(r)
	}
	if r.failed != nil { // the decoder may have wrapped or replaced it
		return nil, r.failed
	}
	if err != nil {
		return nil, err
	}
	small, err := downscale(ctx, img, m.o.MaxSide)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, small, &jpeg.Options{Quality: 82}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// open opens src behind a reader that fails as soon as ctx ends (so a
// client that hangs up stops the decoding at its next read) and marks
// read errors as such.
func (m *Maker) open(ctx context.Context, src Source) (*ctxReader, error) {
	r, err := src.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRead, err)
	}
	return &ctxReader{ctx: ctx, r: r}, nil
}

// ctxReader reads r until ctx ends, and keeps the first error that was
// not the file's end (failed): the context's, or a read error marked
// with errRead.
type ctxReader struct {
	ctx    context.Context
	r      io.Reader
	failed error
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if c.failed != nil {
		return 0, c.failed
	}
	if err := c.ctx.Err(); err != nil {
		c.failed = err
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.failed = fmt.Errorf("%w: %w", errRead, err)
		return n, c.failed
	}
	return n, err
}
