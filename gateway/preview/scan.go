package preview

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"slices"
)

// candidate is an image found in a file: the file itself (offset 0) or
// a JPEG embedded in it (a camera's preview in a RAW or HEIC file, an
// EXIF or MPF preview in a JPEG).
type candidate struct {
	off int64
	header
}

const (
	// scanWindow is how much of a file is searched at once.
	scanWindow = 1 << 20
	// headerRoom is the most bytes a header may take to reach its frame
	// (a JPEG's application segments before its SOF): a candidate whose
	// header is longer is skipped.
	headerRoom = 256 << 10
	// maxCandidates bounds the embedded JPEGs kept from one file.
	maxCandidates = 64
)

var soi = []byte{0xff, 0xd8, 0xff}

// scan reads the first limit bytes of r, holding at most
// scanWindow+headerRoom of them at once, and returns the image r starts
// with (main.format is "" when it starts with none, or with a header
// neither its parser nor the standard decoder accepts) and the JPEGs
// embedded after it whose headers parse. Only a read error is an error.
func scan(r io.Reader, limit int64, maxSide int) (main candidate, embedded []candidate, err error) {
	r = io.LimitReader(r, limit)
	buf := make([]byte, 0, scanWindow+headerRoom)
	base := int64(0) // the file offset of buf[0]
	eof := false
	fill := func() error {
		for len(buf) < cap(buf) && !eof {
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return err
			}
		}
		return nil
	}
	// drop discards buf[:n].
	drop := func(n int) {
		base += int64(n)
		buf = buf[:copy(buf, buf[n:])]
	}
	if err := fill(); err != nil {
		return candidate{}, nil, err
	}
	if hd, err := sniff(buf, maxSide); err == nil && confirm(hd, buf) == nil {
		main = candidate{0, hd}
	}
	for pos := 1; ; {
		i := bytes.Index(buf[pos:], soi)
		if i < 0 {
			if eof {
				break
			}
			keep := min(len(buf), len(soi)-1) // an SOI may straddle the windows
			drop(len(buf) - keep)
			pos = 0
			if err := fill(); err != nil {
				return candidate{}, nil, err
			}
			continue
		}
		at := pos + i
		if len(buf)-at < headerRoom && !eof && at > 0 {
			drop(at) // bring the candidate's header in whole
			pos = 0
			if err := fill(); err != nil {
				return candidate{}, nil, err
			}
			continue
		}
		if hd, err := jpegHeader(buf[at:], maxSide); err == nil && confirm(hd, buf[at:]) == nil {
			embedded = append(embedded, candidate{base + int64(at), hd})
			if len(embedded) > maxCandidates { // keep the largest
				slices.SortFunc(embedded, byArea)
				embedded = embedded[:maxCandidates]
			}
		}
		pos = at + len(soi)
	}
	slices.SortFunc(embedded, byArea)
	return main, embedded, nil
}

// byArea orders candidates largest first.
func byArea(a, b candidate) int {
	return cmp.Compare(int64(b.w)*int64(b.h), int64(a.w)*int64(a.h))
}
