package keyscan

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestScan: each kind of key material is found, where the scan reads
// it in blocks too; a clean folder, encrypted key files without
// NoRepository, and a missing root give nothing.
func TestScan(t *testing.T) {
	write := func(t *testing.T, root, name string, b []byte) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A needle across the 1 MiB block boundary.
	straddle := append(bytes.Repeat([]byte{'x'}, 1<<20-5), []byte("AGE-SECRET-KEY-1QQQ")...)
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		opt   Options
		want  []string // the findings' paths, relative to the root
	}{
		{"clean", map[string][]byte{"tls/cert.pem": []byte("-----BEGIN CERTIFICATE-----"), "a/b": []byte("age-secret-key-1 lower case is not an identity")}, Options{Secrets: []string{"hunter2"}}, nil},
		{"recovery file", map[string][]byte{"RECOVERY-IDENTITY.txt": []byte("# nothing here")}, Options{}, []string{"RECOVERY-IDENTITY.txt"}},
		{"identity in the clear", map[string][]byte{"x/y.bin": []byte("....AGE-SECRET-KEY-PQ-1ABC....")}, Options{}, []string{"x/y.bin"}},
		{"across a block boundary", map[string][]byte{"big": straddle}, Options{}, []string{"big"}},
		{"passphrase", map[string][]byte{"pass": []byte("hunter2\n")}, Options{Secrets: []string{"", "hunter2"}}, []string{"pass"}},
		{"sealed key files allowed", map[string][]byte{"config": []byte("{}"), "keys/abc": []byte("age-encryption.org/v1")}, Options{}, nil},
		{"repository folder", map[string][]byte{"config": []byte("{}"), "keys/abc": []byte("age-encryption.org/v1")}, Options{NoRepository: true}, []string{"config", "keys"}},
		{"array disk", map[string][]byte{"shoebox-disk.json": []byte("{}"), "shoebox/shards/config.shard0.0000000000000001": []byte("s"), "shoebox/shards/keys/abc.shard1.0000000000000001": []byte("s"), "shoebox/shards/data/ab/abc.shard0.0000000000000001": []byte("s")}, Options{NoRepository: true},
			[]string{"shoebox/shards/config.shard0.0000000000000001", "shoebox/shards/keys"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for n, b := range tc.files {
				write(t, root, n, b)
			}
			got, err := Scan([]string{root, filepath.Join(root, "missing")}, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, f := range got {
				rel, _ := filepath.Rel(root, f.Path)
				paths = append(paths, filepath.ToSlash(rel))
			}
			slices.Sort(paths)
			if !slices.Equal(paths, tc.want) {
				t.Errorf("got %v (%v), want %v", paths, got, tc.want)
			}
		})
	}
}
