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
	setLimits(t, Limits{Memory: 2 * cost(fast), Waiters: 1 << 10, Wait: time.Minute})
	h := Hash("correct horse", fast)
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
					Hash("x", fast)
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
// Limits.Wait, the queue holds at most Limits.Waiters, and past either
// they fail with ErrBusy; Hash waits however long it takes.
func TestBusy(t *testing.T) {
	setLimits(t, Limits{Memory: cost(fast), Waiters: 1, Wait: 20 * time.Millisecond})
	h := Hash("correct horse", fast)
	release, err := Acquire(fast)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Check("correct horse", h, fast)
	wantBusy(t, "Check after waiting", err)
	wantBusy(t, "Dummy after waiting", Dummy(fast))
	_, err = Acquire(fast)
	wantBusy(t, "Acquire after waiting", err)

	// One waiter fills the queue: the next caller is refused at once.
	SetLimits(Limits{Memory: cost(fast), Waiters: 1, Wait: time.Hour})
	first := make(chan error, 1)
	go func() { _, err := Check("correct horse", h, fast); first <- err }()
	queued(t, kdf, 1)
	_, err = Check("correct horse", h, fast)
	wantBusy(t, "Check with the queue full", err)

	// Hash is not refused: it waits behind the first.
	hashed := make(chan string, 1)
	go func() { hashed <- Hash("x", fast) }()
	queued(t, kdf, 2)
	release()
	if err := <-first; err != nil {
		t.Fatalf("the waiting Check, once room was made: %v", err)
	}
	if got := <-hashed; !strings.HasPrefix(got, "$argon2id$") {
		t.Fatalf("the waiting Hash: %q", got)
	}
}

// TestQueueOrder: waiters are let in oldest first, and one that gives
// up lets in smaller ones it was holding up.
func TestQueueOrder(t *testing.T) {
	b := &budget{lim: Limits{Memory: 100, Waiters: 8, Wait: time.Hour}}
	release, err := b.acquire(60, true)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	enqueue := func(name string, need int64, wait time.Duration, n int) {
		b.mu.Lock()
		b.lim.Wait = wait
		b.mu.Unlock()
		go func() {
			r, err := b.acquire(need, true)
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
	if g := <-got; g != "big gave up" {
		t.Fatalf("first: %s, want big gave up", g)
	}
	if g := <-got; g != "small" {
		t.Fatalf("then: %s, want small let in", g)
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
	h := Hash("correct horse", fast)
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
	if l := SetLimits(Limits{}); l.Memory != DefaultMemory() || l.Waiters != 32 || l.Wait != 2*time.Second {
		t.Errorf("default limits: %+v", l)
	}
}
