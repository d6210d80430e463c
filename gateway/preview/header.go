package preview

import (
	"bytes"
	"encoding/binary"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// header is what an image's first bytes say about decoding it.
type header struct {
	format string // "jpeg", "png" or "gif": the decoder Make uses, and no other
	w, h   int
	// need is the most memory, in bytes, the standard library's decoder
	// allocates for it, the preview made from it included (see need).
	need int64
}

// decodeOverhead is what any decode needs besides its pixels: Huffman
// and quantisation tables, zlib's window, read buffers, the JPEG encoder.
const decodeOverhead = 1 << 20

// sniff parses the header of the image b starts with.
func sniff(b []byte, maxSide int) (header, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xd8}):
		return jpegHeader(b, maxSide)
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return pngHeader(b, maxSide)
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return gifHeader(b, maxSide)
	}
	return header{}, errNotImage
}

// outBytes is the memory of the downscaled copy of a w×h image (RGBA,
// longer side at most maxSide).
func outBytes(w, h, maxSide int) int64 {
	f := max((max(w, h)+maxSide-1)/maxSide, 1)
	return 4 * int64(w/f+1) * int64(h/f+1)
}

// jpegComp is a JPEG frame component: its ID and sampling factors.
type jpegComp struct{ id, h, v byte }

// jpegHeader reads the markers of the JPEG at b up to its frame header
// (SOF), the way image/jpeg does — extraneous bytes before a marker and
// fill bytes skipped, restart markers ignored — so that both see the
// same frame, and works out what decoding it takes:
//
//   - the image planes: per component, 8·h·mxx × 8·v·myy bytes (mxx, myy:
//     the MCUs across and down);
//   - a progressive JPEG's coefficients, kept for every block until the
//     end: 64 int32s per 8×8 block of each component;
//   - a 4-component (CMYK) image's extra black plane and its conversion
//     to 4 bytes a pixel; an RGB one's conversion to RGBA.
//
// A header image/jpeg would refuse (other SOF kinds, precision, sampling
// factors out of 1 to 4) is errNotImage.
func jpegHeader(b []byte, maxSide int) (header, error) {
	if len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
		return header{}, errNotImage
	}
	jfif, adobe, adobeTransform := false, false, byte(0)
	for i := 2; ; {
		// A marker: 0xff, then any number of fill 0xffs, then its code.
		for i < len(b) && b[i] != 0xff {
			i++ // extraneous data, which image/jpeg ignores
		}
		for i < len(b) && b[i] == 0xff {
			i++
		}
		if i >= len(b) {
			return header{}, errShort
		}
		marker := b[i]
		i++
		switch {
		case marker == 0x00 || 0xd0 <= marker && marker <= 0xd7: // stuffed 0xff, restart: no segment
			continue
		case marker == 0xd9 || marker == 0xda: // EOI, SOS before any frame header
			return header{}, errNotImage
		}
		if i+2 > len(b) {
			return header{}, errShort
		}
		n := int(binary.BigEndian.Uint16(b[i:])) - 2
		i += 2
		if n < 0 {
			return header{}, errNotImage
		}
		if i+n > len(b) {
			return header{}, errShort
		}
		seg := b[i : i+n]
		i += n
		switch {
		case marker == 0xc0 || marker == 0xc1 || marker == 0xc2: // baseline, extended, progressive
			return jpegFrame(seg, marker == 0xc2, jfif, adobe, adobeTransform, maxSide)
		case marker == 0xe0: // APP0
			jfif = jfif || len(seg) >= 5 && string(seg[:5]) == "JFIF\x00"
		case marker == 0xee: // APP14
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				adobe, adobeTransform = true, seg[11]
			}
		case marker == 0xc4 || marker == 0xdb || marker == 0xdd || marker == 0xfe || 0xe0 <= marker && marker <= 0xef:
			// tables, restart interval, comments, application data
		default:
			return header{}, errNotImage // lossless, arithmetic, hierarchical…: image/jpeg refuses them
		}
	}
}

// jpegFrame works out what decoding the frame seg (a SOF's body) takes.
func jpegFrame(seg []byte, progressive, jfif, adobe bool, adobeTransform byte, maxSide int) (header, error) {
	if len(seg) < 6 || seg[0] != 8 {
		return header{}, errNotImage
	}
	h, w, nComp := int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:])), int(seg[5])
	if w == 0 || h == 0 || nComp != 1 && nComp != 3 && nComp != 4 || len(seg) != 6+3*nComp {
		return header{}, errNotImage
	}
	comps := make([]jpegComp, nComp)
	for i := range comps {
		c := jpegComp{id: seg[6+3*i], h: seg[7+3*i] >> 4, v: seg[7+3*i] & 0x0f}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return header{}, errNotImage
		}
		if nComp == 1 {
			c.h, c.v = 1, 1 // a single component is never interleaved
		}
		comps[i] = c
	}
	h0, v0 := int64(comps[0].h), int64(comps[0].v)
	mxx, myy := (int64(w)+8*h0-1)/(8*h0), (int64(h)+8*v0-1)/(8*v0)
	var need int64
	for _, c := range comps {
		plane := 8 * int64(c.h) * mxx * 8 * int64(c.v) * myy
		need += plane // Y, Cb, Cr and K planes
		if progressive {
			need += 4 * plane // 64 int32 coefficients per 64 pixels
		}
	}
	rgb := !jfif && (adobe && adobeTransform == 0 ||
		!adobe && nComp == 3 && comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B')
	if nComp == 4 || nComp == 3 && rgb {
		need += 4 * int64(w) * int64(h) // converted to CMYK or RGBA
	}
	need += outBytes(w, h, maxSide) + decodeOverhead
	return header{format: "jpeg", w: w, h: h, need: need}, nil
}

// pngHeader reads a PNG's IHDR (the first chunk, as the format requires)
// and works out what image/png allocates: the image in the type it
// decodes to (1, 4 or 8 bytes a pixel: a transparency chunk turns grey
// and RGB into NRGBA), two rows, and for an interlaced image its seven
// passes besides the whole.
func pngHeader(b []byte, maxSide int) (header, error) {
	if len(b) < 33 {
		return header{}, errShort
	}
	if binary.BigEndian.Uint32(b[8:]) != 13 || string(b[12:16]) != "IHDR" {
		return header{}, errNotImage
	}
	w, h := binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
	depth, ctype, interlace := b[24], b[25], b[28]
	if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 || interlace > 1 {
		return header{}, errNotImage
	}
	var channels, bpp int64
	switch ctype {
	case 0: // grey
		channels, bpp = 1, 4
	case 2: // RGB
		channels, bpp = 3, 4
	case 3: // paletted
		channels, bpp = 1, 1
	case 4: // grey and alpha
		channels, bpp = 2, 4
	case 6: // RGBA
		channels, bpp = 4, 4
	default:
		return header{}, errNotImage
	}
	switch {
	case depth == 16 && ctype != 3:
		bpp = 8
	case depth == 8, depth < 8 && (ctype == 0 || ctype == 3) && (depth == 1 || depth == 2 || depth == 4):
	default:
		return header{}, errNotImage
	}
	img := int64(w) * int64(h) * bpp
	need := img + 2*(1+(channels*int64(depth)*int64(w)+7)/8)
	if interlace == 1 {
		need += img
	}
	need += outBytes(int(w), int(h), maxSide) + decodeOverhead
	return header{format: "png", w: int(w), h: int(h), need: need}, nil
}

// gifHeader reads a GIF's logical screen size: image/gif decodes the
// first frame, which must lie within the screen, at a byte a pixel.
func gifHeader(b []byte, maxSide int) (header, error) {
	if len(b) < 10 {
		return header{}, errShort
	}
	w, h := int(binary.LittleEndian.Uint16(b[6:])), int(binary.LittleEndian.Uint16(b[8:]))
	if w == 0 || h == 0 {
		return header{}, errNotImage
	}
	need := int64(w)*int64(h) + outBytes(w, h, maxSide) + decodeOverhead
	return header{format: "gif", w: w, h: h, need: need}, nil
}

// confirm checks hd against the standard decoder's own reading of the
// header in b: both must see the same size, or the image is refused
// (what this package budgets for is what gets decoded).
func confirm(hd header, b []byte) error {
	var err error
	var w, h int
	r := bytes.NewReader(b)
	switch hd.format {
	case "jpeg":
		c, e := jpeg.DecodeConfig(r)
		w, h, err = c.Width, c.Height, e
	case "png":
		c, e := png.DecodeConfig(r)
		w, h, err = c.Width, c.Height, e
	case "gif":
		c, e := gif.DecodeConfig(r)
		w, h, err = c.Width, c.Height, e
	}
	if err != nil || w != hd.w || h != hd.h {
		return errNotImage
	}
	return nil
}
