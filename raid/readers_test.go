package raid_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// TestReadersBesideOwner: a process reading an array its owner
// (shoeboxd) has open opens it read-only and writes no repository lock;
// while it reads, the owner's exclusive locks (forget, prune: what
// removes) wait for it, and fail naming the reader when it reads on;
// a reader waits for an exclusive lock to end before it reads; a reader
// cannot take an exclusive lock.
func TestReadersBesideOwner(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 3)
	owner := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	_, r := newVaultFixture(t, owner)

	if _, err := raid.OpenArray(paths, raid.Options{Logger: discard}); !errors.Is(err, raid.ErrArrayBusy) {
		t.Fatalf("a second writer: %v, want ErrArrayBusy", err)
	}
	reader, err := raid.OpenArray(paths, raid.Options{ReadOnly: true, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := vault.Open(ctx, reader, vaultPass)
	if err != nil {
		t.Fatal(err)
	}
	l, err := rr.Lock(ctx, false, "restore")
	if err != nil {
		t.Fatalf("reader's shared lock: %v", err)
	}
	if locks, _ := r.Locks(ctx); len(locks) != 0 {
		t.Errorf("the reader wrote a repository lock: %v", locks)
	}
	if _, err := rr.Lock(ctx, true, "prune"); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("reader's exclusive lock: %v, want store.ErrReadOnly", err)
	}
	// The array's own refusal is raid.ErrReadOnly, and the store's
	// error too, for callers that know no array.
	if err := reader.Put(ctx, "keys/x", strings.NewReader("x")); !errors.Is(err, raid.ErrReadOnly) || !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("Put on the reader: %v, want raid.ErrReadOnly that is store.ErrReadOnly", err)
	}
	wait := vault.ReadersWait
	vault.ReadersWait = 0 // one try
	_, err = r.Lock(ctx, true, "forget")
	vault.ReadersWait = wait
	if !errors.Is(err, vault.ErrLocked) || !errors.Is(err, raid.ErrReadersBusy) {
		t.Fatalf("owner's exclusive lock beside a reader: %v, want ErrLocked naming the reader", err)
	}
	if locks, _ := r.Locks(ctx); len(locks) != 0 {
		t.Errorf("the refused exclusive lock left a lock behind: %v", locks)
	}
	shared, err := r.Lock(ctx, false, "backup")
	if err != nil {
		t.Fatalf("owner's shared lock (backup) beside a reader: %v", err)
	}
	shared.Release()

	// An exclusive lock waits for the reader to finish (up to
	// ReadersWait, 30 s).
	type lockErr struct {
		l   *vault.Lock
		err error
	}
	locked := make(chan lockErr, 1)
	go func() {
		l, err := r.Lock(ctx, true, "forget")
		locked <- lockErr{l, err}
	}()
	l.Release()
	reader.Close()
	le := <-locked
	if le.err != nil {
		t.Fatalf("owner's exclusive lock once the reader is done: %v", le.err)
	}
	excl := le.l
	opened := make(chan error, 1)
	go func() {
		a, err := raid.OpenArray(paths, raid.Options{ReadOnly: true, Logger: discard})
		if err == nil {
			a.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("a reader opened the array while the owner removes (%v)", err)
	default:
	}
	excl.Release()
	if err := <-opened; err != nil {
		t.Fatalf("the reader, after the owner's exclusive lock: %v", err)
	}
}
