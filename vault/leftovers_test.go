package vault

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoebox/shoebox/store"
)

// removeIndexFiles deletes every index file, as a lost or wiped index
// folder would.
func removeIndexFiles(t *testing.T, st store.ObjectStore) int {
	t.Helper()
	ctx := context.Background()
	var names []string
	must(t, st.List(ctx, indexPrefix, func(fi store.ObjectInfo) error {
		names = append(names, fi.Name)
		return nil
	}))
	for _, n := range names {
		must(t, st.Delete(ctx, n))
	}
	return len(names)
}

// TestLostIndexRecoveredFromPackHeaders: with every index file gone, the
// packs still say what they hold. The next backup indexes them from their
// headers before it starts, finds its parent, stores nothing it already
// has, and leaves a repository that checks clean and restores every
// snapshot.
func TestLostIndexRecoveredFromPackHeaders(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	f.r.Close()
	if n := removeIndexFiles(t, f.store); n == 0 {
		t.Fatal("the fixture wrote no index file")
	}
	r := reopen(t, f.store)
	snap, err := r.Backup(ctx, BackupOptions{Paths: []string{f.src}, Host: f.snaps[0].Hostname, Time: testEpoch.Add(5 * time.Hour)})
	if err != nil {
		t.Fatalf("backup after the index files were lost: %v", err)
	}
	// Only the trees of the folders above the source may be new (their
	// times change as tests make folders beside them); no file's data is.
	if s := snap.Summary; snap.Parent == nil || s.BytesAdded > 64<<10 {
		t.Errorf("backup after the index files were lost: parent %v, %d bytes added of %d; want the parent found and every file's data reused from the packs",
			snap.Parent, s.BytesAdded, s.BytesTotal)
	}
	if l := snap.Summary.Leftovers; l == nil || len(l.Indexed) == 0 || len(l.Unreadable) > 0 {
		t.Errorf("backup after the index files were lost: leftovers %+v; want every pack indexed from its header", l)
	}
	r.Close()
	checkClean(t, f.store)
	r = reopen(t, f.store)
	for i := range f.snaps {
		f.checkRestores(t, r, i)
	}
}

// TestBackupAfterPruneByAnotherProcess: a long-running process (the
// daemon) keeps its index in memory while another process (the CLI)
// forgets a snapshot and prunes. The daemon's next backup must not take
// blobs of the deleted packs for stored: it reads the index files again
// when they changed, and stores those blobs anew.
func TestBackupAfterPruneByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	for i := 0; i < 4; i++ {
		writeFile(t, filepath.Join(src, "img"+string(rune('0'+i))+".bin"), randBytes(uint64(300+i), 200<<10), testEpoch)
	}
	daemon, st := newTestRepo(t, 1<<20)
	first := mustBackup(t, daemon, BackupOptions{Paths: []string{src}, Time: testEpoch})

	cli := reopen(t, st)
	must(t, cli.ForgetIDs(ctx, []*Snapshot{first}))
	if res, err := cli.Prune(ctx, false); err != nil || res.PacksDeleted == 0 {
		t.Fatalf("prune by the other process: %+v, %v; want the snapshot's packs deleted", res, err)
	}
	cli.Close()

	// The same files again: the daemon must store them anew.
	mustBackup(t, daemon, BackupOptions{Paths: []string{src}, Time: testEpoch.Add(time.Hour)})
	checkClean(t, st)
}

// TestRestoreAfterPruneByAnotherProcess: a process that opened the
// repository before another one pruned it finds blobs the prune moved
// into new packs (it reads the index files again when a pack it expected
// is gone), instead of failing with "pack missing".
func TestRestoreAfterPruneByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	f.r.Close()
	reader := reopen(t, f.store)

	cli := reopen(t, f.store)
	must(t, cli.ForgetIDs(ctx, f.snaps[:1]))
	res, err := cli.Prune(ctx, false)
	if err != nil || res.PacksRepacked == 0 {
		t.Fatalf("prune: %+v, %v; want packs repacked", res, err)
	}
	cli.Close()
	for i := 1; i < len(f.snaps); i++ {
		f.checkRestores(t, reader, i)
	}
}

// indexFailStore fails every index file write while failing is set, as a
// full or vanished disk would at the end of a backup.
type indexFailStore struct {
	store.ObjectStore
	failing atomic.Bool
}

func (s *indexFailStore) Put(ctx context.Context, name string, r io.Reader) error {
	if s.failing.Load() && strings.HasPrefix(name, indexPrefix) {
		return errors.New("disk full")
	}
	return s.ObjectStore.Put(ctx, name, r)
}

// TestBackupAfterFailedBackupInSameProcess: a backup of a long-running
// process (the daemon) stores its packs, then fails to write its index
// file. The next backup of the same process reuses those blobs from the
// in-memory index, so its own index file must list their packs too:
// otherwise its snapshot refers to blobs no index file lists.
func TestBackupAfterFailedBackupInSameProcess(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	for i := 0; i < 4; i++ {
		writeFile(t, filepath.Join(src, "img"+string(rune('0'+i))+".bin"), randBytes(uint64(400+i), 300<<10), testEpoch)
	}
	_, dir := newTestRepo(t, 1<<20)
	st := &indexFailStore{ObjectStore: dir}
	daemon := reopen(t, st)
	st.failing.Store(true)
	if _, err := daemon.Backup(context.Background(), BackupOptions{Paths: []string{src}, Host: "testhost", Time: testEpoch}); err == nil {
		t.Fatal("backup whose index file cannot be written: no error")
	}
	st.failing.Store(false)
	mustBackup(t, daemon, BackupOptions{Paths: []string{src}, Time: testEpoch.Add(time.Hour)})
	checkClean(t, dir)
}
