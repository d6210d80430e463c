package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"github.com/shoebox/shoebox/store"
)

// faultFixture is a repository with two snapshots over many small packs,
// and the source they came from.
type faultFixture struct {
	r      *Repository
	store  *store.Dir
	src    string
	snaps  []*Snapshot
	files  map[string][]byte // source path -> content
	target string
}

func newFaultFixture(t *testing.T) *faultFixture {
	t.Helper()
	f := &faultFixture{files: map[string][]byte{}}
	base := t.TempDir()
	f.src = filepath.Join(base, "src")
	f.target = t.TempDir()
	add := func(rel string, data []byte) {
		p := filepath.Join(f.src, rel)
		writeFile(t, p, data, testEpoch)
		f.files[p] = data
	}
	for i := 0; i < 8; i++ {
		add(filepath.Join("photos", "IMG_"+string(rune('0'+i))+".jpg"), randBytes(uint64(i+1), 300<<10))
	}
	add("video.mov", randBytes(50, 5<<20))
	add("sub/dir/notes.txt", []byte(strings.Repeat("notes\n", 1000)))
	f.r, f.store = newTestRepo(t, 1<<20)
	f.snaps = append(f.snaps, mustBackup(t, f.r, BackupOptions{Paths: []string{f.src}, Time: testEpoch}))
	add("later.jpg", randBytes(99, 400<<10))
	f.snaps = append(f.snaps, mustBackup(t, f.r, BackupOptions{Paths: []string{f.src}, Time: testEpoch.Add(1e9)}))
	res, err := f.r.Check(context.Background(), CheckOptions{ReadData: true})
	if err != nil || !res.OK() || len(res.Warnings) != 0 {
		t.Fatalf("Check of the intact repository: %v, errors %q, warnings %q", err, res.Errors, res.Warnings)
	}
	return f
}

// affected lists, for every snapshot, the files with a blob in bad.
func (f *faultFixture) affected(t *testing.T, bad map[ID]bool, pack string) []Damage {
	t.Helper()
	var out []Damage
	for _, s := range f.snaps {
		for p, n := range snapshotFiles(t, f.r, s) {
			for _, b := range n.Content {
				if bad[b] {
					out = append(out, Damage{Snapshot: s.ID().Short(), Path: p, Pack: pack})
					break
				}
			}
		}
	}
	sortDamage(out)
	return out
}

func sortDamage(d []Damage) {
	sort.Slice(d, func(i, j int) bool {
		if d[i].Snapshot != d[j].Snapshot {
			return d[i].Snapshot < d[j].Snapshot
		}
		return d[i].Path < d[j].Path
	})
}

// indexedPack returns a pack's index entry.
func indexedPack(t *testing.T, r *Repository, id ID) IndexPack {
	t.Helper()
	for _, p := range r.index.Packs() {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("pack %s not indexed", id.Short())
	return IndexPack{}
}

// damagedBlobs says which blobs of a pack a flipped byte at off (in the
// file) destroys: the blobs in the same 64 KiB age chunk, or all of them
// when the byte is in the header or the last chunk (which every reader
// authenticates first).
func damagedBlobs(t *testing.T, file []byte, off int64, p IndexPack) map[ID]bool {
	t.Helper()
	hdr, err := age.ExtractHeader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	const chunk, overhead = 64 << 10, 16
	payload := int64(len(hdr)) + 16 // header, then the stream nonce
	plainSize := int64(len(file)) - payload
	nChunks := (plainSize + chunk + overhead - 1) / (chunk + overhead)
	bad := map[ID]bool{}
	idx := (off - payload) / (chunk + overhead)
	for _, b := range p.Blobs {
		start, end := int64(b.Offset), int64(b.Offset)+int64(b.Length)
		if off < payload || idx == nChunks-1 || (start < (idx+1)*chunk && end > idx*chunk) {
			bad[b.ID] = true
		}
	}
	return bad
}

func TestCheckPackDamage(t *testing.T) {
	tests := []struct {
		name string
		// damage harms the pack file p and returns the file offset of a
		// flipped byte, or -1 when the whole pack is gone.
		damage func(t *testing.T, p string) int64
		// plainCheck says whether Check without ReadData sees it.
		plainCheck bool
	}{
		{"deleted", func(t *testing.T, p string) int64 {
			must(t, os.Remove(p))
			return -1
		}, true},
		{"truncated", func(t *testing.T, p string) int64 {
			fi, err := os.Stat(p)
			must(t, err)
			must(t, os.Truncate(p, fi.Size()/2))
			return -1
		}, true},
		{"truncated by one byte", func(t *testing.T, p string) int64 {
			fi, err := os.Stat(p)
			must(t, err)
			must(t, os.Truncate(p, fi.Size()-1))
			return -1
		}, true},
		{"emptied", func(t *testing.T, p string) int64 {
			must(t, os.Truncate(p, 0))
			return -1
		}, true},
		{"byte flipped in the middle", func(t *testing.T, p string) int64 {
			fi, err := os.Stat(p)
			must(t, err)
			flipByte(t, p, fi.Size()/2)
			return fi.Size() / 2
		}, false},
		{"byte flipped near the end", func(t *testing.T, p string) int64 {
			fi, err := os.Stat(p)
			must(t, err)
			flipByte(t, p, fi.Size()-50)
			return fi.Size() - 50
		}, false},
		{"byte flipped in the age header", func(t *testing.T, p string) int64 {
			flipByte(t, p, 40)
			return 40
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFaultFixture(t)
			victim := filepath.Join(f.src, "photos", "IMG_3.jpg")
			packID := packOf(t, f.r, snapshotFiles(t, f.r, f.snaps[1])[victim].Content[0])
			pack := packName(packID)
			ip := indexedPack(t, f.r, packID)
			file, err := os.ReadFile(storePath(f.store, pack))
			must(t, err)

			off := tc.damage(t, storePath(f.store, pack))
			bad := map[ID]bool{}
			if off < 0 {
				for _, b := range ip.Blobs {
					bad[b.ID] = true
				}
			} else {
				bad = damagedBlobs(t, file, off, ip)
			}
			want := f.affected(t, bad, pack)
			if len(want) == 0 {
				t.Fatal("the damage affects no file; the test is wrong")
			}

			r := reopen(t, f.store)
			for _, readData := range []bool{false, true} {
				res, err := r.Check(ctx, CheckOptions{ReadData: readData})
				if err != nil {
					t.Fatalf("Check(ReadData %v): %v", readData, err)
				}
				if !readData && !tc.plainCheck {
					if !res.OK() {
						t.Errorf("Check without ReadData: got errors %q, want none (pack contents are not read)", res.Errors)
					}
					continue
				}
				if res.OK() {
					t.Fatalf("Check(ReadData %v): got no error, want one naming %s", readData, pack)
				}
				if !strings.Contains(strings.Join(res.Errors, "\n"), pack) {
					t.Errorf("Check(ReadData %v): got errors %q, want one naming %s", readData, res.Errors, pack)
				}
				if diff := cmp.Diff([]string{pack}, res.DamagedPacks); diff != "" {
					t.Errorf("Check(ReadData %v): damaged packs (-want +got):\n%s", readData, diff)
				}
				got := append([]Damage(nil), res.Affected...)
				sortDamage(got)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Check(ReadData %v): affected files (-want +got):\n%s", readData, diff)
				}
			}

			// A whole restore fails naming the pack, after restoring every
			// file the damage does not affect; no partial copy of an
			// affected file is left.
			all := filepath.Join(f.target, tc.name, "all")
			sum, err := r.Restore(ctx, f.snaps[1], RestoreOptions{Target: all})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(fmtErr(err), pack) {
				t.Errorf("restore of the snapshot: got %v, want ErrCorrupt naming %s", err, pack)
			}
			if sum == nil || sum.Failed == 0 {
				t.Errorf("restore of the snapshot: summary %+v, want failed files counted", sum)
			}
			wantAffected := map[string]bool{}
			for _, d := range want {
				wantAffected[d.Path] = true
			}
			for _, p := range sortedKeys(f.files) {
				b, err := os.ReadFile(restoredPath(all, p))
				switch {
				case wantAffected[p] && err == nil:
					t.Errorf("whole restore left a copy of damaged %s", p)
				case !wantAffected[p] && !bytes.Equal(b, f.files[p]):
					t.Errorf("whole restore: unaffected %s: got %d bytes (%v), want the original", p, len(b), err)
				}
			}
			// Restoring an affected file fails naming the pack; every
			// other file restores intact.
			affected := map[string]bool{}
			for _, d := range want {
				affected[d.Path] = true
			}
			for _, p := range sortedKeys(f.files) {
				target := filepath.Join(f.target, tc.name, filepath.Base(p))
				_, err := r.Restore(ctx, f.snaps[1], RestoreOptions{Target: target, Include: []string{p}})
				if affected[p] {
					if !errors.Is(err, ErrCorrupt) || !strings.Contains(fmtErr(err), pack) {
						t.Errorf("restore %s: got %v, want ErrCorrupt naming %s", p, err, pack)
					}
					continue
				}
				if err != nil {
					t.Errorf("restore %s (not affected): %v", p, err)
					continue
				}
				b, err := os.ReadFile(restoredPath(target, p))
				if err != nil || !bytes.Equal(b, f.files[p]) {
					t.Errorf("restore %s (not affected): got %d bytes (%v), want the original %d", p, len(b), err, len(f.files[p]))
				}
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestCheckTreePackDeleted(t *testing.T) {
	ctx := context.Background()
	f := newFaultFixture(t)
	treePack := packOf(t, f.r, f.snaps[0].Tree)
	must(t, os.Remove(storePath(f.store, packName(treePack))))
	r := reopen(t, f.store)
	res, err := r.Check(ctx, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || !strings.Contains(strings.Join(res.Errors, "\n"), packName(treePack)) {
		t.Errorf("got errors %q, want one naming %s", res.Errors, packName(treePack))
	}
	// Every tree of the first snapshot lives in that pack: the damage is
	// reported at its root.
	found := false
	for _, d := range res.Affected {
		if d.Snapshot == f.snaps[0].ID().Short() && d.Path == "/" {
			found = true
		}
	}
	if !found {
		t.Errorf("got affected %v, want snapshot %s at /", res.Affected, f.snaps[0].ID().Short())
	}
	if _, err := r.Restore(ctx, f.snaps[0], RestoreOptions{Target: f.target}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("restore: got %v, want ErrCorrupt", err)
	}
}

func TestCheckIndexDamage(t *testing.T) {
	ctx := context.Background()
	f := newFaultFixture(t)
	var names []string
	must(t, f.store.List(ctx, indexPrefix, func(fi store.ObjectInfo) error {
		names = append(names, fi.Name)
		return nil
	}))
	if len(names) != 2 {
		t.Fatalf("got %d index files, want 2 (one per backup)", len(names))
	}
	// Damage the index of the first backup: it lists most packs.
	first := names[0]
	for _, n := range names {
		if fi, _ := f.store.Stat(ctx, n); fi.Size > mustStat(t, f.store, first).Size {
			first = n
		}
	}
	flipByte(t, storePath(f.store, first), -20)

	// The repository still opens: the packs themselves are intact.
	r, err := Open(ctx, f.store, testPassphrase)
	if err != nil {
		t.Fatalf("Open with a damaged index file: %v", err)
	}
	defer r.Close()
	res, err := r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || !strings.Contains(strings.Join(res.Errors, "\n"), first) {
		t.Errorf("got errors %q, want one naming %s", res.Errors, first)
	}
	if len(res.Affected) != 0 {
		t.Errorf("got affected %v, want none (no data is lost)", res.Affected)
	}
	target := t.TempDir()
	mustRestore(t, r, f.snaps[1], RestoreOptions{Target: target})
	compareTrees(t, f.src, restoredPath(target, f.src), compareOpts{noXattrs: true})

	// Prune writes a whole index again.
	if _, err := r.Prune(ctx, false); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	r2 := reopen(t, f.store)
	res, err = r2.Check(ctx, CheckOptions{ReadData: true})
	if err != nil || !res.OK() || len(res.Warnings) != 0 {
		t.Errorf("Check after prune: %v, errors %q, warnings %q", err, res.Errors, res.Warnings)
	}
	if _, err := f.store.Stat(ctx, first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("damaged index file after prune: got %v, want it removed", err)
	}
}

func mustStat(t *testing.T, s store.ObjectStore, name string) store.ObjectInfo {
	t.Helper()
	fi, err := s.Stat(context.Background(), name)
	must(t, err)
	return fi
}

func TestCheckSnapshotDamage(t *testing.T) {
	ctx := context.Background()
	f := newFaultFixture(t)
	bad := f.snaps[0]
	flipByte(t, storePath(f.store, snapshotPrefix+bad.ID().String()), 100)
	r := reopen(t, f.store)
	res, err := r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || !strings.Contains(strings.Join(res.Errors, "\n"), bad.ID().Short()) {
		t.Errorf("got errors %q, want one naming snapshot %s", res.Errors, bad.ID().Short())
	}
	if res.Snapshots != 1 {
		t.Errorf("got %d readable snapshots, want 1", res.Snapshots)
	}
	if _, err := r.LoadSnapshot(ctx, bad.ID()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("LoadSnapshot: got %v, want ErrCorrupt", err)
	}
	good, err := r.LoadSnapshot(ctx, f.snaps[1].ID())
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	mustRestore(t, r, good, RestoreOptions{Target: target})
	compareTrees(t, f.src, restoredPath(target, f.src), compareOpts{noXattrs: true})

	// One damaged snapshot file must not stop the backups that follow.
	t.Run("backup still works", func(t *testing.T) {
		s := mustBackup(t, r, BackupOptions{Paths: []string{f.src}})
		if s.Parent == nil || *s.Parent != good.ID() {
			t.Errorf("got parent %v, want the readable snapshot %s", s.Parent, good.ID().Short())
		}
	})

	t.Run("garbage snapshot names are ignored", func(t *testing.T) {
		must(t, f.store.Put(ctx, snapshotPrefix+"not-an-id", strings.NewReader("x")))
		res, err := r.Check(ctx, CheckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Warnings) == 0 {
			t.Errorf("got no warning for a stray file in snapshots/, want one")
		}
	})
}

// TestCheckUnindexedPack: a pack no index lists (an interrupted backup)
// is a warning, and prune removes it.
func TestCheckUnindexedPack(t *testing.T) {
	ctx := context.Background()
	f := newFaultFixture(t)
	// A backup whose index file and snapshot are gone leaves its pack as
	// a killed backup would.
	indexes := func() map[string]bool {
		out := map[string]bool{}
		must(t, f.store.List(ctx, indexPrefix, func(fi store.ObjectInfo) error {
			out[fi.Name] = true
			return nil
		}))
		return out
	}
	before := indexes()
	extra := filepath.Join(t.TempDir(), "extra")
	writeFile(t, filepath.Join(extra, "x.bin"), randBytes(123, 100<<10), testEpoch)
	snap := mustBackup(t, f.r, BackupOptions{Paths: []string{extra}})
	for name := range indexes() {
		if !before[name] {
			must(t, f.store.Delete(ctx, name))
		}
	}
	must(t, f.store.Delete(ctx, snapshotPrefix+snap.ID().String()))
	orphans := map[string]bool{}
	must(t, f.store.List(ctx, dataPrefix, func(fi store.ObjectInfo) error {
		orphans[fi.Name] = true
		return nil
	}))
	for _, p := range f.r.index.Packs() {
		if p.ID != packOf(t, f.r, snap.Tree) && p.ID != packOf(t, f.r, snapshotFiles(t, f.r, snap)[filepath.Join(extra, "x.bin")].Content[0]) {
			delete(orphans, packName(p.ID))
		}
	}
	r := reopen(t, f.store)
	res, err := r.Check(ctx, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || len(res.Warnings) != len(orphans) {
		t.Errorf("got errors %q, warnings %q; want a warning for each of %v", res.Errors, res.Warnings, sortedKeys(orphans))
	}
	for name := range orphans {
		if !strings.Contains(strings.Join(res.Warnings, "\n"), name) {
			t.Errorf("got warnings %q, want one naming %s", res.Warnings, name)
		}
	}
	pr, err := r.Prune(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if pr.PacksDeleted != len(orphans) {
		t.Errorf("got %d packs deleted, want %d", pr.PacksDeleted, len(orphans))
	}
	res, err = reopen(t, f.store).Check(ctx, CheckOptions{ReadData: true})
	if err != nil || !res.OK() || len(res.Warnings) != 0 {
		t.Errorf("Check after prune: %v, errors %q, warnings %q", err, res.Errors, res.Warnings)
	}
}
