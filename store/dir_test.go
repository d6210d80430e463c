package store_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/store/storetest"
)

func TestDirConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ObjectStore {
		d, err := store.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// plainStore hides Dir's optional capabilities, so the suite also covers
// the in-memory fallback of CreatePending.
type plainStore struct{ store.ObjectStore }

func TestPlainStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ObjectStore {
		d, err := store.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return plainStore{d}
	})
}

// TestOpenDirCleansTemp: OpenDir removes the temporary files of writers
// that no longer run (a dead process of this host, or any file older
// than a day) and keeps those of writers that may still be writing.
func TestOpenDirCleansTemp(t *testing.T) {
	root := t.TempDir()
	tmp := filepath.Join(root, ".tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run a child process: %v", err)
	}
	host, _ := os.Hostname()
	host = strings.NewReplacer("-", "_", "/", "_").Replace(host)
	files := map[string]bool{ // name: kept
		fmt.Sprintf("%s-%d-dead", host, dead.Process.Pid): false,
		fmt.Sprintf("%s-%d-live", host, os.Getpid()):      true,
		"otherhost-1-recent":                              true,
		"otherhost-1-old":                                 false,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(filepath.Join(tmp, "otherhost-1-old"), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenDir(root); err != nil {
		t.Fatal(err)
	}
	for name, kept := range files {
		_, err := os.Stat(filepath.Join(tmp, name))
		if got := err == nil; got != kept {
			t.Errorf("%s kept: got %v, want %v", name, got, kept)
		}
	}
}
