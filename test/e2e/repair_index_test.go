package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepairIndex: with the index folder lost, `shoebox repair index`
// rebuilds it from the packs' own headers and the repository checks
// clean and restores; a pack whose header cannot be read is named, left
// alone, and makes the command fail with what to run next.
func TestRepairIndex(t *testing.T) {
	r := newRepo(t)
	src := filepath.Join(t.TempDir(), "photos")
	genTree(t, src, 7, treeSpec{Big: 3, BigSize: 1 << 20, Small: 20, Dirs: 3})
	want := takeManifest(t, src)
	id := r.backup(src)
	index, err := filepath.Glob(filepath.Join(r.dir, "index", "*"))
	if err != nil || len(index) == 0 {
		t.Fatalf("no index files (%v)", err)
	}
	for _, f := range index {
		os.Remove(f)
	}
	junk := filepath.Join(r.dir, "data", "ab", "ab"+strings.Repeat("0", 62))
	os.MkdirAll(filepath.Dir(junk), 0o755)
	os.WriteFile(junk, []byte("not a pack"), 0o644)

	res := r.run("repair", "index")
	if res.code == 0 || !strings.Contains(res.stdout, "packs indexed from their headers") || !strings.Contains(res.stdout, "data/ab/ab000") ||
		!strings.Contains(res.stderr, "shoebox prune") {
		t.Errorf("repair index with a junk pack: %v; want the packs indexed, the junk named, a failure saying what to run", res)
	}
	if _, err := os.Stat(junk); err != nil {
		t.Errorf("the unreadable pack was removed (%v): it must be left for prune", err)
	}
	os.Remove(junk)
	if c := r.check(); len(c.Errors) > 0 {
		t.Errorf("check after repair index: %+v", c)
	}
	r.restoreAndCompare(id, src, want)
}
