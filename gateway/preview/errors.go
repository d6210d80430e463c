package preview

import "errors"

var (
	// errShort: the bytes end before the header does.
	errShort = errors.New("header cut short")
	// errNotImage: not an image this package decodes, or a header its
	// decoder would refuse.
	errNotImage = errors.New("not a JPEG, PNG or GIF image")
)

var (
	// ErrNoPreview: the file has no preview — not an image, an image
	// whose decoding would take more memory than the budget, or a
	// damaged one. The error wrapping it says which.
	ErrNoPreview = errors.New("no preview for this file")
	// ErrBusy: previews were being made for longer than QueueWait; try
	// again shortly.
	ErrBusy = errors.New("the box is busy making previews: try again in a few seconds")
)

// errRead marks an error reading the file (rather than decoding it).
var errRead = errors.New("read")
