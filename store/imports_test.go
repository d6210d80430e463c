package store_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingAbove: the store is the bottom of the tree. Its
// files (tests too, storetest included) import nothing of Shoebox but
// internal/ and store itself, so any backend can implement it and the
// vault can use it without pulling in the array or the daemon.
func TestImportsNothingAbove(t *testing.T) {
	const module = "github.com/shoebox/shoebox/"
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			rel, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			if !strings.HasPrefix(rel, "internal/") && rel != "store" && !strings.HasPrefix(rel, "store/") {
				t.Errorf("%s imports %s: the store may import only internal/ of Shoebox", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
