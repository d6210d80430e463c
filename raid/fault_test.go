package raid_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/raid/looptest"
	"github.com/shoebox/shoebox/store"
)

// Fault injection on arrays of directories (and a few real file systems):
// shards deleted, bit-flipped or truncated, whole disks gone, a disk full,
// read-only, unmounted or slow. After each fault every object must read
// back byte for byte, scrub must report exactly what was damaged, repair
// it, and a second scrub must find nothing.

// layouts are the layouts the fault tests run on, each on as many disks as
// it has shards (so a shard that cannot go back to its disk has nowhere
// else to go).
var layouts = []struct {
	disks  int
	layout raid.Layout
}{
	{2, raid.Mirror(2)},
	{3, raid.Layout{Data: 2, Parity: 1}},
	{4, raid.Layout{Data: 2, Parity: 2}},
	{6, raid.Layout{Data: 4, Parity: 2}},
}

var discard = slog.New(slog.DiscardHandler)

// diskPaths returns n member paths (not yet created) under a fresh
// temporary directory.
func diskPaths(t *testing.T, n int) []string {
	t.Helper()
	root := t.TempDir()
	var paths []string
	for i := 0; i < n; i++ {
		paths = append(paths, filepath.Join(root, fmt.Sprintf("disk%d", i)))
	}
	return paths
}

// createArray creates an array on paths (all on one drive) that logs
// nowhere; it is closed when the test ends.
func createArray(t *testing.T, paths []string, layout raid.Layout) *raid.Array {
	t.Helper()
	a, err := raid.Create(paths, layout, raid.Options{AllowSameDrive: true, Logger: discard})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// openArray opens an array from paths, as a new process would.
func openArray(t *testing.T, paths []string) *raid.Array {
	t.Helper()
	a, err := raid.OpenArray(paths, raid.Options{Logger: discard})
	if err != nil {
		t.Fatalf("OpenArray(%v): %v", paths, err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// testObjects returns n deterministic objects named like a vault's, of
// sizes from empty to a few hundred KiB.
func testObjects(seed uint64, n int) map[string][]byte {
	rng := rand.New(rand.NewPCG(seed, 0x0b1ec7))
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0x5b})
	out := map[string][]byte{}
	for i := 0; i < n; i++ {
		var size int
		switch i % 10 {
		case 0:
			size = i % 3
		case 1:
			size = 160<<10 + rng.IntN(64<<10)
		default:
			size = rng.IntN(24 << 10)
		}
		b := make([]byte, size)
		src.Read(b)
		id := rng.Uint64()
		var name string
		switch i % 5 {
		case 0:
			name = fmt.Sprintf("snapshots/%016x", id)
		case 1:
			name = fmt.Sprintf("index/%016x", id)
		default:
			name = fmt.Sprintf("data/%02x/%016x", id>>56, id)
		}
		out[name] = b
	}
	return out
}

func putAll(t *testing.T, s store.ObjectStore, objs map[string][]byte) {
	t.Helper()
	for _, name := range sortedKeys(objs) {
		if err := s.Put(context.Background(), name, bytes.NewReader(objs[name])); err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// verifyObjects requires s to hold exactly want, byte for byte.
func verifyObjects(t *testing.T, s store.ObjectStore, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	var listed []string
	if err := s.List(ctx, "", func(fi store.ObjectInfo) error {
		listed = append(listed, fi.Name)
		if w, ok := want[fi.Name]; ok && fi.Size != int64(len(w)) {
			t.Errorf("List: %s has size %d, want %d", fi.Name, fi.Size, len(w))
		}
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	sort.Strings(listed)
	if names := sortedKeys(want); !slices.Equal(listed, names) {
		t.Errorf("List: got %d objects, want %d (extra or missing: %v)", len(listed), len(names), symDiff(listed, names))
	}
	for _, name := range sortedKeys(want) {
		got, err := store.ReadAll(ctx, s, name)
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want[name]) {
			t.Errorf("read %s: got %d bytes that differ from the %d written", name, len(got), len(want[name]))
		}
	}
}

func symDiff(a, b []string) []string {
	in := map[string]int{}
	for _, s := range a {
		in[s]++
	}
	for _, s := range b {
		in[s]--
	}
	var out []string
	for s, n := range in {
		if n != 0 {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// shardFile is one shard file on a member disk.
type shardFile struct {
	disk   int    // index of the member in the paths given to shardFiles
	path   string // file path
	object string // object name
	idx    int    // shard index
}

// shardFiles lists the shard files on the member disks, by disk and name.
func shardFiles(t *testing.T, paths []string) []shardFile {
	t.Helper()
	var out []shardFile
	for i, p := range paths {
		root := filepath.Join(p, "shoebox", "shards")
		err := filepath.WalkDir(root, func(fp string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(root, fp)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			j := strings.LastIndex(rel, ".shard")
			if j <= 0 {
				return fmt.Errorf("%s is not a shard file", fp)
			}
			digits := rel[j+len(".shard"):]
			digits = digits[:len(digits)-len(strings.TrimLeft(digits, "0123456789"))]
			idx, err := strconv.Atoi(digits)
			if err != nil {
				return fmt.Errorf("%s is not a shard file", fp)
			}
			out = append(out, shardFile{disk: i, path: fp, object: rel[:j], idx: idx})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// shardsOn counts the shard files per object on the member disks.
func shardsOn(t *testing.T, paths []string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, f := range shardFiles(t, paths) {
		n[f.object]++
	}
	return n
}

// pickShards chooses about frac of the files (at least one) at random,
// never more than perObject of one object.
func pickShards(rng *rand.Rand, files []shardFile, frac float64, perObject int) []shardFile {
	n := max(1, int(frac*float64(len(files))+0.5))
	count := map[string]int{}
	var out []shardFile
	for _, i := range rng.Perm(len(files)) {
		if len(out) == n {
			break
		}
		f := files[i]
		if count[f.object] >= perObject {
			continue
		}
		count[f.object]++
		out = append(out, f)
	}
	return out
}

// Fault injectors for one shard file.

func deleteShard(t *testing.T, _ *rand.Rand, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func flipBits(t *testing.T, rng *rand.Rand, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= rng.IntN(8); i++ {
		bit := rng.IntN(len(b) * 8)
		b[bit/8] ^= 1 << (bit % 8)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncateShard(t *testing.T, rng *rand.Rand, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, rng.Int64N(fi.Size())); err != nil {
		t.Fatal(err)
	}
}

func scrub(t *testing.T, a *raid.Array, repair bool) *raid.ScrubReport {
	t.Helper()
	rep, err := a.Scrub(context.Background(), raid.ScrubOptions{Repair: repair})
	if err != nil {
		t.Fatalf("Scrub(repair %v): %v", repair, err)
	}
	return rep
}

// requireClean requires a scrub to find every object intact and fully
// redundant.
func requireClean(t *testing.T, a *raid.Array, objects int) {
	t.Helper()
	rep := scrub(t, a, false)
	if rep.Objects != objects || rep.ErrorsFound != 0 || len(rep.Degraded) != 0 || len(rep.Unrecoverable) != 0 {
		t.Errorf("scrub of a healthy array: got %+v, want %d objects and no errors", rep, objects)
	}
	if st := a.Status(); st.Degraded != 0 || st.Lost != 0 {
		t.Errorf("status: %d degraded, %d lost objects, want none", st.Degraded, st.Lost)
	}
}

func TestFaultShardDamage(t *testing.T) {
	faults := []struct {
		name   string
		frac   float64
		inject func(*testing.T, *rand.Rand, string)
	}{
		{"delete", 0.05, deleteShard},
		{"bitflip", 0.01, flipBits},
		{"truncate", 0.05, truncateShard},
	}
	for li, lc := range layouts {
		for fi, fc := range faults {
			t.Run(fmt.Sprintf("%s/%s", lc.layout, fc.name), func(t *testing.T) {
				t.Parallel()
				paths := diskPaths(t, lc.disks)
				a := createArray(t, paths, lc.layout)
				want := testObjects(uint64(li), 100)
				putAll(t, a, want)
				a.Close()
				files := shardFiles(t, paths)
				if n := len(want) * lc.layout.Shards(); len(files) != n {
					t.Fatalf("%d shard files on the disks, want %d", len(files), n)
				}
				rng := rand.New(rand.NewPCG(uint64(10*li+fi), 42))
				bad := pickShards(rng, files, fc.frac, lc.layout.Parity)
				damaged := map[string]bool{}
				for _, f := range bad {
					fc.inject(t, rng, f.path)
					damaged[f.object] = true
				}

				b := openArray(t, paths)
				rep := scrub(t, b, false)
				if rep.ErrorsFound != len(bad) || rep.Repaired != 0 || len(rep.Unrecoverable) != 0 {
					t.Errorf("scrub: %d errors found, %d repaired, unrecoverable %v; want %d found, none repaired or lost",
						rep.ErrorsFound, rep.Repaired, rep.Unrecoverable, len(bad))
				}
				if got, want := rep.Degraded, sortedKeys(damaged); !slices.Equal(got, want) {
					t.Errorf("scrub names damaged objects %v, want %v", got, want)
				}
				rep = scrub(t, b, true)
				if rep.ErrorsFound != len(bad) || rep.Repaired != len(bad) || len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
					t.Errorf("scrub --repair: %+v; want %d errors found and repaired", rep, len(bad))
				}
				if st := b.Status(); st.Repaired != int64(len(bad)) {
					t.Errorf("status: %d shards repaired, want %d", st.Repaired, len(bad))
				}
				requireClean(t, b, len(want))
				verifyObjects(t, b, want)
				b.Close()

				// The repairs are on the disks: a new process finds
				// every shard, and nothing else.
				if n := len(want) * lc.layout.Shards(); len(shardFiles(t, paths)) != n {
					t.Errorf("after repair: %d shard files, want %d", len(shardFiles(t, paths)), n)
				}
				requireClean(t, openArray(t, paths), len(want))
			})
		}
	}
}

// TestFaultRepairOnRead damages data shards under an open array: reads
// return the right bytes at once and rewrite the bad shards in the
// background. (Reads do not read parity shards while the data shards are
// good; scrub checks those.)
func TestFaultRepairOnRead(t *testing.T) {
	for li, lc := range layouts {
		t.Run(lc.layout.String(), func(t *testing.T) {
			paths := diskPaths(t, lc.disks)
			a := createArray(t, paths, lc.layout)
			want := testObjects(uint64(100+li), 40)
			putAll(t, a, want)
			rng := rand.New(rand.NewPCG(uint64(li), 43))
			var data []shardFile
			for _, f := range shardFiles(t, paths) {
				if f.idx < lc.layout.Data {
					data = append(data, f)
				}
			}
			bad := pickShards(rng, data, 0.05, lc.layout.Parity)
			for i, f := range bad {
				[]func(*testing.T, *rand.Rand, string){deleteShard, flipBits, truncateShard}[i%3](t, rng, f.path)
			}
			verifyObjects(t, a, want)
			a.Close() // waits for the repairs
			if st := a.Status(); st.Repaired != int64(len(bad)) || st.ReadErrors == 0 {
				t.Errorf("status after reading damaged shards: %d repaired, %d read errors; want %d repaired", st.Repaired, st.ReadErrors, len(bad))
			}
			requireClean(t, openArray(t, paths), len(want))
		})
	}
}

// TestFaultUnrecoverable damages more shards of one object than the layout
// survives: scrub names it, reading it fails with ErrCorruptObject, and
// every other object is repaired.
func TestFaultUnrecoverable(t *testing.T) {
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(7, 20)
	putAll(t, a, want)
	a.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	lost := sortedKeys(want)[3]
	var n int
	for _, f := range shardFiles(t, paths) {
		switch {
		case f.object == lost && n == 0:
			deleteShard(t, rng, f.path)
			n++
		case f.object == lost && n == 1:
			flipBits(t, rng, f.path)
			n++
		case f.object == sortedKeys(want)[5] && f.disk == 2:
			truncateShard(t, rng, f.path)
		}
	}
	b := openArray(t, paths)
	rep := scrub(t, b, true)
	if !slices.Equal(rep.Unrecoverable, []string{lost}) || rep.Repaired != 1 {
		t.Errorf("scrub: unrecoverable %v, %d repaired; want [%s], 1", rep.Unrecoverable, rep.Repaired, lost)
	}
	if _, err := store.ReadAll(context.Background(), b, lost); !errors.Is(err, raid.ErrCorruptObject) {
		t.Errorf("read %s: got %v, want ErrCorruptObject", lost, err)
	}
	delete(want, lost)
	for _, name := range sortedKeys(want) {
		got, err := store.ReadAll(context.Background(), b, name)
		if err != nil || !bytes.Equal(got, want[name]) {
			t.Errorf("read %s: %d bytes, %v", name, len(got), err)
		}
	}
}

// TestFaultLoseDisks removes up to Parity whole disks: everything reads
// back from the array opened with all paths or only the survivors;
// replacing the disks restores full redundancy.
func TestFaultLoseDisks(t *testing.T) {
	ctx := context.Background()
	for li, lc := range layouts {
		t.Run(lc.layout.String(), func(t *testing.T) {
			paths := diskPaths(t, lc.disks)
			a := createArray(t, paths, lc.layout)
			want := testObjects(uint64(200+li), 30)
			putAll(t, a, want)
			a.Close()
			rng := rand.New(rand.NewPCG(uint64(li), 44))
			perm := rng.Perm(lc.disks)
			var gone, survivors []string
			for i, d := range perm {
				if i < lc.layout.Parity {
					gone = append(gone, paths[d])
					if err := os.RemoveAll(paths[d]); err != nil {
						t.Fatal(err)
					}
				} else {
					survivors = append(survivors, paths[d])
				}
			}
			for _, open := range [][]string{paths, survivors} {
				b := openArray(t, open)
				verifyObjects(t, b, want)
				st := b.Status()
				missing := 0
				for _, d := range st.Disks {
					if !d.Present {
						missing++
						if d.Problem == "" || d.DiskID == "" {
							t.Errorf("status of missing disk: %+v, want a problem and its ID", d)
						}
					}
				}
				if st.State != "degraded" || st.Degraded != len(want) || st.Lost != 0 || missing != len(gone) {
					t.Errorf("status: %s, %d degraded, %d lost, %d disks missing; want degraded, %d, 0, %d",
						st.State, st.Degraded, st.Lost, missing, len(want), len(gone))
				}
				rep := scrub(t, b, true)
				if rep.ErrorsFound != len(want)*len(gone) || rep.Repaired != 0 || len(rep.Degraded) != len(want) || len(rep.Unrecoverable) != 0 {
					t.Errorf("scrub with %d disks gone: %d found, %d repaired, %d degraded, %v unrecoverable; want %d found, 0, %d, none",
						len(gone), rep.ErrorsFound, rep.Repaired, len(rep.Degraded), rep.Unrecoverable, len(want)*len(gone), len(want))
				}
				b.Close()
			}
			b := openArray(t, survivors)
			var fresh []string
			for i, old := range gone {
				nd := filepath.Join(filepath.Dir(old), fmt.Sprintf("new%d", i))
				fresh = append(fresh, nd)
				rep, err := b.Replace(ctx, old, nd, nil)
				if err != nil || len(rep.Unrecoverable) != 0 {
					t.Fatalf("Replace %s by %s: %+v, %v", old, nd, rep, err)
				}
			}
			if st := b.Status(); st.State != "healthy" || st.Degraded != 0 {
				t.Errorf("after replacing the disks: %s, %d degraded; want healthy, 0", st.State, st.Degraded)
			}
			verifyObjects(t, b, want)
			b.Close()
			c := openArray(t, append(survivors, fresh...))
			requireClean(t, c, len(want))
			if st := c.Status(); st.State != "healthy" {
				t.Errorf("reopened after replace: %s, want healthy", st.State)
			}
		})
	}
}

// TestFaultDiskVanishesWhileOpen removes a member directory under an open
// array: writes go to the other disks with full redundancy, reads
// reconstruct, and the vanished path is not recreated.
func TestFaultDiskVanishesWhileOpen(t *testing.T) {
	paths := diskPaths(t, 4)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(300, 30)
	putAll(t, a, want)
	if err := os.RemoveAll(paths[1]); err != nil {
		t.Fatal(err)
	}
	more := testObjects(301, 30)
	putAll(t, a, more)
	for _, d := range a.Status().Disks {
		if d.Path == paths[1] && !strings.Contains(d.Problem, "vanished") {
			t.Errorf("status of the vanished disk: problem %q", d.Problem)
		}
	}
	if _, err := os.Stat(paths[1]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the vanished member's path was recreated: %v", err)
	}
	for name, n := range shardsOn(t, paths) {
		if _, ok := more[name]; ok && n != 3 {
			t.Errorf("%s written after the disk vanished has %d shards, want 3", name, n)
		}
	}
	all := map[string][]byte{}
	for k, v := range want {
		all[k] = v
	}
	for k, v := range more {
		all[k] = v
	}
	verifyObjects(t, a, all)
	a.Close()
	b := openArray(t, paths)
	requireClean(t, b, len(all)) // reads repaired the objects that had a shard on it
}

// TestFaultFullDisk fills a real 8 MiB ext4 member of a 2+1 array: writes
// carry on with reduced redundancy, scrub reports those objects, and once
// space is freed a rebuild restores full redundancy without a restart.
func TestFaultFullDisk(t *testing.T) {
	ctx := context.Background()
	small := looptest.Ext4(t, 8<<20)
	paths := append([]string{small}, diskPaths(t, 2)...)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	src := rand.NewChaCha8([32]byte{9})
	want := map[string][]byte{}
	var names []string
	for i := 0; i < 80; i++ {
		b := make([]byte, 256<<10)
		src.Read(b)
		name := fmt.Sprintf("data/%02x/pack%03d", i, i)
		want[name] = b
		names = append(names, name)
		if err := a.Put(ctx, name, bytes.NewReader(b)); err != nil {
			t.Fatalf("Put %s with one disk full: %v", name, err)
		}
	}
	st := a.Status()
	if st.Degraded == 0 || st.Lost != 0 {
		t.Fatalf("status after filling the small disk: %d degraded, %d lost; want some degraded, none lost", st.Degraded, st.Lost)
	}
	if d := st.Disks[0]; d.Path != small || d.Problem != "full" {
		t.Errorf("status of the full disk: %+v, want problem \"full\"", d)
	}
	verifyObjects(t, a, want)
	rep := scrub(t, a, true)
	if rep.ErrorsFound != st.Degraded || rep.Repaired != 0 || len(rep.Degraded) != st.Degraded || len(rep.Unrecoverable) != 0 {
		t.Errorf("scrub with a full disk: %+v; want %d errors, none repaired", rep, st.Degraded)
	}
	// Free space on the small disk: delete the first objects, which all
	// have a shard there.
	for _, name := range names[:40] {
		if err := a.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		delete(want, name)
	}
	rep, err := a.Rebuild(ctx, nil)
	if err != nil || len(rep.Degraded) != 0 {
		t.Errorf("rebuild after freeing space: %+v, %v; want every object fully redundant", rep, err)
	}
	requireClean(t, a, len(want))
	verifyObjects(t, a, want)
	a.Close()
	requireClean(t, openArray(t, paths), len(want))
}

// TestFaultReadOnlyDisk makes a member read-only: new objects go to the
// other disks with full redundancy, deleting objects that have a shard
// there works, and the leftovers are cleaned once the disk is writable.
func TestFaultReadOnlyDisk(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 4)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(400, 30)
	putAll(t, a, want)
	restore := looptest.SetReadOnly(t, paths[1])
	more := testObjects(401, 30)
	putAll(t, a, more)
	if d := a.Status().Disks[1]; d.Problem != "read-only" {
		t.Errorf("status of the read-only disk: problem %q, want read-only", d.Problem)
	}
	for _, f := range shardFiles(t, paths) {
		if _, ok := more[f.object]; ok && f.disk == 1 {
			t.Errorf("%s written to the read-only disk", f.path)
		}
	}
	if st := a.Status(); st.Degraded != 0 {
		t.Errorf("%d objects degraded, want 0 (a fourth disk was free)", st.Degraded)
	}
	// Delete objects that have a shard on the read-only disk.
	var deleted []string
	for _, f := range shardFiles(t, paths) {
		if _, ok := want[f.object]; ok && f.disk == 1 && len(deleted) < 5 {
			if err := a.Delete(ctx, f.object); err != nil {
				t.Errorf("Delete %s with a shard on a read-only disk: %v", f.object, err)
			}
			deleted = append(deleted, f.object)
			delete(want, f.object)
		}
	}
	for k, v := range more {
		want[k] = v
	}
	verifyObjects(t, a, want)
	a.Close()
	restore()
	b := openArray(t, paths)
	verifyObjects(t, b, want) // the deleted objects did not come back
	requireClean(t, b, len(want))
	for _, f := range shardFiles(t, paths) {
		if slices.Contains(deleted, f.object) {
			t.Errorf("leftover shard of a deleted object: %s", f.path)
		}
	}
}

// recorder is a slog handler that keeps the error attributes logged.
type recorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

func (r *recorder) logged(target error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// mount runs mount with args on a fresh directory and returns it and an
// idempotent unmount; it skips the test where mounting is not allowed.
func mount(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", append(args, dir)...).CombinedOutput(); err != nil {
		t.Skipf("cannot mount here: mount %v: %v: %s", args, err, out)
	}
	var once sync.Once
	unmount := func() {
		once.Do(func() {
			// Lazily: the array holds its lock file open on the member,
			// which (usefully) blocks a plain umount of a disk in use.
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", dir, err, out)
			}
		})
	}
	t.Cleanup(unmount)
	return dir, unmount
}

// TestFaultMountVanishes unmounts a member under an open array, the
// classic NAS disaster: its mount point becomes an empty directory on the
// system disk. The array must refuse to write there (ErrNotMounted) and
// put new shards on the other disks. A tmpfs member changes st_dev when
// it goes; a bind mount keeps its parent's, and only the mount table
// tells.
func TestFaultMountVanishes(t *testing.T) {
	for _, kind := range []string{"tmpfs", "bind"} {
		t.Run(kind, func(t *testing.T) {
			var mnt string
			var unmount func()
			if kind == "tmpfs" {
				mnt, unmount = mount(t, "-t", "tmpfs", "-o", "size=32m", "tmpfs")
			} else {
				mnt, unmount = mount(t, "--bind", t.TempDir())
			}
			paths := append([]string{mnt}, diskPaths(t, 3)...)
			rec := &recorder{}
			a, err := raid.Create(paths, raid.Layout{Data: 2, Parity: 1}, raid.Options{AllowSameDrive: true, Logger: slog.New(rec)})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			want := testObjects(500, 30)
			putAll(t, a, want)
			if shardsOn(t, paths[:1]) == nil {
				t.Fatal("no shard on the mounted member")
			}
			unmount()
			more := testObjects(501, 30)
			putAll(t, a, more)
			if entries, err := os.ReadDir(mnt); err != nil || len(entries) != 0 {
				t.Errorf("the array wrote %d entries under the unmounted mount point (%v)", len(entries), err)
			}
			if !rec.logged(raid.ErrNotMounted) {
				t.Error("no write was refused with ErrNotMounted")
			}
			if d := a.Status().Disks[0]; !strings.Contains(d.Problem, "not mounted") {
				t.Errorf("status of the unmounted disk: problem %q", d.Problem)
			}
			for name, n := range shardsOn(t, paths[1:]) {
				if _, ok := more[name]; ok && n != 3 {
					t.Errorf("%s has %d shards on the mounted disks, want 3", name, n)
				}
			}
			for k, v := range more {
				want[k] = v
			}
			verifyObjects(t, a, want)
			a.Close()
			if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
				t.Errorf("repairs wrote %d entries under the unmounted mount point", len(entries))
			}
			b := openArray(t, paths) // the unmounted member has no label now
			verifyObjects(t, b, want)
			requireClean(t, b, len(want))
		})
	}
}

// TestFaultSlowDisk delays every read from one member far beyond the hedge
// delay: reads finish from parity without waiting for it, and the slow
// disk is neither declared failed nor repaired.
func TestFaultSlowDisk(t *testing.T) {
	for _, lc := range layouts[:2] {
		t.Run(lc.layout.String(), func(t *testing.T) {
			paths := diskPaths(t, lc.disks)
			a, err := raid.Create(paths, lc.layout, raid.Options{AllowSameDrive: true, Logger: discard, HedgeDelay: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			want := testObjects(600, 20)
			putAll(t, a, want)
			const slow = 3 * time.Second
			defer raid.SetReadDelay(func(p string) time.Duration {
				if p == paths[0] {
					return slow
				}
				return 0
			})()
			for _, name := range sortedKeys(want) {
				start := time.Now()
				got, err := store.ReadAll(context.Background(), a, name)
				if err != nil || !bytes.Equal(got, want[name]) {
					t.Fatalf("read %s: %d bytes, %v", name, len(got), err)
				}
				if d := time.Since(start); d > slow/2 {
					t.Errorf("read %s took %v: it waited for the slow disk", name, d)
				}
			}
			st := a.Status()
			if st.Repaired != 0 || st.ReadErrors != 0 || st.Disks[0].Problem != "" {
				t.Errorf("status after slow reads: %d repaired, %d read errors, slow disk problem %q; want none",
					st.Repaired, st.ReadErrors, st.Disks[0].Problem)
			}
		})
	}
}

// crashEnv passes the member paths to the overwrite child process.
const crashEnv = "SHOEBOX_RAID_CRASH_PATHS"

// crashObject is version v of object i: its name and version in front of
// deterministic bytes, so a reader tells which write it comes from.
func crashObject(i int, v uint64) (string, []byte) {
	name := fmt.Sprintf("locks/obj%02d", i)
	b := make([]byte, 96<<10+i*1000)
	rand.NewChaCha8([32]byte{byte(i), byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}).Read(b)
	copy(b, fmt.Sprintf("%s v%d ", name, v))
	return name, b
}

// TestCrashOverwriteChild is the process TestCrashOverwrite kills: it
// overwrites the objects of the array in crashEnv, round after round,
// until it is killed.
func TestCrashOverwriteChild(t *testing.T) {
	paths := os.Getenv(crashEnv)
	if paths == "" {
		t.Skip("helper process of TestCrashOverwrite")
	}
	a, err := raid.OpenArray(strings.Split(paths, ","), raid.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	for v := uint64(time.Now().UnixMicro()); ; v++ {
		for i := 0; i < 8; i++ {
			name, b := crashObject(i, v)
			if err := a.Put(context.Background(), name, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCrashOverwrite SIGKILLs a process that overwrites objects, at random
// instants: every object must read back whole, as one of its versions —
// never a mix of an old and a new write — and leftovers are removed.
func TestCrashOverwrite(t *testing.T) {
	for _, lc := range []struct {
		disks  int
		layout raid.Layout
	}{{4, raid.Layout{Data: 3, Parity: 1}}, {6, raid.Layout{Data: 4, Parity: 2}}} {
		t.Run(lc.layout.String(), func(t *testing.T) {
			paths := diskPaths(t, lc.disks)
			a := createArray(t, paths, lc.layout)
			for i := 0; i < 8; i++ {
				name, b := crashObject(i, 0)
				if err := a.Put(context.Background(), name, bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
			}
			a.Close()
			rng := rand.New(rand.NewPCG(uint64(lc.disks), 45))
			for trial := 0; trial < 6; trial++ {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashOverwriteChild$")
				cmd.Env = append(os.Environ(), crashEnv+"="+strings.Join(paths, ","))
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(400*time.Millisecond))))
				cmd.Process.Signal(syscall.SIGKILL)
				if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
					t.Fatalf("child: %v\n%s", err, out.String())
				}
				b := openArray(t, paths)
				for i := 0; i < 8; i++ {
					name, _ := crashObject(i, 0)
					got, err := store.ReadAll(context.Background(), b, name)
					if err != nil {
						t.Fatalf("trial %d: read %s after a kill mid-overwrite: %v", trial, name, err)
					}
					var v uint64
					if _, err := fmt.Sscanf(string(got[len(name):]), " v%d ", &v); err != nil {
						t.Fatalf("trial %d: %s starts with %q", trial, name, got[:len(name)+20])
					}
					if _, w := crashObject(i, v); !bytes.Equal(got, w) {
						t.Fatalf("trial %d: %s is not version %d intact", trial, name, v)
					}
				}
				rep := scrub(t, b, true)
				if len(rep.Unrecoverable) != 0 {
					t.Fatalf("trial %d: scrub: %+v", trial, rep)
				}
				b.Close()
				// One complete write per object is left, and no temporary
				// file of the killed process.
				if n := len(shardFiles(t, paths)); n != 8*lc.layout.Shards() {
					t.Errorf("trial %d: %d shard files, want %d", trial, n, 8*lc.layout.Shards())
				}
				for _, p := range paths {
					if tmp, _ := os.ReadDir(filepath.Join(p, "shoebox", ".tmp")); len(tmp) != 0 {
						t.Errorf("trial %d: %d temporary files left in %s", trial, len(tmp), p)
					}
				}
			}
		})
	}
}
