// Package previewtest writes the images the preview tests attack with:
// decompression bombs — files of a megabyte or two whose headers make a
// decoder allocate gigabytes — written as a stream, so that making one
// costs the test almost no memory; and, to compare, photos.
package previewtest

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"io"
)

// Bytes is the image write makes at width×height (Photo, PNG16,
// ProgressiveJPEG), in memory.
func Bytes(write func(io.Writer, int, int) error, width, height int) []byte {
	var buf bytes.Buffer
	if err := write(&buf, width, height); err != nil {
		panic("previewtest: writing to memory: " + err.Error()) // a bytes.Buffer does not fail
	}
	return buf.Bytes()
}

// Photo writes a width×height baseline JPEG (4:2:0, quality 85) with
// some texture, as a camera's would be: a legitimate image, large to
// decode when it is large.
func Photo(w io.Writer, width, height int) error {
	img := image.NewYCbCr(image.Rect(0, 0, width, height), image.YCbCrSubsampleRatio420)
	for y := range height {
		row := img.Y[y*img.YStride:]
		for x := range width {
			row[x] = uint8(x*255/width) ^ uint8(y*7)&0x1f
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(100+i%50), uint8(140-i%40)
	}
	return jpeg.Encode(w, img, &jpeg.Options{Quality: 85})
}

// ProgressiveJPEG writes a valid width×height progressive JPEG (SOF2,
// three components without subsampling) that holds only a first DC
// scan: a flat grey image. A decoder must keep every block's
// coefficients until the end (256 bytes per 8×8 block per component)
// besides the image itself: about 15 bytes a pixel, 2.9 GB for
// 14000×14000, from a file of 1.1 MB.
func ProgressiveJPEG(w io.Writer, width, height int) error {
	bw := bufio.NewWriter(w)
	seg := func(marker byte, body ...byte) {
		bw.Write([]byte{0xff, marker, byte((len(body) + 2) >> 8), byte(len(body) + 2)})
		bw.Write(body)
	}
	bw.Write([]byte{0xff, 0xd8}) // SOI
	q := make([]byte, 65)        // DQT: table 0, all ones
	for i := 1; i < len(q); i++ {
		q[i] = 1
	}
	seg(0xdb, q...)
	seg(0xc2, 8, byte(height>>8), byte(height), byte(width>>8), byte(width), 3, // SOF2
		1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0)
	// DHT: DC table 0 with one code, "0", for category 0 (no change).
	seg(0xc4, append([]byte{0x00, 1}, append(make([]byte, 15), 0)...)...)
	seg(0xda, 3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 0, 0) // SOS: DC first scan of all three
	// Each MCU is three blocks of one 0 bit each.
	mcus := ((width + 7) / 8) * ((height + 7) / 8)
	bits := 3 * mcus
	zero := make([]byte, 64<<10)
	for n := bits / 8; n > 0; {
		k := min(n, len(zero))
		if _, err := bw.Write(zero[:k]); err != nil {
			return err
		}
		n -= k
	}
	if r := bits % 8; r != 0 {
		bw.WriteByte(0xff >> r) // pad the last byte with 1 bits
		bw.WriteByte(0x00)      // a 0xff data byte is stuffed
	}
	bw.Write([]byte{0xff, 0xd9}) // EOI
	return bw.Flush()
}

// PNG16 writes a valid width×height 16-bit RGB PNG (a grey gradient
// across each row, every row alike), row by row; it stops at w's first
// error. A decoder holds it as 8
// bytes a pixel: 1.5 GB for 14000×14000, from a file of about a
// megabyte.
func PNG16(w io.Writer, width, height int) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) error {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		bw.Write(n[:])
		crc := crc32.NewIEEE()
		io.WriteString(crc, kind)
		crc.Write(data)
		bw.WriteString(kind)
		bw.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		_, err := bw.Write(n[:]) // bufio keeps the first error
		return err
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 16, 2 // 16 bits, truecolour; compression, filter, interlace 0
	chunk("IHDR", ihdr)
	idat := &chunkWriter{chunk: chunk}
	zw, err := zlib.NewWriterLevel(idat, zlib.BestSpeed)
	if err != nil {
		return err
	}
	row := make([]byte, 1+6*width) // filter 0, then R, G, B, 16 bits each
	for x := range width {
		v := uint16(x * 65535 / max(width-1, 1))
		for c := range 3 {
			binary.BigEndian.PutUint16(row[1+6*x+2*c:], v)
		}
	}
	up := make([]byte, len(row)) // later rows: filter 2 (up), all zero
	up[0] = 2
	for y := range height {
		r := up
		if y == 0 {
			r = row
		}
		if _, err := zw.Write(r); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := idat.flush(); err != nil {
		return err
	}
	chunk("IEND", nil)
	return bw.Flush()
}

// chunkWriter cuts the compressed stream into IDAT chunks of 64 KiB.
type chunkWriter struct {
	chunk func(string, []byte) error
	buf   []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) >= 64<<10 {
		if err := c.chunk("IDAT", c.buf[:64<<10]); err != nil {
			return 0, err
		}
		c.buf = c.buf[64<<10:]
	}
	return len(p), nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.chunk("IDAT", c.buf)
	c.buf = nil
	return err
}
