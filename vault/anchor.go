package vault

import (
	"bytes"
	"context"
	"fmt"

	"github.com/shoebox/shoebox/store"
)

// anchorsPrefix holds anchors: small named records that the box keeps in
// the repository, away from its state directory, so that a change to the
// state directory can be checked against them (the gateway's audit-log
// head is one). They are not backup data: check, forget and prune leave
// them alone.
const anchorsPrefix = "anchors/"

// ValidAnchorName reports whether name is an anchor's name: 1 to 64 of
// lowercase letters, digits and "-" (the offsite ledger checks names with it).
func ValidAnchorName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// PutAnchor stores plaintext as the anchor name, encrypted to the
// repository identity, replacing the previous one atomically. Anchors are
// small (they are read whole into memory).
func (r *Repository) PutAnchor(ctx context.Context, name string, plaintext []byte) error {
	if !ValidAnchorName(name) {
		return fmt.Errorf("anchor %q: the name must be 1 to 64 of a-z, 0-9 and -", name)
	}
	sealed, err := seal(plaintext, r.key.recipient)
	if err != nil {
		return err
	}
	if err := r.store.Put(ctx, anchorsPrefix+name, bytes.NewReader(sealed)); err != nil {
		return fmt.Errorf("store anchor %s: %w", name, err)
	}
	return nil
}

// Anchor returns the plaintext of the anchor name. The error wraps
// store.ErrNotFound when there is none, ErrCorrupt when it does not
// decrypt with the repository identity.
func (r *Repository) Anchor(ctx context.Context, name string) ([]byte, error) {
	if !ValidAnchorName(name) {
		return nil, fmt.Errorf("anchor %q: %w", name, store.ErrNotFound)
	}
	b, err := store.ReadAll(ctx, r.store, anchorsPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("anchor %s: %w", name, err)
	}
	plain, err := unseal(b, r.key.identity)
	if err != nil {
		return nil, fmt.Errorf("anchor %s: %w: %v", name, ErrCorrupt, err)
	}
	return plain, nil
}
