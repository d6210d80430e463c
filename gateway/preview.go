package gateway

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"io"
)

// Previews for view-only share links: the original is decoded (JPEG,
// PNG, GIF) or, for camera RAW files (CR2, NEF, ARW, DNG, RAF, RW2…),
// the largest JPEG preview the camera embedded is used; then it is
// shrunk and re-encoded, which also drops the original's metadata.

const (
	// previewMax is the longest side of a preview image, in pixels.
	previewMax = 1600
	// previewRead is how much of a file is read to make its preview: all
	// of a JPEG, and the part of a RAW file where cameras put previews.
	previewRead = 64 << 20
	// previewPixels refuses images whose header claims more pixels than
	// a real camera makes (a decompression bomb would take gigabytes).
	previewPixels = 200_000_000
)

// previewSem bounds the previews made at once: each holds the file and
// the decoded image in memory.
var previewSem = make(chan struct{}, 2)

var errNoPreview = errors.New("no preview for this kind of file")

// decodePreview decodes data as an image, or finds the largest embedded
// JPEG in it.
func decodePreview(data []byte) (image.Image, error) {
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		if cfg.Width*cfg.Height > previewPixels {
			return nil, errNoPreview
		}
		if img, _, err := image.Decode(bytes.NewReader(data)); err == nil {
			return img, nil
		}
	}
	best, area := -1, 0
	for i := 0; i+3 <= len(data); {
		j := bytes.Index(data[i:], []byte{0xff, 0xd8, 0xff})
		if j < 0 {
			break
		}
		at := i + j
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data[at:])); err == nil {
			if a := cfg.Width * cfg.Height; a > area && a <= previewPixels {
				best, area = at, a
			}
		}
		i = at + 3
	}
	if best < 0 || area < 64*64 {
		return nil, errNoPreview
	}
	return jpeg.Decode(bytes.NewReader(data[best:]))
}

// capWriter keeps the first n bytes written to it and then stops the
// writer with errCapped.
type capWriter struct {
	buf bytes.Buffer
	n   int
}

var errCapped = errors.New("enough read for a preview")

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.n - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:room])
		return room, errCapped
	}
	return c.buf.Write(p)
}

var _ io.Writer = (*capWriter)(nil)
