package units

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"30s", 30 * time.Second},
		{"90m", 90 * time.Minute},
		{"12h", 12 * time.Hour},
		{"1.5h", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"30d", 30 * Day},
		{"2w", 14 * Day},
		{"6mo", 180 * Day},
		{"1y", 365 * Day},
		{"1y6mo", 545 * Day},
		{"1d12h", 36 * time.Hour},
		{" 7d ", 7 * Day},
		{"-5m", -5 * time.Minute},
		{"-1d", -Day},
		{"+2h", 2 * time.Hour},
		{"100ms", 100 * time.Millisecond},
		{"720h0m0s", 30 * Day}, // what time.Duration.String gives
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationRefuses(t *testing.T) {
	for _, in := range []string{"", "5", "d", "1.5d", "1mon", "1 d", "1M", "30days", "1d-2h", "99999999999y", "9223372036854775807ns1ns", "abc"} {
		_, err := ParseDuration(in)
		if !errors.Is(err, ErrDuration) {
			t.Errorf("ParseDuration(%q): got %v, want ErrDuration", in, err)
			continue
		}
		if !strings.Contains(err.Error(), "6mo") || !strings.Contains(err.Error(), "docs/UNITS.md") {
			t.Errorf("ParseDuration(%q): error %q does not name the accepted forms", in, err)
		}
	}
}

func TestParseRetention(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		errText string
	}{
		{"6m", 0, "6m is 6 minutes, retention period too short (the shortest is 1h0m0s); for months write 6mo"},
		{"59m", 0, "for months write 59mo"},
		{"30s", 0, "30s is 30s, retention period too short"},
		{"0", 0, "write the period in h, d, w, mo (months) or y"},
		{"-2d", 0, "too short"},
		{"1h", time.Hour, ""},
		{"6mo", 180 * Day, ""},
		{"4320h0m0s", 180 * Day, ""},
	} {
		got, err := ParseRetention(tc.in)
		if tc.errText == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseRetention(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, ErrTooShort) || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("ParseRetention(%q): got %v, want ErrTooShort saying %q", tc.in, err, tc.errText)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"12345", 12345},
		{"4T", 4e12},
		{"500G", 500e9},
		{"1.5T", 1.5e12},
		{"500MB", 500e6},
		{"500 mb", 500e6},
		{"200MiB", 200 << 20},
		{"20GiB", 20 << 30},
		{"512K", 512e3},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "x", "-1", "4X", "5EiB", "1e30"} {
		if _, err := ParseSize(in); !errors.Is(err, ErrSize) || !strings.Contains(err.Error(), "20GiB") {
			t.Errorf("ParseSize(%q): got %v, want ErrSize naming the forms", in, err)
		}
	}
}

// FuzzParseDuration checks that every form time.ParseDuration reads keeps
// its value, that no input panics, and that the result's sign follows
// the text's.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "30s", "90m", "1h30m", "30d", "1y6mo", "-5m", "1.5h", "6m", "9223372036854775807ns", "-9223372036854775808ns", "106751d", "292y", "µs", "1mo1mo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDuration(s)
		if want, werr := time.ParseDuration(strings.TrimSpace(s)); werr == nil && (err != nil || got != want) {
			t.Fatalf("ParseDuration(%q) = %v, %v; time.ParseDuration gives %v", s, got, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrDuration) {
				t.Fatalf("ParseDuration(%q): error %v does not wrap ErrDuration", s, err)
			}
			return
		}
		if got < 0 && strings.TrimSpace(s)[0] != '-' {
			t.Fatalf("ParseDuration(%q) = %v: negative from unsigned text", s, got)
		}
		if r, err := ParseRetention(s); err == nil && (r != got || r < MinRetention) {
			t.Fatalf("ParseRetention(%q) = %v, ParseDuration %v", s, r, got)
		}
	})
}

// FuzzParseSize checks that no input panics and that a size is within
// 0..MaxSize.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "12345", "4T", "1.5 TB", "20GiB", "200M", "-1", "18446744073709551615", "16EiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if !errors.Is(err, ErrSize) {
				t.Fatalf("ParseSize(%q): error %v does not wrap ErrSize", s, err)
			}
			return
		}
		if n < 0 || n > MaxSize {
			t.Fatalf("ParseSize(%q) = %d, outside 0..MaxSize", s, n)
		}
	})
}
