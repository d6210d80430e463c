package cluster

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoebox/shoebox/internal/fakeclock"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// syncEnv is a home unit with a real repository on a directory store
// and a real Raft node, paired with a real offsite unit (ledger,
// replication server, its own Raft node as a non-voter) on loopback.
type syncEnv struct {
	t     *testing.T
	ctx   context.Context
	clock *fakeclock.Clock
	src   string // the folder backed up
	home  *store.Dir
	repo  *vault.Repository
	node  *unit // the home unit's Raft node
	off   *unit // the offsite unit's
	rp    *replPair
	r     *Replica
	rnd   *mrand.Rand
	n     int // files written so far: each has a name of its own
}

const syncPassphrase = "owner"

func newSyncEnv(t *testing.T) *syncEnv {
	t.Helper()
	// The clock starts now, since the backups date their snapshots by
	// the real clock, and moves an hour before each backup: the lag of
	// a snapshot is an hour or more, never negative.
	e := &syncEnv{t: t, ctx: testContext(t), clock: fakeclock.New(time.Now().Round(0)), src: t.TempDir(), rnd: mrand.New(mrand.NewPCG(15, 3))}
	var err error
	if e.home, err = store.OpenDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if e.repo, _, err = vault.Init(e.ctx, e.home, vault.InitOptions{Passphrase: syncPassphrase, ScryptLogN: 10, PackSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.repo.Close() })

	e.node = startUnit(t, t.TempDir(), homeMember.ID, testAddrHome, nil)
	if err := e.node.BootstrapHome(e.ctx, homeMember); err != nil {
		t.Fatal(err)
	}
	e.rp = newReplPairFor(t, e.node.FSM.Cluster())
	e.off = startUnit(t, t.TempDir(), "offsite", testAddrOffsite, nil)
	link(e.node, e.off)
	m := Member{ID: "offsite", Role: RoleOffsite, Pin: e.rp.offsite.id.ID, Key: e.rp.offsite.id.Key.Public().(ed25519.PublicKey)}
	if err := e.node.AddOffsite(e.ctx, m, testAddrOffsite); err != nil {
		t.Fatal(err)
	}
	e.newReplica()
	return e
}

// newReplica makes the Replica afresh on the pair's current Replicator
// (after the offsite unit restarted, as the daemon would).
func (e *syncEnv) newReplica() {
	e.r = NewReplica(ReplicaConfig{Repo: e.repo, Node: e.node.Node, Replicator: e.rp.rep,
		Card: func(s *vault.Snapshot) bool { return s.HasTag("cards") }, Now: e.clock.Now, Seed: 7})
}

// files writes n new random files of size bytes into the source folder
// under dir (never over an older one: every snapshot restores as the
// source now is).
func (e *syncEnv) files(dir string, n, size int) {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Join(e.src, dir), 0o700); err != nil {
		e.t.Fatal(err)
	}
	for range n {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(e.rnd.Uint32())
		}
		e.n++
		if err := os.WriteFile(filepath.Join(e.src, dir, fmt.Sprintf("IMG_%04d.JPG", e.n)), b, 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *syncEnv) backup(dir string, tags ...string) *vault.Snapshot {
	e.t.Helper()
	e.clock.Add(time.Hour)
	s, err := e.repo.Backup(e.ctx, vault.BackupOptions{Paths: []string{filepath.Join(e.src, dir)}, Tags: tags})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *syncEnv) sync() SyncReport {
	e.t.Helper()
	rep, err := e.r.Sync(e.ctx)
	if err != nil {
		e.t.Fatalf("Sync: %v", err)
	}
	return rep
}

// objects lists a store: name → bytes.
func objects(t *testing.T, ctx context.Context, s store.ObjectStore) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := s.List(ctx, "", func(fi store.ObjectInfo) error {
		b, err := store.ReadAll(ctx, s, fi.Name)
		out[fi.Name] = b
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkMirror checks that the offsite store holds every object of the
// home store but locks/, byte for byte.
func (e *syncEnv) checkMirror() {
	e.t.Helper()
	off, err := store.OpenDir(e.rp.root)
	if err != nil {
		e.t.Fatal(err)
	}
	home, have := objects(e.t, e.ctx, e.home), objects(e.t, e.ctx, off)
	for name, b := range home {
		if strings.HasPrefix(name, "locks/") {
			if _, ok := have[name]; ok {
				e.t.Errorf("the offsite holds %s: locks are never replicated", name)
			}
			continue
		}
		if !bytes.Equal(have[name], b) {
			e.t.Errorf("the offsite's copy of %s: %d bytes, want the home's %d", name, len(have[name]), len(b))
		}
	}
	for name := range have {
		if _, ok := home[name]; !ok {
			e.t.Errorf("the offsite holds %s, which the home repository does not", name)
		}
	}
}

// receiptOrder is the order in which the home unit committed receipts:
// the objects' names, from its Raft log.
func (e *syncEnv) receiptOrder() []string {
	e.t.Helper()
	first, err := e.node.bolt.FirstIndex()
	if err != nil {
		e.t.Fatal(err)
	}
	last, err := e.node.bolt.LastIndex()
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := e.node.bolt.GetLog(i, &l); err != nil {
			e.t.Fatal(err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		if c, err := DecodeCommand(l.Data); err == nil {
			if rc, ok := c.(*Receipt); ok {
				names = append(names, rc.Object.String())
			}
		}
	}
	return names
}

func packNames(t *testing.T, ctx context.Context, repo *vault.Repository, s *vault.Snapshot) []string {
	t.Helper()
	ids, err := repo.PacksOf(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range ids {
		out = append(out, Object{Kind: KindData, ID: id}.String())
	}
	return out
}

// restoreAll opens the offsite copy with the owner's passphrase and
// restores every snapshot, checking the files against the source.
func (e *syncEnv) restoreAll(want int) {
	e.t.Helper()
	off, err := store.OpenDir(e.rp.root)
	if err != nil {
		e.t.Fatal(err)
	}
	repo, err := vault.Open(e.ctx, off, syncPassphrase)
	if err != nil {
		e.t.Fatalf("open the offsite copy with the passphrase: %v", err)
	}
	defer repo.Close()
	snaps, err := repo.Snapshots(e.ctx)
	if err != nil || len(snaps) != want {
		e.t.Fatalf("the offsite copy's snapshots: got %d, %v; want %d", len(snaps), err, want)
	}
	for _, s := range snaps {
		target := e.t.TempDir()
		if _, err := repo.Restore(e.ctx, s, vault.RestoreOptions{Target: target}); err != nil {
			e.t.Fatalf("restore %s from the offsite copy: %v", s.ID().Short(), err)
		}
		n := 0
		for _, p := range s.Paths {
			filepath.WalkDir(filepath.Join(target, p), func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(target, path)
				got, _ := os.ReadFile(path)
				if src, err := os.ReadFile(string(filepath.Separator) + rel); err != nil || !bytes.Equal(got, src) {
					e.t.Errorf("restored %s differs from the source", rel)
				}
				n++
				return nil
			})
		}
		if n == 0 {
			e.t.Errorf("snapshot %s restored no file", s.ID().Short())
		}
	}
}

// TestSyncWholeRepository: one Sync brings two snapshots (a card
// snapshot, newer, and an older one), a hold and the keys to the offsite
// unit, in the order of docs/CLUSTER.md, every receipt committed through
// Raft; the offsite then holds every object but locks/, the owner
// restores both snapshots from it byte for byte, and the catalog marks
// both complete and holds the hold.
func TestSyncWholeRepository(t *testing.T) {
	e := newSyncEnv(t)
	if p := e.r.Progress(); p.Lag != 0 || p.PendingBytes != 0 || !p.Planned.IsZero() {
		t.Errorf("progress before the first Sync: got %+v, want zero", p)
	}
	e.files("weekly", 5, 400<<10)
	older := e.backup("weekly", "weekly")
	e.files("card", 4, 500<<10)
	card := e.backup("card", "cards")
	if err := e.repo.Hold(e.ctx, older.ID(), time.Now().Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.home.Put(e.ctx, "locks/"+strings.Repeat("ab", 32), strings.NewReader("a lock of the home unit")); err != nil {
		t.Fatal(err)
	}

	rep := e.sync()
	e.checkMirror()
	home := objects(t, e.ctx, e.home)
	var total int64
	for name, b := range home {
		if !strings.HasPrefix(name, "locks/") {
			total += int64(len(b))
		}
	}
	if rep.SentObjects != len(home)-1 || rep.SentBytes != total || rep.Skipped != 0 {
		t.Errorf("Sync sent %d objects, %d bytes, skipped %d; want %d, %d, 0", rep.SentObjects, rep.SentBytes, rep.Skipped, len(home)-1, total)
	}
	if got := e.rp.sent.reset(); got != total {
		t.Errorf("bytes on the link: got %d, want %d", got, total)
	}
	want := []vault.ID{older.ID(), card.ID()}
	slices.SortFunc(want, compareIDs)
	if p := rep.Progress; !slices.Equal(p.Complete, want) || p.PendingObjects != 0 || p.PendingBytes != 0 || p.Lag != 0 || !p.Oldest.IsZero() {
		t.Errorf("progress after Sync: got %+v, want both complete, nothing pending, no lag", p)
	}
	if got := e.node.FSM.CompleteSnapshots(); !slices.Equal(got, want) {
		t.Errorf("catalog marks: got %v, want %v", got, want)
	}
	if _, ok := e.node.FSM.HoldUntil(older.ID()); !ok {
		t.Error("the hold is not in the catalog")
	}

	// The order of the receipts.
	order := e.receiptOrder()
	pos := map[string]int{}
	for i, n := range order {
		if _, dup := pos[n]; dup {
			t.Errorf("%s confirmed twice", n)
		}
		pos[n] = i
	}
	if len(order) == 0 || order[0] != "config" {
		t.Fatalf("the first object: got %v, want config", order[:min(1, len(order))])
	}
	var keys, holds, indexes []string
	for n := range home {
		switch {
		case strings.HasPrefix(n, "keys/"):
			keys = append(keys, n)
		case strings.HasPrefix(n, "holds/"):
			holds = append(holds, n)
		case strings.HasPrefix(n, "index/"):
			indexes = append(indexes, n)
		}
	}
	for _, k := range keys {
		if pos[k] > len(keys) {
			t.Errorf("key file %s sent at %d, want right after config", k, pos[k])
		}
	}
	before := func(a, b string) {
		t.Helper()
		pa, oka := pos[a]
		pb, okb := pos[b]
		if !oka || !okb || pa >= pb {
			t.Errorf("%s (at %d, sent %v) must be confirmed before %s (at %d, sent %v)", a, pa, oka, b, pb, okb)
		}
	}
	cardFile, olderFile := "snapshots/"+card.ID().String(), "snapshots/"+older.ID().String()
	before(cardFile, olderFile) // the card snapshot first, though newer
	for _, s := range []*vault.Snapshot{card, older} {
		file := "snapshots/" + s.ID().String()
		packs := packNames(t, e.ctx, e.repo, s)
		for _, p := range packs {
			before(p, file)
		}
		for _, ix := range indexes {
			id, _ := ParseObject(ix)
			info, err := e.repo.IndexFile(e.ctx, id.ID)
			if err != nil {
				t.Fatal(err)
			}
			lists := false
			for _, pk := range info.Packs {
				pn := Object{Kind: KindData, ID: pk}.String()
				before(pn, ix) // an index file after every pack it lists
				lists = lists || slices.Contains(packs, pn)
			}
			if lists {
				before(ix, file)
			}
		}
	}
	for _, h := range holds {
		before(olderFile, h)
	}

	e.restoreAll(2)

	// A second pass sends nothing.
	rep = e.sync()
	if rep.SentObjects != 0 || rep.Skipped != len(home)-1 || e.rp.sent.reset() != 0 {
		t.Errorf("a second Sync sent %d objects (skipped %d); want none", rep.SentObjects, rep.Skipped)
	}
}

// TestSyncResumesAfterCut: the offsite unit goes away mid-sync (its
// listener closed); Sync fails; once it is back, the next Sync sends
// nothing it had confirmed, finishes, and the copy restores. Then new
// backups: only their new objects go.
func TestSyncResumesAfterCut(t *testing.T) {
	e := newSyncEnv(t)
	e.files("a", 6, 700<<10)
	first := e.backup("a")
	home := objects(t, e.ctx, e.home)
	var total int64
	for _, b := range home {
		total += int64(len(b))
	}
	var cut sync.Once
	e.rp.sent.hook = func(ctx context.Context, sent int64) error {
		if sent >= 3<<20 {
			cut.Do(e.rp.off.stop) // the link is cut mid-pack
		}
		return nil
	}
	if _, err := e.r.Sync(e.ctx); err == nil {
		t.Fatal("Sync with the offsite unit gone: got no error")
	} else {
		t.Logf("Sync with the link cut: %v", err)
	}
	e.rp.sent.reset()
	objs, confirmedBytes := e.node.FSM.ConfirmedCount()
	if objs < 3 || confirmedBytes == 0 {
		t.Fatalf("before the cut %d objects (%d bytes) were confirmed; want config, a key and a pack at least", objs, confirmedBytes)
	}
	e.clock.Add(90 * time.Minute)
	if p, lag := e.r.Progress(), e.clock.Now().Sub(first.Time); p.PendingBytes != total-int64(confirmedBytes) ||
		!p.Oldest.Equal(first.Time) || p.Lag != lag || len(p.Complete) != 0 || p.Snapshots != 1 {
		t.Errorf("progress after the cut: got %+v, want %d bytes pending, the snapshot's time and a lag of %v", p, total-int64(confirmedBytes), lag)
	}

	e.rp.start(t) // the offsite unit is back (a new address, a new connection)
	e.newReplica()
	rep := e.sync()
	sent := e.rp.sent.reset()
	if sent > total-int64(confirmedBytes) {
		t.Errorf("resume sent %d bytes; want at most the %d not confirmed", sent, total-int64(confirmedBytes))
	}
	if rep.Skipped != objs {
		t.Errorf("resume skipped %d objects, want the %d confirmed", rep.Skipped, objs)
	}
	e.checkMirror()
	e.restoreAll(1)

	// New backups after a sync: only the new objects go.
	e.files("b", 3, 600<<10)
	e.backup("b")
	e.files("a", 1, 300<<10) // a new file in a
	e.backup("a")
	var fresh int64
	newObjs := 0
	for name, b := range objects(t, e.ctx, e.home) {
		if _, old := home[name]; !old {
			fresh += int64(len(b))
			newObjs++
		}
	}
	rep = e.sync()
	if got := e.rp.sent.reset(); got != fresh || rep.SentObjects != newObjs || rep.SentBytes != fresh {
		t.Errorf("after new backups Sync sent %d objects, %d bytes (%d on the link); want the %d new ones, %d bytes", rep.SentObjects, rep.SentBytes, got, newObjs, fresh)
	}
	e.checkMirror()
	e.restoreAll(3)
	if p := rep.Progress; len(p.Complete) != 3 || p.Lag != 0 {
		t.Errorf("progress: got %+v, want 3 complete and no lag", p)
	}
}

// TestSyncChallenge: a pack damaged on the offsite's disk fails a
// challenge; the failure is committed, the receipt dropped and the
// snapshot's complete mark withdrawn; the next Sync sends the pack again,
// whole, and the mark and the challenges come back.
func TestSyncChallenge(t *testing.T) {
	e := newSyncEnv(t)
	if _, err := e.r.ChallengeOnce(e.ctx); !errors.Is(err, ErrNothingToChallenge) {
		t.Errorf("ChallengeOnce before anything is sent: got %v, want ErrNothingToChallenge", err)
	}
	e.files("a", 4, 700<<10)
	s := e.backup("a")
	e.sync()
	e.rp.sent.reset()
	for range 5 {
		res, err := e.r.ChallengeOnce(e.ctx)
		if err != nil || !res.OK {
			t.Fatalf("challenge of an intact copy: got %+v, %v", res, err)
		}
	}
	pack := packNames(t, e.ctx, e.repo, s)[0]
	size := damage(t, filepath.Join(e.rp.root, filepath.FromSlash(pack)), 512)
	var res ChallengeResult
	var err error
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("1000 challenges and none failed")
		}
		if res, err = e.r.ChallengeOnce(e.ctx); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrChallengeFailed) || res.OK || res.Object.String() != pack || !strings.Contains(err.Error(), pack) {
		t.Fatalf("challenge of the damaged pack: got %+v, %v; want a failure naming %s", res, err, pack)
	}
	if last, ok, _, _ := e.node.FSM.LastChallenge(); !ok || last.OK || last.Object.String() != pack {
		t.Errorf("the catalog's last challenge: got %+v, want the failure", last)
	}
	if e.node.FSM.Confirmed(res.Object) {
		t.Error("the damaged pack is still confirmed")
	}
	if _, ok := e.node.FSM.SnapshotComplete(s.ID()); ok {
		t.Error("the snapshot keeps its complete mark with a pack failed")
	}
	if p := e.r.Progress(); len(p.Complete) != 0 || p.PendingObjects != 1 || p.PendingBytes != size || p.Lag <= 0 {
		t.Errorf("progress after the failure: got %+v, want the pack pending and the snapshot not complete", p)
	}

	rep := e.sync()
	if got := e.rp.sent.reset(); rep.SentObjects != 1 || got != size {
		t.Errorf("the next Sync sent %d objects, %d bytes; want the pack whole, %d bytes", rep.SentObjects, got, size)
	}
	if !slices.Equal(rep.Marked, []vault.ID{s.ID()}) {
		t.Errorf("marked %v, want the snapshot again", rep.Marked)
	}
	e.checkMirror()
	home, err := e.home.Open(e.ctx, pack)
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	if err := e.rp.rep.Challenge(e.ctx, pack, home, home.Size()); err != nil {
		t.Errorf("challenge of the pack sent again: %v", err)
	}
	for range 5 {
		if res, err := e.r.ChallengeOnce(e.ctx); err != nil || !res.OK {
			t.Fatalf("challenge after the re-send: got %+v, %v", res, err)
		}
	}

	// With the link down nothing is learnt and nothing committed.
	before, _, _, _ := e.node.FSM.LastChallenge()
	confirmed, _ := e.node.FSM.ConfirmedCount()
	e.rp.off.stop()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if _, err := e.r.ChallengeOnce(ctx); err == nil || errors.Is(err, ErrChallengeFailed) {
		t.Errorf("challenge with the link down: got %v, want an error that is not ErrChallengeFailed", err)
	}
	if after, _, _, _ := e.node.FSM.LastChallenge(); after != before {
		t.Errorf("challenge with the link down committed %+v", after)
	}
	if n, _ := e.node.FSM.ConfirmedCount(); n != confirmed {
		t.Errorf("challenge with the link down: %d objects confirmed, want %d", n, confirmed)
	}
}

// TestSyncWithdrawsStaleMark: a mark set in the catalog for a snapshot
// with an object that has no receipt (a receipt dropped by a challenge
// another Replica made, say) is withdrawn by the next Sync before it
// sends, and set again once the object is back.
func TestSyncWithdrawsStaleMark(t *testing.T) {
	e := newSyncEnv(t)
	e.files("a", 2, 300<<10)
	s := e.backup("a")
	e.sync()
	pack := packNames(t, e.ctx, e.repo, s)[0]
	o, _ := ParseObject(pack)
	if err := e.node.Apply(e.ctx, &ChallengeResult{Object: o, At: e.clock.Now(), OK: false}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.node.FSM.SnapshotComplete(s.ID()); !ok {
		t.Fatal("the catalog itself dropped the mark; this test is about the replicator doing it")
	}
	rep := e.sync()
	if !slices.Equal(rep.Withdrawn, []vault.ID{s.ID()}) || !slices.Equal(rep.Marked, []vault.ID{s.ID()}) || rep.SentObjects != 1 {
		t.Errorf("Sync: withdrew %v, marked %v, sent %d; want the snapshot withdrawn, marked again, one object sent", rep.Withdrawn, rep.Marked, rep.SentObjects)
	}
}

// damage flips a bit of every byte at a multiple of every in the file
// at path (so that every range that long holds a damaged byte) and
// returns the file's size.
func damage(t *testing.T, path string, every int) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i += every {
		b[i] ^= 0x20
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return int64(len(b))
}

// newTwoSnapshots is a syncEnv with two snapshots of different folders,
// which share no pack.
func newTwoSnapshots(t *testing.T) (e *syncEnv, older, newer *vault.Snapshot) {
	t.Helper()
	e = newSyncEnv(t)
	e.files("a", 3, 500<<10)
	older = e.backup("a")
	e.files("b", 3, 500<<10)
	return e, older, e.backup("b")
}

// TestSyncGoesOnPastARefusal: a pack damaged on the home unit's disk
// (its bytes no longer hash to its name) is refused by the offsite; Sync
// says so, naming it, leaves out the index file and snapshot file that
// depend on it, and still brings the other snapshot whole.
func TestSyncGoesOnPastARefusal(t *testing.T) {
	e, damaged, good := newTwoSnapshots(t)
	pack := packNames(t, e.ctx, e.repo, damaged)[0]
	damage(t, filepath.Join(e.home.Root(), filepath.FromSlash(pack)), 512)
	rep, err := e.r.Sync(e.ctx)
	if err == nil || !strings.Contains(err.Error(), pack) || !strings.Contains(err.Error(), "snapshots/"+damaged.ID().String()+" not sent") {
		t.Fatalf("Sync with a damaged home pack: got %v; want an error naming %s and the snapshot file left out", err, pack)
	}
	t.Logf("Sync: %v", err)
	if !slices.Equal(rep.Marked, []vault.ID{good.ID()}) {
		t.Errorf("marked %v, want only the intact snapshot %s", rep.Marked, good.ID().Short())
	}
	if _, err := os.Stat(filepath.Join(e.rp.root, filepath.FromSlash(pack))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the offsite stored the damaged pack: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.rp.root, "snapshots", damaged.ID().String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the offsite stored the snapshot file of the damaged snapshot: %v", err)
	}
}

// TestSyncGoesOnPastAMissingPack: a pack gone from the home store (a
// disk lost it) leaves its snapshot out of the pass, named in the error,
// not complete and counted in the lag; the other snapshot goes whole.
func TestSyncGoesOnPastAMissingPack(t *testing.T) {
	e, lost, good := newTwoSnapshots(t)
	pack := packNames(t, e.ctx, e.repo, lost)[0]
	if err := e.home.Delete(e.ctx, pack); err != nil {
		t.Fatal(err)
	}
	rep, err := e.r.Sync(e.ctx)
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), pack) || !strings.Contains(err.Error(), lost.ID().Short()) {
		t.Fatalf("Sync with a pack lost at home: got %v; want ErrNotFound naming %s and the snapshot", err, pack)
	}
	if !slices.Equal(rep.Marked, []vault.ID{good.ID()}) || !slices.Equal(rep.Progress.Complete, []vault.ID{good.ID()}) {
		t.Errorf("marked %v, complete %v; want only the intact snapshot %s", rep.Marked, rep.Progress.Complete, good.ID().Short())
	}
	e.clock.Add(time.Hour)
	if p := e.r.Progress(); !slices.Equal(p.Complete, []vault.ID{good.ID()}) || !p.Oldest.Equal(lost.Time) || p.Lag != e.clock.Now().Sub(lost.Time) {
		t.Errorf("progress: got %+v, want only %s complete and the lag of %s", p, good.ID().Short(), lost.ID().Short())
	}
}
