package vault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoebox/shoebox/store"
)

// benchTree writes a photo-like tree: incompressible files of 2–12 MiB
// and small compressible sidecars, from a fixed seed.
func benchTree(b *testing.B, size int64) string {
	b.Helper()
	dir := b.TempDir()
	rnd := rand.New(rand.NewPCG(1, 2))
	var total int64
	for i := 0; total < size; i++ {
		n := (2 + rnd.IntN(11)) << 20
		buf := make([]byte, n)
		for j := 0; j+8 <= n; j += 8 {
			v := rnd.Uint64()
			for k := 0; k < 8; k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		sub := filepath.Join(dir, fmt.Sprintf("day%02d", i%8))
		os.MkdirAll(sub, 0o755)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("DSC_%04d.JPG", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
		xmp := fmt.Sprintf("<x:xmpmeta><rdf:Description xmp:Rating=\"%d\" exif:ISO=\"%d\"/></x:xmpmeta>\n", i%5, 100*i)
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("DSC_%04d.xmp", i)), []byte(xmp), 0o644)
		total += int64(n)
	}
	return dir
}

// BenchmarkBackup measures a first backup of 256 MiB into a fresh
// repository: go test -run '^$' -bench Backup -cpuprofile cpu.out ./vault/
func BenchmarkBackup(b *testing.B) {
	const size = 256 << 20
	src := benchTree(b, size)
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		st, err := store.OpenDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		r, _, err := Init(ctx, st, InitOptions{Passphrase: "p", ScryptLogN: 10})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := r.Backup(ctx, BackupOptions{Paths: []string{src}}); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkRestore measures restoring 256 MiB.
func BenchmarkRestore(b *testing.B) {
	const size = 256 << 20
	src := benchTree(b, size)
	ctx := context.Background()
	st, err := store.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r, _, err := Init(ctx, st, InitOptions{Passphrase: "p", ScryptLogN: 10})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	snap, err := r.Backup(ctx, BackupOptions{Paths: []string{src}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		dst := b.TempDir()
		b.StartTimer()
		if _, err := r.Restore(ctx, snap, RestoreOptions{Target: dst}); err != nil {
			b.Fatal(err)
		}
	}
}
