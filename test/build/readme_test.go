package build

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's layout table lists only folders that exist, and every
// top-level folder of the checkout: a new owner reads it to find their way
// around the tree.
func TestReadmeLayoutExists(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no \"## Layout\" section")
	}
	if i := strings.Index(layout, "\n## "); i >= 0 {
		layout = layout[:i]
	}
	code := regexp.MustCompile("`([^`]+)`")
	n := 0
	listed := map[string]bool{}
	for _, line := range strings.Split(layout, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") || strings.TrimSpace(cells[1]) == "path" {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			n++
			top, _, _ := strings.Cut(m[1], "/")
			listed[top] = true
			fi, err := os.Stat(filepath.Join(root, m[1]))
			if err != nil || !fi.IsDir() {
				t.Errorf("README.md's layout lists %s, which is not a folder of the checkout (%v)", m[1], err)
			}
		}
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		// bin/ and var/ are what make build and make run write (ignored by git).
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "bin" && e.Name() != "var" && !listed[e.Name()] {
			t.Errorf("README.md's layout does not list the folder %s/", e.Name())
		}
	}
	if n < 5 {
		t.Errorf("README.md's layout table lists %d paths; did its format change?", n)
	}
}
