package gateway

import (
	"bytes"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/password"
)

// TestShippedKDFCost checks that the binary's password hashing costs
// what docs/GATEWAY.md says (argon2id, 46 MiB, 1 pass, 1 lane): tests
// pass cheap Options.Params, the binary passes none (cmd/shoeboxd), and
// a gateway given none hashes at password.Default.
func TestShippedKDFCost(t *testing.T) {
	t.Parallel()
	if want := (password.Params{Memory: 46 * 1024, Time: 1, Threads: 1}); password.Default != want {
		t.Fatalf("password.Default = %+v, want %+v (docs/GATEWAY.md)", password.Default, want)
	}
	g, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	// The first owner's hash, made at start, carries its parameters.
	want := []byte("$argon2id$v=19$m=47104,t=1,p=1$")
	found := false
	err = g.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(_, v []byte) error {
				if bytes.Contains(v, []byte("$argon2id$")) {
					found = true
					if !bytes.Contains(v, want) {
						t.Errorf("a stored hash was made with other parameters: got %q, want %q", v, want)
					}
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("no argon2id hash in the gateway database after first start")
	}
}
