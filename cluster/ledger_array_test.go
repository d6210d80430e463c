package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/shoebox/shoebox/internal/fakeclock"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
)

// TestLedgerOnArray: the ledger over the offsite unit's real store, a
// 2+1 erasure-coded array (of folders here): objects count at their
// logical size for the quota, deletions wait, purge removes them from
// every disk.
func TestLedgerOnArray(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	var disks []string
	for i := range 3 {
		disks = append(disks, filepath.Join(root, fmt.Sprintf("disk%d", i)))
	}
	a, err := raid.Create(disks, raid.Layout{Data: 2, Parity: 1}, raid.Options{AllowSameDrive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	clock := fakeclock.New(t0)
	l, err := OpenLedger(ctx, a, filepath.Join(t.TempDir(), "ledger.db"), LedgerOptions{Now: clock.Now, Quota: 100_000, FreezeAbove: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var packs []string
	for i := range 4 {
		b := bytes.Repeat([]byte{byte(i)}, 20_000)
		packs = append(packs, hashed("data/", b))
		if err := l.Put(ctx, packs[i], bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("b"), 20_001)
	if err := l.Put(ctx, hashed("data/", big), bytes.NewReader(big)); !errors.Is(err, ErrQuota) {
		t.Fatalf("Put over quota on the array: got %v, want ErrQuota", err)
	}
	if err := l.RequestDelete(ctx, packs[0]); err != nil {
		t.Fatal(err)
	}
	clock.Add(30 * day)
	if got, err := l.Purge(ctx); err != nil || fmt.Sprint(got) != fmt.Sprint(packs[:1]) {
		t.Fatalf("Purge: got %v, %v; want %v", got, err, packs[:1])
	}
	if _, err := a.Stat(ctx, packs[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purged pack still on the array: %v", err)
	}
	if err := l.Put(ctx, hashed("data/", big), bytes.NewReader(big)); err != nil {
		t.Fatalf("Put after the purge made room: %v", err)
	}
	if s, _ := l.Status(); s.Objects != 4 || s.Bytes != 80_001 {
		t.Errorf("Status: got %d objects of %d bytes, want 4 of 80001", s.Objects, s.Bytes)
	}
}
