// Package testcorpus finds the project's shared test data for tests: real
// photos, RAW files, sidecars and videos (media) and real SMART readings
// (smart), kept beside the checkout in ../shared/testdata (seen from the
// module root) and never copied into the repository.
//
// A test asks for what it reads, from any package depth:
//
//	media := testcorpus.Media(t)                                 // ../shared/testdata/media
//	dir := testcorpus.SMART(t, "smartctl-json", "testdata")      // a folder inside it
//
// Where the data is absent the test skips, saying so, on a developer's
// machine; under CI (the CI environment variable set, as .ci/run and
// every CI service do) it fails instead: a CI run that silently skipped
// the tests on real data would prove nothing about real data.
package testcorpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Media returns the absolute path of the media corpus, or of elem inside
// it, skipping the test (failing it under CI) when that is absent.
func Media(t testing.TB, elem ...string) string {
	t.Helper()
	return need(t, append([]string{"media"}, elem...))
}

// SMART returns the absolute path of the SMART corpus, or of elem inside
// it, skipping the test (failing it under CI) when that is absent.
func SMART(t testing.TB, elem ...string) string {
	t.Helper()
	return need(t, append([]string{"smart"}, elem...))
}

// Path returns the absolute path of elem inside ../shared/testdata, or an
// error when it is absent; for data a test can do without (fuzz seeds).
func Path(elem ...string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return "", err
	}
	p := filepath.Join(append([]string{filepath.Dir(root), "shared", "testdata"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("test corpus: %w (the shared folder belongs beside the checkout %s)", err, root)
	}
	return p, nil
}

// CI reports whether the tests run under CI: the CI environment variable
// is set to anything but "", "0" or "false".
func CI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

func need(t testing.TB, elem []string) string {
	t.Helper()
	p, err := Path(elem...)
	if err == nil {
		return p
	}
	if CI() {
		t.Fatalf("%v; CI=%s: a missing test corpus fails the run instead of skipping its tests", err, os.Getenv("CI"))
	}
	t.Skipf("skipped: %v; under CI=1 this fails", err)
	return ""
}

// moduleRoot walks up from dir to the folder holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("test corpus: no go.mod above %s", dir)
		}
		d = up
	}
}
