package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// Anchor is a copy of the chain's head taken at a time and kept away from
// the log (see "Anchors" in the package documentation): the log must
// reach Seq, with Hash there.
type Anchor struct {
	Seq  uint64
	Hash string
	Time time.Time
}

// anchorFile is an anchor as stored: the fields and their HMAC with the
// chain key, so that nobody without the key can make or raise one.
type anchorFile struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	Time string `json:"time"`
	MAC  string `json:"mac"`
}

func anchorMAC(key []byte, seq uint64, hash, t string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("shoebox-audit-anchor-v1\n"))
	netstring(h, strconv.FormatUint(seq, 10))
	netstring(h, hash)
	netstring(h, t)
	return hex.EncodeToString(h.Sum(nil))
}

// EncodeAnchor returns a's stored form, authenticated with the chain key.
func EncodeAnchor(key []byte, a Anchor) []byte {
	t := formatTime(a.Time)
	b, _ := json.Marshal(anchorFile{a.Seq, a.Hash, t, anchorMAC(key, a.Seq, a.Hash, t)})
	return append(b, '\n')
}

// ParseAnchor reads an anchor's stored form and checks it against the
// chain key. An anchor that does not check out is itself tampering: the
// error wraps ErrTampered.
func ParseAnchor(key []byte, b []byte) (Anchor, error) {
	var f anchorFile
	if err := json.Unmarshal(bytes.TrimSpace(b), &f); err != nil || !validHash(f.Hash) {
		return Anchor{}, fmt.Errorf("the anchor is damaged (not an anchor as the box writes it): %w", ErrTampered)
	}
	t, err := time.Parse(time.RFC3339Nano, f.Time)
	if err != nil || !hmac.Equal([]byte(f.MAC), []byte(anchorMAC(key, f.Seq, f.Hash, f.Time))) {
		return Anchor{}, fmt.Errorf("the anchor naming entry %d does not carry the box's key: it was forged or edited: %w", f.Seq, ErrTampered)
	}
	return Anchor{Seq: f.Seq, Hash: f.Hash, Time: t.UTC()}, nil
}

// AnchorPath is where the state directory keeps its copy of the anchor of
// the log in dir: beside the directory, so that removing or moving the
// directory leaves it behind ("audit" → "audit.anchor").
func AnchorPath(dir string) string { return dir + ".anchor" }

// ReadAnchorFile reads the anchor at path; nil (and no error) when there
// is none.
func ReadAnchorFile(path string, key []byte) (*Anchor, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit anchor: %w", err)
	}
	a, err := ParseAnchor(key, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &a, nil
}

// Latest returns the anchor with the highest seq of as (nils skipped),
// or nil.
func Latest(as ...*Anchor) *Anchor {
	var best *Anchor
	for _, a := range as {
		if a != nil && (best == nil || a.Seq > best.Seq) {
			best = a
		}
	}
	return best
}
