package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/fakeclock"
	"github.com/shoebox/shoebox/store"
)

// killChildEnv tells the test binary to act as the ledger's process that
// TestLedgerSurvivesSIGKILL kills: it holds the store's directory and
// the database's path, separated by a newline.
const killChildEnv = "SHOEBOX_TEST_LEDGER_CHILD"

// killChildPacks is how many packs the child stores besides config and a
// key file: 12 objects, so that the second deletion request of the day
// (2 > 10 % of 12) freezes deletions.
const killChildPacks = 10

func killChildPack(i int) []byte { return bytes.Repeat([]byte{byte(i), 'k'}, 500) }

// TestLedgerSurvivesSIGKILL: a real process stores objects, requests a
// deletion, sets a hold, trips the freeze, and is killed with SIGKILL in
// the middle of another put; the reopened ledger has every record, the
// half-written object is absent, and its temporary file is cleaned.
func TestLedgerSurvivesSIGKILL(t *testing.T) {
	if env := os.Getenv(killChildEnv); env != "" {
		ledgerChild(env)
		return
	}
	root, db := t.TempDir(), filepath.Join(t.TempDir(), "ledger.db")
	c := startChild(t, "TestLedgerSurvivesSIGKILL", killChildEnv, root+"\n"+db)
	// The child prints "ready" once all is done and a put is half-way.
	_, ready := c.line(t, "ready")
	c.kill(t)
	if !ready {
		t.Fatal("the child process ended before it was ready")
	}
	if ents, _ := os.ReadDir(filepath.Join(root, ".tmp")); len(ents) != 1 {
		t.Fatalf("the killed put left %d temporary files, want 1 (the test would not show it is cleaned)", len(ents))
	}

	ctx := context.Background()
	clock := fakeclock.New(t0.Add(time.Hour))
	d, err := store.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, ".tmp")); len(ents) != 0 {
		t.Errorf("OpenDir left %d temporary files of the killed put", len(ents))
	}
	l, err := OpenLedger(ctx, d, db, LedgerOptions{Now: clock.Now})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer l.Close()
	s, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	if s.Objects != killChildPacks+2 || s.PendingDeletions != 1 || s.Holds != 1 || !s.Freeze.Frozen || s.Freeze.Requested != 2 {
		t.Fatalf("Status after SIGKILL: got %+v, want %d objects, 1 pending deletion, 1 hold, frozen at the 2nd request", s, killChildPacks+2)
	}
	p0, p1 := hashed("data/", killChildPack(0)), hashed("data/", killChildPack(1))
	if until, _ := l.HeldUntil(p1); !until.Equal(t0.Add(90 * day)) {
		t.Errorf("hold after SIGKILL: got %v, want %v", until, t0.Add(90*day))
	}
	clock.Add(31 * day)
	if _, err := l.Purge(ctx); !errors.Is(err, ErrFrozen) {
		t.Fatalf("Purge after SIGKILL: got %v, want ErrFrozen", err)
	}
	if err := l.Unfreeze(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Purge(ctx); err != nil || fmt.Sprint(got) != fmt.Sprint([]string{p0}) {
		t.Fatalf("Purge after Unfreeze: got %v, %v; want [%s]", got, err, p0)
	}
}

// ledgerChild is the killed process of TestLedgerSurvivesSIGKILL.
func ledgerChild(env string) {
	root, db, _ := strings.Cut(env, "\n")
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	d, err := store.OpenDir(root)
	if err != nil {
		fail(err)
	}
	l, err := OpenLedger(ctx, d, db, LedgerOptions{Now: fakeclock.New(t0).Now})
	if err != nil {
		fail(err)
	}
	key := []byte("the key file")
	for name, b := range map[string][]byte{"config": []byte("config"), hashed("keys/", key): key} {
		if err := l.Put(ctx, name, bytes.NewReader(b)); err != nil {
			fail(err)
		}
	}
	for i := range killChildPacks {
		b := killChildPack(i)
		if err := l.Put(ctx, hashed("data/", b), bytes.NewReader(b)); err != nil {
			fail(err)
		}
	}
	p0, p1, p2 := hashed("data/", killChildPack(0)), hashed("data/", killChildPack(1)), hashed("data/", killChildPack(2))
	if err := l.RequestDelete(ctx, p0); err != nil {
		fail(err)
	}
	if err := l.Hold(ctx, p1, t0.Add(90*day)); err != nil {
		fail(err)
	}
	if err := l.RequestDelete(ctx, p2); !errors.Is(err, ErrFrozen) {
		fail(fmt.Errorf("second request: got %v, want ErrFrozen", err))
	}
	// A put cut by the kill: half of a pack, then a reader that waits.
	half := make(chan struct{})
	big := bytes.Repeat([]byte("x"), 1<<20)
	go l.Put(ctx, hashed("data/", big), io.MultiReader(bytes.NewReader(big[:1<<19]), signalReader{half}))
	<-half
	fmt.Println("ready")
	time.Sleep(time.Hour)
}

// signalReader closes its channel on the first read, then blocks forever.
type signalReader struct{ c chan struct{} }

func (r signalReader) Read([]byte) (int, error) {
	close(r.c)
	select {}
}
