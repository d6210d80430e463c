package cluster

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"sync"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterv1 "github.com/shoebox/shoebox/cluster/gen/clusterv1"
	"github.com/shoebox/shoebox/internal/devid"
)

// ChallengeNonce is the size of the fresh nonce of each storage challenge.
const ChallengeNonce = 32

// ReplicatorConfig is what NewReplicator needs.
type ReplicatorConfig struct {
	// Conn is the connection to the paired offsite unit (NewClient,
	// pinned to Offsite).
	Conn grpc.ClientConnInterface
	// Cluster is the pair's cluster ID, which receipts sign.
	Cluster ClusterID
	// Offsite is the offsite unit's device ID: the Signer of its receipts.
	Offsite devid.ID
	// Key is the offsite unit's Ed25519 public key, as its member record
	// in the catalog holds it: the key that must sign its receipts.
	Key ed25519.PublicKey
	// Rate caps the bytes per second sent; 0 for no cap. SetRate changes
	// it at run time.
	Rate int64
}

// Replicator is the home unit's side of the transfer: Send moves one
// object to the offsite unit, resuming what it already holds, and
// returns its verified receipt; Challenge checks a random range of a
// stored object. The receipt is the caller's to commit through Raft. Its
// methods may be called from any goroutine; the rate cap is shared by
// all its transfers.
type Replicator struct {
	c       clusterv1.ReplicationClient
	cluster ClusterID
	offsite devid.ID
	key     ed25519.PublicKey
	limit   *rate.Limiter
	// wait takes n bytes from the rate cap before they are sent
	// (limit.WaitN; tests count with it).
	wait func(ctx context.Context, n int) error

	mu   sync.Mutex // guards rand
	rand *mrand.Rand
}

// NewReplicator returns a Replicator over cfg.Conn.
func NewReplicator(cfg ReplicatorConfig) *Replicator {
	var seed [32]byte
	rand.Read(seed[:])
	r := &Replicator{
		c:       clusterv1.NewReplicationClient(cfg.Conn),
		cluster: cfg.Cluster,
		offsite: cfg.Offsite,
		key:     cfg.Key,
		limit:   rate.NewLimiter(rate.Inf, ChunkSize),
		rand:    mrand.New(mrand.NewChaCha8(seed)),
	}
	r.wait = r.limit.WaitN
	r.SetRate(cfg.Rate)
	return r
}

// SetRate caps the bytes per second sent, from the next chunk on, for
// transfers under way too; 0 (or less) lifts the cap.
func (r *Replicator) SetRate(bytesPerSecond int64) {
	if bytesPerSecond <= 0 {
		r.limit.SetLimit(rate.Inf)
		return
	}
	r.limit.SetLimit(rate.Limit(bytesPerSecond))
}

// Rate is the cap in bytes per second; 0 for none.
func (r *Replicator) Rate() int64 {
	l := r.limit.Limit()
	if l == rate.Inf {
		return 0
	}
	return int64(math.Round(float64(l)))
}

// Send moves the object name, size bytes read from src whose SHA-256 is
// sum, to the offsite unit. It asks what the offsite holds and sends
// only the rest: nothing when it stores the object whole (the offsite
// then hashes its copy, and a damaged copy is sent again from the
// start), the bytes after those of an unfinished transfer of the same
// content otherwise. It returns the offsite's receipt once it has
// checked that the paired offsite signed it and that it states name,
// size and sum (ErrReceiptMismatch otherwise).
//
// A cut transfer (ctx ended, link lost) is resumed by calling Send
// again. An error names the object; a status from the offsite says why
// it refused (codes.DataLoss: the bytes arrived damaged, nothing was
// stored).
func (r *Replicator) Send(ctx context.Context, name string, src io.ReaderAt, size int64, sum [32]byte) (Receipt, error) {
	o, err := ParseObject(name)
	if err != nil {
		return Receipt{}, err
	}
	if size < 0 {
		return Receipt{}, fmt.Errorf("send %s: a size of %d bytes", name, size)
	}
	h, err := r.c.Holding(ctx, &clusterv1.HoldingRequest{Name: name})
	if err != nil {
		return Receipt{}, fmt.Errorf("send %s: ask what the offsite unit holds: %w", name, err)
	}
	var offset int64
	switch {
	case h.Complete && h.Size == uint64(size):
		offset = size
	case h.PartialSize == uint64(size) && bytes.Equal(h.PartialSha256, sum[:]) && h.Partial <= uint64(size):
		offset = int64(h.Partial)
	}
	raw, err := r.put(ctx, name, src, size, sum, offset)
	if status.Code(err) == codes.DataLoss && offset == size && size > 0 {
		// The offsite's stored copy is damaged: send it whole.
		raw, err = r.put(ctx, name, src, size, sum, 0)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("send %s: %w", name, err)
	}
	return r.checkReceipt(raw, o, size, sum)
}

// put streams src from offset and returns the receipt's bytes.
func (r *Replicator) put(ctx context.Context, name string, src io.ReaderAt, size int64, sum [32]byte, offset int64) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream on an early return
	stream, err := r.c.Put(ctx)
	if err != nil {
		return nil, err
	}
	hdr := &clusterv1.PutHeader{Name: name, Size: uint64(size), Sha256: sum[:], Offset: uint64(offset)}
	if err := stream.Send(&clusterv1.PutRequest{Msg: &clusterv1.PutRequest_Header{Header: hdr}}); err != nil {
		return nil, putError(stream, err)
	}
	buf := make([]byte, min(ChunkSize, size-offset))
	for off := offset; off < size; {
		n := int(min(int64(len(buf)), size-off))
		if _, err := src.ReadAt(buf[:n], off); err != nil && !(err == io.EOF && n > 0) {
			return nil, fmt.Errorf("read bytes %d to %d of the home copy: %w", off, off+int64(n), err)
		}
		if err := r.wait(ctx, n); err != nil {
			return nil, err
		}
		if err := stream.Send(&clusterv1.PutRequest{Msg: &clusterv1.PutRequest_Chunk{Chunk: buf[:n]}}); err != nil {
			return nil, putError(stream, err)
		}
		off += int64(n)
	}
	reply, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return reply.Receipt, nil
}

// putError is the offsite's reason when Send failed because the offsite
// ended the stream (Send reports only io.EOF then).
func putError(stream clusterv1.Replication_PutClient, err error) error {
	if err == io.EOF {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return rerr
		}
	}
	return err
}

// checkReceipt decodes the offsite's receipt and checks it states o,
// size and sum and is signed by the paired offsite unit.
func (r *Replicator) checkReceipt(raw []byte, o Object, size int64, sum [32]byte) (Receipt, error) {
	c, err := DecodeCommand(raw)
	rc, ok := c.(*Receipt)
	switch {
	case err != nil:
		return Receipt{}, fmt.Errorf("send %s: %w: %v", o, ErrReceiptMismatch, err)
	case !ok:
		return Receipt{}, fmt.Errorf("send %s: %w: the offsite unit answered with a %T", o, ErrReceiptMismatch, c)
	case rc.Signer != r.offsite:
		return Receipt{}, fmt.Errorf("send %s: %w: signed by %s, not by the paired offsite unit %s", o, ErrReceiptMismatch, devid.ID(rc.Signer), r.offsite)
	case !rc.Verify(r.cluster, r.key):
		return Receipt{}, fmt.Errorf("send %s: %w: its signature does not verify with the offsite unit's key for this cluster", o, ErrReceiptMismatch)
	case rc.Object != o || rc.Size != uint64(size) || rc.Hash != sum:
		return Receipt{}, fmt.Errorf("send %s: %w: it states %s, %d bytes, SHA-256 %x", o, ErrReceiptMismatch, rc.Object, rc.Size, rc.Hash)
	}
	return *rc, nil
}

// Challenge asks the offsite unit for the hash of a random range of the
// stored object name, with a fresh nonce, and checks it against the home
// unit's own copy (local, size bytes). It returns nil when they agree,
// an error wrapping ErrChallengeFailed when they do not or the offsite
// no longer holds the object (the object is then to be marked missing
// and sent again), and any other error when the challenge could not be
// made (link down: nothing is known).
func (r *Replicator) Challenge(ctx context.Context, name string, local io.ReaderAt, size int64) error {
	off, length := r.challengeRange(size)
	nonce := make([]byte, ChallengeNonce)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	want, err := hashRange(nonce, local, off, length)
	if err != nil {
		return fmt.Errorf("challenge %s: read the home copy: %w", name, err)
	}
	reply, err := r.c.Challenge(ctx, &clusterv1.ChallengeRequest{Name: name, Offset: uint64(off), Length: uint64(length), Nonce: nonce})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound, codes.OutOfRange:
		return fmt.Errorf("challenge %s: %w: %v", name, ErrChallengeFailed, err)
	default:
		return fmt.Errorf("challenge %s: %w", name, err)
	}
	if !bytes.Equal(reply.Sha256, want[:]) {
		return fmt.Errorf("challenge %s: %w: bytes %d to %d differ from the home unit's copy", name, ErrChallengeFailed, off, off+length)
	}
	return nil
}

// challengeRange picks a random range of an object of size bytes: up to
// MaxChallengeLength long, anywhere in it.
func (r *Replicator) challengeRange(size int64) (off, length int64) {
	if size == 0 {
		return 0, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	length = 1 + r.rand.Int64N(min(size, MaxChallengeLength))
	off = r.rand.Int64N(size - length + 1)
	return off, length
}
