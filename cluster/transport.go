package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"

	"github.com/shoebox/shoebox/internal/devid"
)

// The cluster link's gRPC limits (docs/CLUSTER.md, "Identity and
// transport").
const (
	// MaxMessage is the largest message either side sends or accepts:
	// room for a pack chunk of a few MiB with its header, and for Raft's
	// batches of log entries and snapshot chunks, while a peer can never
	// make the other allocate more than this for one message.
	MaxMessage = 16 << 20
	// ChunkSize is what a sender puts in one message of a stream of pack
	// bytes: big enough that per-message costs vanish, small enough that
	// a cut link loses little and memory stays flat on a small box.
	ChunkSize = 1 << 20
)

// Keepalives. The client (the home unit, which dials out, possibly from
// behind NAT) pings an idle link every 30 s: that keeps NAT mappings open
// and finds a dead link within 45 s. The server pings a silent client
// after 1 min and lets clients ping every 20 s or more, even between
// calls.
var (
	clientKeepalive = keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 15 * time.Second, PermitWithoutStream: true}
	serverKeepalive = keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}
	serverEnforce   = keepalive.EnforcementPolicy{MinTime: 20 * time.Second, PermitWithoutStream: true}
)

// PeerCheck decides whether the unit whose device ID is presented may
// use a server: nil to accept, an error (see Pinned) to refuse. The
// presenter has proved in the TLS handshake that it holds the key of that
// ID. It runs at every handshake, from several goroutines at once, so a
// pin changed at run time (pairing, revocation) counts from the next
// connection on.
type PeerCheck func(presented devid.ID) error

// Pinned is the PeerCheck that accepts exactly the unit want.
func Pinned(want devid.ID) PeerCheck {
	return func(presented devid.ID) error {
		if presented != want {
			return &WrongPeerError{Expected: want, Presented: presented}
		}
		return nil
	}
}

// WrongPeerError is a peer that proved another device ID than the pinned
// one: another unit answers at that address, or one of the two was
// reinstalled (a new key) since they were paired.
type WrongPeerError struct {
	Expected, Presented devid.ID
}

func (e *WrongPeerError) Error() string {
	return fmt.Sprintf("peer is device ID %s, but the paired unit is %s: compare with the device ID the other unit shows; if it changed, pair the units again", e.Presented, e.Expected)
}

// errNoCertificate is a peer that presented no certificate (a server
// always does in TLS 1.3; clients are made to by RequireAnyClientCert).
var errNoCertificate = errors.New("peer presented no certificate")

// verify applies check to the device ID of the certificate the peer
// proved it holds. There is no certificate authority: the pin is the
// check, so names, dates and issuers do not count.
func verify(cs tls.ConnectionState, check PeerCheck) error {
	if len(cs.PeerCertificates) == 0 {
		return errNoCertificate
	}
	return check(devid.Of(cs.PeerCertificates[0]))
}

// ServerTLS is the cluster listener's TLS: 1.3 only, self's certificate,
// and a client certificate required and accepted only when check (not
// nil) says so. A refusal is logged to log (nil: slog.Default()) with
// the client's address and check's error. VerifyConnection, unlike
// VerifyPeerCertificate, also runs on resumed sessions.
func ServerTLS(self *devid.Identity, check PeerCheck, log *slog.Logger) *tls.Config {
	if check == nil {
		panic("cluster: ServerTLS without a PeerCheck")
	}
	if log == nil {
		log = slog.Default()
	}
	cfg := func(remote net.Addr) *tls.Config {
		return &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{self.Certificate},
			ClientAuth:   tls.RequireAnyClientCert,
			NextProtos:   []string{"h2"}, // gRPC's ALPN
			VerifyConnection: func(cs tls.ConnectionState) error {
				err := verify(cs, check)
				if err != nil {
					log.Warn("cluster: refused a connection", "from", remote, "err", err)
				}
				return err
			},
		}
	}
	c := cfg(nil)
	// Per connection, to name the client's address in the log.
	c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) { return cfg(h.Conn.RemoteAddr()), nil }
	return c
}

// ClientTLS is the TLS of a connection to the unit peer: 1.3 only, self's
// certificate for the server's check, and the server accepted only when
// its certificate is peer's; otherwise the handshake fails with a
// *WrongPeerError.
func ClientTLS(self *devid.Identity, peer devid.ID) *tls.Config {
	check := Pinned(peer)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{self.Certificate},
		// No certificate authority and no names: VerifyConnection checks
		// the pin, which is all that identifies a unit.
		InsecureSkipVerify: true,
		VerifyConnection:   func(cs tls.ConnectionState) error { return verify(cs, check) },
	}
}

// NewServer is the gRPC server of the cluster listener (cluster.listen):
// ServerTLS, MaxMessage both ways, keepalives, and nothing that knows
// people: the units' pins are the only authentication. opts come last, so
// a caller can add its services' interceptors.
func NewServer(self *devid.Identity, check PeerCheck, log *slog.Logger, opts ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(ServerTLS(self, check, log))),
		grpc.MaxRecvMsgSize(MaxMessage), grpc.MaxSendMsgSize(MaxMessage),
		grpc.KeepaliveParams(serverKeepalive), grpc.KeepaliveEnforcementPolicy(serverEnforce),
	}, opts...)...)
}

// DialOptions are the gRPC dial options of a connection to the unit
// peer: ClientTLS, MaxMessage both ways and keepalives. NewClient uses
// them; so can a library that dials for itself (the Raft transport).
func DialOptions(self *devid.Identity, peer devid.ID) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(ClientTLS(self, peer))),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessage), grpc.MaxCallSendMsgSize(MaxMessage)),
		grpc.WithKeepaliveParams(clientKeepalive),
	}
}

// NewClient is a gRPC client of the unit peer at addr (host:port) with
// DialOptions, then opts. As with grpc.NewClient, nothing is dialled
// before the first call; a call to a unit that is not peer fails with
// the *WrongPeerError's text.
func NewClient(addr string, self *devid.Identity, peer devid.ID, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append(DialOptions(self, peer), opts...)...)
}

// PeerID is the device ID of the unit on the other end of a call that a
// server from NewServer serves; false outside such a call.
func PeerID(ctx context.Context) (devid.ID, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return devid.ID{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return devid.ID{}, false
	}
	return devid.Of(info.State.PeerCertificates[0]), true
}
