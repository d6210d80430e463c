package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// These tests run real Raft (raft-boltdb stores and file snapshots in
// t.TempDir()) over Raft's in-memory transport, whose links the tests cut
// and mend. They wait for conditions, never for a time: the only limit is
// the test's context, a bound on a hang.

const testAddrHome, testAddrOffsite = raft.ServerAddress("home:8444"), raft.ServerAddress("offsite:8444")

// unit is one box's Raft node and what a restart needs.
type unit struct {
	t     testing.TB
	dir   string
	id    raft.ServerID
	addr  raft.ServerAddress
	cfg   NodeConfig
	trans *raft.InmemTransport
	*Node
}

func startUnit(t testing.TB, dir string, id raft.ServerID, addr raft.ServerAddress, tune func(*NodeConfig)) *unit {
	t.Helper()
	u := &unit{t: t, dir: dir, id: id, addr: addr}
	u.cfg = NodeConfig{ID: id, Dir: dir, HeartbeatTimeout: 100 * time.Millisecond}
	if tune != nil {
		tune(&u.cfg)
	}
	u.start()
	t.Cleanup(func() { u.stop() })
	return u
}

func (u *unit) start() {
	u.t.Helper()
	cfg := u.cfg
	// Raft's in-memory transport, unless the test brings its own (the
	// gRPC link of raftgrpc_test.go, made once: such a unit is not
	// restarted).
	if cfg.Transport == nil {
		_, u.trans = raft.NewInmemTransport(u.addr)
		cfg.Transport = u.trans
	}
	cfg.FSM = NewFSM()
	n, err := OpenNode(cfg)
	if err != nil {
		u.t.Fatal(err)
	}
	u.Node = n
}

func (u *unit) stop() {
	if u.Node == nil {
		return
	}
	if err := u.Close(); err != nil {
		u.t.Errorf("close %s: %v", u.id, err)
	}
	u.Node = nil
}

// snapshots lists the catalog snapshots in the unit's state directory
// (Raft's FileSnapshotStore: DIR/raft/snapshots/<term>-<index>-<ms>).
func (u *unit) snapshots() []string {
	u.t.Helper()
	entries, err := os.ReadDir(filepath.Join(u.dir, "raft", "snapshots"))
	if err != nil {
		u.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".tmp") {
			names = append(names, e.Name())
		}
	}
	return names
}

func link(a, b *unit) {
	a.trans.Connect(b.addr, b.trans)
	b.trans.Connect(a.addr, a.trans)
}

func cut(a, b *unit) {
	a.trans.Disconnect(b.addr)
	b.trans.Disconnect(a.addr)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds; the test's context bounds the wait.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// sameCatalog reports whether two units' catalogs are equal, byte for
// byte as a snapshot would write them.
func sameCatalog(t *testing.T, a, b *unit) bool {
	return bytes.Equal(snapshotBytes(t, a.FSM), snapshotBytes(t, b.FSM))
}

// startPair starts a home and an offsite unit, links them, bootstraps the
// home and adds the offsite as a non-voter.
func startPair(ctx context.Context, t *testing.T, tuneHome func(*NodeConfig)) (home, off *unit) {
	t.Helper()
	home = startUnit(t, t.TempDir(), homeMember.ID, testAddrHome, tuneHome)
	off = startUnit(t, t.TempDir(), offsiteMember.ID, testAddrOffsite, nil)
	link(home, off)
	if err := home.BootstrapHome(ctx, homeMember); err != nil {
		t.Fatal(err)
	}
	if err := home.AddOffsite(ctx, offsiteMember, testAddrOffsite); err != nil {
		t.Fatal(err)
	}
	return home, off
}

// applyReceipts commits receipts for objects from..to-1 on the home unit.
func applyReceipts(ctx context.Context, t *testing.T, home *unit, from, to int) {
	t.Helper()
	cluster := home.FSM.Cluster()
	for i := from; i < to; i++ {
		if err := home.Apply(ctx, signedReceipt(cluster, dataObject(i), epoch0)); err != nil {
			t.Fatalf("apply receipt %d: %v", i, err)
		}
	}
}

func TestVoterLayout(t *testing.T) {
	ctx := testContext(t)
	home, off := startPair(ctx, t, nil)
	cfg := home.Raft.GetConfiguration()
	if err := cfg.Error(); err != nil {
		t.Fatal(err)
	}
	got := map[raft.ServerID]raft.ServerSuffrage{}
	for _, s := range cfg.Configuration().Servers {
		got[s.ID] = s.Suffrage
	}
	want := map[raft.ServerID]raft.ServerSuffrage{homeMember.ID: raft.Voter, offsiteMember.ID: raft.Nonvoter}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("raft configuration %v, want %v", got, want)
	}
	if members := home.FSM.Members(); len(members) != 2 {
		t.Errorf("catalog members %v, want home and offsite", members)
	}
	// A receipt with a bad signature is committed to the log but refused
	// by the catalog, on the home unit and on the offsite unit alike.
	bad := signedReceipt(home.FSM.Cluster(), dataObject(7), epoch0)
	bad.Sig[0] ^= 1
	if err := home.Apply(ctx, bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Apply of a badly signed receipt: %v, want ErrBadSignature", err)
	}
	applyReceipts(ctx, t, home, 8, 9)
	waitFor(ctx, t, "the offsite unit applies the log", func() bool { return sameCatalog(t, home, off) })
	if off.FSM.Confirmed(dataObject(7)) || !off.FSM.Confirmed(dataObject(8)) {
		t.Error("the offsite unit's catalog took the bad receipt or missed the good one")
	}
	if err := home.AddOffsite(ctx, homeMember, testAddrOffsite); !errors.Is(err, ErrInvalidMember) {
		t.Errorf("AddOffsite of the home member: %v, want ErrInvalidMember", err)
	}
	if err := home.BootstrapHome(ctx, offsiteMember); !errors.Is(err, ErrInvalidMember) {
		t.Errorf("BootstrapHome with another unit's member: %v, want ErrInvalidMember", err)
	}
	// The offsite unit follows and can never commit on its own.
	if err := off.Apply(ctx, &Hold{Until: epoch0}); !errors.Is(err, raft.ErrNotLeader) {
		t.Errorf("Apply on the offsite unit: %v, want raft.ErrNotLeader", err)
	}
}

// TestHomeCommitsWhileLinkCut is the proof that a home write never waits
// for the link: with the offsite unit unreachable, every Apply on the
// home unit commits and applies (the test would hang until its context
// ends otherwise), and the offsite then catches up from the log.
func TestHomeCommitsWhileLinkCut(t *testing.T) {
	ctx := testContext(t)
	home, off := startPair(ctx, t, nil)
	applyReceipts(ctx, t, home, 0, 5)
	waitFor(ctx, t, "the offsite unit applies the first receipts", func() bool { return sameCatalog(t, home, off) })

	cut(home, off)
	applyReceipts(ctx, t, home, 5, 40)
	if home.Raft.State() != raft.Leader {
		t.Fatalf("the home unit is %v with the link cut, want Leader", home.Raft.State())
	}
	for i := 5; i < 40; i++ {
		if !home.FSM.Confirmed(dataObject(i)) {
			t.Fatalf("object %d not confirmed on the home unit", i)
		}
		if off.FSM.Confirmed(dataObject(i)) {
			t.Fatalf("object %d reached the offsite unit through a cut link", i)
		}
	}

	link(home, off)
	waitFor(ctx, t, "the offsite unit catches up from the log", func() bool { return sameCatalog(t, home, off) })
	if snaps := off.snapshots(); len(snaps) != 0 {
		t.Errorf("the offsite unit installed a snapshot (%v); it should have caught up from the log", snaps)
	}
}

// TestOffsiteCatchesUpBySnapshot: the home unit snapshots and compacts
// its log while the link is cut, so the offsite unit can only catch up
// by installing the snapshot.
func TestOffsiteCatchesUpBySnapshot(t *testing.T) {
	ctx := testContext(t)
	home, off := startPair(ctx, t, func(c *NodeConfig) { c.TrailingLogs = 2 })
	applyReceipts(ctx, t, home, 0, 3)
	waitFor(ctx, t, "the offsite unit applies the first receipts", func() bool { return sameCatalog(t, home, off) })
	offLast := off.Raft.LastIndex()

	cut(home, off)
	applyReceipts(ctx, t, home, 3, 30)
	if err := home.Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	first, err := home.bolt.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= offLast+1 {
		t.Fatalf("the home unit's log starts at %d, the offsite unit has up to %d: not compacted past it", first, offLast)
	}

	link(home, off)
	waitFor(ctx, t, "the offsite unit installs the snapshot", func() bool { return sameCatalog(t, home, off) })
	// Raft stores an installed snapshot before it restores the catalog
	// from it, so it is on disk by now.
	if snaps := off.snapshots(); len(snaps) == 0 {
		t.Error("the offsite unit caught up without a snapshot, though the log it needed was gone")
	}
	// And it follows the log again afterwards.
	applyReceipts(ctx, t, home, 30, 32)
	waitFor(ctx, t, "the offsite unit follows after the install", func() bool { return sameCatalog(t, home, off) })
}

// TestRestartKeepsState stops both units and starts them again from
// their state directories: the catalog, the cluster ID and the pairing
// (the offsite unit still a non-voter that receives new entries) remain.
func TestRestartKeepsState(t *testing.T) {
	ctx := testContext(t)
	home, off := startPair(ctx, t, func(c *NodeConfig) { c.SnapshotThreshold = 10 })
	applyReceipts(ctx, t, home, 0, 15)
	if err := home.Raft.Snapshot().Error(); err != nil { // part in a snapshot, part in the log
		t.Fatal(err)
	}
	applyReceipts(ctx, t, home, 15, 20)
	waitFor(ctx, t, "the offsite unit catches up", func() bool { return sameCatalog(t, home, off) })
	want := snapshotBytes(t, home.FSM)
	cluster := home.FSM.Cluster()

	off.stop()
	home.stop()
	home.start()
	off.start()
	link(home, off)
	if err := home.BootstrapHome(ctx, homeMember); err != nil {
		t.Fatalf("BootstrapHome after a restart: %v", err)
	}
	if got := snapshotBytes(t, home.FSM); !bytes.Equal(got, want) {
		t.Error("the home unit's catalog changed across a restart")
	}
	if home.FSM.Cluster() != cluster {
		t.Error("the cluster ID changed across a restart (initialised twice?)")
	}
	waitFor(ctx, t, "the restarted offsite unit has its catalog again", func() bool { return sameCatalog(t, home, off) })

	applyReceipts(ctx, t, home, 20, 22)
	waitFor(ctx, t, "the offsite unit receives new entries after the restart", func() bool { return sameCatalog(t, home, off) })
	if !off.FSM.Confirmed(dataObject(21)) {
		t.Error("object 21 not confirmed on the offsite unit")
	}
}

// BenchmarkHomeApply measures one committed receipt on the home unit
// (raft.db fsynced per entry): with the offsite unit linked, with the
// link cut, and with no offsite unit at all. The home unit waits for the
// link in none of them.
//
//	go test -run '^$' -bench BenchmarkHomeApply -benchtime 400x ./cluster/
func BenchmarkHomeApply(b *testing.B) {
	for _, mode := range []string{"linked", "cut", "alone"} {
		b.Run(mode, func(b *testing.B) {
			ctx := b.Context()
			home := startUnit(b, b.TempDir(), homeMember.ID, testAddrHome, nil)
			if err := home.BootstrapHome(ctx, homeMember); err != nil {
				b.Fatal(err)
			}
			if mode == "alone" {
				m := offsiteMember // its receipts verify, but it is no Raft peer
				if err := home.Apply(ctx, &m); err != nil {
					b.Fatal(err)
				}
			} else {
				off := startUnit(b, b.TempDir(), offsiteMember.ID, testAddrOffsite, nil)
				link(home, off)
				if err := home.AddOffsite(ctx, offsiteMember, testAddrOffsite); err != nil {
					b.Fatal(err)
				}
				if mode == "cut" {
					cut(home, off)
				}
			}
			benchApply(ctx, b, home)
		})
	}
}

// benchApply commits b.N receipts on the home unit, timed.
func benchApply(ctx context.Context, b *testing.B, home *unit) {
	cluster := home.FSM.Cluster()
	receipts := make([]*Receipt, b.N)
	for i := range receipts {
		receipts[i] = signedReceipt(cluster, dataObject(i), epoch0)
	}
	b.ResetTimer()
	for _, r := range receipts {
		if err := home.Apply(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
