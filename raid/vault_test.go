package raid_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/raid/looptest"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// The vault on the array: a repository backed up to an array, whose disks
// are then damaged, passes check --read-data and restores byte for byte.

const vaultPass = "correct horse battery staple"

// genTree writes a deterministic tree: a few large incompressible files
// and many small ones, some of them text.
func genTree(t *testing.T, dir string, seed uint64, big, small int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x7ee))
	src := rand.NewChaCha8([32]byte{byte(seed), 0x7e})
	write := func(p string, n int, text bool) {
		t.Helper()
		b := make([]byte, n)
		if text {
			for i := range b {
				b[i] = "shoebox raid vault \n"[rng.IntN(20)]
			}
		} else {
			src.Read(b)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < big; i++ {
		write(filepath.Join(dir, fmt.Sprintf("big%02d.raw", i)), 256<<10+rng.IntN(768<<10), false)
	}
	for i := 0; i < small; i++ {
		write(filepath.Join(dir, fmt.Sprintf("album%d/f%03d", i%5, i)), rng.IntN(32<<10), i%3 == 0)
	}
}

// digest describes a tree by path: "d" for a directory, the SHA-256 and
// mode of a file.
func digest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel] = "d"
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		out[rel] = hex.EncodeToString(h.Sum(nil)) + " " + fi.Mode().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// vaultFixture is a repository on an array and the source trees of its
// snapshots.
type vaultFixture struct {
	t     *testing.T
	src   string
	snaps map[string]map[string]string // snapshot ID -> digest of the source
}

// backup backs src up and records its digest.
func (v *vaultFixture) backup(r *vault.Repository) {
	v.t.Helper()
	snap, err := r.Backup(context.Background(), vault.BackupOptions{Paths: []string{v.src}, Host: "test"})
	if err != nil {
		v.t.Fatalf("backup: %v", err)
	}
	if len(snap.Summary.Errors) != 0 {
		v.t.Fatalf("backup errors: %q", snap.Summary.Errors)
	}
	v.snaps[snap.ID().String()] = digest(v.t, v.src)
}

// verify runs check --read-data and restores every snapshot.
func (v *vaultFixture) verify(st store.ObjectStore) {
	v.t.Helper()
	ctx := context.Background()
	r, err := vault.Open(ctx, st, vaultPass)
	if err != nil {
		v.t.Fatalf("open repository: %v", err)
	}
	res, err := r.Check(ctx, vault.CheckOptions{ReadData: true})
	if err != nil || !res.OK() || res.Snapshots != len(v.snaps) {
		v.t.Fatalf("check --read-data: %v, %+v", err, res)
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, s := range snaps {
		want, ok := v.snaps[s.ID().String()]
		if !ok {
			v.t.Fatalf("unknown snapshot %s", s.ID())
		}
		target := filepath.Join(v.t.TempDir(), "restore")
		sum, err := r.Restore(ctx, s, vault.RestoreOptions{Target: target})
		if err != nil || len(sum.Errors) != 0 {
			v.t.Fatalf("restore %.8s: %v, %q", s.ID(), err, sum.Errors)
		}
		if d := cmp.Diff(want, digest(v.t, filepath.Join(target, v.src))); d != "" {
			v.t.Fatalf("snapshot %.8s restored differently (-want +got):\n%s", s.ID(), d)
		}
	}
	// Not r.Close: it would close the array, which the test goes on using.
}

func newVaultFixture(t *testing.T, a *raid.Array) (*vaultFixture, *vault.Repository) {
	t.Helper()
	r, _, err := vault.Init(context.Background(), a, vault.InitOptions{Passphrase: vaultPass, ScryptLogN: 10, PackSize: 1 << 20})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	return &vaultFixture{t: t, src: filepath.Join(t.TempDir(), "src"), snaps: map[string]map[string]string{}}, r
}

// TestVaultOnDamagedArray backs up twice to a 2+2 array, then loses a
// whole disk and damages 1 % of the remaining shards: the repository
// checks and restores, scrub repairs what it can, and replacing the disk
// brings back full redundancy.
func TestVaultOnDamagedArray(t *testing.T) {
	ctx := context.Background()
	paths := diskPaths(t, 4)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 2})
	v, r := newVaultFixture(t, a)
	genTree(t, v.src, 1, 6, 120)
	v.backup(r)
	genTree(t, filepath.Join(v.src, "more"), 2, 2, 40)
	if err := os.Remove(filepath.Join(v.src, "big00.raw")); err != nil {
		t.Fatal(err)
	}
	v.backup(r)
	a.Close()

	// Damage: a disk gone, and 1 % of the other shards flipped or
	// truncated (at most one more per object: two of four may go).
	if err := os.RemoveAll(paths[3]); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	bad := pickShards(rng, shardFiles(t, paths[:3]), 0.01, 1)
	for i, f := range bad {
		[]func(*testing.T, *rand.Rand, string){flipBits, truncateShard}[i%2](t, rng, f.path)
	}
	b := openArray(t, paths)
	objects := b.Status().Objects
	v.verify(b)
	b.Close() // background repairs of what the reads found

	c := openArray(t, paths)
	rep := scrub(t, c, true)
	if rep.ErrorsFound < objects || len(rep.Unrecoverable) != 0 {
		t.Errorf("scrub with a disk gone: %d errors, unrecoverable %v; want at least %d (one per object), none lost",
			rep.ErrorsFound, rep.Unrecoverable, objects)
	}
	fresh := filepath.Join(filepath.Dir(paths[0]), "fresh")
	if rep, err := c.Replace(ctx, paths[3], fresh, nil); err != nil || len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
		t.Fatalf("replace: %+v, %v", rep, err)
	}
	requireClean(t, c, objects)
	c.Close()
	d := openArray(t, append(paths[:3], fresh))
	requireClean(t, d, objects)
	v.verify(d)
}

// TestVaultOnFullDisk backs up to a 2+1 array whose third disk is a small
// real ext4 that fills up part way: backups carry on, the repository
// checks and restores, and scrub names the objects left without parity.
func TestVaultOnFullDisk(t *testing.T) {
	small := looptest.Ext4(t, 4<<20)
	paths := append(diskPaths(t, 2), small)
	a := createArray(t, paths, raid.Layout{Data: 2, Parity: 1})
	v, r := newVaultFixture(t, a)
	genTree(t, v.src, 3, 10, 60)
	v.backup(r)
	genTree(t, filepath.Join(v.src, "more"), 4, 6, 20)
	v.backup(r)
	st := a.Status()
	if d := diskStatus(t, st, small); d.Problem != "full" || st.Degraded == 0 || st.Lost != 0 {
		t.Errorf("status: small disk %+v, %d degraded, %d lost; want it full, some degraded, none lost", d, st.Degraded, st.Lost)
	}
	v.verify(a)
	rep := scrub(t, a, false)
	if len(rep.Degraded) != st.Degraded || len(rep.Unrecoverable) != 0 {
		t.Errorf("scrub: %d degraded, unrecoverable %v; want %d, none", len(rep.Degraded), rep.Unrecoverable, st.Degraded)
	}
	a.Close()
	v.verify(openArray(t, paths))
}
