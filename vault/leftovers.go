package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/shoebox/shoebox/store"
)

// maxLeftoverPacks bounds the packs a backup indexes from their headers
// when it starts: one header read each (the age header and the pack's own
// header at its end, not its data), and their entries in memory. The rest
// are indexed by the next backups, or all at once by RepairIndex.
const maxLeftoverPacks = 1024

// LeftoverReport says what indexing the packs that no index file lists
// (left by a killed backup, or an index lost) found.
type LeftoverReport struct {
	// Indexed lists the packs now indexed from their own headers.
	Indexed []string `json:"indexed,omitempty"`
	// Blobs counts the blobs they hold.
	Blobs int `json:"blobs"`
	// Unreadable maps the packs whose header cannot be read (damaged,
	// or not of this repository) to why: they stay unindexed, for
	// `shoebox check` to report and `shoebox prune` to remove.
	Unreadable map[string]string `json:"unreadable,omitempty"`
	// Remaining counts the unindexed packs left for a later run (beyond
	// the bound of one backup's start).
	Remaining int `json:"remaining,omitempty"`
	// Skipped is set when another backup was running: its packs are not
	// leftovers, so none was indexed this time.
	Skipped bool `json:"skipped,omitempty"`
}

// RepairIndex indexes every pack that no index file lists from the
// pack's own header (restic's `repair index`): the packs a killed backup
// finished, or all of them when index files were lost. It must run under
// an exclusive lock. Packs whose header cannot be read are named in the
// report and left alone.
func (r *Repository) RepairIndex(ctx context.Context) (*LeftoverReport, error) {
	if err := r.refreshIndex(ctx); err != nil {
		return nil, err
	}
	return r.indexLeftovers(ctx, 0, nil)
}

// indexLeftovers indexes at most limit (0: no limit) of the packs that
// no index file lists, from their headers, and writes an index file for
// them, so that the next backups reuse their blobs. busy, when not nil,
// is asked once the headers are read: when it says another backup runs,
// nothing is indexed (the packs of a running backup are not leftovers:
// one it merges away would be indexed while gone).
func (r *Repository) indexLeftovers(ctx context.Context, limit int, busy func() bool) (*LeftoverReport, error) {
	rep := &LeftoverReport{}
	unlisted, err := r.unlistedPacks(ctx, r.index)
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	if limit > 0 && len(unlisted) > limit {
		rep.Remaining = len(unlisted) - limit
		unlisted = unlisted[:limit]
	}
	var found []IndexPack
	for _, fi := range unlisted {
		p, err := r.readPackIndex(ctx, fi)
		switch {
		case err == nil:
			found = append(found, p)
		case errors.Is(err, store.ErrNotFound):
			// deleted meanwhile
		case errors.Is(err, ErrCorrupt):
			if rep.Unreadable == nil {
				rep.Unreadable = map[string]string{}
			}
			rep.Unreadable[fi.Name] = err.Error()
		default:
			return nil, err
		}
	}
	if len(found) == 0 {
		return rep, nil
	}
	if busy != nil && busy() {
		return &LeftoverReport{Skipped: true}, nil
	}
	// A pack read above may have been deleted since (the second pack of
	// a merge, by a backup that ended meanwhile): index only those still
	// there.
	kept := found[:0]
	for _, p := range found {
		if _, err := r.store.Stat(ctx, packName(p.ID)); err == nil {
			kept = append(kept, p)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if len(kept) == 0 {
		return rep, nil
	}
	if _, err := r.writeIndexFile(ctx, &indexFile{Packs: kept}); err != nil {
		return nil, err
	}
	for _, p := range kept {
		r.index.addPack(p)
		rep.Indexed = append(rep.Indexed, packName(p.ID))
		rep.Blobs += len(p.Blobs)
	}
	sort.Strings(rep.Indexed)
	return rep, nil
}

// othersWriting reports whether a backup other than the caller may be
// writing packs: another backup of this process, or a live lock of
// another process (any kind: a lock does not say what it is for, and a
// reader's lock only delays the indexing to the next backup).
func (r *Repository) othersWriting(ctx context.Context) bool {
	if r.backups.Load() > 1 {
		return true
	}
	locks, err := r.Locks(ctx)
	if err != nil {
		return true
	}
	host, _ := os.Hostname()
	for _, l := range locks {
		if !l.Stale() && (l.Hostname != host || l.PID != os.Getpid()) {
			return true
		}
	}
	return false
}
