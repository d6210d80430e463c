package throttle

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
		{"", ""},
	} {
		if got := Key(tc.in); got != tc.want {
			t.Errorf("Key(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if Key("2001:db8:1:2::1") != Key("2001:db8:1:2:ffff::9") {
		t.Error("two addresses of one /64 give different keys")
	}
	if Key("2001:db8:1:2::1") == Key("2001:db8:1:3::1") {
		t.Error("two /64s give the same key")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := NewLimiter(rate.Every(6*time.Second), 3, 100)
	for i := range 3 {
		if d := l.Allow("a", now); d != 0 {
			t.Fatalf("attempt %d within the burst: wait %s", i+1, d)
		}
	}
	d := l.Allow("a", now)
	if d <= 0 || d > 6*time.Second {
		t.Fatalf("attempt past the burst: wait %s, want (0, 6s]", d)
	}
	if d2 := l.Allow("a", now); d2 != d {
		t.Errorf("a refused attempt took a token: wait %s then %s", d, d2)
	}
	if d := l.Allow("b", now); d != 0 {
		t.Errorf("another key is held back: %s", d)
	}
	if d := l.Allow("a", now.Add(6*time.Second)); d != 0 {
		t.Errorf("after the refill: wait %s", d)
	}
}

func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := NewLimiter(rate.Every(time.Minute), 1, 10)
	l.Allow("held", now) // used up: not idle
	for i := range 100 {
		l.Allow(fmt.Sprint("k", i), now)
	}
	if n := len(l.t.items); n > 10 {
		t.Fatalf("table holds %d keys, want at most 10", n)
	}
}

func TestBackoff(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := NewBackoff(3, time.Second, 10*time.Second, 100)
	var waits []time.Duration
	for range 8 {
		waits = append(waits, b.Fail("k", now))
	}
	want := []time.Duration{0, 0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	if w := b.Wait("k", now.Add(4*time.Second)); w != 6*time.Second {
		t.Errorf("Wait 4 s later = %s, want 6s", w)
	}
	if w := b.Wait("other", now); w != 0 {
		t.Errorf("unknown key waits %s", w)
	}
	if n := b.Failures("k", now); n != 8 {
		t.Errorf("Failures = %d, want 8", n)
	}
	b.Reset("k")
	if w := b.Wait("k", now); w != 0 || b.Failures("k", now) != 0 {
		t.Errorf("after Reset: wait %s, failures %d", w, b.Failures("k", now))
	}
	// Forgotten after a day without a failure.
	for range 5 {
		b.Fail("f", now)
	}
	if n := b.Failures("f", now.Add(25*time.Hour)); n != 0 {
		t.Errorf("failures a day later = %d, want 0", n)
	}
}

func TestBackoffBoundedKeepsHeldKeys(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := NewBackoff(0, time.Hour, time.Hour, 10)
	b.Fail("held", now)
	for i := range 5 {
		b.Fail(fmt.Sprint("k", i), now)
	}
	if b.Wait("held", now) == 0 {
		t.Error("a held key was dropped while the table had room")
	}
	for i := range 100 {
		b.Fail(fmt.Sprint("x", i), now)
	}
	if n := len(b.t.items); n > 10 {
		t.Fatalf("table holds %d keys, want at most 10", n)
	}
}
