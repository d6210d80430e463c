package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// ageVersion is the stock age CLI the repository format promises
// compatibility with.
const ageVersion = "v1.3.2"

// ageBinary returns the age CLI at ageVersion: from GOPATH/bin, from the
// user cache, or installed into the user cache with `go install`. It
// skips the test when it cannot be installed (offline).
func ageBinary(t *testing.T) string {
	t.Helper()
	var candidates []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		if gp := strings.TrimSpace(string(out)); gp != "" {
			candidates = append(candidates, filepath.Join(filepath.SplitList(gp)[0], "bin", "age"))
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	gobin := filepath.Join(cache, "shoebox-e2e", "age-"+ageVersion)
	candidates = append(candidates, filepath.Join(gobin, "age"))
	for _, c := range candidates {
		if out, err := exec.Command(c, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == ageVersion {
			return c
		}
	}
	install := exec.Command("go", "install", "filippo.io/age/cmd/age@"+ageVersion)
	install.Dir = t.TempDir()
	install.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS="+stripRace(os.Getenv("GOFLAGS")))
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("cannot install the age CLI %s (offline?): %v\n%s", ageVersion, err, out)
	}
	return filepath.Join(gobin, "age")
}

// TestAgeDecryptsRepositoryFiles decrypts every kind of repository file
// with the stock age CLI and the identity from `key export-identity`, for
// a classic and a post-quantum repository.
func TestAgeDecryptsRepositoryFiles(t *testing.T) {
	ageCLI := ageBinary(t)
	tests := []struct {
		name           string
		flags          []string
		identityPrefix string
		recipient      string
	}{
		{"X25519", nil, "AGE-SECRET-KEY-1", "age1"},
		{"post-quantum", []string{"--post-quantum"}, "AGE-SECRET-KEY-PQ-1", "age1pq1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, tt.flags...)
			if !strings.HasPrefix(r.recovery, tt.identityPrefix) {
				t.Fatalf("recovery identity %.20s…, want prefix %s", r.recovery, tt.identityPrefix)
			}
			src := smallTree(t, 20)
			snap := r.backup(src)
			r.ok("lock", snap[:8], "--until", "1d")
			exported := r.ok("key", "export-identity").stdout
			idFile := writeTemp(t, exported)
			var ident struct{ Identity, Recipient string }
			r.runJSON(&ident, "key", "export-identity")
			if !strings.HasPrefix(ident.Identity, tt.identityPrefix) || !strings.HasPrefix(ident.Recipient, tt.recipient) {
				t.Fatalf("export-identity: got %.24s… / %.24s…, want %s… / %s…", ident.Identity, ident.Recipient, tt.identityPrefix, tt.recipient)
			}

			decrypt := func(t *testing.T, idFile, name string) []byte {
				t.Helper()
				c := exec.Command(ageCLI, "-d", "-i", idFile, filepath.Join(r.dir, filepath.FromSlash(name)))
				var stdout, stderr bytes.Buffer
				c.Stdout, c.Stderr = &stdout, &stderr
				if err := c.Run(); err != nil {
					t.Fatalf("age -d -i id.txt %s: %v\n%s", name, err, stderr.String())
				}
				return stdout.Bytes()
			}

			t.Run("packs", func(t *testing.T) {
				packs := r.files("data")
				if len(packs) == 0 {
					t.Fatal("no packs")
				}
				for _, name := range packs {
					file, err := os.ReadFile(filepath.Join(r.dir, name))
					if err != nil {
						t.Fatal(err)
					}
					if sum := sha256.Sum256(file); hex.EncodeToString(sum[:]) != path.Base(name) {
						t.Errorf("%s: name is not the SHA-256 of the file", name)
					}
					checkPackPlaintext(t, name, decrypt(t, idFile, name))
				}
			})
			t.Run("config", func(t *testing.T) {
				var cfg struct {
					ID        string `json:"id"`
					Recipient string `json:"recipient"`
					PackSize  int    `json:"pack_size"`
				}
				mustJSON(t, decrypt(t, idFile, "config"), &cfg)
				if cfg.ID != r.id || cfg.Recipient != ident.Recipient || cfg.PackSize == 0 {
					t.Fatalf("config: got %+v, want id %s, recipient %.24s…", cfg, r.id, ident.Recipient)
				}
			})
			t.Run("snapshot", func(t *testing.T) {
				var s struct {
					Tree  string   `json:"tree"`
					Paths []string `json:"paths"`
				}
				mustJSON(t, decrypt(t, idFile, "snapshots/"+snap), &s)
				if len(s.Tree) != 64 || len(s.Paths) != 1 || s.Paths[0] != src {
					t.Fatalf("snapshot: got %+v", s)
				}
			})
			t.Run("index", func(t *testing.T) {
				indexes := r.files("index")
				if len(indexes) == 0 {
					t.Fatal("no index file")
				}
				for _, name := range indexes {
					dec, err := zstd.NewReader(nil)
					if err != nil {
						t.Fatal(err)
					}
					plain, err := dec.DecodeAll(decrypt(t, idFile, name), nil)
					dec.Close()
					if err != nil {
						t.Fatalf("%s: plaintext is not a zstd frame: %v", name, err)
					}
					if !bytes.HasPrefix(plain, []byte("SBIX\x01")) {
						t.Fatalf("%s: plaintext starts %q, want SBIX version 1", name, plain[:min(8, len(plain))])
					}
				}
			})
			t.Run("hold", func(t *testing.T) {
				holds := r.files("holds")
				if len(holds) != 1 {
					t.Fatalf("got holds %v, want one", holds)
				}
				var h struct {
					Snapshot string `json:"snapshot"`
					Until    string `json:"until"`
				}
				mustJSON(t, decrypt(t, idFile, holds[0]), &h)
				if h.Until == "" {
					t.Fatalf("hold: got %+v", h)
				}
			})
			t.Run("recovery key file", func(t *testing.T) {
				// The recovery identity printed at init opens its key file,
				// which holds the repository identity: recovery needs only
				// age and the paper copy.
				var keys []struct {
					ID   string `json:"id"`
					Kind string `json:"kind"`
				}
				r.runJSON(&keys, "key", "list")
				for _, k := range keys {
					if k.Kind != "recovery" {
						continue
					}
					var kf struct {
						Kind     string `json:"kind"`
						Identity string `json:"identity"`
					}
					mustJSON(t, decrypt(t, writeTemp(t, r.recovery+"\n"), "keys/"+k.ID), &kf)
					if kf.Identity != ident.Identity {
						t.Fatalf("recovery key file holds another identity (kind %q)", kf.Kind)
					}
					return
				}
				t.Fatal("no recovery key")
			})
		})
	}
}

// checkPackPlaintext checks the layout of a decrypted pack (see
// vault/pack.go): blobs, then the header "SBPK" ‖ version ‖ count ‖
// entries, then the header's length as uint32le.
func checkPackPlaintext(t *testing.T, name string, plain []byte) {
	t.Helper()
	const entrySize, headHead = 1 + 1 + 32 + 4 + 4, 4 + 1 + 4
	n := len(plain)
	if n < 4+headHead {
		t.Fatalf("%s: plaintext of %d bytes is too short", name, n)
	}
	hl := int(binary.LittleEndian.Uint32(plain[n-4:]))
	if hl < headHead || hl > n-4 {
		t.Fatalf("%s: header length %d out of range", name, hl)
	}
	h := plain[n-4-hl : n-4]
	if string(h[:4]) != "SBPK" || h[4] != 1 {
		t.Fatalf("%s: header starts %q, want SBPK version 1", name, h[:5])
	}
	count := int(binary.LittleEndian.Uint32(h[5:9]))
	if hl != headHead+count*entrySize {
		t.Fatalf("%s: %d entries do not fit a %d-byte header", name, count, hl)
	}
	var stored int
	for i := 0; i < count; i++ {
		e := h[headHead+i*entrySize:]
		stored += int(binary.LittleEndian.Uint32(e[34:38]))
	}
	if stored != n-4-hl {
		t.Fatalf("%s: blobs cover %d bytes, the data is %d", name, stored, n-4-hl)
	}
}
