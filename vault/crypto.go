package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// MasterKey is the repository identity: every pack, index, tree, snapshot,
// lock and the config are age files encrypted to its recipient. Anyone who
// holds it can decrypt any repository file with the stock age tool.
type MasterKey struct {
	identity  age.Identity
	recipient age.Recipient
	secret    string // AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…
}

// NewMasterKey makes a fresh identity; postQuantum selects the hybrid
// ML-KEM-768 + X25519 recipient type (age1pq…).
func NewMasterKey(postQuantum bool) (*MasterKey, error) {
	if postQuantum {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return nil, err
		}
		return &MasterKey{identity: id, recipient: id.Recipient(), secret: id.String()}, nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	return &MasterKey{identity: id, recipient: id.Recipient(), secret: id.String()}, nil
}

// ParseMasterKey parses an age identity string.
func ParseMasterKey(s string) (*MasterKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "AGE-SECRET-KEY-PQ-1"):
		id, err := age.ParseHybridIdentity(s)
		if err != nil {
			return nil, err
		}
		return &MasterKey{identity: id, recipient: id.Recipient(), secret: s}, nil
	case strings.HasPrefix(s, "AGE-SECRET-KEY-1"):
		id, err := age.ParseX25519Identity(s)
		if err != nil {
			return nil, err
		}
		return &MasterKey{identity: id, recipient: id.Recipient(), secret: s}, nil
	}
	return nil, errors.New("not an age identity (want AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)")
}

// Identity returns the secret identity string; it must only ever be shown
// to the owner on request (key export-identity).
func (k *MasterKey) Identity() string { return k.secret }

// Recipient returns the public recipient string (age1… or age1pq…).
func (k *MasterKey) Recipient() string {
	if s, ok := k.recipient.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}

// PostQuantum reports whether the key is a hybrid post-quantum identity.
func (k *MasterKey) PostQuantum() bool { return strings.HasPrefix(k.secret, "AGE-SECRET-KEY-PQ-1") }

// seal encrypts plaintext as one age file to the given recipients.
func seal(plaintext []byte, recipients ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(plaintext) + 512 + len(plaintext)/4096)
	w, err := age.Encrypt(&buf, recipients...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unseal decrypts a whole age file held in memory.
func unseal(ciphertext []byte, identities ...age.Identity) ([]byte, error) {
	ra, size, err := age.DecryptReaderAt(bytes.NewReader(ciphertext), int64(len(ciphertext)), identities...)
	if err != nil {
		return nil, err
	}
	out := make([]byte, size)
	n, err := ra.ReadAt(out, 0)
	if err == io.EOF && int64(n) == size {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
