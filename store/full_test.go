package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/shoebox/shoebox/store"
)

// smallDisk mounts a real file system of the given size (a tmpfs) and
// returns its path; it skips the test where mounting is not allowed.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func TestDirFullDisk(t *testing.T) {
	ctx := context.Background()
	d, err := store.OpenDir(smallDisk(t, "4m"))
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Repeat([]byte("kept"), 1000)
	if err := d.Put(ctx, "keys/old", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	err = d.Put(ctx, "data/00/big", bytes.NewReader(make([]byte, 8<<20)))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk: got %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), d.Root()) || !strings.Contains(err.Error(), "full") {
		t.Errorf("error %q does not name the disk and say it is full", err)
	}
	if _, err := d.Stat(ctx, "data/00/big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed Put left an object: %v", err)
	}
	got, err := store.ReadAll(ctx, d, "keys/old")
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("object stored before the disk filled: got %d bytes, %v", len(got), err)
	}
	// The temporary file was removed: the space is free again.
	entries, _ := os.ReadDir(d.Root() + "/.tmp")
	if len(entries) != 0 {
		t.Errorf("%d temporary files left behind", len(entries))
	}
	if err := d.Put(ctx, "data/00/small", bytes.NewReader(make([]byte, 1<<20))); err != nil {
		t.Errorf("Put after freeing: %v", err)
	}
}
