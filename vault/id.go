package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// ID names a blob (keyed hash of its plaintext) or a repository file
// (SHA-256 of its stored bytes).
type ID [32]byte

// String returns the full lowercase hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, as shown to people.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsNull reports whether the ID is all zero.
func (id ID) IsNull() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseID parses a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("invalid ID %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid ID %q: %w", s, err)
	}
	return id, nil
}

// FileID is the name of a repository file: the SHA-256 of its bytes, so
// that anyone, with or without the key, can verify a stored file.
func FileID(b []byte) ID { return sha256.Sum256(b) }
