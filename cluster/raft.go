package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Raft's timing on a unit. The home unit is the only voter, so none of
// these decides whether a home write waits for the link (it never does):
// they set how fast the home leads after a start and how often it calls
// the offsite unit.
const (
	// HeartbeatTimeout: a follower waits 1–2× this without a leader
	// before it campaigns; the home unit, alone in its vote, leads 2–4 s
	// after a start. The leader calls each follower every tenth of it
	// (200 ms: a few bytes, nothing on a home uplink). The offsite, a
	// non-voter, never campaigns whatever this is.
	HeartbeatTimeout = 2 * time.Second
	// ElectionTimeout: how long a candidate waits for votes; the home
	// votes for itself at once.
	ElectionTimeout = 2 * time.Second
	// LeaderLeaseTimeout: a leader that hears from no quorum for this
	// long steps down. The quorum is the home alone, so a cut link never
	// makes it step down.
	LeaderLeaseTimeout = time.Second
	// DefaultTrailingLogs log entries stay after a snapshot: an offsite
	// unit that missed fewer catches up from the log, one that missed
	// more receives the snapshot (a few MB per ten thousand objects).
	DefaultTrailingLogs = 10240
	// DefaultSnapshotThreshold new entries make Raft snapshot the
	// catalog, checked every DefaultSnapshotInterval.
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	// snapshotsKept: catalog snapshots kept on disk.
	snapshotsKept = 2
	// boltOpenTimeout: how long opening raft.db waits for another
	// process's lock before it gives up.
	boltOpenTimeout = 5 * time.Second
)

// NodeConfig is what OpenNode needs.
type NodeConfig struct {
	// ID is the unit's Raft server ID, the same every start.
	ID raft.ServerID
	// Dir is the unit's cluster state directory. The node keeps its files
	// in Dir/raft: raft.db (log and stable store, bbolt, fsynced on each
	// append) and snapshots/ (Raft's FileSnapshotStore).
	Dir string
	// Transport carries Raft's messages. The node owns it from here:
	// closing the node closes it.
	Transport raft.Transport
	// FSM is the catalog the node applies committed commands to.
	FSM *FSM
	// Logger gets Raft's messages from LogLevel on (zero:
	// DefaultRaftLogLevel); nil drops them.
	Logger   *slog.Logger
	LogLevel hclog.Level
	// Tuning; zero means the default constant of the same name.
	// HeartbeatTimeout also sets ElectionTimeout and half of it
	// LeaderLeaseTimeout (tests shorten it to lead sooner).
	HeartbeatTimeout  time.Duration
	TrailingLogs      uint64
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
}

// Node is a unit's Raft member: the Raft instance, its stores and the
// catalog it applies to. The home unit bootstraps it as the sole voter
// (BootstrapHome) and adds the offsite unit as a non-voter (AddOffsite);
// the offsite unit only opens it and follows.
type Node struct {
	Raft *raft.Raft
	FSM  *FSM

	id    raft.ServerID
	trans raft.Transport
	bolt  *raftboltdb.BoltStore
}

// OpenNode opens (or creates) the unit's Raft state under cfg.Dir and
// starts Raft on it. The catalog is restored from the latest snapshot;
// the entries after it are applied once a leader commits again (on the
// home unit, as soon as it leads).
func OpenNode(cfg NodeConfig) (*Node, error) {
	if cfg.ID == "" || cfg.Dir == "" || cfg.Transport == nil || cfg.FSM == nil {
		return nil, errors.New("cluster: OpenNode needs an ID, a directory, a transport and an FSM")
	}
	dir := filepath.Join(cfg.Dir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft state: %w", err)
	}
	logger := newRaftLogger(cfg.Logger, cfg.LogLevel)

	conf := raft.DefaultConfig()
	conf.LocalID = cfg.ID
	conf.Logger = logger
	conf.HeartbeatTimeout = HeartbeatTimeout
	conf.ElectionTimeout = ElectionTimeout
	conf.LeaderLeaseTimeout = LeaderLeaseTimeout
	if d := cfg.HeartbeatTimeout; d > 0 {
		conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = d, d, d/2
	}
	conf.TrailingLogs = orDefault(cfg.TrailingLogs, DefaultTrailingLogs)
	conf.SnapshotThreshold = orDefault(cfg.SnapshotThreshold, DefaultSnapshotThreshold)
	conf.SnapshotInterval = orDefault(cfg.SnapshotInterval, DefaultSnapshotInterval)
	conf.NoLegacyTelemetry = true

	dbPath := filepath.Join(dir, "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        dbPath,
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("open %s (is another shoeboxd running?): %w", dbPath, err)
	}
	fail := func(err error) (*Node, error) {
		bolt.Close()
		return nil, err
	}
	logs, err := raft.NewLogCache(512, bolt)
	if err != nil {
		return fail(err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsKept, logger.Named("snapshot"))
	if err != nil {
		return fail(fmt.Errorf("raft snapshots in %s: %w", dir, err))
	}
	r, err := raft.NewRaft(conf, cfg.FSM, logs, bolt, snaps, cfg.Transport)
	if err != nil {
		return fail(fmt.Errorf("start raft in %s: %w", dir, err))
	}
	return &Node{Raft: r, FSM: cfg.FSM, id: cfg.ID, trans: cfg.Transport, bolt: bolt}, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// BootstrapHome makes this node the home unit of a new pair, or finds it
// is one: the first time, it bootstraps Raft with itself as the sole
// voter, waits to lead and commits Init with a random cluster ID and
// home as the home member; later (the unit restarted) it only waits to
// lead and for the catalog to catch up with the log.
func (n *Node) BootstrapHome(ctx context.Context, home Member) error {
	if home.ID != n.id {
		return fmt.Errorf("%w: home member %q is not this node (%q)", ErrInvalidMember, home.ID, n.id)
	}
	err := n.Raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: n.id, Address: n.trans.LocalAddr()},
	}}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	if err := n.WaitLeader(ctx); err != nil {
		return err
	}
	if err := n.wait(ctx, n.Raft.Barrier(0)); err != nil {
		return fmt.Errorf("catch up with the raft log: %w", err)
	}
	if n.FSM.Cluster() != (ClusterID{}) {
		return nil
	}
	init := &Init{Home: home}
	if _, err := rand.Read(init.Cluster[:]); err != nil {
		return err
	}
	return n.Apply(ctx, init)
}

// AddOffsite pairs the offsite unit m (role offsite, with its receipt
// key) reachable at addr: its member record is committed, then it joins
// Raft as a non-voter, so that it receives the log but never counts
// towards a commit. Adding it again is harmless; with a new address it
// is how the home unit follows an offsite unit that moved.
func (n *Node) AddOffsite(ctx context.Context, m Member, addr raft.ServerAddress) error {
	if m.Role != RoleOffsite {
		return fmt.Errorf("%w: %q is a %s unit, not an offsite one", ErrInvalidMember, m.ID, m.Role)
	}
	if err := n.Apply(ctx, &m); err != nil {
		return err
	}
	// Raft v1.7.2 changes a follower's address in place while its
	// replication goroutine may read it (a data race, hashicorp/raft#681).
	// Removing the unit first ends that goroutine; the unit keeps its log
	// and catches up from where it was once added again.
	if old, ok := n.serverAddr(m.ID); ok && old != addr {
		if err := n.wait(ctx, n.Raft.RemoveServer(m.ID, 0, 0)); err != nil {
			return fmt.Errorf("move %q from %s to %s: %w", m.ID, old, addr, err)
		}
	}
	if err := n.wait(ctx, n.Raft.AddNonvoter(m.ID, addr, 0, 0)); err != nil {
		return fmt.Errorf("add %q as a raft non-voter: %w", m.ID, err)
	}
	return nil
}

// serverAddr is the address of server id in the latest Raft
// configuration; false when it is not in it.
func (n *Node) serverAddr(id raft.ServerID) (raft.ServerAddress, bool) {
	f := n.Raft.GetConfiguration()
	if f.Error() != nil {
		return "", false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == id {
			return s.Address, true
		}
	}
	return "", false
}

// Apply commits c through Raft and returns once this node has applied
// it: nil, the error the catalog refused it with (ErrBadSignature, …), or
// Raft's (raft.ErrNotLeader on a unit that does not lead). On the home
// unit it never waits for the offsite unit.
func (n *Node) Apply(ctx context.Context, c Command) error {
	f := n.Raft.Apply(EncodeCommand(c), timeoutOf(ctx))
	if err := n.wait(ctx, f); err != nil {
		return err
	}
	if err, ok := f.Response().(error); ok {
		return err
	}
	return nil
}

// WaitLeader waits until this node leads.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for n.Raft.State() != raft.Leader {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait to lead raft: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
	return nil
}

// wait waits for a Raft future or the end of ctx. Raft resolves every
// future by its shutdown at the latest, so the goroutine ends.
func (n *Node) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// Close stops Raft (which closes the transport) and closes its stores.
func (n *Node) Close() error {
	err := n.Raft.Shutdown().Error()
	return errors.Join(err, n.bolt.Close())
}
