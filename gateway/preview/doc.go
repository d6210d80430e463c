// Package preview makes the previews a view-only share link shows: a
// JPEG of at most 1600 pixels on its longer side, re-encoded (which drops
// the original's metadata: GPS position, camera serial), from a JPEG, PNG
// or GIF, or from the JPEG preview a camera embedded in a RAW or HEIC
// file. Anyone holding a link can ask for previews, so every step is
// bounded: what an image costs to decode is worked out from its header
// before anything is decoded, decoding stops when the asker leaves, and
// each file is decoded at most once.
//
// # Budget
//
// A decompression bomb is a small file whose header promises a huge
// image: a 14000×14000 progressive JPEG of one megabyte makes
// image/jpeg allocate 2.9 GB; a 16-bit PNG of the same size, 1.5 GB.
// A pixel cap does not stop them (both are under 200 megapixels), so the
// header is read — by a parser that walks the markers as image/jpeg does,
// cross-checked against the standard DecodeConfig — and the memory the
// standard decoder will allocate is computed for the representation it
// decodes to:
//
//   - JPEG: each component's plane at its sampling (4:2:0 is 1.5 bytes a
//     pixel, 4:4:4 three), plus, for a progressive JPEG, the coefficients
//     of every block (4 bytes a pixel per component), plus the conversion
//     of a CMYK or RGB JPEG to 4 bytes a pixel;
//   - PNG: the image type it decodes to (1 byte a pixel paletted, 4 for
//     8-bit grey, RGB or with alpha, 8 for 16-bit), doubled when
//     interlaced;
//   - GIF: a byte a pixel of the logical screen;
//
// plus the downscaled copy and a megabyte for tables and buffers. An image
// needing more than the budget (Options.Budget, 160 MiB) has no preview.
// That admits cameras' baseline JPEGs up to about 75 megapixels at 4:2:2
// (a 61-megapixel one needs about 125 MiB; larger ones show the preview
// they embed) and refuses the bombs above from their first kilobyte.
//
// # Turns
//
// Two previews are made at a time (each holds a turn from reading the
// file's header to the finished JPEG); a decode needing more
// than Options.Large (32 MiB) also takes the single large turn, so at
// most one large image is in memory at once, beside one small one. After
// a large decode the garbage collector is run before the next may start.
// A request that waits for a turn longer than Options.QueueWait gets
// ErrBusy. The file is read through a reader that fails once the
// request's context ends, and downscaling checks it row by row, so a
// client that hangs up stops the work within a read.
//
// # What is decoded
//
// The first Options.ScanBytes (64 MiB) of the file are searched, a
// megabyte at a time, for embedded JPEGs (a RAW file's previews, a JPEG's
// EXIF thumbnail or MPF preview, a HEIC's JPEG thumbnail: HEVC itself has
// no decoder in the standard library). The largest embedded JPEG of at
// least 1000 pixels on its longer side is preferred, being cheaper than
// the image itself; else the image itself (JPEG, PNG or GIF, each with
// its own decoder — never image.Decode, which would reach any decoder
// some import registered); else the largest smaller embedded one.
//
// # Cache
//
// Every verdict is cached on disk — a preview, or "no preview" and why —
// so that asking again costs a file read, and a link cannot make the box
// decode the same image twice. Requests for a file whose preview is being
// made wait for that one. Entries live in Options.Dir, one file each,
// named by the lowercase hex HMAC-SHA256 of the file's content identity
// (Source.ID) and the preview size, under a key derived from Options.Key
// with HKDF-SHA256 ("shoebox preview cache v1"), so names reveal nothing
// of the content. A file is
//
//	"SBPV" 0x01 | nonce (24 bytes) | XChaCha20-Poly1305(kind | payload)
//
// sealed under another key derived alongside, with "shoebox preview
// cache v1 " and the file's name as additional data; kind 0 is "no
// preview" (the payload says why), 1 a JPEG. Files are written
// atomically; a damaged or tampered one is dropped and made again. The
// cache holds at most Options.CacheBytes (256 MiB): past that, the least
// recently used entries go first.
package preview
