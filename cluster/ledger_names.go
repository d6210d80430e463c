package cluster

import (
	"strings"

	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// objectKind is what the ledger's rules make of a repository object name
// (docs/FORMAT.md, "Overview").
type objectKind int

const (
	// kindConfig: the repository config, written once, never deleted.
	kindConfig objectKind = iota + 1
	// kindKey: keys/<id>, named by its hash; the last one is never deleted.
	kindKey
	// kindHashed: data/<id[0:2]>/<id>, index/<id>, snapshots/<id>,
	// holds/<id>, each named by the SHA-256 of its bytes.
	kindHashed
	// kindAnchor: anchors/<name>, replaced in place.
	kindAnchor
)

// classify returns the kind of a repository object and, for objects named
// by their hash, the hash their bytes must have. Names that are no
// repository object's (locks/ among them) are a refusal's reason.
func classify(name string) (kind objectKind, id string, err error) {
	if err := store.CheckName(name); err != nil {
		return 0, "", err
	}
	if name == "config" {
		return kindConfig, "", nil
	}
	dir, base, ok := strings.Cut(name, "/")
	if !ok {
		return 0, "", ErrUnknownName
	}
	switch dir {
	case "locks":
		return 0, "", ErrLockName
	case "keys":
		if isID(base) {
			return kindKey, base, nil
		}
	case "index", "snapshots", "holds":
		if isID(base) {
			return kindHashed, base, nil
		}
	case "data":
		if fan, id, ok := strings.Cut(base, "/"); ok && isID(id) && fan == id[:2] {
			return kindHashed, id, nil
		}
	case "anchors":
		if vault.ValidAnchorName(base) {
			return kindAnchor, "", nil
		}
	}
	return 0, "", ErrUnknownName
}

// isID reports whether s is a repository file ID as the vault writes it:
// 64 lowercase hex digits.
func isID(s string) bool {
	id, err := vault.ParseID(s)
	return err == nil && id.String() == s
}
