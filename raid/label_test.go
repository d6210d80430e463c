package raid_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/raid/looptest"
	"github.com/shoebox/shoebox/store"
)

// Labels and the manifest: disks are recognised by label, in any order
// and any subset; strays, clones and tampered labels are refused; the
// highest valid manifest generation wins and stale or damaged copies are
// healed.

const (
	labelFile    = "shoebox-disk.json"
	manifestFile = "shoebox-array.json"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func presentPaths(st *raid.Status) []string {
	var out []string
	for _, d := range st.Disks {
		if d.Present {
			out = append(out, d.Path)
		}
	}
	return out
}

// TestOpenAnySubsetAnyOrder opens a 2+2 array from every subset of its
// disks, each in a shuffled order. With at least two disks every object
// reads back; with one the objects are listed but lost — and nothing is
// deleted, so the full array is intact afterwards.
func TestOpenAnySubsetAnyOrder(t *testing.T) {
	paths := diskPaths(t, 4)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 2})
	want := testObjects(800, 15)
	putAll(t, a, want)
	a.Close()
	files := len(shardFiles(t, paths))
	rng := rand.New(rand.NewPCG(8, 8))
	for set := 1; set < 1<<len(paths); set++ {
		var sub []string
		for i, p := range paths {
			if set&(1<<i) != 0 {
				sub = append(sub, p)
			}
		}
		rng.Shuffle(len(sub), func(i, j int) { sub[i], sub[j] = sub[j], sub[i] })
		b := openArray(t, sub)
		st := b.Status()
		if got := presentPaths(st); len(got) != len(sub) || len(st.Disks) != len(paths) {
			t.Errorf("open %v: %d disks present of %d listed, want %d of %d", sub, len(got), len(st.Disks), len(sub), len(paths))
		}
		if len(sub) >= 2 {
			verifyObjects(t, b, want)
		} else {
			if st.Objects != len(want) || st.Lost != len(want) {
				t.Errorf("open from one disk: %d objects, %d lost; want %d, all lost", st.Objects, st.Lost, len(want))
			}
			if _, err := store.ReadAll(context.Background(), b, sortedKeys(want)[1]); !errors.Is(err, raid.ErrCorruptObject) {
				t.Errorf("read from one disk of 2+2: got %v, want ErrCorruptObject", err)
			}
		}
		b.Close()
	}
	if n := len(shardFiles(t, paths)); n != files {
		t.Fatalf("opening subsets changed the shards: %d files, want %d", n, files)
	}
	requireClean(t, openArray(t, paths), len(want))
}

// TestStrayDisk gives a disk of another array among the paths, even one
// whose manifest has a higher generation: it is ignored and left alone.
func TestStrayDisk(t *testing.T) {
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(810, 10)
	putAll(t, a, want)
	a.Close()
	other := diskPaths(t, 3)
	b := createArray(t, other, raid.Layout{Data: 2, Parity: 1})
	putAll(t, b, testObjects(811, 5))
	for i := 0; i < 3; i++ { // raise its generation above ours
		if err := b.Add(filepath.Join(filepath.Dir(other[0]), "extra"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	strayManifest := readFile(t, filepath.Join(other[1], manifestFile))
	strayFiles := len(shardFiles(t, other[1:2]))
	for _, order := range [][]string{
		{other[1], paths[0], paths[1], paths[2]},
		{paths[2], other[1], paths[0]},
	} {
		c := openArray(t, order)
		st := c.Status()
		if st.Generation != 1 {
			t.Errorf("open %v: generation %d, want ours (1)", order, st.Generation)
		}
		for _, p := range presentPaths(st) {
			if p == other[1] {
				t.Errorf("open %v: the stray disk is a member", order)
			}
		}
		verifyObjects(t, c, want)
		more := testObjects(uint64(812+len(order)), 5)
		putAll(t, c, more)
		maps.Copy(want, more)
		c.Close()
		if !bytes.Equal(readFile(t, filepath.Join(other[1], manifestFile)), strayManifest) || len(shardFiles(t, other[1:2])) != strayFiles {
			t.Errorf("open %v wrote to the stray disk", order)
		}
	}
}

// TestClonedMember copies a member (cp -a) and gives the copy as an extra
// path: it is refused, and nothing is written to it.
func TestClonedMember(t *testing.T) {
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(820, 10)
	putAll(t, a, want)
	a.Close()
	clone := filepath.Join(filepath.Dir(paths[0]), "clone")
	if out, err := exec.Command("cp", "-a", paths[1], clone).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	before := len(shardFiles(t, []string{clone}))
	b := openArray(t, append(paths, clone))
	st := b.Status()
	if got := presentPaths(st); len(got) != 3 || len(st.Disks) != 3 {
		t.Errorf("with a clone: disks present %v (%d listed), want the 3 members", got, len(st.Disks))
	}
	for _, p := range presentPaths(st) {
		if p == clone {
			t.Error("the clone is used as a member")
		}
	}
	more := testObjects(821, 10)
	putAll(t, b, more)
	if n := len(shardFiles(t, []string{clone})); n != before {
		t.Errorf("the array wrote to the clone: %d shard files, had %d", n, before)
	}
	verifyObjects(t, b, merged(want, more))
}

// TestLabelRefused edits a member's label: its hash no longer matches the
// manifest's, and the disk is refused; the array runs without it.
func TestLabelRefused(t *testing.T) {
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(830, 10)
	putAll(t, a, want)
	a.Close()
	for _, edit := range []func([]byte) []byte{
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"mount_point"`), []byte(`"serial": "WD-FAKE", "mount_point"`), 1)
		},
		func(b []byte) []byte { return b[:len(b)/2] },
	} {
		lf := filepath.Join(paths[1], labelFile)
		orig := readFile(t, lf)
		if err := os.WriteFile(lf, edit(orig), 0o600); err != nil {
			t.Fatal(err)
		}
		b := openArray(t, paths)
		if got := presentPaths(b.Status()); len(got) != 2 {
			t.Errorf("with an edited label: disks present %v, want 2", got)
		}
		verifyObjects(t, b, want)
		b.Close()
		if err := os.WriteFile(lf, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	requireClean(t, openArray(t, paths), len(want))
}

// TestManifestGenerations leaves one disk with a stale manifest (it was
// missing when a disk was added): the newest generation wins in any order
// of paths, and the stale copy is healed.
func TestManifestGenerations(t *testing.T) {
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(840, 10)
	putAll(t, a, want)
	a.Close()
	b := openArray(t, paths[:2])
	added := filepath.Join(filepath.Dir(paths[0]), "added")
	if err := b.Add(added); err != nil {
		t.Fatal(err)
	}
	b.Close()
	stale := filepath.Join(paths[2], manifestFile)
	if bytes.Equal(readFile(t, stale), readFile(t, filepath.Join(paths[0], manifestFile))) {
		t.Fatal("the disk that was missing got the new manifest")
	}
	// Alone, the stale disk knows only the old membership.
	alone := openArray(t, paths[2:])
	if st := alone.Status(); st.Generation != 1 || len(st.Disks) != 3 {
		t.Errorf("stale disk alone: generation %d with %d disks, want 1 with 3", st.Generation, len(st.Disks))
	}
	alone.Close()
	c := openArray(t, []string{paths[2], added, paths[1], paths[0]})
	if st := c.Status(); st.Generation != 2 || len(presentPaths(st)) != 4 || st.State != "healthy" {
		t.Errorf("all disks: generation %d, %d present, %s; want 2, 4, healthy", st.Generation, len(presentPaths(st)), st.State)
	}
	verifyObjects(t, c, want)
	c.Close()
	if !bytes.Equal(readFile(t, stale), readFile(t, filepath.Join(paths[0], manifestFile))) {
		t.Error("the stale manifest copy was not healed")
	}
}

// TestDamagedManifest damages one copy of the manifest in several ways,
// including a forged higher generation without a matching checksum: the
// copy is ignored and rewritten. With every copy damaged the array does
// not open.
func TestDamagedManifest(t *testing.T) {
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	want := testObjects(850, 10)
	putAll(t, a, want)
	a.Close()
	good := readFile(t, filepath.Join(paths[1], manifestFile))
	mf := filepath.Join(paths[0], manifestFile)
	for name, damage := range map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)-40] },
		"forged generation": func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"generation": 1,`), []byte(`"generation": 9,`), 1)
		},
		"garbage": func([]byte) []byte { return []byte("\x00\x01not json") },
		"empty":   func([]byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(mf, damage(good), 0o600); err != nil {
				t.Fatal(err)
			}
			b := openArray(t, paths)
			if st := b.Status(); st.Generation != 1 || len(presentPaths(st)) != 3 {
				t.Errorf("generation %d, %d disks present; want 1, 3", st.Generation, len(presentPaths(st)))
			}
			verifyObjects(t, b, want)
			b.Close()
			if !bytes.Equal(readFile(t, mf), good) {
				t.Error("the damaged copy was not rewritten")
			}
		})
	}
	for _, p := range paths {
		if err := os.WriteFile(filepath.Join(p, manifestFile), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raid.OpenArray(paths, raid.Options{Logger: discard}); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Errorf("open with every manifest damaged: got %v, want an error about the manifest", err)
	}
}

// TestCreateRefuses checks what Create will not do: use a disk of an
// existing array, or put two members on one drive (two folders on one
// ext4 loop device) unless allowed — and with members on one drive
// allowed by the layout, never two shards of an object on that drive.
func TestCreateRefuses(t *testing.T) {
	paths := diskPaths(t, 3)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	a.Close()
	if _, err := raid.Create(append(diskPaths(t, 2), paths[0]), raid.Layout{Data: 2, Parity: 1}, raid.Options{AllowSameDrive: true, Logger: discard}); err == nil {
		t.Error("Create on a member of another array succeeded")
	}

	d1, d2, d3 := looptest.Ext4(t, 8<<20), looptest.Ext4(t, 8<<20), looptest.Ext4(t, 8<<20)
	twin := []string{filepath.Join(d1, "a"), filepath.Join(d1, "b")}
	_, err := raid.Create(append(twin, d2), raid.Layout{Data: 2, Parity: 1}, raid.Options{Logger: discard})
	if err == nil || !strings.Contains(err.Error(), "drives") {
		t.Fatalf("Create 2+1 with two members on one drive: got %v, want a refusal naming drives", err)
	}
	for _, p := range twin {
		os.RemoveAll(p)
	}
	members := append(twin, d2, d3)
	b, err := raid.Create(members, raid.Layout{Data: 2, Parity: 1}, raid.Options{Logger: discard})
	if err != nil {
		t.Fatalf("Create 2+1 on three drives, one with two members: %v", err)
	}
	defer b.Close()
	want := testObjects(860, 30)
	putAll(t, b, want)
	perObject := map[string]int{}
	for _, f := range shardFiles(t, twin) {
		perObject[f.object]++
	}
	for name, n := range perObject {
		if n > 1 {
			t.Errorf("%s has %d shards on one drive", name, n)
		}
	}
	verifyObjects(t, b, want)
}
