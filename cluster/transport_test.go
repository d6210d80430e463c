package cluster

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shoebox/shoebox/internal/devid"
)

func newIdentity(t testing.TB) *devid.Identity {
	t.Helper()
	id, err := devid.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// syncBuffer is a log sink the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a cluster listener on loopback serving gRPC's health
// service; peers records the device ID of every call's caller.
type testServer struct {
	addr  string
	log   *syncBuffer
	mu    sync.Mutex
	peers []devid.ID
}

// serve starts a listener for self, with check; register adds services
// beside the health service.
func serve(t testing.TB, self *devid.Identity, check PeerCheck, register ...func(*grpc.Server)) *testServer {
	t.Helper()
	ts := &testServer{log: &syncBuffer{}}
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if id, ok := PeerID(ctx); ok {
			ts.mu.Lock()
			ts.peers = append(ts.peers, id)
			ts.mu.Unlock()
		}
		return h(ctx, req)
	}
	srv := NewServer(self, check, slog.New(slog.NewTextHandler(ts.log, nil)), grpc.UnaryInterceptor(record))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	for _, r := range register {
		r(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ts
}

// check calls the health service at ts as self, pinning peer.
func check(t *testing.T, addr string, self *devid.Identity, peer devid.ID) error {
	t.Helper()
	conn, err := NewClient(addr, self, peer)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The deadline only keeps a broken test from hanging: every case
	// ends long before it, either way.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err == nil && res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, want SERVING", res.Status)
	}
	return err
}

func TestPinnedPairConnects(t *testing.T) {
	home, offsite := newIdentity(t), newIdentity(t)
	ts := serve(t, offsite, Pinned(home.ID))
	for range 2 { // the second call reuses the connection
		if err := check(t, ts.addr, home, offsite.ID); err != nil {
			t.Fatalf("pinned pair: %v", err)
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.peers) != 2 || ts.peers[0] != home.ID || ts.peers[1] != home.ID {
		t.Errorf("PeerID in the calls: got %v, want [%v %v]", ts.peers, home.ID, home.ID)
	}
	if ts.log.String() != "" {
		t.Errorf("the server logged for a good pair:\n%s", ts.log)
	}
}

// TestWrongPeerRefused: the offsite unit pins the home's ID, the home
// pins the offsite's. A unit with another key is refused on either side
// before any call is served, and the side that refuses names both IDs:
// the dialling side in the call's error, the listener in its log.
func TestWrongPeerRefused(t *testing.T) {
	home, offsite, other := newIdentity(t), newIdentity(t), newIdentity(t)
	for _, tc := range []struct {
		name             string
		server, client   *devid.Identity
		inLog            bool // where the refusal is told: the server's log, or the call's error
		want, presenting devid.ID
	}{
		{"client pins another server", other, home, false, offsite.ID, other.ID},
		{"server pins another client", offsite, other, true, home.ID, other.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := serve(t, tc.server, Pinned(home.ID))
			err := check(t, ts.addr, tc.client, offsite.ID)
			if err == nil {
				t.Fatal("the call was served")
			}
			told := err.Error()
			if tc.inLog {
				told = ts.log.String()
				if !strings.Contains(told, "refused a connection") || !strings.Contains(told, "from=127.0.0.1:") {
					t.Errorf("the server's log does not name the refused caller:\n%s", told)
				}
			}
			for _, want := range []string{"peer is device ID " + tc.presenting.String(), "the paired unit is " + tc.want.String(), "pair the units again"} {
				if !strings.Contains(told, want) {
					t.Errorf("%q does not say %q", told, want)
				}
			}
			ts.mu.Lock()
			defer ts.mu.Unlock()
			if len(ts.peers) != 0 {
				t.Errorf("%d calls served", len(ts.peers))
			}
		})
	}
}

// TestOnlyTheKeyCounts: a unit whose certificate expired long ago, with
// a name nobody checks, still connects, because its key's hash is what is
// pinned; the device ID outlives any certificate.
func TestOnlyTheKeyCounts(t *testing.T) {
	home, offsite := newIdentity(t), newIdentity(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old name"},
		NotBefore: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, home.Key.Public(), home.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	expired := &devid.Identity{ID: devid.Of(leaf), Key: home.Key,
		Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: home.Key, Leaf: leaf}}
	if expired.ID != home.ID {
		t.Fatalf("another certificate of the same key: ID %v, want %v", expired.ID, home.ID)
	}
	ts := serve(t, offsite, Pinned(home.ID))
	if err := check(t, ts.addr, expired, offsite.ID); err != nil {
		t.Errorf("client with an expired certificate: %v", err)
	}
	back := serve(t, expired, Pinned(offsite.ID))
	if err := check(t, back.addr, offsite, home.ID); err != nil {
		t.Errorf("server with an expired certificate: %v", err)
	}
}

// TestPinChangesAtRunTime: the check runs at every handshake, so a pin
// revoked on a running server refuses the next connection.
func TestPinChangesAtRunTime(t *testing.T) {
	home, offsite := newIdentity(t), newIdentity(t)
	var revoked atomic.Bool
	ts := serve(t, offsite, func(id devid.ID) error {
		if revoked.Load() {
			return errors.New("revoked")
		}
		return Pinned(home.ID)(id)
	})
	if err := check(t, ts.addr, home, offsite.ID); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	if err := check(t, ts.addr, home, offsite.ID); err == nil {
		t.Fatal("a revoked unit connected")
	}
}

// handshake dials addr with cfg and reads the server's first bytes: a
// refused client learns it there, since in TLS 1.3 the server checks the
// client's certificate after the client's side of the handshake is done.
func handshake(addr string, cfg *tls.Config) error {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

func TestRefusedClients(t *testing.T) {
	home, offsite := newIdentity(t), newIdentity(t)
	ts := serve(t, offsite, Pinned(home.ID))
	good := ClientTLS(home, offsite.ID)
	good.NextProtos = []string{"h2"}
	if err := handshake(ts.addr, good); err != nil {
		t.Fatalf("the paired client's own handshake: %v", err)
	}
	noCert := good.Clone()
	noCert.Certificates = nil
	tls12 := good.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		says string
	}{
		{"no certificate", noCert, "certificate required"},
		{"TLS 1.2", tls12, "protocol version not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := handshake(ts.addr, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("got %v, want an error saying %q", err, tc.says)
			}
		})
	}
}

// TestClientRefusesTLS12: a server that offers only TLS 1.2 (with the
// right certificate) is refused by the client.
func TestClientRefusesTLS12(t *testing.T) {
	home, offsite := newIdentity(t), newIdentity(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{offsite.Certificate},
		MaxVersion: tls.VersionTLS12, ClientAuth: tls.RequireAnyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	if err := handshake(ln.Addr().String(), ClientTLS(home, offsite.ID)); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("got %v, want a refusal of TLS 1.2", err)
	}
}

// rawCodec carries []byte messages as they are: the benchmark's stream
// moves bytes, as a pack upload will, without a .proto of its own.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "shoebox-test-raw" }

// The server finds the codec by the content subtype the client names.
func init() { encoding.RegisterCodec(rawCodec{}) }

// sink is a client-streaming method that counts the bytes it receives.
var sink = grpc.ServiceDesc{ServiceName: "shoebox.test.Sink", HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{StreamName: "Put", ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
		var n int
		var buf []byte
		for {
			err := ss.RecvMsg(&buf)
			if err == io.EOF {
				out := []byte(strconv.Itoa(n))
				return ss.SendMsg(&out)
			} else if err != nil {
				return err
			}
			n += len(buf)
		}
	}}}}

// BenchmarkStream is the link's throughput on loopback for one stream of
// chunks of several sizes (docs/CLUSTER.md: ChunkSize): both units' TLS
// and gRPC work on this machine's cores, no network in between.
//
//	go test -run '^$' -bench Stream -benchtime 3s ./cluster/
func BenchmarkStream(b *testing.B) {
	home, offsite := newIdentity(b), newIdentity(b)
	ts := serve(b, offsite, Pinned(home.ID), func(s *grpc.Server) { s.RegisterService(&sink, nil) })
	conn, err := NewClient(ts.addr, home, offsite.ID)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	for _, size := range []int{64 << 10, 256 << 10, ChunkSize, 4 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			chunk := make([]byte, size)
			rand.NewChaCha8([32]byte{}).Read(chunk) // incompressible, as packs are
			st, err := conn.NewStream(context.Background(), &grpc.StreamDesc{ClientStreams: true}, "/shoebox.test.Sink/Put", grpc.ForceCodec(rawCodec{}))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := st.SendMsg(&chunk); err != nil {
					b.Fatal(err)
				}
			}
			if err := st.CloseSend(); err != nil {
				b.Fatal(err)
			}
			var got []byte
			if err := st.RecvMsg(&got); err != nil {
				b.Fatal(err)
			}
			if n, _ := strconv.Atoi(string(got)); n != b.N*size {
				b.Fatalf("the server received %d bytes, want %d", n, b.N*size)
			}
		})
	}
}
