package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shoebox/shoebox/cluster"
	"github.com/shoebox/shoebox/internal/devid"
)

// The daemon's side of the pair (docs/CLUSTER.md, "Pairing"): both roles
// load (on first start: make) the unit's identity in STATE/cluster and
// open the pairing kept there; the offsite unit serves the cluster
// listener (cluster.listen), the home unit only dials.

// openCluster loads the unit's identity and its pairing.
func (d *Daemon) openCluster() error {
	dir := d.statePath("cluster")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	id, err := devid.LoadOrCreate(dir)
	if err != nil {
		return fmt.Errorf("the unit's cluster identity: %w", err)
	}
	p, err := cluster.OpenPairing(cluster.PairingConfig{Dir: dir, Self: id, Name: unitName(), Log: d.Logger})
	if err != nil {
		return err
	}
	d.identity, d.pairing = id, p
	return nil
}

// unitName is what the unit calls itself to its peer: the host name,
// cut to the length a peer accepts.
func unitName() string {
	host, _ := os.Hostname()
	if len(host) > 64 {
		host = strings.ToValidUTF8(host[:64], "")
	}
	return host
}

// listenCluster opens the offsite unit's cluster listener: before the
// start is reported, so that a port in use stops the start with an
// error naming it, and so that ClusterAddr is known (a test config's
// 127.0.0.1:0).
func (d *Daemon) listenCluster() (net.Listener, error) {
	ln, err := net.Listen("tcp", d.Config.Cluster.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster listener (cluster.listen): %w", err)
	}
	d.clusterAddr.Store(ln.Addr().String())
	return ln, nil
}

// clusterListener serves the cluster link on the offsite unit: the
// Pairing service (replication joins it later) and gRPC health, behind
// the pairing's pins and interceptors.
type clusterListener struct {
	d  *Daemon
	ln net.Listener // the first Serve's; a restart listens again on the bound address
}

// Serve serves until ctx ends, then stops the server (open connections
// are closed: nothing on the link outlives the daemon).
func (c *clusterListener) Serve(ctx context.Context) error {
	ln := c.ln
	c.ln = nil
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", c.d.ClusterAddr()); err != nil {
			return fmt.Errorf("cluster listener: %w", err)
		}
	}
	p := c.d.pairing
	srv := cluster.NewServer(c.d.identity, p.Check, c.d.Logger, p.ServerOptions()...)
	p.Register(srv)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Stop()
		<-errc
		return ctx.Err()
	case err := <-errc:
		srv.Stop()
		if errors.Is(err, grpc.ErrServerStopped) {
			err = errors.New("stopped")
		}
		return err
	}
}

// ClusterAddr is the cluster listener's address once listening (the
// offsite unit), "" on a home unit, which does not listen.
func (d *Daemon) ClusterAddr() string {
	s, _ := d.clusterAddr.Load().(string)
	return s
}

// ClusterStatus is the unit's side of the pair, for status.
type ClusterStatus struct {
	// Role is the unit's (RoleHome or RoleOffsite).
	Role string
	// DeviceID is this unit's device ID.
	DeviceID devid.ID
	// Listen is the cluster listener's address; "" on a home unit.
	Listen string
	// Peer is the paired unit; nil when not paired.
	Peer *cluster.Peer
}

// ClusterStatus returns the unit's identity and pairing. Before the
// daemon has opened its state, DeviceID is zero and Peer nil.
func (d *Daemon) ClusterStatus() ClusterStatus {
	st := ClusterStatus{Role: d.Config.Role, Listen: d.ClusterAddr()}
	if d.pairing == nil {
		return st
	}
	st.DeviceID = d.identity.ID
	if p, ok := d.pairing.Peer(); ok {
		st.Peer = &p
	}
	return st
}

// OfferPairing opens a pairing offer on the offsite unit for
// cluster.DefaultOfferTTL and returns its device ID and one-time code.
// A paired unit refuses (cluster.ErrPaired) unless replace: the new
// pairing replaces the old once its code is used. A home unit refuses
// with ErrOffsiteOnly.
func (d *Daemon) OfferPairing(replace bool) (cluster.Offer, error) {
	if err := d.clusterRole(RoleOffsite); err != nil {
		return cluster.Offer{}, err
	}
	if replace {
		return d.pairing.Reoffer(cluster.DefaultOfferTTL)
	}
	return d.pairing.Offer(cluster.DefaultOfferTTL)
}

// PairWith pairs the home unit with the offsite unit at addr whose
// device ID and code the person typed (cluster.Pairing.PairWith). An
// offsite unit refuses with ErrHomeOnly; a device ID that is not one
// wraps devid's errors.
func (d *Daemon) PairWith(ctx context.Context, addr, deviceID, code string) (cluster.Peer, error) {
	if err := d.clusterRole(RoleHome); err != nil {
		return cluster.Peer{}, err
	}
	want, err := devid.Parse(deviceID)
	if err != nil {
		return cluster.Peer{}, fmt.Errorf("the offsite unit's device ID: %w", err)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return cluster.Peer{}, fmt.Errorf("the offsite unit's address %q: %w: want HOST:PORT (its cluster.listen, default port 8444)", addr, ErrBadPeerAddr)
	}
	ctx, cancel := context.WithTimeout(ctx, pairTimeout)
	defer cancel()
	return d.pairing.PairWith(ctx, addr, want, code)
}

// pairTimeout bounds a pairing call to an offsite unit that does not
// answer: under the CLI's 30 s for a quick call, so that the person
// gets the daemon's answer saying what to check, not a timeout.
const pairTimeout = 20 * time.Second

// Unpair forgets the paired unit (either role): from the next handshake
// on it is refused. The other unit is not told; it is paired again (or
// unpaired) there.
func (d *Daemon) Unpair() error {
	if d.pairing == nil {
		return errors.New("the daemon has not opened its state yet: try again once it has started")
	}
	return d.pairing.Unpair()
}

// clusterRole refuses a pairing call meant for the other role, and one
// before the daemon has opened its state.
func (d *Daemon) clusterRole(want string) error {
	switch {
	case d.Config.Role != want && want == RoleHome:
		return ErrHomeOnly
	case d.Config.Role != want:
		return ErrOffsiteOnly
	case d.pairing == nil:
		return errors.New("the daemon has not opened its state yet: try again once it has started")
	}
	return nil
}
