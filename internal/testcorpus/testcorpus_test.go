package testcorpus_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// TestCorpusChild is the test the cases of TestCorpus run in a child
// process of this test binary, from a folder of their own.
func TestCorpusChild(t *testing.T) {
	if os.Getenv("TESTCORPUS_CHILD") == "" {
		return
	}
	fmt.Printf("found %s\n", testcorpus.Media(t, "2024", "x.jpg"))
}

// A test asking for the corpus, run as `go test` runs it (from a package
// folder, two levels below the module root): it gets the absolute path
// when ../shared is beside the checkout; without it, it skips, saying so,
// or fails under CI.
func TestCorpus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ci      string
		present bool
		code    int
		want    []string
	}{
		{"present", "", true, 0, []string{"--- PASS", "found {shared}/testdata/media/2024/x.jpg"}},
		{"present under CI", "1", true, 0, []string{"--- PASS", "found {shared}/testdata/media/2024/x.jpg"}},
		{"absent", "", false, 0, []string{"--- SKIP", "skipped: test corpus: stat {shared}/testdata/media/2024/x.jpg: no such file or directory (the shared folder belongs beside the checkout {root}); under CI=1 this fails"}},
		{"absent with CI=false", "false", false, 0, []string{"--- SKIP"}},
		{"absent under CI", "1", false, 1, []string{"--- FAIL", "CI=1: a missing test corpus fails the run instead of skipping its tests"}},
		{"absent under CI=true", "true", false, 1, []string{"--- FAIL", "CI=true: a missing test corpus fails"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "checkout")
			pkg := filepath.Join(root, "vault", "sub")
			if err := os.MkdirAll(pkg, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			shared := filepath.Join(dir, "shared")
			if tc.present {
				photo := filepath.Join(shared, "testdata", "media", "2024", "x.jpg")
				if err := os.MkdirAll(filepath.Dir(photo), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(photo, []byte("\xff\xd8"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := exec.Command(os.Args[0], "-test.run=^TestCorpusChild$", "-test.v", "-test.count=1")
			c.Dir = pkg
			c.Env = append(os.Environ(), "TESTCORPUS_CHILD=1", "CI="+tc.ci)
			code, out := run(t, c)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				w = strings.NewReplacer("{shared}", shared, "{root}", root).Replace(w)
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// run runs c and returns its exit code and combined output.
func run(t *testing.T, c *exec.Cmd) (int, string) {
	t.Helper()
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}

// moduleRoot is the checkout this test runs in.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Every test finds the shared data through this package: a test that
// looked for ../shared itself would skip silently under CI again.
func TestNoTestLooksForSharedItself(t *testing.T) {
	root := moduleRoot(t)
	var bad []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "var") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") || filepath.Dir(p) == filepath.Join(root, "internal", "testcorpus") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "shared/testdata") || strings.Contains(line, `"shared", "testdata"`) || strings.Contains(line, `"..", "shared"`) {
				rel, _ := filepath.Rel(root, p)
				bad = append(bad, fmt.Sprintf("%s:%d: %s", rel, i+1, strings.TrimSpace(line)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("tests look for ../shared/testdata themselves (use testcorpus.Media or testcorpus.SMART):\n%s", strings.Join(bad, "\n"))
	}
}

// A clean clone without ../shared beside it: under CI=1 a test on the real
// photos fails; on a laptop it skips.
func TestCleanCloneWithoutCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: compiles the vault package in a copy of the checkout")
	}
	root := moduleRoot(t)
	clone := filepath.Join(t.TempDir(), "shoebox")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if d.Name() == ".git" || rel == "bin" || rel == "var" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(clone, rel), 0o755)
		}
		if !d.Type().IsRegular() || !(strings.HasSuffix(p, ".go") || rel == "go.mod" || rel == "go.sum") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(clone, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ci   string
		code int
		want string
	}{
		{"", 0, "--- SKIP: TestRoundTripMedia"},
		{"1", 1, "--- FAIL: TestRoundTripMedia"},
	} {
		c := exec.Command("go", "test", "-count=1", "-v", "-run", "^TestRoundTripMedia$", "./vault/")
		c.Dir = clone
		c.Env = append(os.Environ(), "CI="+tc.ci)
		code, out := run(t, c)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("CI=%q go test ./vault/ in a clone without ../shared: exit %d, want %d and %q:\n%s", tc.ci, code, tc.code, tc.want, out)
		}
	}
}
