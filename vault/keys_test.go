package vault

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/store"
)

func initRepo(t *testing.T, opt InitOptions) (*Repository, *store.Dir, string) {
	t.Helper()
	st, err := store.OpenDir(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	if opt.Passphrase == "" {
		opt.Passphrase = testPassphrase
	}
	opt.ScryptLogN = 10
	r, recovery, err := Init(context.Background(), st, opt)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, st, recovery
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, st, _ := initRepo(t, InitOptions{})
	empty, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewMasterKey(false)
	tests := []struct {
		name string
		open func() (*Repository, error)
		want error
	}{
		{"wrong passphrase", func() (*Repository, error) { return Open(ctx, st, "wrong") }, ErrWrongPassphrase},
		{"passphrase with a space more", func() (*Repository, error) { return Open(ctx, st, testPassphrase+" ") }, ErrWrongPassphrase},
		{"not a repository", func() (*Repository, error) { return Open(ctx, empty, testPassphrase) }, ErrNotRepository},
		{"identity of another repository", func() (*Repository, error) { return OpenWithIdentity(ctx, st, other.Identity()) }, ErrWrongPassphrase},
		{"identity on an empty store", func() (*Repository, error) { return OpenWithIdentity(ctx, empty, other.Identity()) }, ErrNotRepository},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.open()
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if r != nil {
				t.Errorf("got a repository with the error, want nil")
			}
		})
	}
	t.Run("empty passphrase", func(t *testing.T) {
		if _, err := Open(ctx, st, ""); err == nil {
			t.Error("got nil error, want one")
		}
	})
	t.Run("not an identity", func(t *testing.T) {
		if _, err := OpenWithIdentity(ctx, st, "AGE-SECRET-KEY-1NOTAKEY"); err == nil {
			t.Error("got nil error, want one")
		}
	})
}

func TestInitTwice(t *testing.T) {
	_, st, _ := initRepo(t, InitOptions{})
	_, _, err := Init(context.Background(), st, InitOptions{Passphrase: "other", ScryptLogN: 10})
	if !errors.Is(err, ErrExists) {
		t.Errorf("got %v, want ErrExists", err)
	}
	// The first repository still opens.
	reopen(t, st)
}

func TestInitOptions(t *testing.T) {
	st, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := Init(ctx, st, InitOptions{ScryptLogN: 10}); err == nil {
		t.Error("Init with an empty passphrase: got nil error, want one")
	}
	for _, size := range []int{1, 1<<20 - 1, 1<<30 + 1} {
		if _, _, err := Init(ctx, st, InitOptions{Passphrase: "x", ScryptLogN: 10, PackSize: size}); err == nil {
			t.Errorf("Init with pack size %d: got nil error, want one", size)
		}
	}
	if _, err := Open(ctx, st, "x"); !errors.Is(err, ErrNotRepository) {
		t.Errorf("after failed inits: got %v, want ErrNotRepository", err)
	}
}

func TestOpenWithIdentity(t *testing.T) {
	for _, pq := range []bool{false, true} {
		name := "x25519"
		if pq {
			name = "post-quantum"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r, st, recovery := initRepo(t, InitOptions{PostQuantum: pq})
			wantPrefix := "age1"
			if pq {
				wantPrefix = "age1pq1"
			}
			if got := r.Config().Recipient; !strings.HasPrefix(got, wantPrefix) {
				t.Errorf("got recipient %.12s…, want prefix %s", got, wantPrefix)
			}
			if got := r.MasterKey().PostQuantum(); got != pq {
				t.Errorf("got PostQuantum %v, want %v", got, pq)
			}
			src := filepath.Join(t.TempDir(), "src")
			writeFile(t, filepath.Join(src, "a.txt"), []byte("secret photo notes"), testEpoch)
			writeFile(t, filepath.Join(src, "b.bin"), randBytes(1, 2<<20), testEpoch)
			snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})

			for _, tc := range []struct {
				name     string
				identity string
			}{
				{"recovery", recovery},
				{"master", r.MasterKey().Identity()},
				{"master with whitespace", "  " + r.MasterKey().Identity() + "\n"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r2, err := OpenWithIdentity(ctx, st, tc.identity)
					if err != nil {
						t.Fatalf("OpenWithIdentity: %v", err)
					}
					defer r2.Close()
					if got, want := r2.Config().ID, r.Config().ID; got != want {
						t.Errorf("got repository %s, want %s", got, want)
					}
					target := t.TempDir()
					mustRestore(t, r2, snap, RestoreOptions{Target: target})
					compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: true})
				})
			}
			res, err := reopen(t, st).Check(ctx, CheckOptions{ReadData: true})
			if err != nil || !res.OK() {
				t.Errorf("Check: %v, %v", err, res.Errors)
			}
		})
	}
}

// keyIDs returns the key IDs by kind and the current key.
func keyIDs(t *testing.T, r *Repository) (pass, recovery []string, current string) {
	t.Helper()
	keys, err := r.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Kind == KeyPassphrase {
			pass = append(pass, k.ID)
		} else {
			recovery = append(recovery, k.ID)
		}
		if k.Current {
			current = k.ID
		}
	}
	return pass, recovery, current
}

func TestKeyManagement(t *testing.T) {
	ctx := context.Background()
	r, st, recovery := initRepo(t, InitOptions{})
	pass, rec, current := keyIDs(t, r)
	if len(pass) != 1 || len(rec) != 1 || current != pass[0] {
		t.Fatalf("after init: got passphrase keys %v, recovery keys %v, current %q; want one of each, the passphrase current", pass, rec, current)
	}

	t.Run("add passphrase", func(t *testing.T) {
		id, err := r.AddPassphrase(ctx, "second passphrase", "laptop", 10)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Open(ctx, st, "second passphrase")
		if err != nil {
			t.Fatalf("Open with the added passphrase: %v", err)
		}
		defer r2.Close()
		if _, _, cur := keyIDs(t, r2); cur != id {
			t.Errorf("got current key %s, want %s", cur, id)
		}
		if _, err := r.AddPassphrase(ctx, "", "", 10); err == nil {
			t.Error("AddPassphrase(\"\"): got nil error, want one")
		}
		// Both still open.
		reopen(t, st)
	})

	t.Run("remove the key in use", func(t *testing.T) {
		_, _, cur := keyIDs(t, r)
		if err := r.RemoveKey(ctx, cur); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Errorf("got %v, want refusal to remove the key in use", err)
		}
	})

	t.Run("remove unknown and ambiguous", func(t *testing.T) {
		if err := r.RemoveKey(ctx, "zzzz"); err == nil {
			t.Error("RemoveKey(unknown): got nil error, want one")
		}
		if err := r.RemoveKey(ctx, ""); err == nil || !strings.Contains(err.Error(), "matches") {
			t.Errorf("RemoveKey(\"\"): got %v, want an ambiguity error", err)
		}
	})

	t.Run("remove the other passphrase", func(t *testing.T) {
		r2, err := Open(ctx, st, "second passphrase")
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		pass, _, cur := keyIDs(t, r2)
		var other string
		for _, id := range pass {
			if id != cur {
				other = id
			}
		}
		if err := r2.RemoveKey(ctx, other[:8]); err != nil {
			t.Fatalf("RemoveKey: %v", err)
		}
		if _, err := Open(ctx, st, testPassphrase); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("Open with the removed passphrase: got %v, want ErrWrongPassphrase", err)
		}
		// Open with the recovery identity: the only passphrase key left
		// cannot be removed.
		rr, err := OpenWithIdentity(ctx, st, recovery)
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Close()
		if err := rr.RemoveKey(ctx, cur); err == nil || !strings.Contains(err.Error(), "only passphrase") {
			t.Errorf("got %v, want refusal to remove the only passphrase key", err)
		}
	})

	t.Run("change passphrase", func(t *testing.T) {
		r2, err := Open(ctx, st, "second passphrase")
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		before, _, _ := keyIDs(t, r2)
		id, err := r2.ChangePassphrase(ctx, "third passphrase", 10)
		if err != nil {
			t.Fatal(err)
		}
		pass, _, cur := keyIDs(t, r2)
		if len(pass) != len(before) || cur != id {
			t.Errorf("got passphrase keys %v (current %s), want %d keys with %s current", pass, cur, len(before), id)
		}
		if _, err := Open(ctx, st, "second passphrase"); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("old passphrase: got %v, want ErrWrongPassphrase", err)
		}
		r3, err := Open(ctx, st, "third passphrase")
		if err != nil {
			t.Fatalf("new passphrase: %v", err)
		}
		r3.Close()
	})

	t.Run("change passphrase after opening with the recovery identity", func(t *testing.T) {
		rr, err := OpenWithIdentity(ctx, st, recovery)
		if err != nil {
			t.Fatal(err)
		}
		defer rr.Close()
		if _, err := rr.ChangePassphrase(ctx, "fourth passphrase", 10); err != nil {
			t.Fatal(err)
		}
		// The recovery identity is on paper: it must keep working.
		r4, err := OpenWithIdentity(ctx, st, recovery)
		if err != nil {
			t.Fatalf("recovery identity after ChangePassphrase: %v", err)
		}
		r4.Close()
		if _, rec, _ := keyIDs(t, rr); len(rec) != 1 {
			t.Errorf("got %d recovery keys, want 1", len(rec))
		}
		r5, err := Open(ctx, st, "fourth passphrase")
		if err != nil {
			t.Fatalf("new passphrase: %v", err)
		}
		r5.Close()
	})

	t.Run("add recovery", func(t *testing.T) {
		_, identity, err := r.AddRecovery(ctx, "second paper copy")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := OpenWithIdentity(ctx, st, identity)
		if err != nil {
			t.Fatalf("OpenWithIdentity(new recovery): %v", err)
		}
		r2.Close()
	})
}

func TestConfigValidate(t *testing.T) {
	r, _ := newTestRepo(t, 0)
	good := r.Config()
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"version", func(c *Config) { c.Version = 2 }},
		{"hash key", func(c *Config) { c.HashKey = c.HashKey[:16] }},
		{"reducible polynomial", func(c *Config) { c.ChunkerPolynomial = 0x3DA3358B4DC172 }},
		{"zero polynomial", func(c *Config) { c.ChunkerPolynomial = 0 }},
		{"polynomial of the wrong degree", func(c *Config) { c.ChunkerPolynomial = 2 }},
		{"small pack", func(c *Config) { c.PackSize = 1000 }},
		{"huge pack", func(c *Config) { c.PackSize = 2 << 30 }},
		{"no ID", func(c *Config) { c.ID = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			if err := c.validate(); err == nil {
				t.Errorf("got nil error, want one")
			}
		})
	}
	if err := good.validate(); err != nil {
		t.Errorf("valid config: got %v, want nil", err)
	}
}
