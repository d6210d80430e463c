package vault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/store"
)

// TestPacksOf: the packs PacksOf names for each snapshot are exactly the
// packs that hold its blobs (every file restores from them alone), a
// second backup's new file brings a pack the first snapshot does not
// need, and IndexFile lists what the index files hold, a prune's
// superseding file included.
func TestPacksOf(t *testing.T) {
	ctx := context.Background()
	r, st := newTestRepo(t, 1<<20)
	src := t.TempDir()
	rnd := rand.New(rand.NewPCG(3, 3))
	write := func(name string, n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		write(fmt.Sprintf("a%d.jpg", i), 700<<10)
	}
	s1, err := r.Backup(ctx, BackupOptions{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	write("b.jpg", 900<<10)
	s2, err := r.Backup(ctx, BackupOptions{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := r.PacksOf(ctx, s1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := r.PacksOf(ctx, s2)
	if err != nil {
		t.Fatal(err)
	}
	var all []ID
	for _, p := range r.Index().Packs() {
		all = append(all, p.ID)
	}
	union := map[ID]bool{}
	for _, id := range append(slices.Clone(p1), p2...) {
		union[id] = true
	}
	if len(union) != len(all) {
		t.Errorf("the snapshots' packs: got %d, want all %d packs of the repository", len(union), len(all))
	}
	extra := 0
	for _, id := range p2 {
		if !slices.Contains(p1, id) {
			extra++
		}
	}
	if extra == 0 {
		t.Errorf("the second snapshot needs no pack the first does not: got %v and %v", p1, p2)
	}

	// Only s1's packs: the first snapshot restores from them.
	only := copyRepoWith(t, st, func(name string) bool {
		if !strings.HasPrefix(name, dataPrefix) {
			return true
		}
		id, _ := ParseID(name[strings.LastIndexByte(name, '/')+1:])
		return slices.Contains(p1, id)
	})
	snap, err := only.LoadSnapshot(ctx, s1.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := only.Restore(ctx, snap, RestoreOptions{Target: t.TempDir()}); err != nil {
		t.Fatalf("restore the first snapshot from its packs alone: %v", err)
	}

	indexed := map[ID]bool{}
	listIndex := func() []ID {
		var ids []ID
		st.List(ctx, indexPrefix, func(fi store.ObjectInfo) error {
			id, err := ParseID(strings.TrimPrefix(fi.Name, indexPrefix))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			return nil
		})
		return ids
	}
	for _, id := range listIndex() {
		info, err := r.IndexFile(ctx, id)
		if err != nil || info.ID != id || len(info.Packs) == 0 || len(info.Supersedes) != 0 {
			t.Fatalf("IndexFile(%s): got %+v, %v; want its packs and no superseded file", id.Short(), info, err)
		}
		for _, p := range info.Packs {
			indexed[p] = true
		}
	}
	if len(indexed) != len(all) {
		t.Errorf("the index files list %d packs, want %d", len(indexed), len(all))
	}
	old := listIndex()
	if _, err := r.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	after := listIndex()
	if len(after) != 1 {
		t.Fatalf("index files after prune: got %d, want 1", len(after))
	}
	info, err := r.IndexFile(ctx, after[0])
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(old, compareIDBytes)
	slices.SortFunc(info.Supersedes, compareIDBytes)
	if !slices.Equal(info.Supersedes, old) {
		t.Errorf("the prune's index supersedes %v, want %v", info.Supersedes, old)
	}
	if _, err := r.IndexFile(ctx, old[0]); err == nil {
		t.Errorf("IndexFile of a deleted index file: got no error")
	}
}

func compareIDBytes(a, b ID) int { return strings.Compare(a.String(), b.String()) }

// copyRepoWith copies the objects of st that keep says to keep into a new
// store and opens the copy.
func copyRepoWith(t *testing.T, st store.ObjectStore, keep func(string) bool) *Repository {
	t.Helper()
	ctx := context.Background()
	dst, err := store.OpenDir(filepath.Join(t.TempDir(), "copy"))
	if err != nil {
		t.Fatal(err)
	}
	err = st.List(ctx, "", func(fi store.ObjectInfo) error {
		if !keep(fi.Name) {
			return nil
		}
		o, err := st.Open(ctx, fi.Name)
		if err != nil {
			return err
		}
		defer o.Close()
		return dst.Put(ctx, fi.Name, store.Reader(o))
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, dst, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
