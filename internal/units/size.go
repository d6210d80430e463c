package units

import (
	"fmt"

	"github.com/dustin/go-humanize"
)

// MaxSize is the largest size ParseSize accepts (4 EiB), so that sums
// of a few sizes still fit in an int64.
const MaxSize = 1 << 62

// SizeForms is the short list of accepted forms that errors name.
const SizeForms = "bytes with an optional unit: 12345, 500MB or 500M (10^6), 4T (10^12), 20GiB (2^30) (see docs/UNITS.md)"

// ParseSize reads an amount of bytes with humanize.ParseBytes: "12345",
// "500MB", "4T", "20GiB", "1.5 TB". SI units are powers of 1000, IEC
// units (KiB, MiB, ...) powers of 1024. An error wraps ErrSize and names
// the value and the accepted forms.
func ParseSize(s string) (int64, error) {
	v, err := humanize.ParseBytes(s)
	if err != nil || v > MaxSize {
		return 0, fmt.Errorf("%q is %w: use %s", s, ErrSize, SizeForms)
	}
	return int64(v), nil
}
