package vault

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/store"
)

func TestLockConflicts(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		first, second bool // exclusive?
		conflict      bool
	}{
		{false, false, false},
		{false, true, true},
		{true, false, true},
		{true, true, true},
	}
	kind := map[bool]string{false: "shared", true: "exclusive"}
	for _, tc := range tests {
		t.Run(kind[tc.first]+" then "+kind[tc.second], func(t *testing.T) {
			r, st := newTestRepo(t, 0)
			// Another process: another handle on the same store.
			other := reopen(t, st)
			l1, err := r.Lock(ctx, tc.first, "first")
			if err != nil {
				t.Fatal(err)
			}
			l2, err := other.Lock(ctx, tc.second, "second")
			if tc.conflict {
				if !errors.Is(err, ErrLocked) {
					t.Errorf("got %v, want ErrLocked", err)
				} else if !strings.Contains(err.Error(), "first") {
					t.Errorf("got %q, want the holder's operation named", err)
				}
			} else if err != nil {
				t.Errorf("got %v, want nil", err)
			}
			must(t, l2.Release())
			// The loser leaves no lock behind.
			locks, err := r.Locks(ctx)
			must(t, err)
			if len(locks) != 1 {
				t.Errorf("got %d locks, want only the first", len(locks))
			}
			must(t, l1.Release())
			l3, err := other.Lock(ctx, true, "after release")
			if err != nil {
				t.Errorf("after release: got %v, want nil", err)
			}
			must(t, l3.Release())
			if n, _ := storeSize(t, st, locksPrefix); n != 0 {
				t.Errorf("got %d lock files after release, want 0", n)
			}
		})
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run a process: %v", err)
	}
	return cmd.Process.Pid
}

func TestStaleLocks(t *testing.T) {
	ctx := context.Background()
	host, _ := os.Hostname()
	tests := []struct {
		name  string
		info  LockInfo
		stale bool
	}{
		{"old", LockInfo{Time: time.Now().Add(-LockStale - time.Minute), Exclusive: true, Hostname: "elsewhere", PID: 1}, true},
		{"dead process on this host", LockInfo{Time: time.Now(), Exclusive: true, Hostname: host, PID: deadPID(t)}, true},
		{"live process on this host", LockInfo{Time: time.Now(), Exclusive: true, Hostname: host, PID: os.Getppid()}, false},
		{"recent on another host", LockInfo{Time: time.Now(), Exclusive: true, Hostname: "elsewhere", PID: 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, st := newTestRepo(t, 0)
			info := tc.info
			name, err := r.writeLock(ctx, &info)
			must(t, err)
			if got := info.Stale(); got != tc.stale {
				t.Errorf("Stale() = %v, want %v", got, tc.stale)
			}
			l, err := r.Lock(ctx, true, "prune")
			if tc.stale {
				if err != nil {
					t.Fatalf("Lock over a stale lock: got %v, want nil", err)
				}
				must(t, l.Release())
			} else if !errors.Is(err, ErrLocked) {
				t.Errorf("Lock over a live lock: got %v, want ErrLocked", err)
			}
			removed, err := r.RemoveStaleLocks(ctx)
			must(t, err)
			_, statErr := st.Stat(ctx, name)
			if tc.stale {
				if len(removed) != 1 || !errors.Is(statErr, store.ErrNotFound) {
					t.Errorf("RemoveStaleLocks: got %d removed, lock file %v; want it removed", len(removed), statErr)
				}
			} else if len(removed) != 0 || statErr != nil {
				t.Errorf("RemoveStaleLocks: got %d removed, lock file %v; want it kept", len(removed), statErr)
			}
		})
	}

	t.Run("unreadable lock file", func(t *testing.T) {
		r, st := newTestRepo(t, 0)
		must(t, st.Put(ctx, locksPrefix+"garbage", strings.NewReader("not age")))
		l, err := r.Lock(ctx, true, "prune")
		if err != nil {
			t.Fatalf("got %v, want an unreadable lock treated as stale", err)
		}
		must(t, l.Release())
		removed, err := r.RemoveStaleLocks(ctx)
		if err != nil || len(removed) != 1 {
			t.Errorf("RemoveStaleLocks: got %d, %v; want the garbage removed", len(removed), err)
		}
	})
}

func TestLockRefresh(t *testing.T) {
	ctx := context.Background()
	old := LockRefresh
	LockRefresh = 20 * time.Millisecond
	defer func() { LockRefresh = old }()
	r, st := newTestRepo(t, 0)
	l, err := r.Lock(ctx, false, "backup")
	must(t, err)
	locks, err := r.Locks(ctx)
	must(t, err)
	first := locks[0].Time
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(30 * time.Millisecond)
		locks, err = r.Locks(ctx)
		must(t, err)
		if len(locks) == 1 && locks[0].Time.After(first) {
			break
		}
	}
	if len(locks) != 1 || !locks[0].Time.After(first) {
		t.Errorf("got locks %v, want one refreshed lock", locks)
	}
	must(t, l.Release())
	if n, _ := storeSize(t, st, locksPrefix); n != 0 {
		t.Errorf("got %d lock files after release, want 0", n)
	}
}
