package vault

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// segments splits a sparse file into data and holes with SEEK_DATA and
// SEEK_HOLE; a file that is not sparse (or a file system that cannot
// tell) is one data segment.
func segments(f *os.File, size int64) []segment {
	whole := []segment{{0, size, false}}
	fi, err := f.Stat()
	if err != nil {
		return whole
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || sys.Blocks*512 >= size || size < 4*holeChunk {
		return whole
	}
	fd := int(f.Fd())
	var out []segment
	var off int64
	for off < size {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) { // only a hole remains
				data = size
			} else {
				return whole
			}
		}
		if data > off {
			out = append(out, segment{off, data - off, true})
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return whole
		}
		out = append(out, segment{data, hole - data, false})
		off = hole
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return whole
	}
	return out
}
