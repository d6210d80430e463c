package cluster

import (
	transport "github.com/Jille/raft-grpc-transport"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/shoebox/shoebox/internal/devid"
)

// RaftTransport carries Raft's messages over the cluster link: the
// service of github.com/Jille/raft-grpc-transport on the unit's cluster
// listener (NewServer, behind Pairing's checks), and calls to the peer
// dialled with DialOptions pinned to its device ID
// (docs/CLUSTER.md, "A unit's Raft node").
//
// Only a leader calls out (AppendEntries, InstallSnapshot): the home
// unit, which leads alone, dials the offsite unit; the offsite unit, a
// non-voter, only answers on its listener and never dials.
type RaftTransport struct {
	m *transport.Manager
}

// NewRaftTransport is the Raft transport of the unit self, whose address
// in the Raft configuration is local (host:port), calling only the unit
// peer. Addresses in the configuration are the units' host:port, dialled
// as they are (a host name is looked up again at each connection, so a
// dynamic-DNS name that moves is followed). A peer of the zero ID, for an
// offsite unit not yet paired, makes every call out fail its handshake.
//
// Register its service on the cluster server before the server serves;
// pass Transport to OpenNode, which then owns it.
func NewRaftTransport(local raft.ServerAddress, self *devid.Identity, peer devid.ID) *RaftTransport {
	// A heartbeat that takes longer than Raft waits for one is abandoned
	// rather than left to the keepalives (45 s on a dead link).
	return &RaftTransport{m: transport.New(local, DialOptions(self, peer), transport.WithHeartbeatTimeout(HeartbeatTimeout))}
}

// Register adds Raft's service to the unit's cluster server (NewServer
// with Pairing.ServerOptions, which refuse it to any unit but the paired
// one). Calls that arrive after the node is closed fail with
// raft.ErrTransportShutdown.
func (t *RaftTransport) Register(s grpc.ServiceRegistrar) { t.m.Register(s) }

// Transport is the raft.Transport for NodeConfig.Transport. Closing the
// node closes it, and with it the connections to the peer.
func (t *RaftTransport) Transport() raft.Transport { return t.m.Transport() }
