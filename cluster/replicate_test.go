package cluster

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterv1 "github.com/shoebox/shoebox/cluster/gen/clusterv1"
	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/internal/fakeclock"
	"github.com/shoebox/shoebox/store"
)

// replCluster is the cluster ID of the pairs in these tests.
var replCluster = ClusterID{'r', 'e', 'p', 'l'}

// offsiteUnit is a running offsite unit: its store, ledger and cluster
// listener (Pairing and Replication behind the pairing interceptors) on
// loopback, from its state directory and store directory.
type offsiteUnit struct {
	addr   string
	p      *Pairing
	ledger *Ledger
	srv    *ReplicationServer
	stop   func()
}

// startOffsite starts the offsite unit whose identity and pairing are in
// state and whose store is root, signing receipts for cluster. It returns
// errors rather than failing a test: the killed child of
// TestReceiverKilled runs it too.
func startOffsite(state, root string, log io.Writer, cluster ClusterID) (*offsiteUnit, error) {
	self, err := devid.LoadOrCreate(state)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(log, nil))
	p, err := OpenPairing(PairingConfig{Dir: state, Self: self, Name: "studio", Log: logger})
	if err != nil {
		return nil, err
	}
	d, err := store.OpenDir(root)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	l, err := OpenLedger(ctx, d, filepath.Join(state, "ledger.db"), LedgerOptions{Now: fakeclock.New(pairEpoch).Now})
	if err != nil {
		return nil, err
	}
	rs, err := NewReplicationServer(ReplicationConfig{Ledger: l, Dir: filepath.Join(state, PartialDir), Self: self,
		Cluster: func() ClusterID { return cluster }, Now: fakeclock.New(pairEpoch).Now, Log: logger})
	if err != nil {
		l.Close()
		return nil, err
	}
	srv := NewServer(self, p.Check, logger, p.ServerOptions()...)
	p.Register(srv)
	rs.Register(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	stop := sync.OnceFunc(func() { srv.Stop(); <-done; l.Close() }) // the link cut of a test, then its cleanup
	return &offsiteUnit{addr: ln.Addr().String(), p: p, ledger: l, srv: rs, stop: stop}, nil
}

// replPair is a home unit paired with a running offsite unit, and the
// home's Replicator to it, whose rate cap counts the bytes sent.
type replPair struct {
	home    *pairUnit
	offsite *pairUnit // identity and state directory
	root    string    // the offsite's store
	off     *offsiteUnit
	rep     *Replicator
	sent    *countingWait
	cluster ClusterID // the receipts'; zero: replCluster
}

func newReplPair(t *testing.T) *replPair { return newReplPairFor(t, replCluster) }

// newReplPairFor is newReplPair for the pair cluster.
func newReplPairFor(t *testing.T, cluster ClusterID) *replPair {
	t.Helper()
	home, offsite, o := newPair(t)
	if _, err := home.pairWith(t, offsite, o.Code); err != nil {
		t.Fatal(err)
	}
	rp := &replPair{home: home, offsite: offsite, root: t.TempDir(), cluster: cluster}
	rp.start(t)
	return rp
}

// start (re)starts the offsite unit from its directories and connects a
// new Replicator to it.
func (rp *replPair) start(t *testing.T) {
	t.Helper()
	off, err := startOffsite(rp.offsite.dir, rp.root, rp.offsite.log, rp.clusterID())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(off.stop)
	rp.off = off
	rp.connect(t, off.addr)
}

func (rp *replPair) connect(t *testing.T, addr string) {
	t.Helper()
	conn, err := NewClient(addr, rp.home.id, rp.offsite.id.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rp.rep = NewReplicator(ReplicatorConfig{Conn: conn, Cluster: rp.clusterID(), Offsite: rp.offsite.id.ID, Key: rp.offsite.id.Key.Public().(ed25519.PublicKey)})
	rp.sent = &countingWait{}
	rp.rep.wait = rp.sent.wait
}

func (rp *replPair) clusterID() ClusterID {
	if rp.cluster == (ClusterID{}) {
		return replCluster
	}
	return rp.cluster
}

// countingWait stands in for the rate cap: it counts what it is asked
// for, and calls hook (if set) with the total so far before answering.
type countingWait struct {
	mu    sync.Mutex
	total int64
	calls int
	max   int
	hook  func(ctx context.Context, total int64) error
}

func (c *countingWait) wait(ctx context.Context, n int) error {
	c.mu.Lock()
	c.total += int64(n)
	c.calls++
	c.max = max(c.max, n)
	total, hook := c.total, c.hook
	c.mu.Unlock()
	if hook != nil {
		return hook(ctx, total)
	}
	return nil
}

func (c *countingWait) reset() (total int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total = c.total
	c.total, c.calls, c.max, c.hook = 0, 0, 0, nil
	return total
}

// testPack is size bytes that look like a pack, and its name and hash.
func testPack(seed uint64, size int) (name string, data []byte, sum [32]byte) {
	data = make([]byte, size)
	r := mrand.New(mrand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return hashed("data/", data), data, sha256.Sum256(data)
}

func replCtx(t *testing.T) context.Context { return pairCtx(t) }

// partialSize is the size of the .partial of name on the offsite unit, or
// -1 when there is none.
func (rp *replPair) partialSize(t *testing.T, name string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(rp.offsite.dir, PartialDir, strings.ReplaceAll(name, "/", "-")+".partial"))
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size() - partialHeaderLen
}

// cutAfter makes the next transfer stop once the offsite's .partial of
// name holds at least held bytes and at least sent bytes were sent:
// the hook cancels the transfer's context, as a lost link does.
func (rp *replPair) cutAfter(t *testing.T, name string, sent, held int64, cancel context.CancelFunc) {
	rp.sent.hook = func(ctx context.Context, total int64) error {
		if total < sent {
			return nil
		}
		for rp.partialSize(t, name) < held {
			time.Sleep(5 * time.Millisecond) // waits for a state, not a time
		}
		cancel()
		return ctx.Err()
	}
}

// checkStored checks that the offsite stores name with data and has no
// partial of it left.
func (rp *replPair) checkStored(t *testing.T, name string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(rp.root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("the offsite's copy of %s: %v", name, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("the offsite's copy of %s differs from what was sent", name)
	}
	if n := rp.partialSize(t, name); n != -1 {
		t.Errorf("a .partial of %s with %d bytes is left after it was stored", name, n)
	}
}

// checkReceipt checks a receipt against what was sent.
func checkReceipt(t *testing.T, rc Receipt, name string, size int, sum [32]byte, signer *devid.Identity) {
	t.Helper()
	o, _ := ParseObject(name)
	if rc.Object != o || rc.Size != uint64(size) || rc.Hash != sum || rc.Signer != signer.ID {
		t.Fatalf("receipt: got %s %d %x by %x, want %s %d %x by %s", rc.Object, rc.Size, rc.Hash, rc.Signer, name, size, sum, signer.ID)
	}
	if !rc.Verify(replCluster, signer.Key.Public().(ed25519.PublicKey)) {
		t.Fatal("receipt: the signature does not verify")
	}
}

// TestSendResume: a 16 MiB pack cut mid-way resumes from what the
// offsite holds: the bytes before the cut are not sent again; sending a
// stored object again sends nothing and gets a receipt.
func TestSendResume(t *testing.T) {
	rp := newReplPair(t)
	name, data, sum := testPack(1, 16<<20)

	ctx, cancel := context.WithCancel(replCtx(t))
	rp.cutAfter(t, name, 6<<20, 4<<20, cancel)
	_, err := rp.rep.Send(ctx, name, bytes.NewReader(data), int64(len(data)), sum)
	if !errors.Is(err, context.Canceled) && status.Code(err) != codes.Canceled {
		t.Fatalf("cut transfer: got %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("cut transfer: the error %q does not name the object", err)
	}
	firstSent := rp.sent.reset()

	h, err := clusterv1.NewReplicationClient(mustConn(t, rp)).Holding(replCtx(t), &clusterv1.HoldingRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	held := int64(h.Partial)
	if held < 4<<20 || held > firstSent || h.Complete {
		t.Fatalf("after the cut the offsite holds %d bytes (complete %v); want at least 4 MiB, at most the %d sent", held, h.Complete, firstSent)
	}
	rc, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got, want := rp.sent.reset(), int64(len(data))-held; got != want {
		t.Errorf("resume sent %d bytes, want %d (the %d held are not sent again)", got, want, held)
	}
	checkReceipt(t, rc, name, len(data), sum, rp.offsite.id)
	rp.checkStored(t, name, data)

	rc, err = rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum)
	if err != nil {
		t.Fatalf("send of a stored object: %v", err)
	}
	if got := rp.sent.reset(); got != 0 {
		t.Errorf("send of a stored object sent %d bytes, want 0", got)
	}
	checkReceipt(t, rc, name, len(data), sum, rp.offsite.id)
}

// mustConn is a new connection from the home unit to the offsite unit.
func mustConn(t *testing.T, rp *replPair) *grpc.ClientConn {
	t.Helper()
	conn, err := NewClient(rp.off.addr, rp.home.id, rp.offsite.id.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// flipReader is a home copy read with one byte flipped, as bytes damaged
// between the home unit's disk and the offsite's would be.
type flipReader struct {
	r  io.ReaderAt
	at int64
}

func (f flipReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(p, off)
	if i := f.at - off; i >= 0 && i < int64(n) {
		p[i] ^= 0x40
	}
	return n, err
}

// TestSendDamaged: bytes flipped on the way are refused, nothing is
// stored and the .partial is dropped; the right bytes are then sent
// whole and stored.
func TestSendDamaged(t *testing.T) {
	rp := newReplPair(t)
	name, data, sum := testPack(2, 3<<20+17)
	_, err := rp.rep.Send(replCtx(t), name, flipReader{bytes.NewReader(data), 2<<20 + 5}, int64(len(data)), sum)
	if status.Code(err) != codes.DataLoss || !strings.Contains(err.Error(), name) {
		t.Fatalf("damaged transfer: got %v, want DataLoss naming %s", err, name)
	}
	if _, err := rp.off.ledger.Stat(replCtx(t), name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a damaged transfer the offsite stores %s (Stat: %v)", name, err)
	}
	if n := rp.partialSize(t, name); n != -1 {
		t.Fatalf("a damaged transfer left a .partial of %d bytes", n)
	}
	rp.sent.reset()
	rc, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum)
	if err != nil {
		t.Fatal(err)
	}
	if got := rp.sent.reset(); got != int64(len(data)) {
		t.Errorf("the send after a damaged one sent %d bytes, want all %d", got, len(data))
	}
	checkReceipt(t, rc, name, len(data), sum, rp.offsite.id)
	rp.checkStored(t, name, data)
}

// rawPut sends a header and chunks on a Put stream of its own and
// returns the outcome.
func rawPut(ctx context.Context, c clusterv1.ReplicationClient, h *clusterv1.PutHeader, chunks ...[]byte) error {
	stream, err := c.Put(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&clusterv1.PutRequest{Msg: &clusterv1.PutRequest_Header{Header: h}}); err != nil {
		return putError(stream, err)
	}
	for _, b := range chunks {
		if err := stream.Send(&clusterv1.PutRequest{Msg: &clusterv1.PutRequest_Chunk{Chunk: b}}); err != nil {
			return putError(stream, err)
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// TestPutRefuses: the offsite takes bytes only from the offset it holds,
// never more than declared, of a size within its limit, with a hash
// that is the object's name.
func TestPutRefuses(t *testing.T) {
	rp := newReplPair(t)
	c := clusterv1.NewReplicationClient(mustConn(t, rp))
	name, data, sum := testPack(3, 3<<20)
	// Hold 1 MiB of it: a transfer cut after its first chunk.
	if err := rawPut(replCtx(t), c, &clusterv1.PutHeader{Name: name, Size: uint64(len(data)), Sha256: sum[:]}, data[:1<<20]); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("short transfer: got %v, want FailedPrecondition", err)
	}
	if n := rp.partialSize(t, name); n != 1<<20 {
		t.Fatalf("after a short transfer the .partial holds %d bytes, want %d", n, 1<<20)
	}
	other := sha256.Sum256([]byte("other"))
	small, sdata, ssum := testPack(33, 100)
	for _, tc := range []struct {
		what   string
		h      *clusterv1.PutHeader
		chunks [][]byte
		code   codes.Code
		says   string
	}{
		{"an offset ahead of what is held", &clusterv1.PutHeader{Name: name, Size: uint64(len(data)), Sha256: sum[:], Offset: 2 << 20}, [][]byte{data[2<<20:]}, codes.FailedPrecondition, "holds 1048576 bytes"},
		{"an offset behind what is held", &clusterv1.PutHeader{Name: name, Size: uint64(len(data)), Sha256: sum[:], Offset: 0}, [][]byte{data[:1<<20]}, codes.FailedPrecondition, "holds 1048576 bytes"},
		{"more bytes than declared", &clusterv1.PutHeader{Name: small, Size: uint64(len(sdata)), Sha256: ssum[:]}, [][]byte{append(sdata, 'x')}, codes.InvalidArgument, "more than the 100 bytes"},
		{"a chunk over 1 MiB", &clusterv1.PutHeader{Name: name, Size: uint64(len(data)), Sha256: sum[:], Offset: 1 << 20}, [][]byte{data[1<<20:]}, codes.InvalidArgument, "more than 1048576"},
		{"a hash that is not the name", &clusterv1.PutHeader{Name: name, Size: uint64(len(data)), Sha256: other[:]}, nil, codes.InvalidArgument, "named by its hash"},
		{"too large", &clusterv1.PutHeader{Name: name, Size: DefaultMaxObjectSize + 1, Sha256: sum[:]}, nil, codes.ResourceExhausted, ErrTooLarge.Error()},
		{"locks", &clusterv1.PutHeader{Name: "locks/" + strings.Repeat("a", 64), Size: 1, Sha256: sum[:]}, nil, codes.InvalidArgument, "only config"},
		{"no header", nil, [][]byte{[]byte("x")}, codes.InvalidArgument, "must start with its header"},
		{"nothing", nil, nil, codes.InvalidArgument, "an empty Put stream"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var err error
			if tc.h == nil {
				stream, _ := c.Put(replCtx(t))
				for _, b := range tc.chunks {
					stream.Send(&clusterv1.PutRequest{Msg: &clusterv1.PutRequest_Chunk{Chunk: b}})
				}
				_, err = stream.CloseAndRecv()
			} else {
				err = rawPut(replCtx(t), c, tc.h, tc.chunks...)
			}
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want %v saying %q", err, tc.code, tc.says)
			}
			if _, err := rp.off.ledger.Stat(replCtx(t), name); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused put stored %s", name)
			}
		})
	}
	// What was held before the refusals is still there, and the sender
	// resumes from it.
	rp.sent.reset()
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); err != nil {
		t.Fatal(err)
	}
	if got := rp.sent.reset(); got != int64(len(data))-1<<20 {
		t.Errorf("resume after the refusals sent %d bytes, want %d", got, len(data)-1<<20)
	}
	rp.checkStored(t, name, data)
}

// TestReplicationPairedOnly: a unit not paired with the offsite cannot
// call the Replication service.
func TestReplicationPairedOnly(t *testing.T) {
	rp := newReplPair(t)
	stranger := newIdentity(t)
	conn, err := NewClient(rp.off.addr, stranger, rp.offsite.id.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = clusterv1.NewReplicationClient(conn).Holding(replCtx(t), &clusterv1.HoldingRequest{Name: "config"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Holding from an unpaired unit: got %v, want the connection refused", err)
	}
	// With an offer open the stranger connects, but may call Pair only.
	if _, err := rp.off.p.Reoffer(0); err != nil {
		t.Fatal(err)
	}
	conn, err = NewClient(rp.off.addr, stranger, rp.offsite.id.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = clusterv1.NewReplicationClient(conn).Holding(replCtx(t), &clusterv1.HoldingRequest{Name: "config"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Holding from an unpaired unit while an offer is open: got %v, want PermissionDenied", err)
	}
}

// TestSendChecksReceipt: a receipt not signed with the key the home
// unit holds for the offsite is refused.
func TestSendChecksReceipt(t *testing.T) {
	rp := newReplPair(t)
	rp.rep.key = rp.home.id.Key.Public().(ed25519.PublicKey)
	name, data, sum := testPack(4, 1000)
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); !errors.Is(err, ErrReceiptMismatch) {
		t.Fatalf("got %v, want ErrReceiptMismatch", err)
	}
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), -1, sum); err == nil || !strings.Contains(err.Error(), "a size of -1 bytes") {
		t.Fatalf("send of -1 bytes: got %v, want it refused", err)
	}
}

// TestSendConfig: config, the one object not named by its hash, goes
// through the same way, and a transfer of other content under its name
// does not resume from a partial of the first.
func TestSendConfig(t *testing.T) {
	rp := newReplPair(t)
	c := clusterv1.NewReplicationClient(mustConn(t, rp))
	a, b := bytes.Repeat([]byte("a"), 2<<20), bytes.Repeat([]byte("b"), 2<<20)
	sa, sb := sha256.Sum256(a), sha256.Sum256(b)
	if err := rawPut(replCtx(t), c, &clusterv1.PutHeader{Name: "config", Size: uint64(len(a)), Sha256: sa[:]}, a[:1<<20]); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("short transfer: got %v", err)
	}
	rp.sent.reset()
	rc, err := rp.rep.Send(replCtx(t), "config", bytes.NewReader(b), int64(len(b)), sb)
	if err != nil {
		t.Fatal(err)
	}
	if got := rp.sent.reset(); got != int64(len(b)) {
		t.Errorf("other content sent %d bytes, want all %d", got, len(b))
	}
	checkReceipt(t, rc, "config", len(b), sb, rp.offsite.id)
	rp.checkStored(t, "config", b)
}

// TestSendRate: every byte sent is taken from the rate cap first, in
// chunks no larger than its burst; the cap changes at run time and a
// cap too low for the deadline stops the transfer at once.
func TestSendRate(t *testing.T) {
	rp := newReplPair(t)
	name, data, sum := testPack(5, 5<<20+3)
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); err != nil {
		t.Fatal(err)
	}
	if rp.sent.total != int64(len(data)) || rp.sent.calls != 6 || rp.sent.max != ChunkSize {
		t.Errorf("rate cap asked for %d bytes in %d calls of at most %d; want %d in 6 of at most %d", rp.sent.total, rp.sent.calls, rp.sent.max, len(data), ChunkSize)
	}

	r := NewReplicator(ReplicatorConfig{Conn: mustConn(t, rp), Cluster: replCluster, Offsite: rp.offsite.id.ID, Key: rp.offsite.id.Key.Public().(ed25519.PublicKey), Rate: 50 << 20})
	if got := r.Rate(); got != 50<<20 {
		t.Errorf("Rate: got %d, want %d", got, 50<<20)
	}
	if r.limit.Burst() != ChunkSize {
		t.Errorf("burst: got %d, want %d (one chunk)", r.limit.Burst(), ChunkSize)
	}
	r.SetRate(0)
	if got := r.Rate(); got != 0 {
		t.Errorf("Rate after SetRate(0): got %d, want 0 (no cap)", got)
	}
	// At 1 byte a second, the second MiB cannot go before the hour's
	// deadline: the real limiter refuses at once.
	r.SetRate(1)
	name, data, sum = testPack(6, 3<<20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, err := r.Send(ctx, name, bytes.NewReader(data), int64(len(data)), sum); err == nil || !strings.Contains(err.Error(), "exceed context deadline") {
		t.Fatalf("send at 1 B/s: got %v, want the rate limiter's refusal", err)
	}
}

// TestChallenge: a challenge passes on the right copy and fails once a
// byte of the offsite's copy is flipped in its range; the next Send
// finds the stored copy damaged and sends it again, after which the
// challenge passes.
func TestChallenge(t *testing.T) {
	rp := newReplPair(t)
	name, data, sum := testPack(7, 2<<20+100)
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	for range 3 {
		if err := rp.rep.Challenge(replCtx(t), name, bytes.NewReader(data), size); err != nil {
			t.Fatalf("challenge of an intact copy: %v", err)
		}
	}
	// The range the next challenge picks, from a seeded source.
	rp.rep.rand = mrand.New(mrand.NewPCG(7, 7))
	off, length := rp.rep.challengeRange(size)
	rp.rep.rand = mrand.New(mrand.NewPCG(7, 7))
	path := filepath.Join(rp.root, filepath.FromSlash(name))
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stored[off+length/2] ^= 1
	if err := os.WriteFile(path, stored, 0o600); err != nil {
		t.Fatal(err)
	}
	err = rp.rep.Challenge(replCtx(t), name, bytes.NewReader(data), size)
	if !errors.Is(err, ErrChallengeFailed) || !strings.Contains(err.Error(), name) {
		t.Fatalf("challenge of a damaged copy: got %v, want ErrChallengeFailed naming %s", err, name)
	}

	rp.sent.reset()
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), size, sum); err != nil {
		t.Fatalf("send after a failed challenge: %v", err)
	}
	if got := rp.sent.reset(); got != size {
		t.Errorf("send after a failed challenge sent %d bytes, want all %d", got, size)
	}
	rp.checkStored(t, name, data)
	if err := rp.rep.Challenge(replCtx(t), name, bytes.NewReader(data), size); err != nil {
		t.Fatalf("challenge after the re-send: %v", err)
	}
	missing, _, _ := testPack(8, 10)
	if err := rp.rep.Challenge(replCtx(t), missing, bytes.NewReader(make([]byte, 10)), 10); !errors.Is(err, ErrChallengeFailed) {
		t.Fatalf("challenge of an object the offsite does not hold: got %v, want ErrChallengeFailed", err)
	}
}

// receiverChildEnv makes the test binary the offsite unit that
// TestReceiverKilled kills: it holds the state and store directories,
// separated by a newline.
const receiverChildEnv = "SHOEBOX_TEST_RECEIVER_CHILD"

// TestReceiverKilled: the offsite unit, a real process, is killed with
// SIGKILL mid-transfer; restarted from its directories, it reports the
// fsynced .partial and the transfer resumes from it.
func TestReceiverKilled(t *testing.T) {
	if env := os.Getenv(receiverChildEnv); env != "" {
		state, root, _ := strings.Cut(env, "\n")
		off, err := startOffsite(state, root, os.Stderr, replCluster)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		fmt.Println("addr", off.addr)
		select {}
	}
	home, offsite, o := newPair(t)
	if _, err := home.pairWith(t, offsite, o.Code); err != nil {
		t.Fatal(err)
	}
	rp := &replPair{home: home, offsite: offsite, root: t.TempDir()}

	// The pairing test's own listener holds no lock on the state; the
	// child opens the ledger and partial folder itself.
	c := startChild(t, "TestReceiverKilled", receiverChildEnv, offsite.dir+"\n"+rp.root)
	addr, _ := c.line(t, "addr ")
	if addr == "" {
		t.Fatal("the child process ended before it listened")
	}
	rp.connect(t, addr)
	name, data, sum := testPack(9, 16<<20)
	rp.sent.hook = func(ctx context.Context, total int64) error {
		if total < 8<<20 || c.killed {
			return nil
		}
		for rp.partialSize(t, name) < 5<<20 {
			time.Sleep(5 * time.Millisecond) // waits for a state, not a time
		}
		c.kill(t)
		return nil
	}
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); err == nil {
		t.Fatal("the transfer to the killed unit succeeded")
	}
	rp.sent.reset()
	held := rp.partialSize(t, name)
	if held < 5<<20 {
		t.Fatalf("after SIGKILL the .partial holds %d bytes, want at least 5 MiB", held)
	}

	rp.start(t) // the unit restarted from the same directories
	rc, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum)
	if err != nil {
		t.Fatalf("resume after the restart: %v", err)
	}
	if got, want := rp.sent.reset(), int64(len(data))-held; got != want {
		t.Errorf("resume after the restart sent %d bytes, want %d (the %d held are not sent again)", got, want, held)
	}
	checkReceipt(t, rc, name, len(data), sum, offsite.id)
	rp.checkStored(t, name, data)
}

// BenchmarkSend: 16 MiB packs from the home unit to an offsite unit on
// loopback, through the .partial, the hash checks and the ledger into a
// directory store, each with its receipt checked.
func BenchmarkSend(b *testing.B) {
	home, offDir, root := newIdentity(b), b.TempDir(), b.TempDir()
	offID, err := devid.LoadOrCreate(offDir)
	if err != nil {
		b.Fatal(err)
	}
	p, err := OpenPairing(PairingConfig{Dir: offDir, Self: offID})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.save(&Peer{ID: home.ID, Role: peerHome, Epoch: 1, PairedAt: pairEpoch}); err != nil {
		b.Fatal(err)
	}
	off, err := startOffsite(offDir, root, io.Discard, replCluster)
	if err != nil {
		b.Fatal(err)
	}
	defer off.stop()
	conn, err := NewClient(off.addr, home, offID.ID)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rep := NewReplicator(ReplicatorConfig{Conn: conn, Cluster: replCluster, Offsite: offID.ID, Key: offID.Key.Public().(ed25519.PublicKey)})
	const size = 16 << 20
	b.SetBytes(size)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name, data, sum := testPack(uint64(1000+i), size)
		b.StartTimer()
		if _, err := rep.Send(ctx, name, bytes.NewReader(data), size, sum); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDamagedPartialDropped: a .partial that is not one (cut before its
// header, another magic, more bytes than it declares) reads as nothing
// held and is removed, so the transfer starts again from 0.
func TestDamagedPartialDropped(t *testing.T) {
	rp := newReplPair(t)
	name, data, sum := testPack(10, 1000)
	path := filepath.Join(rp.offsite.dir, PartialDir, strings.ReplaceAll(name, "/", "-")+".partial")
	over := append([]byte(partialMagic), make([]byte, 8+32+1)...) // size 0, one byte held
	for what, b := range map[string][]byte{"short": []byte("SBPA"), "magic": append([]byte("XXPART1\n"), make([]byte, 40+10)...), "over": over} {
		t.Run(what, func(t *testing.T) {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			h, err := clusterv1.NewReplicationClient(mustConn(t, rp)).Holding(replCtx(t), &clusterv1.HoldingRequest{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			if h.Partial != 0 || h.PartialSize != 0 {
				t.Fatalf("Holding: got %d of %d held, want none", h.Partial, h.PartialSize)
			}
			if n := rp.partialSize(t, name); n != -1 {
				t.Fatalf("the damaged .partial is still there")
			}
		})
	}
	rp.sent.reset()
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); err != nil {
		t.Fatal(err)
	}
	if got := rp.sent.reset(); got != int64(len(data)) {
		t.Errorf("sent %d bytes, want all %d", got, len(data))
	}
	rp.checkStored(t, name, data)
}

// flipProxy forwards TCP connections to addr; on the first one it
// flips a bit of the byte at offset at, from the client to the server:
// bytes damaged on the link itself.
func flipProxy(t *testing.T, addr string, at int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				return
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			go func() { io.Copy(c, s); c.Close() }()
			var w io.Writer = s
			if first {
				w = &flipWriter{w: s, at: at}
			}
			go func() { io.Copy(w, c); s.Close() }()
		}
	}()
	return ln.Addr().String()
}

type flipWriter struct {
	w   io.Writer
	off int64
	at  int64
}

func (f *flipWriter) Write(p []byte) (int, error) {
	if i := f.at - f.off; i >= 0 && i < int64(len(p)) {
		p = bytes.Clone(p)
		p[i] ^= 0x08
	}
	f.off += int64(len(p))
	return f.w.Write(p)
}

// TestSendFlippedOnTheLink: a bit flipped on the link ends the
// connection (TLS refuses the record); nothing damaged is stored, and
// the next Send resumes over a new connection and stores the object
// intact.
func TestSendFlippedOnTheLink(t *testing.T) {
	rp := newReplPair(t)
	rp.connect(t, flipProxy(t, rp.off.addr, 3<<20))
	name, data, sum := testPack(11, 6<<20)
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); err == nil {
		t.Fatal("a transfer with a bit flipped on the link succeeded")
	}
	if _, err := rp.off.ledger.Stat(replCtx(t), name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a damaged link the offsite stores %s (Stat: %v)", name, err)
	}
	// Holding waits for the cut stream's handler to finish.
	h, err := clusterv1.NewReplicationClient(mustConn(t, rp)).Holding(replCtx(t), &clusterv1.HoldingRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	held := int64(h.Partial)
	if held >= 3<<20 {
		t.Fatalf("the .partial holds %d bytes, beyond the flipped byte at 3 MiB of the link", held)
	}
	if held > 0 {
		b, err := os.ReadFile(filepath.Join(rp.offsite.dir, PartialDir, strings.ReplaceAll(name, "/", "-")+".partial"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b[partialHeaderLen:], data[:held]) {
			t.Fatal("the .partial holds bytes that are not the object's")
		}
	}
	rp.sent.reset()
	if _, err := rp.rep.Send(replCtx(t), name, bytes.NewReader(data), int64(len(data)), sum); err != nil {
		t.Fatalf("send after the damaged link: %v", err)
	}
	if got := rp.sent.reset(); got != int64(len(data))-held {
		t.Errorf("send after the damaged link sent %d bytes, want %d", got, int64(len(data))-held)
	}
	rp.checkStored(t, name, data)
}
