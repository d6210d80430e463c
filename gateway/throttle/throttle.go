// Package throttle holds the brakes on guessing that are kept in memory:
// per-address rate limits and per-key exponential back-off after
// failures. Sign-in (package auth) and share-link pages (the gateway's
// public side) use them; what must survive a restart (a share link's own
// lock) is kept by its store instead.
//
// Keys are caller-chosen strings. Key folds a client address to what one
// party controls: an IPv4 address as it is, an IPv6 address to its /64
// (a home or phone network gets a whole /64, so per-address limits on
// single IPv6 addresses would be void). Tables are bounded: past their
// size, entries that no longer hold anything back are dropped first,
// then the least recently used.
//
// Every type is safe for concurrent use. Methods take the current time
// so that tests can drive a clock.
package throttle

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Key folds the client address ip to the unit one party controls: an
// IPv4 address (or an IPv4-mapped IPv6 one) as is, an IPv6 address to
// its /64 ("2001:db8:1:2::/64"). Anything that is not an address is
// returned unchanged.
func Key(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// table is a bounded map with least-recently-used order.
type table[V any] struct {
	size  int
	items map[string]*list.Element
	order *list.List // front: most recently used
}

type entry[V any] struct {
	key string
	v   V
}

func newTable[V any](size int) *table[V] {
	return &table[V]{size: max(size, 1), items: make(map[string]*list.Element), order: list.New()}
}

// get returns key's value, making it with mk when absent; idle reports
// whether a value holds nothing back (and so may be dropped).
func (t *table[V]) get(key string, mk func() V, idle func(V) bool) V {
	if e, ok := t.items[key]; ok {
		t.order.MoveToFront(e)
		return e.Value.(*entry[V]).v
	}
	if len(t.items) >= t.size {
		for e := t.order.Back(); e != nil && len(t.items) >= t.size; {
			prev := e.Prev()
			if idle(e.Value.(*entry[V]).v) {
				t.remove(e)
			}
			e = prev
		}
		for len(t.items) >= t.size {
			t.remove(t.order.Back())
		}
	}
	v := mk()
	t.items[key] = t.order.PushFront(&entry[V]{key: key, v: v})
	return v
}

func (t *table[V]) remove(e *list.Element) {
	delete(t.items, e.Value.(*entry[V]).key)
	t.order.Remove(e)
}

func (t *table[V]) delete(key string) {
	if e, ok := t.items[key]; ok {
		t.remove(e)
	}
}

// Limiter is a token bucket per key: burst attempts at once, then one
// every 1/r.
type Limiter struct {
	r     rate.Limit
	burst int
	mu    sync.Mutex
	t     *table[*rate.Limiter]
	now   time.Time // of the call in progress, for idle
}

// NewLimiter returns a Limiter of rate r and burst, tracking at most size
// keys.
func NewLimiter(r rate.Limit, burst, size int) *Limiter {
	return &Limiter{r: r, burst: burst, t: newTable[*rate.Limiter](size)}
}

// Allow takes one attempt for key at now. It returns 0 when the attempt
// may go ahead, or how long to wait before the next one may (nothing is
// taken then).
func (l *Limiter) Allow(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
	lim := l.t.get(key, func() *rate.Limiter { return rate.NewLimiter(l.r, l.burst) },
		func(v *rate.Limiter) bool { return v.TokensAt(l.now) >= float64(v.Burst()) })
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Hour
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// Backoff counts consecutive failures per key. The first Free failures
// cost nothing; each further one makes the key wait Base, then twice
// that, and so on up to Max. A success (Reset) clears the key; a key
// with no failure for Forget is forgotten.
type Backoff struct {
	Free      int
	Base, Max time.Duration
	Forget    time.Duration

	mu  sync.Mutex
	t   *table[*backoffState]
	now time.Time
}

type backoffState struct {
	failures int
	until    time.Time // no attempt before this
	last     time.Time // last failure
}

// NewBackoff returns a Backoff tracking at most size keys; failures are
// forgotten after a day without one.
func NewBackoff(free int, base, maxWait time.Duration, size int) *Backoff {
	return &Backoff{Free: free, Base: base, Max: maxWait, Forget: 24 * time.Hour, t: newTable[*backoffState](size)}
}

func (b *Backoff) state(key string, now time.Time) *backoffState {
	b.now = now
	st := b.t.get(key, func() *backoffState { return &backoffState{} },
		func(s *backoffState) bool { return !b.now.Before(s.last.Add(b.Forget)) })
	if st.failures > 0 && !now.Before(st.last.Add(b.Forget)) {
		*st = backoffState{}
	}
	return st
}

// Wait is how long key must still wait before its next attempt (0: it
// may try now).
func (b *Backoff) Wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.t.items[key]; !ok {
		return 0
	}
	return max(b.state(key, now).until.Sub(now), 0)
}

// Fail records a failure of key at now and returns the wait it now has
// before the next attempt (0 while within Free).
func (b *Backoff) Fail(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.state(key, now)
	st.failures++
	st.last = now
	over := st.failures - b.Free
	if over <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < over && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	st.until = now.Add(d)
	return d
}

// Failures is key's count of consecutive failures.
func (b *Backoff) Failures(key string, now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.t.items[key]; !ok {
		return 0
	}
	return b.state(key, now).failures
}

// Reset clears key after a success.
func (b *Backoff) Reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.delete(key)
}
