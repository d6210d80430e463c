package cluster

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	pb "github.com/Jille/raft-grpc-transport/proto"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/internal/fakeclock"
)

// These tests run Raft between two real units on loopback: each has its
// own identity (devid.LoadOrCreate) and state directory, they are paired
// with the pairing library, and Raft talks over the offsite unit's
// cluster listener (NewServer with Pairing's checks), as the daemon will
// run it. They wait for conditions, never for a time.

// linkUnit is one unit of such a pair: its pairing, its Raft transport
// over the link and its Raft node.
type linkUnit struct {
	*pairUnit
	rt   *RaftTransport
	node *unit
}

// raftLink is a paired home and offsite unit, Raft between them over the
// offsite unit's cluster listener, the home unit bootstrapped and the
// offsite unit added as a non-voter. The home unit's address in the Raft
// configuration is a listener that counts the connections made to it.
type raftLink struct {
	home, off *linkUnit
	homeDials *atomic.Int64 // connections to the home unit's address
	stopOff   func()        // cuts the link: closes the offsite listener and its connections
}

func newRaftLink(ctx context.Context, t *testing.T, tuneHome func(*NodeConfig)) *raftLink {
	t.Helper()
	// Registered first, so it runs last: once both nodes and the
	// listener are closed, no goroutine of Raft, its transport or gRPC
	// is left.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	clock := fakeclock.New(pairEpoch)
	l := &raftLink{
		home:      &linkUnit{pairUnit: newPairUnit(t, "home", clock)},
		off:       &linkUnit{pairUnit: newPairUnit(t, "studio", clock)},
		homeDials: new(atomic.Int64),
	}

	// The offsite unit: listener, Raft transport and node from the
	// start, unpaired (its transport pinned to no one: it never dials).
	ln := listenLoopback(t, "127.0.0.1:0")
	l.off.addr = ln.Addr().String()
	l.off.rt = NewRaftTransport(raft.ServerAddress(l.off.addr), l.off.id, l.off.peerID())
	l.serveOff(t, ln)
	l.off.node = startUnit(t, l.off.dir, offsiteMember.ID, raft.ServerAddress(l.off.addr), func(c *NodeConfig) {
		c.Transport = l.off.rt.Transport()
	})

	// Pairing, as the person does it.
	o, err := l.off.p.Offer(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.home.pairWith(t, l.off.pairUnit, o.Code); err != nil {
		t.Fatal(err)
	}

	// The home unit dials out and listens for nothing Raft needs: its
	// address in the configuration is a listener that only counts.
	homeLn := listenLoopback(t, "127.0.0.1:0")
	go func() {
		for {
			c, err := homeLn.Accept()
			if err != nil {
				return
			}
			l.homeDials.Add(1)
			c.Close()
		}
	}()
	l.home.addr = homeLn.Addr().String()
	l.home.rt = NewRaftTransport(raft.ServerAddress(l.home.addr), l.home.id, l.home.peerID())
	l.home.node = startUnit(t, l.home.dir, homeMember.ID, raft.ServerAddress(l.home.addr), func(c *NodeConfig) {
		c.Transport = l.home.rt.Transport()
		if tuneHome != nil {
			tuneHome(c)
		}
	})
	if err := l.home.node.BootstrapHome(ctx, l.home.member()); err != nil {
		t.Fatal(err)
	}
	if err := l.home.node.AddOffsite(ctx, l.off.member(), raft.ServerAddress(l.off.addr)); err != nil {
		t.Fatal(err)
	}
	return l
}

func listenLoopback(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveOff serves the offsite unit's cluster listener on ln: Pairing and
// Raft's transport on one server, behind Pairing's checks.
func (l *raftLink) serveOff(t *testing.T, ln net.Listener) {
	t.Helper()
	u := l.off
	srv := NewServer(u.id, u.p.Check, slog.New(slog.NewTextHandler(u.log, nil)), u.p.ServerOptions()...)
	u.p.Register(srv)
	u.rt.Register(srv)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	l.stopOff = func() { srv.Stop(); <-done }
	t.Cleanup(l.stopOff)
}

// peerID is the device ID of the unit this one is paired with (zero
// when it is not paired).
func (u *linkUnit) peerID() devid.ID {
	p, _ := u.p.Peer()
	return p.ID
}

// member is the unit's catalog record: its device ID as the pin and,
// for the offsite unit, its device key as the receipt key.
func (u *linkUnit) member() Member {
	if u.name == "home" {
		return Member{ID: homeMember.ID, Role: RoleHome, Pin: u.id.ID}
	}
	return Member{ID: offsiteMember.ID, Role: RoleOffsite, Pin: u.id.ID, Key: u.id.Key.Public().(ed25519.PublicKey)}
}

// commit commits receipts for objects from..to-1, signed by the offsite
// unit's device key, on the home unit.
func (l *raftLink) commit(ctx context.Context, t *testing.T, from, to int) {
	t.Helper()
	cluster := l.home.node.FSM.Cluster()
	for i := from; i < to; i++ {
		o := dataObject(i)
		r := &Receipt{Object: o, Size: 1000, Hash: o.ID, Received: epoch0}
		r.Sign(cluster, l.off.id.ID, l.off.id.Key)
		if err := l.home.node.Apply(ctx, r); err != nil {
			t.Fatalf("commit receipt %d: %v", i, err)
		}
	}
}

func (l *raftLink) waitCaughtUp(ctx context.Context, t *testing.T, what string) {
	t.Helper()
	waitFor(ctx, t, what, func() bool { return sameCatalog(t, l.home.node, l.off.node) })
}

// TestRaftOverLink: the home unit commits and the offsite unit follows
// over the pinned gRPC link; with the link cut (the offsite listener
// closed with its connections) the home unit goes on committing, and the
// offsite unit catches up from the log once it listens again; when it
// moves to another address, AddOffsite with the new one is all it takes.
// The offsite unit never dials the home unit.
func TestRaftOverLink(t *testing.T) {
	ctx := testContext(t)
	l := newRaftLink(ctx, t, nil)
	l.commit(ctx, t, 0, 5)
	l.waitCaughtUp(ctx, t, "the offsite unit applies the first receipts over the link")
	if got := l.off.node.FSM.Members(); len(got) != 2 || got[1].Pin != l.off.id.ID {
		t.Errorf("the offsite unit's members: %+v", got)
	}

	l.stopOff()
	l.commit(ctx, t, 5, 30) // would hang until the context ends if a commit waited for the link
	if l.home.node.Raft.State() != raft.Leader {
		t.Fatalf("the home unit is %v with the link cut, want Leader", l.home.node.Raft.State())
	}
	if l.off.node.FSM.Confirmed(dataObject(5)) {
		t.Fatal("a receipt reached the offsite unit through a cut link")
	}

	l.serveOff(t, listenLoopback(t, l.off.addr)) // the same address again
	l.waitCaughtUp(ctx, t, "the offsite unit catches up after the link is back")
	if snaps := l.off.node.snapshots(); len(snaps) != 0 {
		t.Errorf("the offsite unit installed a snapshot (%v); it should have caught up from the log", snaps)
	}

	// The offsite unit moves (a new address): the home unit adds it again
	// with the new one, and Raft follows it there.
	l.stopOff()
	ln := listenLoopback(t, "127.0.0.1:0")
	l.off.addr = ln.Addr().String()
	l.serveOff(t, ln)
	if err := l.home.node.AddOffsite(ctx, l.off.member(), raft.ServerAddress(l.off.addr)); err != nil {
		t.Fatal(err)
	}
	l.commit(ctx, t, 30, 35)
	l.waitCaughtUp(ctx, t, "the offsite unit follows at its new address")

	if n := l.homeDials.Load(); n != 0 {
		t.Errorf("the offsite unit dialled the home unit %d times; only the home unit dials", n)
	}
}

// TestRaftSnapshotOverLink: the home unit compacts its log past what the
// offsite unit has while the link is cut, so the offsite unit catches up
// by a snapshot installed over the link (InstallSnapshot, a client
// stream).
func TestRaftSnapshotOverLink(t *testing.T) {
	ctx := testContext(t)
	l := newRaftLink(ctx, t, func(c *NodeConfig) { c.TrailingLogs = 2 })
	l.commit(ctx, t, 0, 3)
	l.waitCaughtUp(ctx, t, "the offsite unit applies the first receipts")
	offLast := l.off.node.Raft.LastIndex()

	l.stopOff()
	l.commit(ctx, t, 3, 40)
	if err := l.home.node.Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if first, err := l.home.node.bolt.FirstIndex(); err != nil || first <= offLast+1 {
		t.Fatalf("the home unit's log starts at %d (%v), the offsite unit has up to %d: not compacted past it", first, err, offLast)
	}

	l.serveOff(t, listenLoopback(t, l.off.addr))
	l.waitCaughtUp(ctx, t, "the offsite unit installs the snapshot over the link")
	if snaps := l.off.node.snapshots(); len(snaps) == 0 {
		t.Error("the offsite unit caught up without a snapshot, though the log it needed was gone")
	}
	l.commit(ctx, t, 40, 42)
	l.waitCaughtUp(ctx, t, "the offsite unit follows the log after the install")
}

// TestRaftRefusesUnpaired: a third unit, not paired, can send none of
// Raft's calls to the offsite unit, unary or streaming: without an open
// offer its handshake is refused; with one (any unit may then connect to
// pair) every call is refused by Pairing's interceptors. The offsite unit
// still follows its home unit afterwards.
func TestRaftRefusesUnpaired(t *testing.T) {
	ctx := testContext(t)
	l := newRaftLink(ctx, t, nil)
	l.commit(ctx, t, 0, 2)
	l.waitCaughtUp(ctx, t, "the offsite unit follows")
	term := l.off.node.Raft.CurrentTerm()
	third := newPairUnit(t, "intruder", l.home.clock)
	if got := len(pb.RaftTransport_ServiceDesc.Methods) + len(pb.RaftTransport_ServiceDesc.Streams); got != len(raftCalls) {
		t.Fatalf("the Raft service has %d methods, the test calls %d: cover the new ones", got, len(raftCalls))
	}

	// A leader's calls, as a third unit that bootstrapped a cluster of its
	// own with the offsite unit in it would send them.
	calls := func() map[string]error {
		conn := third.dial(t, l.off.pairUnit)
		c := pb.NewRaftTransportClient(conn)
		errs := map[string]error{}
		for name, call := range raftCalls {
			errs[name] = call(ctx, c, term+10)
		}
		return errs
	}

	for name, err := range calls() {
		if status.Code(err) != codes.Unavailable {
			t.Errorf("no offer open: %s: got %v, want the handshake refused (Unavailable)", name, err)
		}
	}
	if !strings.Contains(l.off.log.String(), third.id.ID.String()) {
		t.Errorf("the offsite unit did not log the refused handshake of %s:\n%s", third.id.ID, l.off.log)
	}

	if _, err := l.off.p.Reoffer(0); err != nil {
		t.Fatal(err)
	}
	for name, err := range calls() {
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "may call Pair and nothing else") {
			t.Errorf("offer open: %s: got %v, want PermissionDenied naming Pair", name, err)
		}
	}

	if got := l.off.node.Raft.CurrentTerm(); got != term {
		t.Errorf("the offsite unit's term moved from %d to %d", term, got)
	}
	l.commit(ctx, t, 2, 4)
	l.waitCaughtUp(ctx, t, "the offsite unit still follows its home unit")
	if _, id := l.off.node.Raft.LeaderWithID(); id != homeMember.ID {
		t.Errorf("the offsite unit follows %q, want %q", id, homeMember.ID)
	}
}

// TestRaftSendsOnlyToThePeer: a unit that answers at the offsite unit's
// address but is not the offsite unit (a hijacked name or forwarded
// port), and that would take anything, receives none of the home unit's
// Raft calls: the home unit's transport refuses it in the handshake,
// naming both device IDs.
func TestRaftSendsOnlyToThePeer(t *testing.T) {
	ctx := testContext(t)
	l := newRaftLink(ctx, t, nil)
	third := newPairUnit(t, "intruder", l.home.clock)
	var calls atomic.Int64
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return h(ctx, req)
	}
	countStreams := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		calls.Add(1)
		return h(srv, ss)
	}
	anyone := func(devid.ID) error { return nil }
	srv := NewServer(third.id, anyone, slog.New(slog.DiscardHandler), grpc.UnaryInterceptor(count), grpc.StreamInterceptor(countStreams))
	thirdRT := NewRaftTransport("intruder:8444", third.id, l.home.id.ID)
	thirdRT.Register(srv)
	ln := listenLoopback(t, "127.0.0.1:0")
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	t.Cleanup(func() { thirdRT.Transport().(raft.WithClose).Close() })

	trans := l.home.rt.Transport()
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte(homeMember.ID), Addr: []byte(l.home.addr)}, Term: l.home.node.Raft.CurrentTerm()}
	err := trans.AppendEntries(offsiteMember.ID, raft.ServerAddress(ln.Addr().String()), req, new(raft.AppendEntriesResponse))
	want := "peer is device ID " + third.id.ID.String() + ", but the paired unit is " + l.off.id.ID.String()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("AppendEntries to another unit: got %v, want an error containing %q", err, want)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the other unit received %d calls", n)
	}
}

// raftCalls calls each method of Raft's gRPC service as a leader of term
// would, and returns the call's error.
var raftCalls = map[string]func(ctx context.Context, c pb.RaftTransportClient, term uint64) error{
	"AppendEntries": func(ctx context.Context, c pb.RaftTransportClient, term uint64) error {
		_, err := c.AppendEntries(ctx, appendRequest(term))
		return err
	},
	"AppendEntriesPipeline": func(ctx context.Context, c pb.RaftTransportClient, term uint64) error {
		s, err := c.AppendEntriesPipeline(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(appendRequest(term)); err != nil {
			_, err = s.Recv() // the stream's status
			return err
		}
		_, err = s.Recv()
		return err
	},
	"RequestVote": func(ctx context.Context, c pb.RaftTransportClient, term uint64) error {
		_, err := c.RequestVote(ctx, &pb.RequestVoteRequest{RpcHeader: intruderHeader(), Term: term, LastLogIndex: 1 << 20, LastLogTerm: term})
		return err
	},
	"RequestPreVote": func(ctx context.Context, c pb.RaftTransportClient, term uint64) error {
		_, err := c.RequestPreVote(ctx, &pb.RequestPreVoteRequest{RpcHeader: intruderHeader(), Term: term, LastLogIndex: 1 << 20, LastLogTerm: term})
		return err
	},
	"TimeoutNow": func(ctx context.Context, c pb.RaftTransportClient, term uint64) error {
		_, err := c.TimeoutNow(ctx, &pb.TimeoutNowRequest{RpcHeader: intruderHeader()})
		return err
	},
	"InstallSnapshot": func(ctx context.Context, c pb.RaftTransportClient, term uint64) error {
		s, err := c.InstallSnapshot(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(&pb.InstallSnapshotRequest{RpcHeader: intruderHeader(), SnapshotVersion: 1, Term: term, Leader: []byte("intruder:8444"), LastLogIndex: 1 << 20, LastLogTerm: term, Size: 3, Data: []byte("xyz")}); err != nil {
			_, err = s.CloseAndRecv()
			return err
		}
		_, err = s.CloseAndRecv()
		return err
	},
}

func intruderHeader() *pb.RPCHeader {
	return &pb.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, Id: []byte("intruder"), Addr: []byte("intruder:8444")}
}

func appendRequest(term uint64) *pb.AppendEntriesRequest {
	return &pb.AppendEntriesRequest{RpcHeader: intruderHeader(), Term: term, Leader: []byte("intruder:8444"), LeaderCommitIndex: 1 << 20}
}

// BenchmarkHomeApplyOverLink is BenchmarkHomeApply with the offsite unit
// on the real link (loopback, TLS, gRPC), linked or with its listener
// closed: a home commit should cost the same either way, and as with no
// offsite unit (BenchmarkHomeApply/alone). The pins are set by hand, no
// pairing.
func BenchmarkHomeApplyOverLink(b *testing.B) {
	for _, mode := range []string{"linked", "cut"} {
		b.Run(mode, func(b *testing.B) {
			ctx := b.Context()
			homeID, offID := newIdentity(b), newIdentity(b)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			offAddr := raft.ServerAddress(ln.Addr().String())
			offRT := NewRaftTransport(offAddr, offID, homeID.ID)
			srv := NewServer(offID, Pinned(homeID.ID), slog.New(slog.DiscardHandler))
			offRT.Register(srv)
			done := make(chan struct{})
			go func() { defer close(done); srv.Serve(ln) }()
			stop := func() { srv.Stop(); <-done }
			b.Cleanup(stop)
			startUnit(b, b.TempDir(), offsiteMember.ID, offAddr, func(c *NodeConfig) { c.Transport = offRT.Transport() })

			homeRT := NewRaftTransport("127.0.0.1:1", homeID, offID.ID) // never dialled
			home := startUnit(b, b.TempDir(), homeMember.ID, "127.0.0.1:1", func(c *NodeConfig) { c.Transport = homeRT.Transport() })
			if err := home.BootstrapHome(ctx, homeMember); err != nil {
				b.Fatal(err)
			}
			if err := home.AddOffsite(ctx, offsiteMember, offAddr); err != nil {
				b.Fatal(err)
			}
			if mode == "cut" {
				stop()
			}
			benchApply(ctx, b, home)
		})
	}
}
