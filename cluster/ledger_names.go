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
// by their hash, the hash their bytes must have. The names the Raft
// catalog knows are ParseObject's; the ledger adds anchors/ and tells
// locks/ from other unknown names. Names that are no repository object's
// (locks/ among them) are a refusal's reason.
func classify(name string) (kind objectKind, id string, err error) {
	if err := store.CheckName(name); err != nil {
		return 0, "", err
	}
	if o, err := ParseObject(name); err == nil {
		switch o.Kind {
		case KindConfig:
			return kindConfig, "", nil
		case KindKey:
			return kindKey, o.ID.String(), nil
		}
		return kindHashed, o.ID.String(), nil
	}
	dir, base, ok := strings.Cut(name, "/")
	switch {
	case !ok:
	case dir == "locks":
		return 0, "", ErrLockName
	case dir == "anchors" && vault.ValidAnchorName(base):
		return kindAnchor, "", nil
	}
	return 0, "", ErrUnknownName
}
