package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shoebox/shoebox/store"
)

// Fuzz targets for every parser of repository bytes. Their seed corpus is
// real encodings taken from a repository made once per test binary; each
// target checks that parsing never panics and that what parses survives
// an encode → parse round trip.

// fuzzSeeds are plaintexts of real repository files.
type fuzzSeeds struct {
	packs     [][]byte // decrypted packs
	indexes   [][]byte // decompressed index files
	trees     [][]byte
	snapshots [][]byte
	configs   [][]byte
	keyFiles  [][]byte
}

var (
	seedsOnce sync.Once
	seeds     fuzzSeeds
	seedsErr  error
)

// fuzzCorpus builds a small repository with odd names, two snapshots and
// a post-quantum key, and collects the plaintext of its files.
func fuzzCorpus(f *testing.F) *fuzzSeeds {
	f.Helper()
	seedsOnce.Do(func() { seedsErr = buildSeeds() })
	if seedsErr != nil {
		f.Fatal(seedsErr)
	}
	return &seeds
}

func buildSeeds() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vault-fuzz-seeds")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.OpenDir(filepath.Join(dir, "repo"))
	if err != nil {
		return err
	}
	r, _, err := Init(ctx, st, InitOptions{Passphrase: testPassphrase, ScryptLogN: 10, PackSize: 1 << 20})
	if err != nil {
		return err
	}
	defer r.Close()
	src := filepath.Join(dir, "src")
	for i, name := range []string{"a.txt", "new\nline", "bad \xff utf8", "d/e/f.xmp"} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(strings.Repeat(name, 50*(i+1))), 0o644); err != nil {
			return err
		}
	}
	os.Symlink("bad \xfe target", filepath.Join(src, "link"))
	var snaps []*Snapshot
	for i := 0; i < 2; i++ {
		s, err := r.Backup(ctx, BackupOptions{Paths: []string{src}, Tags: []string{"t"}, Time: testEpoch})
		if err != nil {
			return err
		}
		snaps = append(snaps, s)
		os.WriteFile(filepath.Join(src, "a.txt"), []byte("changed"), 0o644)
	}
	// Packs and trees.
	for _, p := range r.index.Packs() {
		b, err := store.ReadAll(ctx, st, packName(p.ID))
		if err != nil {
			return err
		}
		plain, err := unseal(b, r.key.identity)
		if err != nil {
			return err
		}
		seeds.packs = append(seeds.packs, plain)
		for _, e := range p.Blobs {
			if e.Type == TreeBlob {
				t, err := r.LoadBlob(ctx, e.ID, nil)
				if err != nil {
					return err
				}
				seeds.trees = append(seeds.trees, t)
			}
		}
	}
	// Index files.
	for id := range r.index.files {
		b, err := store.ReadAll(ctx, st, indexPrefix+id.String())
		if err != nil {
			return err
		}
		plain, err := unseal(b, r.key.identity)
		if err != nil {
			return err
		}
		raw, err := decompress(nil, plain, 0)
		if err != nil {
			return err
		}
		seeds.indexes = append(seeds.indexes, raw)
	}
	for _, s := range snaps {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		seeds.snapshots = append(seeds.snapshots, b)
	}
	cfg, err := json.Marshal(r.cfg)
	if err != nil {
		return err
	}
	seeds.configs = append(seeds.configs, cfg)
	for _, pq := range []bool{false, true} {
		mk, err := NewMasterKey(pq)
		if err != nil {
			return err
		}
		for _, kind := range []KeyKind{KeyPassphrase, KeyRecovery} {
			b, err := json.Marshal(keyFile{Version: FormatVersion, Kind: kind, Label: "seed", Created: testEpoch,
				Host: "nas", Username: "ann", Identity: mk.Identity()})
			if err != nil {
				return err
			}
			seeds.keyFiles = append(seeds.keyFiles, b)
		}
	}
	return nil
}

func FuzzPackHeader(f *testing.F) {
	for _, p := range fuzzCorpus(f).packs {
		if len(p) <= 64<<10 { // large inputs slow the mutator down
			f.Add(p)
		}
	}
	f.Add(encodePackHeader(nil))
	f.Add(append([]byte("blob"), encodePackHeader([]packEntry{{Type: DataBlob, Length: 4, RawLen: 4}})...))
	f.Add(append([]byte("zz"), encodePackHeader([]packEntry{{Type: TreeBlob, Flags: flagZstd, Length: 2, RawLen: 100}})...))
	f.Fuzz(func(t *testing.T, plain []byte) {
		entries, err := readPackHeader(bytes.NewReader(plain), int64(len(plain)))
		if err != nil {
			return
		}
		var off int64
		for i, e := range entries {
			if int64(e.Offset) != off {
				t.Fatalf("entry %d: got offset %d, want %d", i, e.Offset, off)
			}
			off += int64(e.Length)
		}
		// The header is canonical: encoding the entries gives back the
		// bytes after the blobs.
		if got, want := encodePackHeader(entries), plain[off:]; !bytes.Equal(got, want) {
			t.Fatalf("re-encoded header differs:\n got %x\nwant %x", got, want)
		}
	})
}

func FuzzParsePackHeader(f *testing.F) {
	for _, p := range fuzzCorpus(f).packs {
		hl := int(binary.LittleEndian.Uint32(p[len(p)-4:]))
		f.Add(p[len(p)-4-hl:len(p)-4], int64(len(p)-4-hl))
	}
	f.Fuzz(func(t *testing.T, h []byte, dataLen int64) {
		entries, err := parsePackHeader(h, dataLen)
		if err != nil {
			return
		}
		if got := encodePackHeader(entries); !bytes.Equal(got[:len(got)-4], h) {
			t.Fatalf("re-encoded header differs:\n got %x\nwant %x", got, h)
		}
	})
}

func FuzzParseIndexFile(f *testing.F) {
	for _, b := range fuzzCorpus(f).indexes {
		f.Add(b)
	}
	f.Add((&indexFile{}).encode())
	f.Add((&indexFile{Supersedes: []ID{{1}}, Packs: []IndexPack{{ID: ID{2}, Size: 10, Blobs: []packEntry{{Type: TreeBlob, Flags: flagZstd, Length: 3, RawLen: 9}}}}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := parseIndexFile(b)
		if err != nil {
			return
		}
		y, err := parseIndexFile(x.encode())
		if err != nil {
			t.Fatalf("re-encoded index does not parse: %v", err)
		}
		if diff := cmp.Diff(x, y, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseTree(f *testing.F) {
	for _, b := range fuzzCorpus(f).trees {
		f.Add(b)
	}
	f.Add([]byte(`{"nodes":[]}`))
	f.Add([]byte(`{"nodes":[{"name":"a","type":"dir","subtree":"` + strings.Repeat("00", 32) + `"}]}`))
	f.Add([]byte(`{"nodes":[{"name":"x","raw_name":"/w==","type":"file"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := parseTree(b)
		if err != nil {
			return
		}
		for i := 1; i < len(tr.Nodes); i++ {
			if tr.Nodes[i-1].FileName() >= tr.Nodes[i].FileName() {
				t.Fatalf("nodes %d and %d out of order: %q, %q", i-1, i, tr.Nodes[i-1].FileName(), tr.Nodes[i].FileName())
			}
		}
		for _, n := range tr.Nodes {
			if tr.Find(n.FileName()) != n {
				t.Fatalf("Find(%q) does not return its node", n.FileName())
			}
		}
		enc, err := encodeTree(tr)
		if err != nil {
			t.Fatalf("a parsed tree does not encode: %v", err)
		}
		tr2, err := parseTree(enc)
		if err != nil {
			t.Fatalf("re-encoded tree does not parse: %v", err)
		}
		if diff := cmp.Diff(tr, tr2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseSnapshot(f *testing.F) {
	for _, b := range fuzzCorpus(f).snapshots {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSnapshot(b)
		if err != nil {
			return
		}
		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("a parsed snapshot does not encode: %v", err)
		}
		s2, err := parseSnapshot(enc)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not parse: %v", err)
		}
		if diff := cmp.Diff(s, s2, cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(Snapshot{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, b := range fuzzCorpus(f).configs {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(b)
		if err != nil {
			return
		}
		// A config that parses is usable: its hash key makes a hasher.
		newHasher(c.HashKey).Sum([]byte("x"))
		enc, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("a parsed config does not encode: %v", err)
		}
		c2, err := parseConfig(enc)
		if err != nil {
			t.Fatalf("re-encoded config does not parse: %v", err)
		}
		if diff := cmp.Diff(c, c2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	for _, b := range fuzzCorpus(f).keyFiles {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKeyFile(b)
		if err != nil {
			return
		}
		mk, err := ParseMasterKey(k.Identity)
		if err != nil {
			t.Fatalf("a parsed key file holds an identity that does not parse: %v", err)
		}
		if mk.Recipient() == "" {
			t.Fatalf("identity %q has no recipient", k.Identity)
		}
		enc, err := json.Marshal(k)
		if err != nil {
			t.Fatalf("a parsed key file does not encode: %v", err)
		}
		k2, err := parseKeyFile(enc)
		if err != nil {
			t.Fatalf("re-encoded key file does not parse: %v", err)
		}
		if diff := cmp.Diff(k, k2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
