package vault

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shoebox/shoebox/store"
)

// policySnapshots are dated at noon UTC so that no time zone moves them
// to another day; index i has ID {i+1}.
func policySnapshots() []*Snapshot {
	times := []string{
		"2023-03-15", // 0
		"2023-11-30", // 1
		"2024-01-01", // 2
		"2024-01-31", // 3
		"2024-02-10", // 4 Sat, ISO week 6
		"2024-02-11", // 5 Sun, ISO week 6
		"2024-02-12", // 6 Mon, ISO week 7
		"2024-02-13", // 7
		"2024-02-14", // 8
		"2024-02-14", // 9 the same day, later in it
	}
	out := make([]*Snapshot, len(times))
	for i, d := range times {
		tm, err := time.Parse("2006-01-02", d)
		if err != nil {
			panic(err)
		}
		tm = tm.Add(12*time.Hour + time.Duration(i)*time.Minute)
		s := &Snapshot{Time: tm, Hostname: "nas", Paths: []string{"/photos"}}
		s.id[0] = byte(i + 1)
		out[i] = s
	}
	out[3].Tags = []string{"before-trip"}
	return out
}

func TestApplyPolicy(t *testing.T) {
	now := time.Date(2024, 2, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		policy Policy
		holds  map[int]time.Time
		keep   []int
	}{
		{"last 1", Policy{Last: 1}, nil, []int{9}},
		{"last 3", Policy{Last: 3}, nil, []int{7, 8, 9}},
		{"last more than there are", Policy{Last: 100}, nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"daily 3", Policy{Daily: 3}, nil, []int{6, 7, 9}},
		{"weekly 2", Policy{Weekly: 2}, nil, []int{5, 9}},
		{"monthly 3", Policy{Monthly: 3}, nil, []int{1, 3, 9}},
		{"yearly 2", Policy{Yearly: 2}, nil, []int{1, 9}},
		{"yearly 5", Policy{Yearly: 5}, nil, []int{1, 9}},
		{"tag", Policy{Tags: []string{"before-trip"}}, nil, []int{3}},
		{"unknown tag", Policy{Tags: []string{"nope"}}, nil, nil},
		{"within 60 hours", Policy{Within: 60 * time.Hour}, nil, []int{7, 8, 9}},
		{"within 72 hours", Policy{Within: 72 * time.Hour}, nil, []int{6, 7, 8, 9}},
		{"combined", Policy{Last: 1, Monthly: 2, Yearly: 2}, nil, []int{1, 3, 9}},
		{"daily and weekly", Policy{Daily: 2, Weekly: 3}, nil, []int{3, 5, 7, 9}},
		{"hold keeps", Policy{Last: 1}, map[int]time.Time{0: now.Add(time.Hour)}, []int{0, 9}},
		{"expired hold does not", Policy{Last: 1}, map[int]time.Time{0: now.Add(-time.Hour)}, []int{9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snaps := policySnapshots()
			holds := map[ID]time.Time{}
			for i, until := range tc.holds {
				holds[snaps[i].id] = until
			}
			ds := ApplyPolicy(snaps, tc.policy, holds, now)
			if len(ds) != len(snaps) {
				t.Fatalf("got %d decisions, want %d", len(ds), len(snaps))
			}
			var got []int
			for _, d := range ds {
				if d.Keep != (len(d.Reasons) > 0) {
					t.Errorf("%s: Keep %v with reasons %q", d.ID, d.Keep, d.Reasons)
				}
				if d.Keep {
					got = append(got, int(d.Snapshot.id[0])-1)
				}
			}
			sortInts(got)
			if diff := cmp.Diff(tc.keep, got); diff != "" {
				t.Errorf("kept snapshots (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyPolicyGroups(t *testing.T) {
	snaps := policySnapshots()
	snaps[0].Hostname = "laptop"
	snaps[1].Paths = []string{"/other"}
	ds := ApplyPolicy(snaps, Policy{Last: 1}, nil, testEpoch)
	var got []int
	for _, d := range ds {
		if d.Keep {
			got = append(got, int(d.Snapshot.id[0])-1)
		}
	}
	sortInts(got)
	if diff := cmp.Diff([]int{0, 1, 9}, got); diff != "" {
		t.Errorf("kept snapshots, one per group (-want +got):\n%s", diff)
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// pruneFixture backs up three generations of a tree; each generation
// drops some files and adds others.
type pruneFixture struct {
	r     *Repository
	store *store.Dir
	src   string
	snaps []*Snapshot
	// trees[i] is a copy of the source as snapshot i saw it.
	trees []string
}

func newPruneFixture(t *testing.T) *pruneFixture {
	t.Helper()
	f := &pruneFixture{}
	base := t.TempDir()
	f.src = filepath.Join(base, "src")
	copies := t.TempDir()
	f.r, f.store = newTestRepo(t, 1<<20)
	gens := [][]int{{0, 1, 2, 3, 4, 5}, {0, 1, 2, 6, 7}, {0, 8, 9}}
	for g, files := range gens {
		must(t, os.RemoveAll(f.src))
		copyDir := filepath.Join(copies, string(rune('a'+g)))
		for _, i := range files {
			name := "file" + string(rune('0'+i)) + ".bin"
			data := randBytes(uint64(i+1), 200<<10+i*1000)
			writeFile(t, filepath.Join(f.src, name), data, testEpoch)
			writeFile(t, filepath.Join(copyDir, name), data, testEpoch)
		}
		fixDirTimes(t, f.src, testEpoch)
		fixDirTimes(t, copyDir, testEpoch)
		f.snaps = append(f.snaps, mustBackup(t, f.r, BackupOptions{Paths: []string{f.src}, Time: testEpoch.Add(time.Duration(g) * time.Hour)}))
		f.trees = append(f.trees, copyDir)
	}
	return f
}

// checkRestores restores snapshot i and compares it with its source.
func (f *pruneFixture) checkRestores(t *testing.T, r *Repository, i int) {
	t.Helper()
	s, err := r.LoadSnapshot(context.Background(), f.snaps[i].ID())
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	mustRestore(t, r, s, RestoreOptions{Target: target})
	got := restoredPath(target, f.src)
	for _, name := range sortedKeys(scanTree(t, f.trees[i], compareOpts{})) {
		if name == "." {
			continue
		}
		want, err := os.ReadFile(filepath.Join(f.trees[i], name))
		must(t, err)
		b, err := os.ReadFile(filepath.Join(got, name))
		if err != nil || string(b) != string(want) {
			t.Errorf("snapshot %d: %s: got %d bytes (%v), want %d", i, name, len(b), err, len(want))
		}
	}
}

func checkClean(t *testing.T, st store.ObjectStore) {
	t.Helper()
	res, err := reopen(t, st).Check(context.Background(), CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || len(res.Warnings) != 0 {
		t.Errorf("Check: errors %q, warnings %q; want none", res.Errors, res.Warnings)
	}
}

func storeSize(t *testing.T, st store.ObjectStore, prefix string) (n int, size int64) {
	t.Helper()
	must(t, st.List(context.Background(), prefix, func(fi store.ObjectInfo) error {
		n++
		size += fi.Size
		return nil
	}))
	return n, size
}

func TestForgetPrune(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	_, before := storeSize(t, f.store, dataPrefix)

	t.Run("empty policy refused", func(t *testing.T) {
		if _, err := f.r.Forget(ctx, Policy{}, false); err == nil {
			t.Error("got nil error, want a refusal")
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		ds, err := f.r.Forget(ctx, Policy{Last: 1}, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 3 {
			t.Errorf("got %d decisions, want 3", len(ds))
		}
		snaps, err := f.r.Snapshots(ctx)
		if err != nil || len(snaps) != 3 {
			t.Errorf("after dry run: got %d snapshots (%v), want 3", len(snaps), err)
		}
		res, err := f.r.Prune(ctx, true)
		if err != nil || !res.DryRun || res.PacksDeleted+res.PacksRepacked != 0 {
			t.Errorf("Prune dry run: got %+v, %v; want nothing to do", res, err)
		}
	})

	t.Run("forget and prune", func(t *testing.T) {
		ds, err := f.r.Forget(ctx, Policy{Last: 1}, false)
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, d := range ds {
			if d.Keep {
				kept++
				if d.Snapshot.ID() != f.snaps[2].ID() {
					t.Errorf("got %s kept, want only the newest", d.ID)
				}
			}
		}
		if kept != 1 {
			t.Errorf("got %d kept, want 1", kept)
		}
		res, err := f.r.Prune(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.BlobsRemoved == 0 || res.BytesFreed == 0 || res.PacksDeleted+res.PacksRepacked == 0 {
			t.Errorf("got %+v, want blobs removed and packs deleted or repacked", res)
		}
		_, after := storeSize(t, f.store, dataPrefix)
		if after >= before*2/3 {
			t.Errorf("got %d bytes of packs after prune, %d before; want about a third", after, before)
		}
		if n, _ := storeSize(t, f.store, indexPrefix); n != 1 && res.PacksRepacked == 0 {
			t.Errorf("got %d index files, want 1", n)
		}
		r := reopen(t, f.store)
		f.checkRestores(t, r, 2)
		checkClean(t, f.store)
		// A second prune has nothing left to do.
		res, err = r.Prune(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.PacksDeleted+res.PacksRepacked+res.BlobsRemoved != 0 {
			t.Errorf("second prune: got %+v, want nothing done", res)
		}
		checkClean(t, f.store)
	})
}

func TestPruneRepacks(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	// Files 3, 4 and 5 exist only in the first snapshot; the packs that
	// hold them also hold blobs that later snapshots use, unless the
	// random pack assignment happened to separate them.
	must(t, f.r.ForgetIDs(ctx, []*Snapshot{f.snaps[0]}))
	res, err := f.r.Prune(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsRemoved < 3 {
		t.Errorf("got %d blobs removed, want at least 3 (files 3-5 and the old trees)", res.BlobsRemoved)
	}
	if res.PacksRepacked == 0 {
		t.Errorf("got %+v, want some pack repacked (every pack mixes the files of a generation)", res)
	}
	r := reopen(t, f.store)
	for _, p := range r.index.Packs() {
		for _, b := range p.Blobs {
			if b.Type != DataBlob {
				continue
			}
			if !dataUsed(t, r, b.ID) {
				t.Errorf("pack %s still holds unused blob %s", p.ID.Short(), b.ID.Short())
			}
		}
	}
	f.checkRestores(t, r, 1)
	f.checkRestores(t, r, 2)
	checkClean(t, f.store)
}

// dataUsed reports whether some snapshot references a data blob.
func dataUsed(t *testing.T, r *Repository, id ID) bool {
	t.Helper()
	snaps, err := r.Snapshots(context.Background())
	must(t, err)
	for _, s := range snaps {
		for _, n := range snapshotFiles(t, r, s) {
			for _, c := range n.Content {
				if c == id {
					return true
				}
			}
		}
	}
	return false
}

func TestHold(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	held := f.snaps[0]
	if err := f.r.Hold(ctx, held.ID(), time.Now().Add(-time.Hour)); err == nil {
		t.Error("Hold in the past: got nil error, want one")
	}
	must(t, f.r.Hold(ctx, held.ID(), time.Now().Add(24*time.Hour)))

	err := f.r.ForgetIDs(ctx, []*Snapshot{f.snaps[1], held})
	if !errors.Is(err, ErrImmutable) {
		t.Errorf("ForgetIDs of a held snapshot: got %v, want ErrImmutable", err)
	}
	if snaps, _ := f.r.Snapshots(ctx); len(snaps) != 3 {
		t.Errorf("after refused ForgetIDs: got %d snapshots, want 3 (nothing removed)", len(snaps))
	}

	ds, err := f.r.Forget(ctx, Policy{Last: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Snapshot.ID() == held.ID() && (!d.Keep || !strings.HasPrefix(strings.Join(d.Reasons, ","), "immutable")) {
			t.Errorf("held snapshot: got keep %v, reasons %q; want kept as immutable", d.Keep, d.Reasons)
		}
	}
	if _, err := f.r.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	r := reopen(t, f.store)
	snaps, err := r.Snapshots(ctx)
	must(t, err)
	if len(snaps) != 2 {
		t.Errorf("got %d snapshots, want the held and the newest", len(snaps))
	}
	f.checkRestores(t, r, 0)
	f.checkRestores(t, r, 2)
	checkClean(t, f.store)

	t.Run("unheld snapshot can be forgotten", func(t *testing.T) {
		if err := r.ForgetIDs(ctx, []*Snapshot{f.snaps[2]}); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
	t.Run("damaged hold blocks forget", func(t *testing.T) {
		must(t, f.store.Put(ctx, holdsPrefix+strings.Repeat("ab", 32), strings.NewReader("garbage")))
		if _, err := r.Forget(ctx, Policy{Last: 1}, false); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Forget: got %v, want ErrCorrupt (a hold that cannot be read)", err)
		}
	})
}

// TestPruneDuplicatePacks: two repository handles that back up the same
// data at once store it twice; prune keeps one copy.
func TestPruneDuplicatePacks(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "a.bin"), randBytes(1, 300<<10), testEpoch)
	// The tree records the folders above src, and /tmp's mtime moves
	// whenever another process makes a file in it: try again (in a new
	// repository) until both backups saw the same /tmp.
	var st *store.Dir
	var s2 *Snapshot
	for attempt := 1; ; attempt++ {
		var r1 *Repository
		r1, st = newTestRepo(t, 1<<20)
		// The second backup runs on a copy of the repository, and what it
		// writes is then put beside the first's: as if both ran at once, each
		// not seeing the other's index file (a backup reads the index files
		// again when it starts).
		store2 := copyRepo(t, st.Root())
		r2 := reopen(t, store2)
		s1 := mustBackup(t, r1, BackupOptions{Paths: []string{src}, NoParent: true})
		s2 = mustBackup(t, r2, BackupOptions{Paths: []string{src}, NoParent: true})
		for _, prefix := range []string{dataPrefix, indexPrefix, snapshotPrefix} {
			must(t, store2.List(ctx, prefix, func(fi store.ObjectInfo) error {
				if _, err := st.Stat(ctx, fi.Name); err == nil {
					return nil
				}
				b, err := store.ReadAll(ctx, store2, fi.Name)
				if err != nil {
					return err
				}
				return st.Put(ctx, fi.Name, bytes.NewReader(b))
			}))
		}
		if s1.Tree == s2.Tree {
			break
		}
		if attempt == 5 {
			t.Fatalf("got trees %s and %s, want the same", s1.Tree.Short(), s2.Tree.Short())
		}
	}
	r := reopen(t, st)
	n, _ := storeSize(t, st, dataPrefix)
	if _, err := r.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	after, _ := storeSize(t, st, dataPrefix)
	if after != n/2 {
		t.Errorf("got %d packs after prune, want %d (one copy of each)", after, n/2)
	}
	checkClean(t, st)
	target := t.TempDir()
	mustRestore(t, reopen(t, st), s2, RestoreOptions{Target: target})
	compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: true})
}

// TestSnapshotsWhileForgetting lists snapshots (as the API does) while
// retention forgets them: a snapshot that goes away mid-list is left out,
// never an error.
func TestSnapshotsWhileForgetting(t *testing.T) {
	ctx := context.Background()
	r, _ := newTestRepo(t, 1<<20)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.bin"), randBytes(1, 1000), testEpoch)
	var snaps []*Snapshot
	for i := 0; i < 40; i++ {
		snaps = append(snaps, mustBackup(t, r, BackupOptions{Paths: []string{src}, Time: testEpoch.Add(time.Duration(i) * time.Minute)}))
	}
	done := make(chan error, 1)
	go func() {
		for _, s := range snaps[:39] {
			if err := r.ForgetIDs(ctx, []*Snapshot{s}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		list, err := r.Snapshots(ctx)
		if err != nil {
			t.Fatalf("Snapshots while forgetting: %v", err)
		}
		if len(list) == 1 {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Afterwards only the last one is left.
	list, err := r.Snapshots(ctx)
	if err != nil || len(list) != 1 || list[0].ID() != snaps[39].ID() {
		t.Fatalf("after forgetting: %d snapshots, %v", len(list), err)
	}
}

// TestPruneAfterKilledPrune rebuilds the state a prune killed between
// writing its new index and deleting the old ones leaves (the old and the
// new files side by side), and prunes again: the old index files, which
// the killed prune's index superseded, must not come back to life and
// list the packs the second prune deletes.
func TestPruneAfterKilledPrune(t *testing.T) {
	ctx := context.Background()
	f := newPruneFixture(t)
	root := f.store.Root()
	must(t, f.r.ForgetIDs(ctx, f.snaps[:1]))
	before := t.TempDir()
	must(t, os.CopyFS(before, os.DirFS(root)))
	res, err := f.r.Prune(ctx, false)
	if err != nil || res.PacksRepacked == 0 {
		t.Fatalf("prune: %+v, %v (the fixture must need a repack)", res, err)
	}
	f.r.Close()
	// The killed prune's state: everything it wrote, nothing it deleted.
	must(t, filepath.WalkDir(before, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(before, p)
		dst := filepath.Join(root, rel)
		if _, err := os.Stat(dst); errors.Is(err, fs.ErrNotExist) {
			must(t, os.MkdirAll(filepath.Dir(dst), 0o700))
			b, err := os.ReadFile(p)
			must(t, err)
			must(t, os.WriteFile(dst, b, 0o600))
		}
		return nil
	}))
	r, err := Open(ctx, f.store, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ctx, f.store, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	c, err := r2.Check(ctx, CheckOptions{ReadData: true})
	if err != nil || !c.OK() {
		t.Fatalf("check after the second prune: %+v, %v", c, err)
	}
	for i := 1; i < len(f.snaps); i++ {
		f.checkRestores(t, r2, i)
	}
}
