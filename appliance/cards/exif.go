package cards

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
)

// exifInfo is what folder naming needs from a photo's metadata.
type exifInfo struct {
	Date  string // 2006-01-02, "" when absent
	Model string // camera model, "" when absent
}

// maxTIFFRead bounds how far into a TIFF-based file (TIFF, DNG, CR2, NEF,
// ARW...) the reader follows offsets: metadata lives near the start.
const maxTIFFRead = 4 << 20

// readExif reads the capture date and camera model from a JPEG (APP1 Exif
// segment) or a TIFF-based raw file. It never fails: anything it cannot
// parse yields an empty field, and the caller falls back to mtime and
// "unknown".
func readExif(r io.ReaderAt, size int64) exifInfo {
	var head [4]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return exifInfo{}
	}
	switch {
	case head[0] == 0xFF && head[1] == 0xD8:
		seg := jpegExif(io.NewSectionReader(r, 0, size))
		if seg == nil {
			return exifInfo{}
		}
		return parseTIFF(bytes.NewReader(seg), int64(len(seg)))
	case string(head[:2]) == "II" || string(head[:2]) == "MM":
		return parseTIFF(r, min(size, maxTIFFRead))
	}
	return exifInfo{}
}

// jpegExif returns the TIFF payload of the first APP1 Exif segment, or nil.
func jpegExif(r io.Reader) []byte {
	br := &byteReader{r: r}
	if br.u8() != 0xFF || br.u8() != 0xD8 {
		return nil
	}
	for i := 0; i < 32 && br.err == nil; i++ {
		if br.u8() != 0xFF {
			return nil
		}
		m := br.u8()
		for m == 0xFF && br.err == nil { // fill bytes
			m = br.u8()
		}
		if m == 0xD9 || m == 0xDA { // end of image, start of scan
			return nil
		}
		if m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			continue // markers without a length
		}
		n := int(br.u8())<<8 | int(br.u8())
		if n < 2 {
			return nil
		}
		seg := make([]byte, n-2)
		if _, err := io.ReadFull(r, seg); err != nil || br.err != nil {
			return nil
		}
		if m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
	}
	return nil
}

type byteReader struct {
	r   io.Reader
	err error
	b   [1]byte
}

func (b *byteReader) u8() byte {
	if b.err != nil {
		return 0
	}
	_, b.err = io.ReadFull(b.r, b.b[:])
	return b.b[0]
}

// TIFF tags read.
const (
	tagModel            = 0x0110
	tagExifIFD          = 0x8769
	tagDateTimeOriginal = 0x9003
)

// parseTIFF reads IFD0 (Model, DateTime, pointer to the Exif IFD) and the
// Exif IFD (DateTimeOriginal). Offsets beyond limit are ignored.
func parseTIFF(r io.ReaderAt, limit int64) exifInfo {
	var hdr [8]byte
	if limit < 8 {
		return exifInfo{}
	}
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return exifInfo{}
	}
	var bo binary.ByteOrder
	switch string(hdr[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return exifInfo{}
	}
	if bo.Uint16(hdr[2:]) != 42 {
		return exifInfo{}
	}
	t := tiff{r: r, bo: bo, limit: limit}
	var info exifInfo
	ifd0 := t.entries(int64(bo.Uint32(hdr[4:])))
	for _, e := range ifd0 {
		switch e.tag {
		case tagModel:
			info.Model = t.ascii(e)
		case tagExifIFD:
			for _, x := range t.entries(int64(e.value(bo))) {
				if x.tag == tagDateTimeOriginal {
					info.Date = exifDate(t.ascii(x))
				}
			}
		}
	}
	return info
}

type tiff struct {
	r     io.ReaderAt
	bo    binary.ByteOrder
	limit int64
}

type ifdEntry struct {
	tag, typ uint16
	count    uint32
	raw      [4]byte
}

func (e ifdEntry) value(bo binary.ByteOrder) uint32 { return bo.Uint32(e.raw[:]) }

func (t tiff) entries(off int64) []ifdEntry {
	if off < 8 || off+2 > t.limit {
		return nil
	}
	var nb [2]byte
	if _, err := t.r.ReadAt(nb[:], off); err != nil {
		return nil
	}
	n := int64(t.bo.Uint16(nb[:]))
	if n > 1000 || off+2+n*12 > t.limit {
		return nil
	}
	buf := make([]byte, n*12)
	if _, err := t.r.ReadAt(buf, off+2); err != nil {
		return nil
	}
	out := make([]ifdEntry, n)
	for i := range out {
		b := buf[i*12:]
		out[i] = ifdEntry{tag: t.bo.Uint16(b), typ: t.bo.Uint16(b[2:]), count: t.bo.Uint32(b[4:])}
		copy(out[i].raw[:], b[8:12])
	}
	return out
}

// ascii returns an ASCII entry's value, trimmed, or "" if it is not one.
func (t tiff) ascii(e ifdEntry) string {
	if e.typ != 2 || e.count == 0 || e.count > 256 {
		return ""
	}
	var b []byte
	if e.count <= 4 {
		b = e.raw[:e.count]
	} else {
		off := int64(e.value(t.bo))
		if off+int64(e.count) > t.limit {
			return ""
		}
		b = make([]byte, e.count)
		if _, err := t.r.ReadAt(b, off); err != nil {
			return ""
		}
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

// exifDate turns "2006:01:02 15:04:05" into "2006-01-02", or "" when the
// value is not a plausible date (cameras write "0000:00:00 00:00:00").
func exifDate(s string) string {
	if len(s) < 10 || s[4] != ':' && s[4] != '-' || s[7] != ':' && s[7] != '-' {
		return ""
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	if s[:4] == "0000" || s[5:7] == "00" || s[5:7] > "12" || s[8:10] == "00" || s[8:10] > "31" {
		return ""
	}
	return s[:4] + "-" + s[5:7] + "-" + s[8:10]
}
