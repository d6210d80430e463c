package build

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/shoebox/shoebox"

// layerMap is the package map of docs/DESIGN.md: the fenced block that
// follows the line "<!-- package map -->", one layer per line as
// "N: pattern pattern ...". A pattern is a package path relative to the
// module, or "dir/..." for dir and everything below it.
type layerMap struct {
	patterns []string
	layer    map[string]int // pattern -> layer
}

func readLayerMap(t *testing.T) layerMap {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := bytes.Cut(b, []byte("<!-- package map -->"))
	if !ok {
		t.Fatal("docs/DESIGN.md: no <!-- package map --> marker before the package map")
	}
	m := layerMap{layer: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(after))
	fence := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") {
			if fence++; fence == 2 {
				break
			}
			continue
		}
		if fence == 0 || line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n, pats, ok := strings.Cut(line, ":")
		layer, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil {
			t.Fatalf("docs/DESIGN.md package map: %q is not \"N: packages\"", line)
		}
		for _, p := range strings.Fields(pats) {
			if _, dup := m.layer[p]; dup {
				t.Fatalf("docs/DESIGN.md package map: %s is listed twice", p)
			}
			m.layer[p] = layer
			m.patterns = append(m.patterns, p)
		}
	}
	if fence != 2 || len(m.patterns) == 0 {
		t.Fatal("docs/DESIGN.md: the package map is not a complete fenced block after <!-- package map -->")
	}
	return m
}

// match returns the most specific pattern that covers pkg (a path relative
// to the module): an exact name wins over "dir/...", a longer dir over a
// shorter one.
func (m layerMap) match(pkg string) (string, bool) {
	best := ""
	for _, p := range m.patterns {
		dir, wild := strings.CutSuffix(p, "/...")
		switch {
		case !wild && p == pkg:
			return p, true
		case wild && (pkg == dir || strings.HasPrefix(pkg, dir+"/")):
			if len(p) > len(best) {
				best = p
			}
		}
	}
	return best, best != ""
}

type listedPackage struct {
	ImportPath   string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

func goList(t *testing.T) []listedPackage {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps,TestImports,XTestImports", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// TestPackageMap checks docs/DESIGN.md's package map against `go list`:
// every package of the module is in it, every entry names a package, and
// no package imports one of its own layer or a higher one. Tests are not
// bound by the layers (a raid test may run the vault on an array), but no
// package outside cmd/, tests included, imports cobra: the command line
// is the only place that knows about flags.
func TestPackageMap(t *testing.T) {
	m := readLayerMap(t)
	pkgs := goList(t)
	used := map[string]bool{}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	for _, p := range pkgs {
		pkg, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		if !strings.HasPrefix(pkg, "cmd/") {
			const cobra = "github.com/spf13/cobra"
			if slices.Contains(p.Deps, cobra) || slices.Contains(p.TestImports, cobra) || slices.Contains(p.XTestImports, cobra) {
				bad("%s depends on %s: only cmd/ may", pkg, cobra)
			}
		}
		pat, ok := m.match(pkg)
		if !ok {
			bad("%s is not in the package map: add it to its layer", pkg)
			continue
		}
		used[pat] = true
		layer := m.layer[pat]
		for _, imp := range p.Imports {
			ipkg, ok := rel(imp)
			if !ok {
				continue
			}
			ipat, ok := m.match(ipkg)
			if !ok {
				continue // reported as its own package
			}
			if il := m.layer[ipat]; il >= layer {
				bad("%s (layer %d) imports %s (layer %d): a package imports only from lower layers", pkg, layer, ipkg, il)
			}
		}
	}
	for _, pat := range m.patterns {
		if !used[pat] {
			bad("the package map lists %s, which matches no package: remove or fix it", pat)
		}
	}
	slices.Sort(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// The map's own rules, on a made-up map, so that a mistake in match does
// not let an upward import through.
func TestLayerMapMatch(t *testing.T) {
	m := layerMap{layer: map[string]int{"internal/...": 0, "smart": 2, "smart/e2e/...": 6, "gateway/...": 4, "gateway/token": 1}}
	for p := range m.layer {
		m.patterns = append(m.patterns, p)
	}
	for pkg, want := range map[string]string{
		"internal/units":    "internal/...",
		"smart":             "smart",
		"smart/e2e":         "smart/e2e/...",
		"smart/e2e/probe":   "smart/e2e/...",
		"gateway":           "gateway/...",
		"gateway/token":     "gateway/token",
		"gateway/audit":     "gateway/...",
		"smartish":          "",
		"internalx/whatnot": "",
	} {
		if got, _ := m.match(pkg); got != want {
			t.Errorf("match(%q) = %q, want %q", pkg, got, want)
		}
	}
}
