package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The examples of README.md and docs/*.md are run, so that what a new
// owner copies works. The convention (also in the README, "The examples
// are tested"):
//
//   - A ```sh block right after a line <!-- doc-test --> runs, as one bash
//     script (set -euo pipefail), from a checkout-like folder in which
//     `make demo` has run: ./bin holds shoebox and shoeboxd, ./var holds
//     what scripts/demo.sh leaves (the demo repository, its passphrase
//     file, ./var/demo-photos). `make demo` and `make build` lines are what
//     the test did before; any other make line is refused. Every block
//     starts from that same state, and each must exit 0; every
//     `shoebox find` in it must find something.
//   - A ```sh block right after <!-- doc-test: skip: REASON --> is listed
//     as a skipped subtest with its reason (hardware, the owner's disks).
//   - A ```sh block with a line starting with `shoebox ` and neither marker
//     fails the test: every example is either run or visibly skipped.

// docBlock is one ```sh block of a document.
type docBlock struct {
	file string // relative to the module root
	line int    // of the opening fence
	mark string // "run", "skip: REASON", or "" (unmarked)
	body string
}

var docMarker = regexp.MustCompile(`^<!--\s*doc-test(?::\s*(skip\b.*?))?\s*-->$`)

// docBlocks returns the shell blocks of the documents.
func docBlocks(t *testing.T, files []string) []docBlock {
	t.Helper()
	var blocks []docBlock
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			fence := strings.TrimSpace(lines[i])
			if !strings.HasPrefix(fence, "```") {
				continue
			}
			start := i
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
				j++
			}
			i = j
			switch strings.TrimPrefix(fence, "```") {
			case "sh", "bash", "shell":
			default:
				continue
			}
			blk := docBlock{file: f, line: start + 1, body: strings.Join(lines[start+1:min(j, len(lines))], "\n") + "\n"}
			prev := start - 1
			for prev >= 0 && strings.TrimSpace(lines[prev]) == "" {
				prev--
			}
			if prev >= 0 {
				if m := docMarker.FindStringSubmatch(strings.TrimSpace(lines[prev])); m != nil {
					blk.mark = "run"
					if m[1] != "" {
						blk.mark = m[1]
					}
				}
			}
			blocks = append(blocks, blk)
		}
	}
	return blocks
}

// shoeboxFind is prepended to every block: a shoebox that fails when a
// find finds nothing (an example that finds nothing teaches nothing).
const shoeboxFind = `shoebox() {
	local sub= a
	for a in "$@"; do case $a in -*) ;; *) sub=$a; break ;; esac; done
	if [ "$sub" != find ]; then command shoebox "$@"; return; fi
	local out
	out=$(command shoebox "$@") || return
	printf '%s\n' "$out"
	case $out in
	"0 matches" | *$'\n'"0 matches" | "[]") echo "doc-test: shoebox $* found nothing" >&2; return 1 ;;
	esac
}
`

func TestDocExamples(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md"}
	for _, d := range docs {
		rel, _ := filepath.Rel(repoRoot, d)
		files = append(files, rel)
	}
	blocks := docBlocks(t, files)

	// The checkout-like folder: ./bin and ./var after `make demo`, which
	// runs exactly this script.
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{shoeboxBin, shoeboxdBin} {
		if err := os.Symlink(b, filepath.Join(bin, filepath.Base(b))); err != nil {
			t.Fatal(err)
		}
	}
	env := append(baseEnv(), "HOME="+t.TempDir())
	demo := exec.Command("bash", filepath.Join(repoRoot, "scripts", "demo.sh"), filepath.Join(bin, "shoebox"), filepath.Join(work, "var"))
	demo.Dir, demo.Env = work, env
	if out, err := demo.CombinedOutput(); err != nil {
		t.Fatalf("scripts/demo.sh (make demo): %v\n%s", err, out)
	}
	// Each block starts from the demo's state, at the same paths (the
	// snapshots hold ./var/demo-photos by its absolute path).
	pristine := filepath.Join(t.TempDir(), "var")
	if out, err := exec.Command("cp", "-a", filepath.Join(work, "var"), pristine).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}

	ran := 0
	for _, blk := range blocks {
		name := fmt.Sprintf("%s:%d", blk.file, blk.line)
		switch {
		case blk.mark == "":
			if regexp.MustCompile(`(?m)^\s*shoebox `).MatchString(blk.body) {
				t.Errorf("%s: a shoebox example without <!-- doc-test --> or <!-- doc-test: skip: REASON --> above it: mark it (test/e2e/doc_test.go)", name)
			}
			continue
		case strings.HasPrefix(blk.mark, "skip"):
			t.Run(name, func(t *testing.T) { t.Skipf("doc-test %s", blk.mark) })
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			var script strings.Builder
			script.WriteString(shoeboxFind)
			for i, line := range strings.Split(blk.body, "\n") {
				cmd := strings.TrimSpace(line)
				if f := strings.Fields(cmd); len(f) > 0 && f[0] == "make" {
					if len(f) < 2 || (f[1] != "demo" && f[1] != "build") {
						t.Fatalf("%s:%d: %q: the doc-test runs no make target but demo and build (done before every block); mark the block skip", blk.file, blk.line+1+i, cmd)
					}
					script.WriteString("\n")
					continue
				}
				script.WriteString(line + "\n")
			}
			// The same absolute paths as the demo's: the folder holds only
			// ./bin and ./var, restored from the pristine copy.
			ents, err := os.ReadDir(work)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if e.Name() != "bin" {
					if err := os.RemoveAll(filepath.Join(work, e.Name())); err != nil {
						t.Fatal(err)
					}
				}
			}
			if out, err := exec.Command("cp", "-a", pristine, filepath.Join(work, "var")).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v\n%s", err, out)
			}
			c := exec.Command("bash", "-euo", "pipefail", "-c", script.String())
			c.Dir, c.Env = work, env
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			err = c.Run()
			t.Logf("%s:\n%s", name, out.String())
			if err != nil {
				t.Fatalf("%s: the example failed (%v); its output is above", name, err)
			}
		})
	}
	if ran == 0 {
		t.Error("no <!-- doc-test --> block in README.md or docs/*.md")
	}
}
