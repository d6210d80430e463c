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
	// HashWaiters and HashWait are the same for Hash (8, 5 s), which
	// waits in a lane of its own.
	HashWaiters int
	HashWait    time.Duration
}

const (
	memoryShare        = 8         // DefaultMemory: RAM / memoryShare …
	memoryCap          = 128 << 20 // … at most this
	memoryFallback     = 64 << 20  // when the RAM size cannot be read
	defaultWaiters     = 32
	defaultWait        = 2 * time.Second
	defaultHashWaiters = 8
	defaultHashWait    = 5 * time.Second
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
	if l.HashWaiters <= 0 {
		l.HashWaiters = defaultHashWaiters
	}
	if l.HashWait <= 0 {
		l.HashWait = defaultHashWait
	}
	return l
}

// A lane is a kind of caller, with its own bounded share of the queue.
type lane int

const (
	// signIn: Check and Dummy, which anyone reaching a sign-in page or
	// a share link's password can cause.
	signIn lane = iota
	// hashing: Hash, for signed-in people's new passwords (and a
	// rehash after a proven one). It holds at most half the budget (or
	// one derivation, when that is more), so it can never take all of
	// it from sign-in, and it waits in its own places in the queue.
	hashing
	lanes
)

// budget is a first-come-first-served weighted semaphore over bytes of
// memory, with a bounded queue per lane.
type budget struct {
	mu      sync.Mutex
	lim     Limits
	used    int64
	held    [lanes]int64 // of used, by lane
	waiting [lanes]int   // waiters in the queue, by lane
	queue   list.List    // of *waiter, oldest first
	// hashedLast is set while the last caller let in was a hash: a
	// sign-in waiting then goes before the next hash.
	hashedLast bool
}

type waiter struct {
	need  int64         // bytes; set when granted
	lane  lane          // who is waiting
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
	return kdf.acquire(cost(p), signIn)
}

// acquire takes need bytes (at most the whole budget) for a caller of
// lane l, waiting behind earlier callers. It gives up with a *BusyError
// when l's places in the queue are taken, or after l's wait.
func (b *budget) acquire(need int64, l lane) (func(), error) {
	b.mu.Lock()
	places, wait := b.lim.Waiters, b.lim.Wait
	if l == hashing {
		places, wait = b.lim.HashWaiters, b.lim.HashWait
	}
	w := &waiter{need: max(need, 1), lane: l, ready: make(chan struct{})}
	e := b.queue.PushBack(w)
	b.waiting[l]++
	b.grant()
	if granted(w) {
		b.mu.Unlock()
		return b.releaser(w), nil
	}
	if b.waiting[l] > places {
		b.dequeue(e)
		b.mu.Unlock()
		return nil, &BusyError{Wait: wait}
	}
	b.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return b.releaser(w), nil
	case <-t.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if granted(w) { // as the timer fired
		return b.releaser(w), nil
	}
	b.dequeue(e)
	b.grant() // it may have held up smaller ones behind it
	return nil, &BusyError{Wait: wait}
}

func granted(w *waiter) bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}

// dequeue removes a waiter that gives up.
func (b *budget) dequeue(e *list.Element) {
	b.waiting[e.Value.(*waiter).lane]--
	b.queue.Remove(e)
}

// fits reports whether w fits now; a derivation costlier than the whole
// budget is cut to the budget, so that it runs alone instead of never.
func (b *budget) fits(w *waiter) bool {
	return b.used+min(w.need, b.lim.Memory) <= b.lim.Memory
}

// capped reports whether w must let others pass: the hashing lane holds
// at most half the budget (or one derivation, when that is more), and
// after a hash a sign-in waiting goes first.
func (b *budget) capped(w *waiter) bool {
	if w.lane != hashing {
		return false
	}
	full := b.held[hashing] > 0 && b.held[hashing]+min(w.need, b.lim.Memory) > b.lim.Memory/2
	return full || b.hashedLast && b.waiting[signIn] > 0
}

func (b *budget) take(w *waiter) {
	w.need = min(w.need, b.lim.Memory)
	b.used += w.need
	b.held[w.lane] += w.need
	b.hashedLast = w.lane == hashing
}

// grant lets waiters in, oldest first, while they fit. A hash that must
// let others pass (capped) is passed over, so that it holds up no
// sign-in; a waiter that does not fit holds up everyone behind it, so
// that a large derivation is not passed for ever.
func (b *budget) grant() {
	for e := b.queue.Front(); e != nil; {
		w := e.Value.(*waiter)
		next := e.Next()
		if b.capped(w) {
			e = next
			continue
		}
		if !b.fits(w) {
			return
		}
		b.dequeue(e)
		b.take(w)
		close(w.ready)
		e = next
	}
}

func (b *budget) releaser(w *waiter) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.used -= w.need
			b.held[w.lane] -= w.need
			b.grant()
		})
	}
}
