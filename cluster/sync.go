package cluster

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// ErrNothingToChallenge: ChallengeOnce found no confirmed object to
// challenge (nothing has been replicated yet).
var ErrNothingToChallenge = errors.New("no object confirmed offsite to challenge yet")

// ReplicaConfig is what NewReplica needs.
type ReplicaConfig struct {
	// Repo is the home repository, opened with its keys: Sync reads its
	// snapshots, trees and index files to know what each snapshot needs,
	// and sends the objects of its store.
	Repo *vault.Repository
	// Node is the home unit's Raft node: the catalog (Node.FSM) says what
	// is confirmed, and receipts, complete marks, holds and challenge
	// results are committed through it.
	Node *Node
	// Replicator moves the objects to the offsite unit.
	Replicator *Replicator
	// Card reports whether a snapshot is a memory card's (the daemon
	// passes the card ingest's tag test): card snapshots go first, so a
	// card is safe to format soonest. Nil: none is.
	Card func(*vault.Snapshot) bool
	// Now is the clock of the marks, challenge results and the lag (nil:
	// time.Now).
	Now func() time.Time
	// Seed seeds the choice of the object ChallengeOnce checks (zero: a
	// random seed). Tests fix it.
	Seed uint64
	// Log (nil: slog.Default()).
	Log *slog.Logger
}

// Replica is the home unit's driver of the offsite copy: Sync brings
// the offsite unit up to date with the home repository, in the order of
// docs/CLUSTER.md ("Replication"), committing each receipt through Raft;
// ChallengeOnce checks one confirmed object; Progress says what is still
// to send and how far behind the offsite is. One Sync runs at a time (a
// second call waits); ChallengeOnce and Progress may run beside it, from
// any goroutine.
type Replica struct {
	cfg   ReplicaConfig
	store store.ObjectStore
	fsm   *FSM
	log   *slog.Logger

	syncMu sync.Mutex // one Sync at a time

	mu       sync.Mutex // guards what follows
	rand     *mrand.Rand
	indexes  map[vault.ID]vault.IndexFileInfo // by ID: never changes
	packsOf  map[vault.ID][]vault.ID          // per snapshot, for indexKey
	indexKey string                           // the index files packsOf was made with
	last     *plan                            // the latest plan, for ChallengeOnce and Progress
}

// NewReplica returns the Replica of cfg.
func NewReplica(cfg ReplicaConfig) *Replica {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Card == nil {
		cfg.Card = func(*vault.Snapshot) bool { return false }
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		for _, c := range b {
			seed = seed<<8 | uint64(c)
		}
	}
	return &Replica{
		cfg: cfg, store: cfg.Repo.Store(), fsm: cfg.Node.FSM, log: log,
		rand:    mrand.New(mrand.NewPCG(seed, seed^0x5eed)),
		indexes: map[vault.ID]vault.IndexFileInfo{},
		packsOf: map[vault.ID][]vault.ID{},
	}
}

// item is one object of the plan: its name, kind and ID, size and
// SHA-256 (its ID, but for config).
type item struct {
	name string
	obj  Object
	size int64
	sum  [32]byte
}

// snapPlan is a snapshot and every object it needs offsite to restore:
// its packs (the slice PacksOf gave, shared with the cache), the index
// files that list them and its snapshot file.
type snapPlan struct {
	snap    *vault.Snapshot
	card    bool
	packs   []vault.ID
	indexes []vault.ID
	err     error // why its objects are not known: it is not planned
}

// needs reports whether the snapshot needs o.
func (sp *snapPlan) needs(o Object) bool {
	switch o.Kind {
	case KindData:
		_, ok := slices.BinarySearchFunc(sp.packs, o.ID, compareIDs)
		return ok
	case KindIndex:
		return slices.Contains(sp.indexes, o.ID)
	case KindSnapshot:
		return o.ID == sp.snap.ID()
	}
	return false
}

// plan is one pass's order: every item once, in the order sent, and the
// snapshots with what each needs.
type plan struct {
	items []item
	snaps []snapPlan
	at    time.Time // when it was made
}

// Progress is how far the offsite copy is behind the home repository,
// as of the last plan (made by each Sync and kept up to date while it
// sends).
type Progress struct {
	// Snapshots is the number of snapshots in the home repository;
	// Complete those complete offsite: marked in the catalog, and every
	// object each needs confirmed.
	Snapshots int
	Complete  []vault.ID
	// PendingObjects and PendingBytes are what Sync still has to send:
	// the objects of the plan that have no receipt.
	PendingObjects int
	PendingBytes   int64
	// Oldest is the time of the oldest snapshot not complete offsite,
	// zero when all are; Lag is now minus Oldest, 0 when all are.
	Oldest time.Time
	Lag    time.Duration
	// Planned is when the plan was made; zero before the first Sync.
	Planned time.Time
}

// SyncReport is what one Sync did.
type SyncReport struct {
	// Sent counts the objects sent and their bytes (each object's size,
	// whatever part of it the offsite already held); Skipped the objects
	// already confirmed.
	SentObjects int
	SentBytes   int64
	Skipped     int
	// Marked are the snapshots marked complete by this pass; Withdrawn
	// those whose mark it withdrew (an object lost its receipt).
	Marked    []vault.ID
	Withdrawn []vault.ID
	// Progress is the state after the pass, whether it ended well or not.
	Progress Progress
}

// Sync makes one pass over the home repository: it plans the order
// (config, keys, then per snapshot, card snapshots first and then the
// oldest, its packs, the index files that list them once every pack
// they list is confirmed, and its snapshot file; then holds; then what
// no snapshot needs), skips every object the catalog confirms, sends the
// rest and commits each receipt through Raft, marks a snapshot complete
// once every object it needs is confirmed, and withdraws the mark of a
// snapshot that lost a receipt. It stops at the first error of the link
// (cut, or ctx ended) or of Raft (this unit does not lead), returning
// it: the next Sync resumes, sending nothing confirmed again and an
// object cut mid-way from what the offsite holds. An object the offsite
// refuses, or that cannot be read at home, is left out and the pass goes
// on without it and what depends on it (its index files, its snapshot
// file), up to maxRefused of them; the error returned then names each
// (errors.Join). locks/ and anchors/ are never sent.
func (r *Replica) Sync(ctx context.Context) (rep SyncReport, err error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	defer func() { rep.Progress = r.Progress() }() // on every return
	p, err := r.plan(ctx)
	if err != nil {
		return rep, err
	}
	var failed []error // snapshots not planned, objects not sent
	// Marks that are no longer true: withdrawn before anything is sent.
	for _, sp := range p.snaps {
		if sp.err != nil {
			failed = append(failed, sp.err)
			continue // not known to be incomplete: its mark (if any) stays
		}
		if _, marked := r.fsm.SnapshotComplete(sp.snap.ID()); marked && !r.whole(&sp) {
			if err := r.cfg.Node.Apply(ctx, &SnapshotIncomplete{Snapshot: sp.snap.ID()}); err != nil {
				return rep, fmt.Errorf("withdraw the complete mark of snapshot %s: %w", sp.snap.ID().Short(), err)
			}
			rep.Withdrawn = append(rep.Withdrawn, sp.snap.ID())
		}
	}
	// A snapshot is marked as soon as its snapshot file is in.
	bySnapFile := map[Object]*snapPlan{}
	for i := range p.snaps {
		sp := &p.snaps[i]
		bySnapFile[Object{Kind: KindSnapshot, ID: sp.snap.ID()}] = sp
	}
	refused := 0
	for _, it := range p.items {
		sp := bySnapFile[it.obj]
		if r.fsm.Confirmed(it.obj) {
			rep.Skipped++
		} else if err := r.ready(it, sp); err != nil {
			failed = append(failed, err)
			continue
		} else {
			rc, err := r.send(ctx, it)
			if err != nil {
				failed = append(failed, err)
				if linkDown(ctx, err) {
					return rep, errors.Join(failed...)
				}
				if refused++; refused == maxRefused {
					return rep, errors.Join(append(failed, fmt.Errorf("stopped after %d objects not sent", refused))...)
				}
				continue
			}
			if err := r.cfg.Node.Apply(ctx, &rc); err != nil {
				return rep, errors.Join(append(failed, fmt.Errorf("commit the receipt for %s: %w", it.name, err))...)
			}
			rep.SentObjects++
			rep.SentBytes += it.size
		}
		if sp == nil {
			continue
		}
		if _, marked := r.fsm.SnapshotComplete(sp.snap.ID()); marked || !r.whole(sp) {
			continue
		}
		if err := r.cfg.Node.Apply(ctx, &SnapshotComplete{Snapshot: sp.snap.ID(), At: r.cfg.Now()}); err != nil {
			return rep, errors.Join(append(failed, fmt.Errorf("mark snapshot %s complete offsite: %w", sp.snap.ID().Short(), err))...)
		}
		rep.Marked = append(rep.Marked, sp.snap.ID())
	}
	if err := r.syncHolds(ctx); err != nil {
		return rep, errors.Join(append(failed, err)...)
	}
	return rep, errors.Join(failed...)
}

// maxRefused objects not sent in one pass (each refused by the offsite,
// or unreadable at home) end it: the cause is then likely the same for
// all (the offsite full, its catalog not caught up).
const maxRefused = 10

// linkDown reports whether a send failed because the link or the pass
// ended (the next Sync resumes), rather than for the object alone.
func linkDown(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return true
	}
	return false
}

// ready says why an object may not go yet: an index file before every
// pack it lists is confirmed, a snapshot file before the objects its
// snapshot needs (one of them failed earlier in the pass).
func (r *Replica) ready(it item, sp *snapPlan) error {
	switch {
	case it.obj.Kind == KindIndex && !r.indexReady(it.obj.ID):
		return fmt.Errorf("%s not sent: a pack it lists is not confirmed offsite", it.name)
	case sp != nil && !r.wholeBut(sp):
		return fmt.Errorf("%s not sent: a pack or index file of the snapshot is not confirmed offsite", it.name)
	}
	return nil
}

// send moves one object from the home store and returns its receipt.
func (r *Replica) send(ctx context.Context, it item) (Receipt, error) {
	o, err := r.store.Open(ctx, it.name)
	if err != nil {
		return Receipt{}, fmt.Errorf("send %s: open the home copy: %w", it.name, err)
	}
	defer o.Close()
	return r.cfg.Replicator.Send(ctx, it.name, o, o.Size(), it.sum)
}

// syncHolds commits the repository's holds to the catalog, where the
// offsite unit enforces them without a key: each hold whose date is
// later than the catalog's.
func (r *Replica) syncHolds(ctx context.Context) error {
	holds, err := r.cfg.Repo.Holds(ctx)
	if err != nil {
		return fmt.Errorf("read the holds: %w", err)
	}
	ids := make([]vault.ID, 0, len(holds))
	for id := range holds {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareIDs)
	for _, id := range ids {
		until := time.Unix(holds[id].Unix(), 0).UTC() // the catalog keeps seconds
		if have, ok := r.fsm.HoldUntil(id); ok && !until.After(have) {
			continue
		}
		if err := r.cfg.Node.Apply(ctx, &Hold{Snapshot: id, Until: until}); err != nil {
			return fmt.Errorf("commit the hold of snapshot %s: %w", id.Short(), err)
		}
	}
	return nil
}

// whole reports whether every object the snapshot needs is confirmed.
func (r *Replica) whole(sp *snapPlan) bool {
	return r.wholeBut(sp) && r.fsm.Confirmed(Object{Kind: KindSnapshot, ID: sp.snap.ID()})
}

// wholeBut reports whether every object the snapshot needs but its
// snapshot file is confirmed.
func (r *Replica) wholeBut(sp *snapPlan) bool {
	for _, id := range sp.packs {
		if !r.fsm.Confirmed(Object{Kind: KindData, ID: id}) {
			return false
		}
	}
	for _, id := range sp.indexes {
		if !r.fsm.Confirmed(Object{Kind: KindIndex, ID: id}) {
			return false
		}
	}
	return true
}

// indexReady reports whether every pack the index file id lists is
// confirmed offsite.
func (r *Replica) indexReady(id vault.ID) bool {
	r.mu.Lock()
	info := r.indexes[id]
	r.mu.Unlock()
	for _, p := range info.Packs {
		if !r.fsm.Confirmed(Object{Kind: KindData, ID: p}) {
			return false
		}
	}
	return true
}

// objectsIn names the IDs as objects of a kind.
func objectsIn(kind ObjectKind, ids []vault.ID) []Object {
	out := make([]Object, len(ids))
	for i, id := range ids {
		out[i] = Object{Kind: kind, ID: id}
	}
	return out
}

// plan lists the home store and the repository's snapshots and makes
// the pass's order. A snapshot whose objects cannot all be found (a
// blob the index does not place, a pack not in the store) is left out
// of the order with its err set; the others are planned.
func (r *Replica) plan(ctx context.Context) (*plan, error) {
	sizes := map[string]int64{}
	for _, prefix := range []string{"keys/", "data/", "index/", "snapshots/", "holds/"} {
		if err := r.store.List(ctx, prefix, func(fi store.ObjectInfo) error {
			sizes[fi.Name] = fi.Size
			return nil
		}); err != nil {
			return nil, fmt.Errorf("list the home repository's %s: %w", prefix, err)
		}
	}
	p := &plan{at: r.cfg.Now()}
	planned := map[Object]bool{}
	add := func(o Object, size int64, sum [32]byte) {
		if !planned[o] {
			planned[o] = true
			p.items = append(p.items, item{name: o.String(), obj: o, size: size, sum: sum})
		}
	}

	// config, then keys.
	cfg, err := store.ReadAll(ctx, r.store, "config")
	if err != nil {
		return nil, fmt.Errorf("read the home repository's config: %w", err)
	}
	add(Object{Kind: KindConfig}, int64(len(cfg)), sha256.Sum256(cfg))
	for _, o := range r.objectsOf(sizes, KindKey) {
		add(o, sizes[o.String()], o.ID)
	}

	// The index files and what they list.
	indexes, err := r.readIndexes(ctx, sizes)
	if err != nil {
		return nil, err
	}
	listedBy := map[vault.ID][]vault.ID{} // pack → the index files listing it
	for _, info := range indexes {
		for _, pk := range info.Packs {
			listedBy[pk] = append(listedBy[pk], info.ID)
		}
	}

	// Snapshots: card ones first, then the oldest.
	snaps, err := r.cfg.Repo.Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the home repository's snapshots: %w", err)
	}
	for _, s := range snaps {
		p.snaps = append(p.snaps, snapPlan{snap: s, card: r.cfg.Card(s)})
	}
	slices.SortStableFunc(p.snaps, func(a, b snapPlan) int {
		if a.card != b.card {
			if a.card {
				return -1
			}
			return 1
		}
		return cmp.Or(a.snap.Time.Compare(b.snap.Time), compareIDs(a.snap.ID(), b.snap.ID()))
	})
	for i := range p.snaps {
		sp := &p.snaps[i]
		packs, err := r.snapshotPacks(ctx, sp.snap, indexKeyOf(indexes))
		if err != nil {
			sp.err = err
			continue
		}
		// The index files listing its packs, and every pack they list:
		// an index file goes only after all of its packs.
		need := map[vault.ID]bool{}
		var files []vault.ID
		for _, pk := range packs {
			need[pk] = true
			for _, f := range listedBy[pk] {
				if !slices.Contains(files, f) {
					files = append(files, f)
				}
			}
		}
		slices.SortFunc(files, compareIDs)
		for _, f := range files {
			for _, pk := range indexes[f].Packs {
				need[pk] = true
			}
		}
		var missing []string
		for _, o := range append(objectsIn(KindData, slices.Collect(maps.Keys(need))), Object{Kind: KindSnapshot, ID: sp.snap.ID()}) {
			if _, ok := sizes[o.String()]; !ok {
				missing = append(missing, o.String())
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			sp.err = fmt.Errorf("snapshot %s needs %s, not in the home repository: %w (run `shoebox check`)", sp.snap.ID().Short(), strings.Join(missing, ", "), store.ErrNotFound)
			continue
		}
		for _, o := range objectsIn(KindData, slices.SortedFunc(maps.Keys(need), compareIDs)) {
			add(o, sizes[o.String()], o.ID)
		}
		for _, o := range objectsIn(KindIndex, files) {
			add(o, sizes[o.String()], o.ID)
		}
		o := Object{Kind: KindSnapshot, ID: sp.snap.ID()}
		add(o, sizes[o.String()], o.ID)
		sp.packs, sp.indexes = packs, files
	}

	// Holds, then what no snapshot needs: packs, and the index files
	// whose packs are all in the store (superseded ones are not read).
	for _, o := range r.objectsOf(sizes, KindHold) {
		add(o, sizes[o.String()], o.ID)
	}
	for _, o := range r.objectsOf(sizes, KindData) {
		add(o, sizes[o.String()], o.ID)
	}
	for _, id := range slices.SortedFunc(maps.Keys(indexes), compareIDs) {
		complete := true
		for _, pk := range indexes[id].Packs {
			if _, ok := sizes[Object{Kind: KindData, ID: pk}.String()]; !ok {
				complete = false
			}
		}
		if o := (Object{Kind: KindIndex, ID: id}); complete {
			add(o, sizes[o.String()], o.ID)
		}
	}

	r.mu.Lock()
	r.last = p
	r.mu.Unlock()
	return p, nil
}

// objectsOf returns the objects of a kind in the listing, by ID; names
// that are not the kind's (a stray temporary file) are left out.
func (r *Replica) objectsOf(sizes map[string]int64, kind ObjectKind) []Object {
	prefix := kindPrefix[kind]
	var out []Object
	for name := range sizes {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if o, err := ParseObject(name); err == nil && o.Kind == kind {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, compareObjects)
	return out
}

// readIndexes returns what every index file in the listing lists, but
// for the superseded ones (after a prune a reader ignores them, and the
// packs they list may be gone). Index files are read once per Replica:
// their content never changes.
func (r *Replica) readIndexes(ctx context.Context, sizes map[string]int64) (map[vault.ID]vault.IndexFileInfo, error) {
	out := map[vault.ID]vault.IndexFileInfo{}
	for _, o := range r.objectsOf(sizes, KindIndex) {
		r.mu.Lock()
		info, ok := r.indexes[o.ID]
		r.mu.Unlock()
		if !ok {
			var err error
			if info, err = r.cfg.Repo.IndexFile(ctx, o.ID); err != nil {
				return nil, fmt.Errorf("read %s: %w", o, err)
			}
			r.mu.Lock()
			r.indexes[o.ID] = info
			r.mu.Unlock()
		}
		out[o.ID] = info
	}
	for _, info := range slices.Collect(maps.Values(out)) {
		for _, s := range info.Supersedes {
			delete(out, s)
		}
	}
	return out, nil
}

// snapshotPacks is vault's PacksOf, kept per snapshot while the index
// files are the same (a snapshot's trees never change; where its blobs
// are changes only with the index files, after a prune).
func (r *Replica) snapshotPacks(ctx context.Context, s *vault.Snapshot, key string) ([]vault.ID, error) {
	r.mu.Lock()
	if r.indexKey != key {
		r.packsOf, r.indexKey = map[vault.ID][]vault.ID{}, key
	}
	packs, ok := r.packsOf[s.ID()]
	r.mu.Unlock()
	if ok {
		return packs, nil
	}
	packs, err := r.cfg.Repo.PacksOf(ctx, s)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.indexKey == key {
		r.packsOf[s.ID()] = packs
	}
	r.mu.Unlock()
	return packs, nil
}

func indexKeyOf(indexes map[vault.ID]vault.IndexFileInfo) string {
	var b bytes.Buffer
	for _, id := range slices.SortedFunc(maps.Keys(indexes), compareIDs) {
		b.Write(id[:])
	}
	return b.String()
}

// Progress is how far the offsite copy is behind, from the latest plan
// and the catalog now; the zero Progress before the first Sync. It reads
// no object: callers (status, metrics) may call it often.
func (r *Replica) Progress() Progress {
	r.mu.Lock()
	p := r.last
	r.mu.Unlock()
	if p == nil {
		return Progress{}
	}
	pr := Progress{Snapshots: len(p.snaps), Planned: p.at}
	var pending []Object
	for _, it := range p.items {
		if !r.fsm.Confirmed(it.obj) {
			pr.PendingObjects++
			pr.PendingBytes += it.size
			pending = append(pending, it.obj)
		}
	}
	// Every object a snapshot needs is in the plan: when few are
	// pending (the usual case once caught up), looking each up in the
	// snapshot's sorted lists is cheaper than checking all its packs.
	whole := func(sp *snapPlan) bool {
		if len(pending) >= len(sp.packs) {
			return r.whole(sp)
		}
		for _, o := range pending {
			if sp.needs(o) {
				return false
			}
		}
		return true
	}
	for _, sp := range p.snaps {
		_, marked := r.fsm.SnapshotComplete(sp.snap.ID())
		if sp.err == nil && marked && whole(&sp) {
			pr.Complete = append(pr.Complete, sp.snap.ID())
			continue
		}
		if pr.Oldest.IsZero() || sp.snap.Time.Before(pr.Oldest) {
			pr.Oldest = sp.snap.Time
		}
	}
	slices.SortFunc(pr.Complete, compareIDs)
	if !pr.Oldest.IsZero() {
		pr.Lag = max(r.cfg.Now().Sub(pr.Oldest), 0)
	}
	return pr
}

// ChallengeOnce checks one object the catalog confirms, picked at random
// among those of the latest plan (made now if Sync has not run): the
// offsite unit hashes a random range of its copy with a fresh nonce and
// the home unit compares it with its own (Replicator.Challenge). The
// result is committed through Raft. A failed challenge drops the
// object's receipt (the catalog does) and withdraws the complete mark of
// every snapshot that needs the object, so the next Sync sends it again;
// ChallengeOnce then returns the result and an error wrapping
// ErrChallengeFailed that names the object (the alert's text). Any other
// error means nothing was learnt and nothing committed.
// ErrNothingToChallenge: no object is confirmed yet.
func (r *Replica) ChallengeOnce(ctx context.Context) (ChallengeResult, error) {
	r.mu.Lock()
	p := r.last
	r.mu.Unlock()
	if p == nil {
		var err error
		if p, err = r.planLocked(ctx); err != nil {
			return ChallengeResult{}, err
		}
	}
	var confirmed []item
	for _, it := range p.items {
		if r.fsm.Confirmed(it.obj) {
			confirmed = append(confirmed, it)
		}
	}
	if len(confirmed) == 0 {
		return ChallengeResult{}, ErrNothingToChallenge
	}
	r.mu.Lock()
	it := confirmed[r.rand.IntN(len(confirmed))]
	r.mu.Unlock()
	o, err := r.store.Open(ctx, it.name)
	if err != nil {
		return ChallengeResult{}, fmt.Errorf("challenge %s: open the home copy: %w", it.name, err)
	}
	defer o.Close()
	cerr := r.cfg.Replicator.Challenge(ctx, it.name, o, o.Size())
	if cerr != nil && !errors.Is(cerr, ErrChallengeFailed) {
		return ChallengeResult{}, cerr
	}
	res := ChallengeResult{Object: it.obj, At: time.Unix(r.cfg.Now().Unix(), 0).UTC(), OK: cerr == nil}
	if err := r.cfg.Node.Apply(ctx, &res); err != nil {
		return ChallengeResult{}, fmt.Errorf("commit the challenge of %s: %w", it.name, err)
	}
	if res.OK {
		return res, nil
	}
	for _, sp := range p.snaps {
		if !sp.needs(it.obj) {
			continue
		}
		if _, marked := r.fsm.SnapshotComplete(sp.snap.ID()); !marked {
			continue
		}
		if err := r.cfg.Node.Apply(ctx, &SnapshotIncomplete{Snapshot: sp.snap.ID()}); err != nil {
			return res, errors.Join(cerr, fmt.Errorf("withdraw the complete mark of snapshot %s: %w", sp.snap.ID().Short(), err))
		}
	}
	r.log.Warn("storage challenge failed; the object will be sent again", "object", it.name, "err", cerr)
	return res, cerr
}

// planLocked makes a plan under the Sync lock (no Sync runs meanwhile).
func (r *Replica) planLocked(ctx context.Context) (*plan, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return r.plan(ctx)
}
