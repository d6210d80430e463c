package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Lengths of the units time.ParseDuration does not know.
const (
	Day   = 24 * time.Hour
	Week  = 7 * Day
	Month = 30 * Day
	Year  = 365 * Day
)

// MinRetention is the shortest period ParseRetention accepts.
const MinRetention = time.Hour

// DurationForms is the short list of accepted forms that errors name.
const DurationForms = "a number and a unit: 90s, 90m (minutes), 12h, 30d, 2w, 6mo (months), 1y, or several, such as 1h30m or 1y6mo (see docs/UNITS.md)"

// long are the units beyond Go's; each takes a whole number.
var long = map[string]time.Duration{"d": Day, "w": Week, "mo": Month, "y": Year}

// goUnits are the units time.ParseDuration reads.
var goUnits = map[string]bool{"ns": true, "us": true, "µs": true, "μs": true, "ms": true, "s": true, "m": true, "h": true}

// ParseDuration reads a duration of the grammar in the package comment:
// every form time.ParseDuration accepts, with the same value, plus the
// units d, w, mo and y and terms that mix them ("1y6mo", "1d12h").
// Surrounding spaces are ignored. An error wraps ErrDuration and names
// the value and the accepted forms.
func ParseDuration(s string) (time.Duration, error) {
	d, ok := parseDuration(strings.TrimSpace(s))
	if !ok {
		return 0, fmt.Errorf("%q is %w: use %s", s, ErrDuration, DurationForms)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, bool) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, true
	}
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" {
		return 0, false
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		num := s[:i]
		j := i
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		unit := s[i:j]
		s = s[j:]
		var d time.Duration
		switch {
		case num == "" || unit == "":
			return 0, false
		case long[unit] != 0:
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n > math.MaxInt64/int64(long[unit]) {
				return 0, false
			}
			d = time.Duration(n) * long[unit]
		case goUnits[unit]:
			v, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, false
			}
			d = v
		default:
			return 0, false
		}
		if total > math.MaxInt64-d {
			return 0, false
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, true
}

// ParseRetention reads a period that keeps data (a keep-within rule, a
// lock's length): ParseDuration, refusing periods below MinRetention
// with an error that wraps ErrTooShort, says what was read and how to
// write months, since "6m" is six months to restic users and six
// minutes here.
func ParseRetention(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d >= MinRetention {
		return d, nil
	}
	t := strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(t, "m"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		return 0, fmt.Errorf("%s is %s minutes, %w (the shortest is %v); for months write %smo", t, n, ErrTooShort, MinRetention, n)
	}
	return 0, fmt.Errorf("%s is %v, %w (the shortest is %v): write the period in h, d, w, mo (months) or y, e.g. 30d or 6mo", t, d, ErrTooShort, MinRetention)
}
