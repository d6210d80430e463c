package raid_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
)

// Disk lifecycle: add, replace, rebuild (resumable), evacuate, remove, and
// degraded operation with a disk missing.

// diskStatus returns the status entry of the disk last seen at path.
func diskStatus(t *testing.T, st *raid.Status, path string) raid.DiskStatus {
	t.Helper()
	for _, d := range st.Disks {
		if d.Path == path {
			return d
		}
	}
	t.Fatalf("status lists no disk at %s: %+v", path, st.Disks)
	return raid.DiskStatus{}
}

// filesUnder counts the files below dir.
func filesUnder(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func merged(ms ...map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func TestAddKeepsWorking(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(700, 30)
	putAll(t, a, want)
	gen := a.Status().Generation
	added := filepath.Join(filepath.Dir(paths[0]), "added")
	if err := a.Add(added); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(added); err == nil {
		t.Error("adding a disk twice succeeded")
	}
	more := testObjects(701, 30)
	putAll(t, a, more)
	if _, err := a.Rebalance(ctx); err != nil {
		t.Fatal(err)
	}
	all := merged(want, more)
	verifyObjects(t, a, all)
	st := a.Status()
	if st.Generation != gen+1 || len(st.Disks) != 4 || st.State != "healthy" || diskStatus(t, st, added).Shards == 0 {
		t.Errorf("after add and rebalance: generation %d (was %d), %d disks, %s, %d shards on the new disk",
			st.Generation, gen, len(st.Disks), st.State, diskStatus(t, st, added).Shards)
	}
	a.Close()
	b := openArray(t, []string{added, paths[2], paths[0], paths[1]})
	verifyObjects(t, b, all)
	requireClean(t, b, len(all))
}

// TestAddWhileDegraded rebuilds onto free space on an added disk before the
// lost one is replaced.
func TestAddWhileDegraded(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(710, 30)
	putAll(t, a, want)
	a.Close()
	if err := os.RemoveAll(paths[1]); err != nil {
		t.Fatal(err)
	}
	b := openArray(t, []string{paths[0], paths[2]})
	added := filepath.Join(filepath.Dir(paths[0]), "added")
	if err := b.Add(added); err != nil {
		t.Fatal(err)
	}
	rep, err := b.Rebuild(ctx, nil)
	if err != nil || rep.Objects != len(want) || rep.Repaired != len(want) || len(rep.Degraded) != 0 {
		t.Fatalf("rebuild onto the added disk: %+v, %v", rep, err)
	}
	st := b.Status()
	if st.Degraded != 0 || diskStatus(t, st, paths[1]).Present {
		t.Errorf("after rebuild: %d degraded objects, lost disk present %v; want 0, false", st.Degraded, diskStatus(t, st, paths[1]).Present)
	}
	b.Close()
	c := openArray(t, []string{paths[0], paths[2], added})
	verifyObjects(t, c, want)
	requireClean(t, c, len(want))
}

// TestReplacePresentDisk replaces a disk that still works (a failing one):
// its shards are rebuilt on the new disk, and the old disk is refused
// afterwards, wiped or not.
func TestReplacePresentDisk(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(720, 30)
	putAll(t, a, want)
	oldID := diskStatus(t, a.Status(), paths[1]).DiskID
	fresh := filepath.Join(filepath.Dir(paths[0]), "fresh")
	rep, err := a.Replace(ctx, oldID[:8], fresh, nil)
	if err != nil || rep.Repaired != len(want) || len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
		t.Fatalf("Replace: %+v, %v", rep, err)
	}
	st := a.Status()
	if st.State != "healthy" || st.Degraded != 0 || len(st.Disks) != 3 {
		t.Errorf("after replace: %s, %d degraded, %d disks; want healthy, 0, 3", st.State, st.Degraded, len(st.Disks))
	}
	verifyObjects(t, a, want)
	a.Close()
	// The replaced disk, still holding its shards, is given too: refused.
	b := openArray(t, append(paths, fresh))
	for _, d := range b.Status().Disks {
		if d.Path == paths[1] {
			t.Errorf("the replaced disk is used again: %+v", d)
		}
	}
	verifyObjects(t, b, want)
	requireClean(t, b, len(want))
	b.Close()
	if err := os.RemoveAll(paths[1]); err != nil {
		t.Fatal(err)
	}
	requireClean(t, openArray(t, []string{fresh, paths[2], paths[0]}), len(want))
}

// TestRebuildResumable cancels a replace part way: a rebuild run later,
// from a new process, does only the work left.
func TestRebuildResumable(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(730, 60)
	putAll(t, a, want)
	a.Close()
	if err := os.RemoveAll(paths[2]); err != nil {
		t.Fatal(err)
	}
	survivors := paths[:2]
	b := openArray(t, survivors)
	fresh := filepath.Join(filepath.Dir(paths[0]), "fresh")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err := b.Replace(cctx, paths[2], fresh, func(done, total int) {
		if done == total/3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Replace cancelled part way: got %v, want context.Canceled", err)
	}
	left := b.Status().Degraded
	if left == 0 || left == len(want) {
		t.Fatalf("after a cancelled rebuild: %d of %d objects degraded; want some done, some not", left, len(want))
	}
	b.Close()

	c := openArray(t, append(survivors, fresh))
	if st := c.Status(); st.Degraded != left {
		t.Errorf("reopened: %d degraded objects, want %d", st.Degraded, left)
	}
	rep, err := c.Rebuild(ctx, nil)
	if err != nil || rep.Objects != left || rep.Repaired != left || len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
		t.Fatalf("resumed rebuild: %+v, %v; want the %d objects left repaired", rep, err, left)
	}
	if rep, err := c.Rebuild(ctx, nil); err != nil || rep.Objects != 0 {
		t.Errorf("rebuild of a healthy array: %+v, %v; want nothing to do", rep, err)
	}
	verifyObjects(t, c, want)
	requireClean(t, c, len(want))
}

// TestEvacuate empties a disk: it holds no shards, takes no new ones, and
// every object stays fully redundant; remove then takes it out.
func TestEvacuate(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 5)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(740, 40)
	putAll(t, a, want)
	if n := len(shardFiles(t, paths[:1])); n == 0 {
		t.Fatal("no shards on the disk to evacuate")
	}
	rep, err := a.Evacuate(ctx, paths[0], false, nil)
	if err != nil || len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
		t.Fatalf("Evacuate: %+v, %v", rep, err)
	}
	if n := len(shardFiles(t, paths[:1])); n != 0 {
		t.Errorf("%d shards left on the evacuated disk", n)
	}
	more := testObjects(741, 20)
	putAll(t, a, more)
	if n := len(shardFiles(t, paths[:1])); n != 0 {
		t.Errorf("new objects put %d shards on the draining disk", n)
	}
	st := a.Status()
	if d := diskStatus(t, st, paths[0]); d.State != raid.StateDraining || d.Shards != 0 || st.Degraded != 0 {
		t.Errorf("status after evacuate: disk %+v, %d degraded objects", d, st.Degraded)
	}
	all := merged(want, more)
	for name, n := range shardsOn(t, paths) {
		if n != 3 {
			t.Errorf("%s has %d shards, want 3", name, n)
		}
	}
	verifyObjects(t, a, all)
	a.Close()

	b := openArray(t, paths)
	if d := diskStatus(t, b.Status(), paths[0]); d.State != raid.StateDraining {
		t.Errorf("reopened: evacuated disk is %s, want draining", d.State)
	}
	requireClean(t, b, len(all))
	// Remove a disk that holds shards: they move, then it leaves.
	rep, err = b.Evacuate(ctx, paths[3], true, nil)
	if err != nil || len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
		t.Fatalf("remove: %+v, %v", rep, err)
	}
	if n := len(shardFiles(t, paths[3:4])); n != 0 {
		t.Errorf("%d shards left on the removed disk", n)
	}
	for _, d := range b.Status().Disks {
		if d.Path == paths[3] {
			t.Errorf("the removed disk is still listed: %+v", d)
		}
	}
	verifyObjects(t, b, all)
	b.Close()
	c := openArray(t, paths) // the removed disk is refused
	st = c.Status()
	if st.State != "healthy" || len(st.Disks) != 4 {
		t.Errorf("reopened after remove: %s with %d disks, want healthy with 4", st.State, len(st.Disks))
	}
	verifyObjects(t, c, all)
	requireClean(t, c, len(all))
}

// TestEvacuateImpossible evacuates a disk of a 2+1 array of three disks:
// there is nowhere to move its shards. Evacuate must fail and keep them,
// so the array still survives the loss of another disk.
func TestEvacuateImpossible(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(750, 20)
	putAll(t, a, want)
	before := len(shardFiles(t, paths[:1]))
	if _, err := a.Evacuate(ctx, paths[0], false, nil); err == nil {
		t.Fatal("evacuating a disk with nowhere to move its shards succeeded")
	}
	if n := len(shardFiles(t, paths[:1])); n != before {
		t.Fatalf("failed evacuate deleted shards: %d left of %d", n, before)
	}
	verifyObjects(t, a, want)
	a.Close()
	if err := os.RemoveAll(paths[1]); err != nil {
		t.Fatal(err)
	}
	verifyObjects(t, openArray(t, []string{paths[0], paths[2]}), want)
}

// TestDegradedWrites writes, overwrites and deletes with disks missing;
// when they come back, the changes hold (no deleted object returns, no old
// version wins) and a rebuild or a scrub restores full redundancy.
func TestDegradedWrites(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		disks   int
		layout  raid.Layout
		missing int
		repair  string
	}{
		{2, raid.Mirror(2), 1, "scrub"},
		{3, raid.Layout{Data: 2, Parity: 1}, 1, "rebuild"},
		{4, raid.Layout{Data: 2, Parity: 2}, 2, "scrub"},
		{6, raid.Layout{Data: 4, Parity: 2}, 2, "rebuild"},
	} {
		t.Run(tc.layout.String(), func(t *testing.T) {
			paths := diskPaths(t, tc.disks)
			a := createArray(t, paths, tc.layout)
			want := testObjects(760, 30)
			putAll(t, a, want)
			a.Close()

			b := openArray(t, paths[tc.missing:])
			st := b.Status()
			for _, p := range paths[:tc.missing] {
				if d := diskStatus(t, st, p); d.Present || d.Problem == "" {
					t.Errorf("missing disk in status: %+v", d)
				}
			}
			names := sortedKeys(want)
			changed := testObjects(761, 10) // new objects
			for i, name := range names[:10] {
				changed[name] = bytes.Repeat([]byte{byte(i)}, 1000*i) // overwrites
			}
			putAll(t, b, changed)
			for _, name := range names[10:15] {
				if err := b.Delete(ctx, name); err != nil {
					t.Fatal(err)
				}
				delete(want, name)
			}
			maps.Copy(want, changed)
			verifyObjects(t, b, want)
			if st := b.Status(); st.State != "degraded" || st.Degraded != len(want) {
				t.Errorf("with %d disks missing: %s, %d degraded; want degraded, %d", tc.missing, st.State, st.Degraded, len(want))
			}
			b.Close()

			// (Status and repair before reading: reads repair too.)
			c := openArray(t, paths)
			if st := c.Status(); st.Degraded != len(changed) || st.State != "degraded" {
				t.Errorf("disks back: %s, %d degraded objects; want degraded, the %d written without them", st.State, st.Degraded, len(changed))
			}
			if tc.repair == "rebuild" {
				rep, err := c.Rebuild(ctx, nil)
				if err != nil || rep.Repaired != len(changed)*tc.missing {
					t.Errorf("rebuild: %+v, %v; want %d shards", rep, err, len(changed)*tc.missing)
				}
			} else if rep := scrub(t, c, true); rep.Repaired != len(changed)*tc.missing {
				t.Errorf("scrub: %+v; want %d shards repaired", rep, len(changed)*tc.missing)
			}
			requireClean(t, c, len(want))
			verifyObjects(t, c, want)
			c.Close()
			d := openArray(t, paths)
			verifyObjects(t, d, want)
			requireClean(t, d, len(want))
			if n, w := len(shardFiles(t, paths)), len(want)*tc.layout.Shards(); n != w {
				t.Errorf("%d shard files on the disks, want %d (leftovers of old writes or deletes?)", n, w)
			}
			for _, p := range paths {
				if n := filesUnder(t, filepath.Join(p, "shoebox", "tombs")); n != 0 {
					t.Errorf("%d tombstones left on %s with every disk back", n, p)
				}
			}
		})
	}
}

// TestConcurrentUse runs puts, reads, deletes and a scrub with repair at
// once on a damaged array (for the race detector), then checks the result.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 4)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(770, 40)
	putAll(t, a, want)
	for i, f := range shardFiles(t, paths) {
		if i%7 == 0 && f.idx == 0 {
			if err := os.Remove(f.path); err != nil {
				t.Fatal(err)
			}
		}
	}
	more := testObjects(771, 20)
	names := sortedKeys(want)
	errc := make(chan error, 4)
	go func() {
		for _, name := range sortedKeys(more) {
			if err := a.Put(ctx, name, bytes.NewReader(more[name])); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() {
		for _, name := range names {
			if got, err := store.ReadAll(ctx, a, name); err != nil || !bytes.Equal(got, want[name]) {
				errc <- fmt.Errorf("read %s: %d bytes, %v", name, len(got), err)
				return
			}
		}
		errc <- nil
	}()
	go func() {
		_, err := a.Scrub(ctx, raid.ScrubOptions{Repair: true})
		errc <- err
	}()
	go func() {
		_, err := a.Rebuild(ctx, nil)
		errc <- err
	}()
	for range 4 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	a.Close()
	all := merged(want, more)
	b := openArray(t, paths)
	verifyObjects(t, b, all)
	if rep := scrub(t, b, true); len(rep.Unrecoverable) != 0 {
		t.Fatalf("scrub: %+v", rep)
	}
	requireClean(t, b, len(all))
}

// TestReplaceRunAgain runs an interrupted replace again, as a user would
// after a crash: with the new disk holding a label that never made it into
// the manifest (killed inside the add), and with the new disk already
// added but not given among the array's paths (killed in the rebuild).
func TestReplaceRunAgain(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(780, 30)
	putAll(t, a, want)
	a.Close()
	if err := os.RemoveAll(paths[2]); err != nil {
		t.Fatal(err)
	}
	survivors := paths[:2]

	// A label of this array the manifest does not list.
	fresh := filepath.Join(filepath.Dir(paths[0]), "fresh")
	if err := os.MkdirAll(fresh, 0o700); err != nil {
		t.Fatal(err)
	}
	lb := readFile(t, filepath.Join(paths[0], labelFile))
	lb = bytes.Replace(lb, []byte(`"disk_id": "`), []byte(`"disk_id": "0123456789`), 1)
	if err := os.WriteFile(filepath.Join(fresh, labelFile), lb, 0o600); err != nil {
		t.Fatal(err)
	}

	b := openArray(t, survivors)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := b.Replace(cctx, paths[2], fresh, func(done, total int) {
		if done == 10 {
			cancel()
		}
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Replace cancelled part way: got %v, want context.Canceled", err)
	}
	left := b.Status().Degraded
	b.Close()

	c := openArray(t, survivors) // the new disk is not among the paths
	rep, err := c.Replace(ctx, paths[2], fresh, nil)
	if err != nil || rep.Repaired != left || len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
		t.Fatalf("replace run again: %+v, %v; want the %d objects left repaired", rep, err, left)
	}
	verifyObjects(t, c, want)
	c.Close()
	all := append(survivors, fresh)
	if n := len(shardFiles(t, all)); n != 3*len(want) {
		t.Errorf("%d shard files, want %d", n, 3*len(want))
	}
	requireClean(t, openArray(t, all), len(want))
}
