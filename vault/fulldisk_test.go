package vault_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// TestBackupFullDisk fills the repository's file system during a backup:
// the backup fails with an error that says the disk is full, no snapshot
// is written, the earlier snapshot still restores and check accepts the
// repository; once space is freed, backup works again.
func TestBackupFullDisk(t *testing.T) {
	ctx := context.Background()
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", disk).Run() })
	st, err := store.OpenDir(filepath.Join(disk, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := vault.Init(ctx, st, vault.InitOptions{Passphrase: "p", ScryptLogN: 10, PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "a.jpg"), 4<<20)
	first, err := repo.Backup(ctx, vault.BackupOptions{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	writeRandom(t, filepath.Join(src, "big.mov"), 40<<20)
	_, err = repo.Backup(ctx, vault.BackupOptions{Paths: []string{src}})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("backup onto a full disk: got %v, want ENOSPC saying the disk is full", err)
	}
	snaps, err := repo.Snapshots(ctx)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("after the failed backup: %d snapshots, %v; want only the first", len(snaps), err)
	}
	repo.Close()
	repo, err = vault.Open(ctx, st, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := repo.Check(ctx, vault.CheckOptions{ReadData: true})
	if err != nil || !res.OK() {
		t.Fatalf("check after the failed backup: %v %+v", err, res)
	}
	out := t.TempDir()
	if _, err := repo.Restore(ctx, first, vault.RestoreOptions{Target: out}); err != nil {
		t.Fatalf("restore of the earlier snapshot: %v", err)
	}
	// Free space (prune removes the packs of the failed backup) and retry
	// with a smaller file.
	if _, err := repo.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "big.mov"))
	writeRandom(t, filepath.Join(src, "b.jpg"), 4<<20)
	if _, err := repo.Backup(ctx, vault.BackupOptions{Paths: []string{src}}); err != nil {
		t.Fatalf("backup after freeing space: %v", err)
	}
}

func writeRandom(t *testing.T, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
