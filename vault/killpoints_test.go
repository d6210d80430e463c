package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox/shoebox/store"
)

// haltStore passes operations through to a store until it has performed
// limit writes (Put or Delete); from then on it performs no write at all,
// as if the process had been killed at that instant, and fails them.
type haltStore struct {
	store.ObjectStore
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
	base := copyRepo(t, root).Root()
	run := func(st store.ObjectStore) error {
		r, err := Open(ctx, st, testPassphrase)
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
	fresh := func() *store.Dir { return copyRepo(t, base) }
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
	base := copyRepo(t, root).Root()
	// New data for the backup: a generation the fixture has not seen.
	for i := 0; i < 6; i++ {
		writeFile(t, filepath.Join(f.src, "new"+string(rune('a'+i))+".bin"), randBytes(uint64(100+i), 300<<10), testEpoch)
	}
	backup := func(st store.ObjectStore) error {
		r, err := Open(ctx, st, testPassphrase)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = r.Backup(ctx, BackupOptions{Paths: []string{f.src}, Time: testEpoch.Add(10 * time.Hour)})
		return err
	}
	fresh := func() *store.Dir { return copyRepo(t, base) }
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

// countStore counts the bytes of packs a run leaves in the store: every
// data/ object it puts, less those it deletes again (the second pack of
// a merge).
type countStore struct {
	store.ObjectStore
	mu   sync.Mutex
	puts map[string]int64
}

func (s *countStore) Put(ctx context.Context, name string, r io.Reader) error {
	var n int64
	err := s.ObjectStore.Put(ctx, name, readerFunc(func(b []byte) (int, error) {
		k, err := r.Read(b)
		n += int64(k)
		return k, err
	}))
	if err == nil && strings.HasPrefix(name, dataPrefix) {
		s.mu.Lock()
		if s.puts == nil {
			s.puts = map[string]int64{}
		}
		s.puts[name] = n
		s.mu.Unlock()
	}
	return err
}

func (s *countStore) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	delete(s.puts, name)
	s.mu.Unlock()
	return s.ObjectStore.Delete(ctx, name)
}

// packBytes is what the run wrote to data/ and left there: bytes, packs.
func (s *countStore) packBytes() (int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, b := range s.puts {
		n += b
	}
	return n, len(s.puts)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// packsIn lists the packs in a store with their sizes.
func packsIn(t *testing.T, st store.ObjectStore) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	must(t, st.List(context.Background(), dataPrefix, func(fi store.ObjectInfo) error {
		out[fi.Name] = fi.Size
		return nil
	}))
	return out
}

// dataBlobsOf returns the IDs of the data blobs the named packs hold,
// read from the packs' own headers.
func dataBlobsOf(t *testing.T, r *Repository, names []string) map[ID]bool {
	t.Helper()
	out := map[ID]bool{}
	for _, name := range names {
		id, err := ParseID(name[strings.LastIndexByte(name, '/')+1:])
		must(t, err)
		p, err := r.packs.get(context.Background(), id)
		must(t, err)
		entries, err := readPackHeader(p.plain, p.size)
		r.packs.release(p)
		must(t, err)
		for _, e := range entries {
			if e.Type == DataBlob {
				out[e.ID] = true
			}
		}
	}
	return out
}

// TestBackupAfterKillReusesFinishedPacks is TestBackupEveryKillPoint's
// companion: a backup killed at each of its writes, then the next
// backup on the same repository. The packs the killed backup finished
// (written, but in no index file yet) must be indexed from their own
// headers and reused: the next backup sends none of their blobs again,
// so the pack bytes it writes to the store are those of an uninterrupted
// backup less what was already packed; and check --read-data is clean.
func TestBackupAfterKillReusesFinishedPacks(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	root := f.store.Root()
	f.r.Close()
	base := copyRepo(t, root).Root()
	// New data, several 1 MiB packs of it.
	want := map[string][]byte{}
	for i := 0; i < 12; i++ {
		name := "new" + string(rune('a'+i)) + ".bin"
		want[name] = randBytes(uint64(200+i), 300<<10)
		writeFile(t, filepath.Join(f.src, name), want[name], testEpoch)
	}
	backup := func(st store.ObjectStore, at time.Duration) (*Snapshot, error) {
		r, err := Open(ctx, st, testPassphrase)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return r.Backup(ctx, BackupOptions{Paths: []string{f.src}, Time: testEpoch.Add(at)})
	}
	fresh := func() *store.Dir { return copyRepo(t, base) }
	basePacks := packsIn(t, fresh())
	// An uninterrupted backup: how many writes, and how many pack bytes.
	count := &haltStore{ObjectStore: fresh(), limit: 1 << 30}
	ref := &countStore{ObjectStore: count}
	if _, err := backup(ref, 10*time.Hour); err != nil {
		t.Fatal(err)
	}
	total := count.writes
	fullBytes, _ := ref.packBytes()
	reusedSome := false
	for n := 0; n < total; n++ {
		st := fresh()
		if _, err := backup(&haltStore{ObjectStore: st, limit: n}, 10*time.Hour); err != nil && !errors.Is(err, errHalted) {
			t.Fatalf("kill after %d of %d writes: %v", n, total, err)
		}
		// What the killed backup finished: packs that were not there.
		var left []string
		var leftBytes int64
		for name, size := range packsIn(t, st) {
			if _, ok := basePacks[name]; !ok {
				left = append(left, name)
				leftBytes += size
			}
		}
		r := reopen(t, st)
		leftBlobs := dataBlobsOf(t, r, left)
		r.Close()
		before := packsIn(t, st)

		cs := &countStore{ObjectStore: st}
		snap, err := backup(cs, 11*time.Hour)
		if err != nil {
			t.Fatalf("kill after %d of %d writes: the next backup: %v", n, total, err)
		}
		var wrote []string
		for name := range packsIn(t, st) {
			if _, ok := before[name]; !ok {
				wrote = append(wrote, name)
			}
		}
		r = reopen(t, st)
		again := 0
		for id := range dataBlobsOf(t, r, wrote) {
			if leftBlobs[id] {
				again++
			}
		}
		got, packs := cs.packBytes()
		// Each pack costs an age header, chunk tags and its own header:
		// well under 1 KiB here; the trees of the folders above the
		// source may differ between runs (their times change).
		slack := int64(packs+len(left))*1024 + 16<<10
		if again > 0 || got+leftBytes > fullBytes+slack {
			t.Errorf("kill after %d of %d writes left %d finished packs (%d bytes, %d data blobs); the next backup wrote %d bytes of packs "+
				"and stored %d of those blobs again; an uninterrupted backup writes %d: what was already packed must be reused, not sent again",
				n, total, len(left), leftBytes, len(leftBlobs), got, again, fullBytes)
		}
		reusedSome = reusedSome || len(leftBlobs) > 0
		t.Logf("killed after %d of %d writes: %d finished packs (%d bytes) left; the next backup wrote %d bytes of packs (an uninterrupted one: %d)",
			n, total, len(left), leftBytes, got, fullBytes)
		c, err := r.Check(ctx, CheckOptions{ReadData: true})
		if err != nil || !c.OK() || len(c.Warnings) > 0 {
			t.Fatalf("kill after %d of %d writes, then a backup: check: %+v, %v", n, total, c, err)
		}
		files := snapshotFiles(t, r, snap)
		for name, data := range want {
			node := files[filepath.Join(f.src, name)]
			if node == nil {
				t.Fatalf("kill after %d of %d writes: %s is not in the next snapshot", n, total, name)
			}
			var buf bytes.Buffer
			must(t, r.Dump(ctx, node, &buf))
			if !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("kill after %d of %d writes: %s restores as %d bytes, want its %d", n, total, name, buf.Len(), len(data))
			}
		}
		r.Close()
	}
	if !reusedSome {
		t.Fatalf("no kill point of %d left a finished pack: the test proves nothing", total)
	}
	t.Logf("backup killed at each of its %d writes: the next backup reused every finished pack (an uninterrupted one writes %d bytes of packs)", total, fullBytes)
}

// copyRepo copies the repository folder from into a new folder and opens
// it.
func copyRepo(t *testing.T, from string) *store.Dir {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	must(t, os.CopyFS(dir, os.DirFS(from)))
	st, err := store.OpenDir(dir)
	must(t, err)
	return st
}
