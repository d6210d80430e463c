package vault

import (
	"io"
	"sync"
)

// windowSize is the read-ahead of a windowReader.
const windowSize = 1 << 20

// windowReader serves the small reads age makes while decrypting (one per
// 64 KiB chunk) from a couple of read-ahead windows, so that reading a
// 1 MiB blob costs one system call instead of sixteen. Safe for concurrent
// use.
type windowReader struct {
	r    io.ReaderAt
	size int64
	mu   sync.Mutex
	wins [2]window
	tick uint64
}

type window struct {
	off  int64
	buf  []byte
	used uint64
}

func newWindowReader(r io.ReaderAt, size int64) *windowReader {
	return &windowReader{r: r, size: size}
}

func (w *windowReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= w.size {
		return 0, io.EOF
	}
	if len(p) > windowSize/2 {
		return w.r.ReadAt(p, off)
	}
	end := off + int64(len(p))
	w.mu.Lock()
	w.tick++
	for i := range w.wins {
		win := &w.wins[i]
		if win.buf != nil && off >= win.off && end <= win.off+int64(len(win.buf)) {
			win.used = w.tick
			n := copy(p, win.buf[off-win.off:])
			w.mu.Unlock()
			return n, nil
		}
		if win.buf != nil && off >= win.off && off < win.off+int64(len(win.buf)) && win.off+int64(len(win.buf)) == w.size {
			// A read past the end of the object, served up to the end.
			win.used = w.tick
			n := copy(p, win.buf[off-win.off:])
			w.mu.Unlock()
			return n, io.EOF
		}
	}
	// Miss: replace the least recently used window.
	victim := 0
	for i := range w.wins {
		if w.wins[i].used < w.wins[victim].used {
			victim = i
		}
	}
	buf := w.wins[victim].buf
	w.wins[victim] = window{}
	w.mu.Unlock()

	n := int(min(int64(windowSize), w.size-off))
	if cap(buf) < windowSize {
		buf = make([]byte, windowSize)
	}
	buf = buf[:n]
	m, err := w.r.ReadAt(buf, off)
	if m < n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	c := copy(p, buf)
	w.mu.Lock()
	w.wins[victim] = window{off: off, buf: buf, used: w.tick}
	w.mu.Unlock()
	if c < len(p) {
		return c, io.EOF
	}
	return c, nil
}
