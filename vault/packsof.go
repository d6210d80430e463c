package vault

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// IndexFileInfo is what one index file lists: the packs it indexes and
// the index files it supersedes (a prune's). Index files are named by the
// hash of their bytes, so what IndexFile returns for an ID never changes:
// a caller may keep it.
type IndexFileInfo struct {
	ID         ID
	Packs      []ID
	Supersedes []ID
}

// IndexFile reads the index file id and returns the packs it lists and
// the index files it supersedes. The error wraps ErrCorrupt when the file
// does not match its name or does not decrypt, store.ErrNotFound when it
// is gone. The offsite replication uses it to send an index file only
// once every pack it lists is there (docs/CLUSTER.md, "Replication").
func (r *Repository) IndexFile(ctx context.Context, id ID) (IndexFileInfo, error) {
	f, err := r.readIndexFile(ctx, id)
	if err != nil {
		return IndexFileInfo{}, err
	}
	info := IndexFileInfo{ID: id, Supersedes: slices.Clone(f.Supersedes), Packs: make([]ID, 0, len(f.Packs))}
	for _, p := range f.Packs {
		info.Packs = append(info.Packs, p.ID)
	}
	return info, nil
}

// PacksOf returns the packs that hold a snapshot's blobs, its trees and
// the data of its files, as the repository's index places them, sorted
// by ID. The blobs are found as prune finds the blobs it keeps; the error
// wraps ErrBlobMissing when the index lists no pack for one of them.
func (r *Repository) PacksOf(ctx context.Context, s *Snapshot) ([]ID, error) {
	used := map[ID]bool{}
	if err := r.markUsed(ctx, s.Tree, used); err != nil {
		return nil, fmt.Errorf("packs of snapshot %s: %w", s.id.Short(), err)
	}
	packs := map[ID]bool{}
	for b := range used {
		_, p, ok := r.index.lookup(b)
		if !ok {
			return nil, fmt.Errorf("packs of snapshot %s: blob %s: %w", s.id.Short(), b.Short(), ErrBlobMissing)
		}
		packs[p.ID] = true
	}
	out := make([]ID, 0, len(packs))
	for id := range packs {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}
