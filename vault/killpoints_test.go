package vault

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoebox/shoebox/raid"
)

// haltStore passes operations through to a store until it has performed
// limit writes (Put or Delete); from then on it performs no write at all,
// as if the process had been killed at that instant, and fails them.
type haltStore struct {
	raid.ObjectStore
	mu     sync.Mutex
	limit  int
	writes int
}

var errHalted = errors.New("halted: the process is gone")

func (s *haltStore) write() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes >= s.limit {
		return false
	}
	s.writes++
	return true
}

func (s *haltStore) Put(ctx context.Context, name string, r io.Reader) error {
	if !s.write() {
		return errHalted
	}
	return s.ObjectStore.Put(ctx, name, r)
}

func (s *haltStore) Delete(ctx context.Context, name string) error {
	if !s.write() {
		return errHalted
	}
	return s.ObjectStore.Delete(ctx, name)
}

// TestForgetPruneEveryKillPoint runs forget --prune against a store that
// stops writing after n writes, for every n from 0 to the number of
// writes the whole run makes, as a SIGKILL at each step would; after each,
// a full prune on the real store must leave a repository that checks
// clean and restores every remaining snapshot exactly. The random SIGKILL
// test in test/e2e samples these points; this visits all of them.
func TestForgetPruneEveryKillPoint(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	root := f.store.Root()
	f.r.Close()
	base := t.TempDir()
	if err := os.CopyFS(base, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	run := func(store raid.ObjectStore) error {
		r, err := Open(ctx, store, testPassphrase)
		if err != nil {
			return err
		}
		defer r.Close()
		if err := r.ForgetIDs(ctx, f.snaps[:1]); err != nil {
			return err
		}
		_, err = r.Prune(ctx, false)
		return err
	}
	fresh := func() *raid.Dir {
		dir := filepath.Join(t.TempDir(), "repo")
		if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
			t.Fatal(err)
		}
		st, err := raid.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// How many writes a whole run makes.
	count := &haltStore{ObjectStore: fresh(), limit: 1 << 30}
	if err := run(count); err != nil {
		t.Fatal(err)
	}
	total := count.writes
	if total < 5 {
		t.Fatalf("forget + prune made only %d writes", total)
	}
	for n := 0; n <= total; n++ {
		st := fresh()
		// The number of writes varies a little from run to run (packs
		// are written by parallel workers), so a run may finish before
		// its limit.
		if err := run(&haltStore{ObjectStore: st, limit: n}); err != nil && !errors.Is(err, errHalted) {
			t.Fatalf("kill after %d of %d writes: %v", n, total, err)
		}
		// The next run, on the real store, finishes the job.
		r, err := Open(ctx, st, testPassphrase)
		if err != nil {
			t.Fatalf("kill after %d of %d writes: open: %v", n, total, err)
		}
		snaps, err := r.Snapshots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) == len(f.snaps) { // the forget itself was cut off
			if err := r.ForgetIDs(ctx, snaps[:1]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Prune(ctx, false); err != nil {
			t.Fatalf("kill after %d of %d writes: the next prune: %v", n, total, err)
		}
		r.Close()
		r, err = Open(ctx, st, testPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Check(ctx, CheckOptions{ReadData: true})
		if err != nil || !c.OK() || len(c.Warnings) > 0 {
			t.Fatalf("kill after %d of %d writes, then prune: check: %+v, %v", n, total, c, err)
		}
		for i := 1; i < len(f.snaps); i++ {
			f.checkRestores(t, r, i)
		}
		r.Close()
	}
	t.Logf("forget + prune killed at each of its %d writes, then pruned: clean every time", total)
}

// TestBackupEveryKillPoint kills a backup at each of its writes: the
// repository must open, check without errors (leftover packs are only
// warnings), keep its earlier snapshots intact, and be clean after the
// next backup and prune.
func TestBackupEveryKillPoint(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	root := f.store.Root()
	f.r.Close()
	base := t.TempDir()
	if err := os.CopyFS(base, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	// New data for the backup: a generation the fixture has not seen.
	for i := 0; i < 6; i++ {
		writeFile(t, filepath.Join(f.src, "new"+string(rune('a'+i))+".bin"), randBytes(uint64(100+i), 300<<10), testEpoch)
	}
	backup := func(store raid.ObjectStore) error {
		r, err := Open(ctx, store, testPassphrase)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = r.Backup(ctx, BackupOptions{Paths: []string{f.src}, Time: testEpoch.Add(10 * time.Hour)})
		return err
	}
	fresh := func() *raid.Dir {
		dir := filepath.Join(t.TempDir(), "repo")
		if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
			t.Fatal(err)
		}
		st, err := raid.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	count := &haltStore{ObjectStore: fresh(), limit: 1 << 30}
	if err := backup(count); err != nil {
		t.Fatal(err)
	}
	total := count.writes
	for n := 0; n < total; n++ {
		st := fresh()
		// Writes after the snapshot is saved (tidying up) may fail
		// without failing the backup.
		if err := backup(&haltStore{ObjectStore: st, limit: n}); err != nil && !errors.Is(err, errHalted) {
			t.Fatalf("kill after %d of %d writes: %v", n, total, err)
		}
		r, err := Open(ctx, st, testPassphrase)
		if err != nil {
			t.Fatalf("kill after %d of %d writes: open: %v", n, total, err)
		}
		if c, err := r.Check(ctx, CheckOptions{ReadData: true}); err != nil || !c.OK() {
			t.Fatalf("kill after %d of %d writes: check: %+v, %v", n, total, c, err)
		}
		for i := range f.snaps {
			f.checkRestores(t, r, i)
		}
		if _, err := r.Backup(ctx, BackupOptions{Paths: []string{f.src}, Time: testEpoch.Add(11 * time.Hour)}); err != nil {
			t.Fatalf("kill after %d of %d writes: the next backup: %v", n, total, err)
		}
		if _, err := r.Prune(ctx, false); err != nil {
			t.Fatal(err)
		}
		r.Close()
		r, err = Open(ctx, st, testPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := r.Check(ctx, CheckOptions{ReadData: true}); err != nil || !c.OK() || len(c.Warnings) > 0 {
			t.Fatalf("kill after %d of %d writes, backup, prune: check: %+v, %v", n, total, c, err)
		}
		r.Close()
	}
	t.Logf("backup killed at each of its %d writes: clean every time", total)
}
