package password

import (
	"bufio"
	"container/list"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits bound argon2id's memory, process-wide (see the package
// documentation). Zero fields take the defaults.
type Limits struct {
	// Memory is the most argon2id may hold at once, in bytes;
	// DefaultMemory() by default.
	Memory int64
	// Waiters is how many Check and Dummy calls may wait for room at
	// once (32), and Wait how long each may wait (2 s). Past either,
	// they give up with a *BusyError.
	Waiters int
	Wait    time.Duration
}

const (
	memoryShare    = 8         // DefaultMemory: RAM / memoryShare …
	memoryCap      = 128 << 20 // … at most this
	memoryFallback = 64 << 20  // when the RAM size cannot be read
	defaultWaiters = 32
	defaultWait    = 2 * time.Second
)

// DefaultMemory is the budget of a box that configures none: an eighth
// of its RAM (MemTotal in /proc/meminfo), at most 128 MiB; 64 MiB when
// the RAM size cannot be read. At the Default cost that is two sign-ins
// at once, one on a box with less than 736 MiB of RAM.
func DefaultMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return memoryFallback
	}
	defer f.Close()
	total, err := memTotal(f)
	if err != nil {
		return memoryFallback
	}
	return budgetFor(total)
}

// budgetFor is the default budget of a box with ram bytes of RAM.
func budgetFor(ram int64) int64 { return min(ram/memoryShare, memoryCap) }

// memTotal reads MemTotal, in bytes, from /proc/meminfo.
func memTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil || kb <= 0 {
				return 0, fmt.Errorf("/proc/meminfo: MemTotal %q", v)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemTotal")
}

func (l Limits) withDefaults() Limits {
	if l.Memory <= 0 {
		l.Memory = DefaultMemory()
	}
	if l.Waiters <= 0 {
		l.Waiters = defaultWaiters
	}
	if l.Wait <= 0 {
		l.Wait = defaultWait
	}
	return l
}

// budget is a first-come-first-served weighted semaphore over bytes of
// memory, with a bounded queue for callers that may be refused.
type budget struct {
	mu    sync.Mutex
	lim   Limits
	used  int64
	queue list.List // of *waiter, oldest first
}

type waiter struct {
	need  int64         // bytes; set when granted
	ready chan struct{} // closed when granted
}

// kdf is the process's one budget: every argon2id call takes from it.
var kdf = &budget{lim: Limits{}.withDefaults()}

// SetLimits replaces the process-wide limits (zero fields: defaults) and
// returns them as they now apply. Derivations running keep their room;
// waiting ones are let in as the new budget allows.
func SetLimits(l Limits) Limits {
	kdf.mu.Lock()
	defer kdf.mu.Unlock()
	kdf.lim = l.withDefaults()
	kdf.grant()
	return kdf.lim
}

// Acquire takes room in the budget for one derivation at cost p,
// waiting as Check does (so it may fail with a *BusyError), and returns
// the function that gives the room back. Hash, Check and Dummy take
// their room themselves: Acquire is for holding it across steps, as the
// tests that fill the budget do.
func Acquire(p Params) (release func(), err error) {
	return kdf.acquire(cost(p), true)
}

// acquire takes need bytes (at most the whole budget), waiting behind
// earlier callers. A bounded caller gives up with a *BusyError when the
// queue is full or after Limits.Wait.
func (b *budget) acquire(need int64, bounded bool) (func(), error) {
	b.mu.Lock()
	w := &waiter{need: max(need, 1), ready: make(chan struct{})}
	if b.queue.Len() == 0 && b.fits(w) {
		b.take(w)
		b.mu.Unlock()
		return b.releaser(w), nil
	}
	wait := b.lim.Wait
	if bounded && b.queue.Len() >= b.lim.Waiters {
		b.mu.Unlock()
		return nil, &BusyError{Wait: wait}
	}
	e := b.queue.PushBack(w)
	b.mu.Unlock()
	if !bounded {
		<-w.ready
		return b.releaser(w), nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return b.releaser(w), nil
	case <-t.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted as the timer fired
		return b.releaser(w), nil
	default:
	}
	b.queue.Remove(e)
	b.grant() // it may have held up smaller ones behind it
	return nil, &BusyError{Wait: wait}
}

// fits reports whether w fits now; a derivation costlier than the whole
// budget is cut to the budget, so that it runs alone instead of never.
func (b *budget) fits(w *waiter) bool {
	return b.used+min(w.need, b.lim.Memory) <= b.lim.Memory
}

func (b *budget) take(w *waiter) {
	w.need = min(w.need, b.lim.Memory)
	b.used += w.need
}

// grant lets waiters in, oldest first, while they fit.
func (b *budget) grant() {
	for e := b.queue.Front(); e != nil && b.fits(e.Value.(*waiter)); e = b.queue.Front() {
		w := b.queue.Remove(e).(*waiter)
		b.take(w)
		close(w.ready)
	}
}

func (b *budget) releaser(w *waiter) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.used -= w.need
			b.grant()
		})
	}
}
