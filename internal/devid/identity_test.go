package devid

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	first, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != Of(first.Certificate.Leaf) || first.ID == (ID{}) {
		t.Errorf("ID %v is not the certificate's %v", first.ID, Of(first.Certificate.Leaf))
	}
	if !first.Key.Public().(ed25519.PublicKey).Equal(first.Certificate.Leaf.PublicKey) {
		t.Error("the certificate is not for the key")
	}
	for name, want := range map[string]os.FileMode{".": 0o700, KeyFile: 0o600, CertFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", name, fi.Mode().Perm(), err, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d entries in the state directory, want key.pem and cert.pem only", len(ents))
	}

	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !again.Key.Equal(first.Key) || !again.Certificate.Leaf.Equal(first.Certificate.Leaf) {
		t.Errorf("reloaded: ID %v, want %v (and the same key and certificate)", again.ID, first.ID)
	}

	// A lost certificate is made again from the key: same device ID.
	if err := os.Remove(filepath.Join(dir, CertFile)); err != nil {
		t.Fatal(err)
	}
	remade, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if remade.ID != first.ID || remade.Certificate.Leaf.Equal(first.Certificate.Leaf) {
		t.Errorf("remade certificate: ID %v, want %v, in a new certificate", remade.ID, first.ID)
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile)); err != nil {
		t.Errorf("the remade certificate was not written: %v", err)
	}
}

// TestLoadRefuses: a damaged or missing file is an error that names it
// and says what to do, and leaves the directory as it was.
func TestLoadRefuses(t *testing.T) {
	good := t.TempDir()
	if _, err := LoadOrCreate(good); err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(good, KeyFile))
	certPEM, _ := os.ReadFile(filepath.Join(good, CertFile))
	other := t.TempDir()
	if _, err := LoadOrCreate(other); err != nil {
		t.Fatal(err)
	}
	otherCert, _ := os.ReadFile(filepath.Join(other, CertFile))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})

	for _, tc := range []struct {
		name       string
		key, cert  []byte // nil: no such file
		want       error
		file, says string
	}{
		{"key missing", nil, certPEM, fs.ErrNotExist, KeyFile, "restore key.pem from a backup"},
		{"key not PEM", []byte("garbage"), certPEM, ErrDamaged, KeyFile, "restore it from a backup"},
		{"key truncated", keyPEM[:len(keyPEM)/2], certPEM, ErrDamaged, KeyFile, "remove"},
		{"key empty", []byte{}, certPEM, ErrDamaged, KeyFile, "restore it from a backup"},
		{"key not Ed25519", ecPEM, certPEM, ErrDamaged, KeyFile, "not an Ed25519 key"},
		{"key with the certificate's block", certPEM, certPEM, ErrDamaged, KeyFile, "PRIVATE KEY"},
		{"certificate not PEM", keyPEM, []byte("garbage"), ErrDamaged, CertFile, "made again from key.pem"},
		{"certificate truncated", keyPEM, certPEM[:len(certPEM)-40], ErrDamaged, CertFile, "same device ID"},
		{"certificate of another unit", keyPEM, otherCert, ErrDamaged, CertFile, "not for the key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string][]byte{}
			for name, b := range map[string][]byte{KeyFile: tc.key, CertFile: tc.cert} {
				if b != nil {
					files[name] = b
					if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			id, err := LoadOrCreate(dir)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, %v; want %v naming %s and saying %q", id, err, tc.want, tc.file, tc.says)
			}
			after := map[string][]byte{}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				after[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
			}
			if diff := cmp.Diff(files, after); diff != "" {
				t.Errorf("the directory changed (-before +after):\n%s", diff)
			}
		})
	}
}
