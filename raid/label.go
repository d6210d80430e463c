package raid

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files at the root of every member disk.
const (
	labelFile    = "shoebox-disk.json"
	manifestFile = "shoebox-array.json"
	// memberDir holds the member's shards (a store.Dir).
	memberDir = "shoebox"
)

// DiskState is a member's state, in the manifest and in Status: one of
// the constants below, written as its string in JSON.
type DiskState string

// Member states in the manifest.
const (
	StateActive   DiskState = "active"   // holds shards and takes new ones
	StateDraining DiskState = "draining" // holds shards, takes none, being emptied
	StateFailed   DiskState = "failed"   // gone or replaced; its shards are rebuilt elsewhere
)

// String returns the state as the manifest and the API write it.
func (s DiskState) String() string { return string(s) }

// ArrayState is the array's state in Status: one of the constants below,
// written as its string in JSON and in the API.
type ArrayState string

// Array states.
const (
	// ArrayHealthy: every disk present, every object at the layout's
	// redundancy.
	ArrayHealthy ArrayState = "healthy"
	// ArrayDegraded: a disk is missing, or objects are short of shards.
	ArrayDegraded ArrayState = "degraded"
)

// String returns the state as Status and the API write it.
func (s ArrayState) String() string { return string(s) }

// Label identifies one member disk. It is written once, when the disk
// joins; the manifest records the SHA-256 of its bytes, so a label that
// the winning manifest does not list (a stray disk from another array, an
// old member that was replaced) is refused.
type Label struct {
	Version    int       `json:"version"`
	ArrayID    string    `json:"array_id"`
	DiskID     string    `json:"disk_id"`
	Created    time.Time `json:"created"`
	Layout     Layout    `json:"layout"`
	Serial     string    `json:"serial,omitempty"`
	WWN        string    `json:"wwn,omitempty"`
	Model      string    `json:"model,omitempty"`
	MountPoint bool      `json:"mount_point"` // the member was a mount point when it joined
}

// MemberInfo is a member as the manifest records it.
type MemberInfo struct {
	DiskID    string    `json:"disk_id"`
	State     DiskState `json:"state"`
	LabelHash string    `json:"label_sha256"`
	Serial    string    `json:"serial,omitempty"`
	Path      string    `json:"last_path,omitempty"` // where it was last seen (informational)
	Added     time.Time `json:"added"`
}

// Manifest is the array's membership. Every member keeps a copy; the
// valid copy with the highest generation wins.
type Manifest struct {
	Version    int       `json:"version"`
	ArrayID    string    `json:"array_id"`
	Generation uint64    `json:"generation"`
	Layout     Layout    `json:"layout"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	// SameDrive allows members on one physical drive to hold shards of the
	// same object: for demos and tests only (no protection against the
	// loss of that drive).
	SameDrive bool         `json:"same_drive,omitempty"`
	Members   []MemberInfo `json:"members"`
}

// member returns the manifest entry of a disk.
func (m *Manifest) member(diskID string) *MemberInfo {
	for i := range m.Members {
		if m.Members[i].DiskID == diskID {
			return &m.Members[i]
		}
	}
	return nil
}

// manifestEnvelope carries a checksum so a damaged copy is not valid.
type manifestEnvelope struct {
	Manifest json.RawMessage `json:"manifest"`
	SHA256   string          `json:"sha256"`
}

func encodeManifest(m *Manifest) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return json.MarshalIndent(manifestEnvelope{Manifest: b, SHA256: hex.EncodeToString(sum[:])}, "", "  ")
}

func parseManifest(b []byte) (*Manifest, error) {
	var env manifestEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	// The checksum covers the compact JSON (the file itself is indented
	// for people to read).
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Manifest); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	sum := sha256.Sum256(compact.Bytes())
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, errors.New("manifest: checksum mismatch (damaged)")
	}
	var m Manifest
	if err := json.Unmarshal(env.Manifest, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Version != 1 || len(m.ArrayID) < 8 || m.Generation == 0 {
		return nil, errors.New("manifest: bad version, array ID or generation")
	}
	for _, mi := range m.Members {
		if len(mi.DiskID) < 8 {
			return nil, errors.New("manifest: bad disk ID")
		}
	}
	return &m, nil
}

func parseLabel(b []byte) (*Label, error) {
	var l Label
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("label: %w", err)
	}
	if l.Version != 1 || len(l.ArrayID) < 8 || len(l.DiskID) < 8 {
		return nil, errors.New("label: bad version or IDs")
	}
	return &l, nil
}

func labelHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readLabel reads the label and manifest of a member path. A path with
// no label returns an error wrapping os.ErrNotExist.
func readLabel(path string) (*Label, []byte, *Manifest, error) {
	lb, err := os.ReadFile(filepath.Join(path, labelFile))
	if err != nil {
		return nil, nil, nil, err
	}
	l, err := parseLabel(lb)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var m *Manifest
	if mb, err := os.ReadFile(filepath.Join(path, manifestFile)); err == nil {
		if pm, err := parseManifest(mb); err == nil && pm.ArrayID == l.ArrayID {
			m = pm
		}
	}
	return l, lb, m, nil
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
