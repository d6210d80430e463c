package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shoebox/shoebox/store"
)

// PruneResult counts what prune did.
type PruneResult struct {
	PacksDeleted   int   `json:"packs_deleted"`
	PacksRepacked  int   `json:"packs_repacked"`
	PacksKept      int   `json:"packs_kept"`
	BlobsRemoved   int   `json:"blobs_removed"`
	BytesFreed     int64 `json:"bytes_freed"`
	IndexesRemoved int   `json:"indexes_removed"`
	DryRun         bool  `json:"dry_run"`
}

// Prune removes data no snapshot references. It must run under an
// exclusive lock. The order makes it safe to kill at any instant:
//
//  1. blobs still used from partly-used packs are copied into new packs,
//     which are indexed;
//  2. a new index listing every remaining pack, superseding all old index
//     files, is written;
//  3. the old index files are deleted;
//  4. packs nobody references any more are deleted.
//
// Until step 2 completes the old index is whole; after it, the new one is.
// Packs left over by a kill are unreferenced and removed by the next prune.
func (r *Repository) Prune(ctx context.Context, dryRun bool) (*PruneResult, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	used := map[ID]bool{}
	for _, s := range snaps {
		if err := r.markUsed(ctx, s.Tree, used); err != nil {
			return nil, fmt.Errorf("prune: snapshot %s: %w; nothing was removed (run `shoebox check`)", s.id.Short(), err)
		}
	}
	res := &PruneResult{DryRun: dryRun}
	packs := r.index.Packs()
	var keep []IndexPack
	var repack, drop []IndexPack
	for _, p := range packs {
		n := 0
		for _, b := range p.Blobs {
			if used[b.ID] {
				n++
			}
		}
		switch {
		case n == 0:
			// Also a pack whose blobs are all stored in other packs too
			// (two backups at once): the index lists them there only.
			drop = append(drop, p)
		case n == len(p.Blobs):
			keep = append(keep, p)
		default:
			repack = append(repack, p)
		}
		res.BlobsRemoved += len(p.Blobs) - n
	}
	// Packs in the store that no index lists (an interrupted backup).
	indexed := map[ID]bool{}
	for _, p := range packs {
		indexed[p.ID] = true
	}
	var orphans []store.ObjectInfo
	err = r.store.List(ctx, dataPrefix, func(fi store.ObjectInfo) error {
		id, err := ParseID(fi.Name[strings.LastIndexByte(fi.Name, '/')+1:])
		if err == nil && !indexed[id] && packName(id) == fi.Name {
			orphans = append(orphans, fi)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range drop {
		res.BytesFreed += p.Size
	}
	for _, o := range orphans {
		res.BytesFreed += o.Size
	}
	res.PacksDeleted = len(drop) + len(orphans)
	res.PacksRepacked = len(repack)
	res.PacksKept = len(keep)
	damaged := r.index.damagedFiles()
	stale := r.index.supersededFiles()
	if dryRun || (len(drop) == 0 && len(repack) == 0 && len(orphans) == 0 && len(r.index.indexFiles()) <= 1 && len(damaged) == 0 && len(stale) == 0) {
		return res, nil
	}

	// 1. Repack.
	// Every index file goes: the live ones, and superseded ones a killed
	// prune left (deleting only the live ones would revive those).
	oldIndexes := append(r.index.indexFiles(), stale...)
	if len(repack) > 0 {
		s := newBlobSaver(r, 1)
		for _, p := range repack {
			for _, b := range p.Blobs {
				if !used[b.ID] {
					continue
				}
				loc := blobLoc{offset: b.Offset, length: b.Length, rawLen: b.RawLen, typ: b.Type, flags: b.Flags}
				plain, err := r.loadBlobAt(ctx, b.ID, loc, p.ID, nil)
				if err != nil {
					s.Abort()
					return nil, fmt.Errorf("prune: repack %s: %w; nothing was removed", packName(p.ID), err)
				}
				if err := s.saveRepacked(ctx, b.Type, b.ID, plain, b.Flags&flagZstd != 0); err != nil {
					s.Abort()
					return nil, fmt.Errorf("prune: %w", err)
				}
			}
			res.BytesFreed += p.Size
		}
		if err := s.Flush(ctx); err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
	}
	// 2. New index of the kept packs, superseding every old index file.
	if _, err := r.writeIndexFile(ctx, &indexFile{Supersedes: oldIndexes, Packs: keep}); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	// 3. Old index files.
	for _, id := range oldIndexes {
		if err := r.store.Delete(ctx, indexPrefix+id.String()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("prune: %w", err)
		}
		res.IndexesRemoved++
	}
	// Damaged index files: the new index lists their packs (read from the
	// packs' own headers when the repository was opened).
	for name := range damaged {
		if err := r.store.Delete(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("prune: %w", err)
		}
		res.IndexesRemoved++
	}
	// 4. Unreferenced packs.
	for _, p := range append(drop, repack...) {
		r.packs.forget(p.ID)
		if err := r.store.Delete(ctx, packName(p.ID)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("prune: %w", err)
		}
	}
	for _, o := range orphans {
		if err := r.store.Delete(ctx, o.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("prune: %w", err)
		}
	}
	return res, r.loadIndex(ctx)
}

// markUsed adds every blob reachable from a tree to used.
func (r *Repository) markUsed(ctx context.Context, tree ID, used map[ID]bool) error {
	if used[tree] {
		return nil
	}
	t, err := r.LoadTree(ctx, tree)
	if err != nil {
		return err
	}
	used[tree] = true
	for _, n := range t.Nodes {
		for _, b := range n.Content {
			if !r.index.Has(b) {
				return fmt.Errorf("%s: blob %s: %w", n.FileName(), b.Short(), ErrBlobMissing)
			}
			used[b] = true
		}
		if n.Type == NodeDir && n.Subtree != nil {
			if err := r.markUsed(ctx, *n.Subtree, used); err != nil {
				return err
			}
		}
	}
	return nil
}

// saveRepacked stores a blob copied from an old pack, even though the
// index still lists it in that pack.
func (s *blobSaver) saveRepacked(ctx context.Context, t BlobType, id ID, plain []byte, compressed bool) error {
	s.mu.Lock()
	if s.pending[id] {
		s.mu.Unlock()
		return nil
	}
	s.pending[id] = true
	si := s.slotFor(0, t)
	s.mu.Unlock()
	stored, flags := plain, uint8(0)
	if compressed {
		if c := compress(nil, plain); c != nil {
			stored, flags = c, flagZstd
		}
	}
	return s.add(ctx, si, t, id, flags, stored, len(plain))
}
