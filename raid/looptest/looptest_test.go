package looptest_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shoebox/shoebox/raid/looptest"
)

func dev(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev
}

// fill writes up to n bytes to a new file in dir and returns the first
// error from writing or syncing it.
func fill(t *testing.T, dir string, n int) error {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7) // not zeros, in case a file system ever compresses
	}
	for written := 0; written < n; written += len(buf) {
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return f.Sync()
}

func TestExt4FillsUp(t *testing.T) {
	dir := looptest.Ext4(t, 16<<20)
	if got, parent := dev(t, dir), dev(t, filepath.Dir(dir)); got == parent {
		t.Fatalf("st_dev of %s: got %d, the same as its parent; want a mounted file system", dir, got)
	}
	err := fill(t, dir, 32<<20)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 32 MiB to a 16 MiB ext4: got %v, want ENOSPC", err)
	}
}

func TestTmpfsFillsUp(t *testing.T) {
	dir := looptest.Tmpfs(t, 2<<20)
	if got, parent := dev(t, dir), dev(t, filepath.Dir(dir)); got == parent {
		t.Fatalf("st_dev of %s: got %d, the same as its parent; want a mounted file system", dir, got)
	}
	err := fill(t, dir, 4<<20)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 4 MiB to a 2 MiB tmpfs: got %v, want ENOSPC", err)
	}
}

func TestSetReadOnly(t *testing.T) {
	tests := []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"tmpfs mount point", func(t *testing.T) string { return looptest.Tmpfs(t, 1<<20) }},
		{"ext4 mount point", func(t *testing.T) string { return looptest.Ext4(t, 8<<20) }},
		{"plain directory", func(t *testing.T) string { return t.TempDir() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			if err := os.WriteFile(filepath.Join(dir, "before"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}

			restore := looptest.SetReadOnly(t, dir)
			err := os.WriteFile(filepath.Join(dir, "during"), []byte("x"), 0o644)
			if !errors.Is(err, syscall.EROFS) {
				t.Fatalf("write while read-only: got %v, want EROFS", err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "before")); err != nil || string(b) != "x" {
				t.Fatalf("read while read-only: got %q, %v, want %q, nil", b, err, "x")
			}

			restore()
			restore() // a second call is harmless
			if err := os.WriteFile(filepath.Join(dir, "after"), []byte("x"), 0o644); err != nil {
				t.Fatalf("write after restore: got %v, want nil", err)
			}
		})
	}
}
