package password

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// setLimits sets the process-wide limits for one test.
func setLimits(t *testing.T, l Limits) {
	t.Helper()
	SetLimits(l)
	t.Cleanup(func() { SetLimits(Limits{}) })
}

// queued waits until b has n callers waiting.
func queued(t *testing.T, b *budget, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		got := b.queue.Len()
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want %d", got, n)
		}
	}
}

func wantBusy(t *testing.T, what string, err error) {
	t.Helper()
	var be *BusyError
	if !errors.As(err, &be) || !errors.Is(err, ErrBusy) || be.RetryAfter() < 1 {
		t.Fatalf("%s: got %v, want a *BusyError with a Retry-After", what, err)
	}
	if !strings.Contains(err.Error(), "try again") {
		t.Errorf("%s: %q does not say what to do", what, err)
	}
}

// TestBudgetBoundsMemory runs many derivations at once through every
// entry point and checks that the memory they hold never passes the
// budget.
func TestBudgetBoundsMemory(t *testing.T) {
	setLimits(t, Limits{Memory: 2 * cost(fast), Waiters: 1 << 10, Wait: time.Minute, HashWaiters: 1 << 10, HashWait: time.Minute})
	h := mustHash(t, "correct horse", fast)
	var held, peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			kdf.mu.Lock()
			u := kdf.used
			kdf.mu.Unlock()
			if u > peak.Load() {
				peak.Store(u)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for range 20 {
				switch i % 4 {
				case 0:
					if _, err := Hash("x", fast); err != nil {
						t.Error(err)
					}
				case 1:
					if _, err := Check("correct horse", h, fast); err != nil {
						t.Error(err)
					}
				case 2:
					if err := Dummy(fast); err != nil {
						t.Error(err)
					}
				case 3:
					release, err := Acquire(fast)
					if err != nil {
						t.Error(err)
						continue
					}
					if n := held.Add(1); n > 2 {
						t.Errorf("%d holders at once, want at most 2", n)
					}
					held.Add(-1)
					release()
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	if p := peak.Load(); p > 2*cost(fast) {
		t.Fatalf("peak %d bytes held, budget %d", p, 2*cost(fast))
	}
	if kdf.used != 0 || kdf.queue.Len() != 0 {
		t.Fatalf("after the run: %d bytes held, %d waiting; want none", kdf.used, kdf.queue.Len())
	}
}

// TestBusy fills the budget: Check and Dummy wait their turn for at most
// Limits.Wait, the queue holds at most Limits.Waiters of them, and past
// either they fail with ErrBusy; Hash likewise, in places of its own.
func TestBusy(t *testing.T) {
	setLimits(t, Limits{Memory: cost(fast), Waiters: 1, Wait: 20 * time.Millisecond, HashWaiters: 1, HashWait: 20 * time.Millisecond})
	h := mustHash(t, "correct horse", fast)
	release, err := Acquire(fast)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Check("correct horse", h, fast)
	wantBusy(t, "Check after waiting", err)
	wantBusy(t, "Dummy after waiting", Dummy(fast))
	_, err = Acquire(fast)
	wantBusy(t, "Acquire after waiting", err)
	_, err = Hash("x", fast)
	wantBusy(t, "Hash after waiting", err)

	// One waiter fills the sign-in places: the next is refused at once.
	SetLimits(Limits{Memory: cost(fast), Waiters: 1, Wait: time.Hour, HashWaiters: 1, HashWait: time.Hour})
	first := make(chan error, 1)
	go func() { _, err := Check("correct horse", h, fast); first <- err }()
	queued(t, kdf, 1)
	_, err = Check("correct horse", h, fast)
	wantBusy(t, "Check with the queue full", err)

	// Hash has places of its own: one waits, the next is refused.
	hashed := make(chan error, 1)
	go func() { _, err := Hash("x", fast); hashed <- err }()
	queued(t, kdf, 2)
	_, err = Hash("y", fast)
	wantBusy(t, "Hash with its places taken", err)
	release()
	if err := <-first; err != nil {
		t.Fatalf("the waiting Check, once room was made: %v", err)
	}
	if err := <-hashed; err != nil {
		t.Fatalf("the waiting Hash, once room was made: %v", err)
	}
}

// TestHashingLane: hashing for signed-in people can never keep anyone
// from signing in. However many hashes are asked for, they hold at most
// half the budget and their own places in the queue; a sign-in behind
// them is let in as soon as its half has room, and never refused for
// their sake (review finding 4: 48 share links with passwords in flight
// refused every sign-in).
func TestHashingLane(t *testing.T) {
	b := &budget{lim: Limits{Memory: 100, Waiters: 2, Wait: time.Hour, HashWaiters: 8, HashWait: time.Hour}}
	var releases []func()
	got := make(chan func(), 64)
	busy := make(chan error, 64)
	for range 48 {
		go func() {
			r, err := b.acquire(50, hashing)
			if err != nil {
				busy <- err
				return
			}
			got <- r
		}()
	}
	// One hash runs, 8 wait, 39 are turned away at once.
	releases = append(releases, <-got)
	for range 39 {
		wantBusy(t, "a hash past its lane's places", <-busy)
	}
	queued(t, b, 8)
	b.mu.Lock()
	held := b.held[hashing]
	b.mu.Unlock()
	if held != 50 {
		t.Fatalf("hashing holds %d of 100, want its half", held)
	}
	// Sign-ins pass the waiting hashes: the other half is theirs.
	for i := range 3 {
		r, err := b.acquire(50, signIn)
		if err != nil {
			t.Fatalf("sign-in %d with 9 hashes asked for: %v", i+1, err)
		}
		r()
	}
	// And hashes go on, one at a time, as room is made.
	for range 8 {
		releases[len(releases)-1]()
		releases = append(releases, <-got)
	}
	releases[len(releases)-1]()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used != 0 || b.queue.Len() != 0 || b.waiting != [lanes]int{} {
		t.Fatalf("after the run: %d held, %d waiting (%v); want none", b.used, b.queue.Len(), b.waiting)
	}
}

// TestHashingLaneSmallBudget: on a box whose budget holds one
// derivation, hashing may hold it, but after a hash a sign-in waiting
// goes first, however many hashes wait ahead of it: a sign-in waits for
// at most the hash running.
func TestHashingLaneSmallBudget(t *testing.T) {
	b := &budget{lim: Limits{Memory: 64, Waiters: 4, Wait: time.Hour, HashWaiters: 4, HashWait: time.Hour}}
	r1, err := b.acquire(46, hashing)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 4)
	enqueue := func(name string, l lane, n int) {
		go func() {
			r, err := b.acquire(46, l)
			if err != nil {
				order <- name + ": " + err.Error()
				return
			}
			order <- name
			r()
		}()
		queued(t, b, n)
	}
	enqueue("hash 2", hashing, 1)
	enqueue("hash 3", hashing, 2)
	enqueue("sign-in", signIn, 3)
	r1()
	for _, want := range []string{"sign-in", "hash 2", "hash 3"} {
		if g := <-order; g != want {
			t.Fatalf("got %s, want %s next: the sign-in passes a hash while hashing holds its share", g, want)
		}
	}
}

// TestQueueOrder: waiters are let in oldest first, and one that gives
// up lets in smaller ones it was holding up.
func TestQueueOrder(t *testing.T) {
	b := &budget{lim: Limits{Memory: 100, Waiters: 8, Wait: time.Hour}}
	release, err := b.acquire(60, signIn)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	enqueue := func(name string, need int64, wait time.Duration, n int) {
		b.mu.Lock()
		b.lim.Wait = wait
		b.mu.Unlock()
		go func() {
			r, err := b.acquire(need, signIn)
			if err != nil {
				got <- name + " gave up"
				return
			}
			got <- name
			_ = r
		}()
		queued(t, b, n)
	}
	enqueue("big", 100, 20*time.Millisecond, 1) // does not fit beside 60; gives up
	enqueue("small", 40, time.Hour, 2)          // fits, but waits behind big
	// small was queued behind big (queued saw 2 waiting, though small
	// fits): once big gives up, small is let in. The two goroutines
	// report in either order: big leaves the queue before it says so.
	if a, b := <-got, <-got; !(a == "big gave up" && b == "small" || a == "small" && b == "big gave up") {
		t.Fatalf("got %q and %q, want big gave up and small let in", a, b)
	}
	// Oldest first: a later caller that would fit does not pass one
	// that does not.
	release()
	b.mu.Lock()
	used := b.used
	b.mu.Unlock()
	if used != 40 {
		t.Fatalf("%d bytes held, want small's 40", used)
	}
	enqueue("large", 90, time.Hour, 1)
	enqueue("tiny", 10, time.Hour, 2)
	select {
	case g := <-got:
		t.Fatalf("%s let in while large waits first", g)
	default:
	}
}

// TestCostlierThanBudget: a derivation that needs more than the whole
// budget runs alone instead of never.
func TestCostlierThanBudget(t *testing.T) {
	setLimits(t, Limits{Memory: cost(fast) / 4, Wait: time.Minute})
	h := mustHash(t, "correct horse", fast)
	if _, err := Check("correct horse", h, fast); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultMemory(t *testing.T) {
	for _, tt := range []struct {
		meminfo string
		want    int64
	}{
		{"MemTotal:        1000000 kB\nMemFree: 1 kB\n", 1000000 << 10},
		{"MemFree: 1 kB\nMemTotal:       24684116 kB\n", 24684116 << 10},
	} {
		if got, err := memTotal(strings.NewReader(tt.meminfo)); err != nil || got != tt.want {
			t.Errorf("memTotal(%q) = %d, %v; want %d", tt.meminfo, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "MemTotal: lots\n", "MemTotal: -5 kB\n"} {
		if _, err := memTotal(strings.NewReader(bad)); err == nil {
			t.Errorf("memTotal(%q): no error", bad)
		}
	}
	// A 1 GiB ARM box and the 24 GiB CI machine both get two sign-ins
	// at the Default cost; a 512 MiB box one.
	for _, tt := range []struct {
		ram, want int64
		slots     int64
	}{
		{512 << 20, 64 << 20, 1},
		{1 << 30, 128 << 20, 2},
		{24 << 30, 128 << 20, 2},
	} {
		got := budgetFor(tt.ram)
		if got != tt.want || got/cost(Default) != tt.slots {
			t.Errorf("budgetFor(%d MiB) = %d MiB (%d sign-ins), want %d MiB (%d)", tt.ram>>20, got>>20, got/cost(Default), tt.want>>20, tt.slots)
		}
	}
	if m := DefaultMemory(); m <= 0 || m > memoryCap {
		t.Errorf("DefaultMemory() = %d, want between 1 and %d", m, memoryCap)
	}
	if l := SetLimits(Limits{}); l.Memory != DefaultMemory() || l.Waiters != 32 || l.Wait != 2*time.Second || l.HashWaiters != 8 || l.HashWait != 5*time.Second {
		t.Errorf("default limits: %+v", l)
	}
}
