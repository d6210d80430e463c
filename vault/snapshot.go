package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoebox/shoebox/store"
)

// Snapshot records one backup: the root tree and where it came from.
type Snapshot struct {
	Version  int       `json:"version"`
	Time     time.Time `json:"time"`
	Tree     ID        `json:"tree"`
	Paths    []string  `json:"paths"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username,omitempty"`
	UID      uint32    `json:"uid"`
	GID      uint32    `json:"gid"`
	Tags     []string  `json:"tags,omitempty"`
	Parent   *ID       `json:"parent,omitempty"`
	Program  string    `json:"program,omitempty"`
	Summary  *Summary  `json:"summary,omitempty"`

	id ID
}

// Summary counts what a backup did.
type Summary struct {
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	FilesNew       int64     `json:"files_new"`
	FilesChanged   int64     `json:"files_changed"`
	FilesUnchanged int64     `json:"files_unchanged"`
	DirsTotal      int64     `json:"dirs_total"`
	FilesTotal     int64     `json:"files_total"`
	BytesTotal     int64     `json:"bytes_total"`
	BlobsAdded     int64     `json:"blobs_added"`
	BytesAdded     int64     `json:"bytes_added"`      // plaintext of new blobs
	BytesStored    int64     `json:"bytes_stored"`     // after compression
	Errors         []string  `json:"errors,omitempty"` // files that could not be read
	// Leftovers says which packs of interrupted backups the backup
	// indexed when it started (not stored in the snapshot).
	Leftovers *LeftoverReport `json:"-"`
	// Unchanged is set when no snapshot was written: the tree equals the
	// parent's (BackupOptions.SkipUnchanged).
	Unchanged bool `json:"-"`
}

// ID returns the snapshot's ID (the SHA-256 of its file).
func (s *Snapshot) ID() ID { return s.id }

// HasTag reports whether the snapshot carries tag.
func (s *Snapshot) HasTag(tag string) bool {
	for _, t := range s.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

func parseSnapshot(b []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("snapshot: %w: %v", ErrCorrupt, err)
	}
	if s.Version != FormatVersion || s.Tree.IsNull() {
		return nil, fmt.Errorf("snapshot: bad version or empty tree: %w", ErrCorrupt)
	}
	return &s, nil
}

// SaveSnapshot stores a snapshot and sets its ID.
func (r *Repository) SaveSnapshot(ctx context.Context, s *Snapshot) (ID, error) {
	s.Version = FormatVersion
	plain, err := json.Marshal(s)
	if err != nil {
		return ID{}, err
	}
	sealed, err := seal(plain, r.key.recipient)
	if err != nil {
		return ID{}, err
	}
	id := FileID(sealed)
	if err := r.store.Put(ctx, snapshotPrefix+id.String(), bytes.NewReader(sealed)); err != nil {
		return ID{}, fmt.Errorf("write snapshot: %w", err)
	}
	s.id = id
	return id, nil
}

// LoadSnapshot reads one snapshot by full ID. The caller gets its own
// copy: decoded snapshots are cached (they never change).
func (r *Repository) LoadSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	if c, ok := r.snaps.Load(id); ok {
		s := *c.(*Snapshot)
		return &s, nil
	}
	s, err := r.readSnapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	r.snaps.Store(id, s)
	c := *s
	return &c, nil
}

// readSnapshot reads, verifies and decodes a snapshot file.
func (r *Repository) readSnapshot(ctx context.Context, id ID) (*Snapshot, error) {
	name := snapshotPrefix + id.String()
	b, err := store.ReadAll(ctx, r.store, name)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", id.Short(), err)
	}
	if FileID(b) != id {
		return nil, fmt.Errorf("snapshot file %s does not match its name: %w", name, ErrCorrupt)
	}
	plain, err := unseal(b, r.key.identity)
	if err != nil {
		return nil, fmt.Errorf("decrypt snapshot %s: %w: %v", name, ErrCorrupt, err)
	}
	s, err := parseSnapshot(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.id = id
	return s, nil
}

// Snapshots returns every snapshot, oldest first.
func (r *Repository) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	return r.loadSnapshots(ctx, false)
}

// latestParent returns the newest snapshot matching f among those that can
// be read: a damaged snapshot file (which check reports) must not stop
// every later backup.
func (r *Repository) latestParent(ctx context.Context, f SnapshotFilter) (*Snapshot, error) {
	snaps, err := r.loadSnapshots(ctx, true)
	if err != nil {
		return nil, err
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if f.Match(snaps[i]) {
			return snaps[i], nil
		}
	}
	return nil, fmt.Errorf("latest: %w", ErrNoSnapshot)
}

// loadSnapshots reads every snapshot, oldest first; skipCorrupt leaves out
// those whose file fails verification instead of failing.
func (r *Repository) loadSnapshots(ctx context.Context, skipCorrupt bool) ([]*Snapshot, error) {
	var ids []ID
	err := r.store.List(ctx, snapshotPrefix, func(fi store.ObjectInfo) error {
		id, err := ParseID(strings.TrimPrefix(fi.Name, snapshotPrefix))
		if err != nil {
			return nil // not ours; check reports it
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Snapshot, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = r.LoadSnapshot(ctx, id)
		}()
	}
	wg.Wait()
	ok := out[:0]
	for i, err := range errs {
		if err != nil {
			if skipCorrupt && errors.Is(err, ErrCorrupt) {
				continue
			}
			// Forgotten while we read it (retention runs beside the API):
			// it is simply no longer there. A delete takes the object out
			// of the store before it removes its pieces, so a read that
			// failed half-way through a delete lands here too.
			if _, serr := r.store.Stat(ctx, snapshotPrefix+ids[i].String()); errors.Is(serr, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		ok = append(ok, out[i])
	}
	out = ok
	sort.Slice(out, func(i, j int) bool {
		if out[i].Time.Equal(out[j].Time) {
			return bytes.Compare(out[i].id[:], out[j].id[:]) < 0
		}
		return out[i].Time.Before(out[j].Time)
	})
	return out, nil
}

// SnapshotFilter narrows the snapshots a reference may name.
type SnapshotFilter struct {
	Host  string
	Paths []string
	Tags  []string
	// Only, when set, must accept a snapshot too (e.g. the snapshots a
	// caller may see: one it may not is unknown to it, as one that does
	// not exist).
	Only func(*Snapshot) bool
}

// Match reports whether s passes the filter.
func (f SnapshotFilter) Match(s *Snapshot) bool {
	if f.Only != nil && !f.Only(s) {
		return false
	}
	if f.Host != "" && s.Hostname != f.Host {
		return false
	}
	if len(f.Paths) > 0 && !sameStrings(f.Paths, s.Paths) {
		return false
	}
	for _, t := range f.Tags {
		if !s.HasTag(t) {
			return false
		}
	}
	return true
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FindSnapshot resolves "latest" or an ID prefix of at least four hex
// digits among the snapshots f matches: a prefix of a snapshot f leaves
// out is neither found nor ambiguous.
func (r *Repository) FindSnapshot(ctx context.Context, ref string, f SnapshotFilter) (*Snapshot, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if ref == "latest" {
		for i := len(snaps) - 1; i >= 0; i-- {
			if f.Match(snaps[i]) {
				return snaps[i], nil
			}
		}
		return nil, fmt.Errorf("latest: %w (see `shoebox snapshots`)", ErrNoSnapshot)
	}
	if len(ref) < 4 {
		return nil, fmt.Errorf("snapshot %q: %w: give at least 4 hex digits or \"latest\"", ref, ErrBadRef)
	}
	var found *Snapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.id.String(), strings.ToLower(ref)) && f.Match(s) {
			if found != nil {
				return nil, fmt.Errorf("snapshot %q: %w; give more digits", ref, ErrAmbiguous)
			}
			found = s
		}
	}
	if found == nil {
		return nil, fmt.Errorf("snapshot %q: %w (see `shoebox snapshots`)", ref, ErrNoSnapshot)
	}
	return found, nil
}

// LoadTree reads and decodes a tree blob.
func (r *Repository) LoadTree(ctx context.Context, id ID) (*Tree, error) {
	b, err := r.LoadBlob(ctx, id, nil)
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id.Short(), err)
	}
	t, err := parseTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return t, nil
}
