package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterv1 "github.com/shoebox/shoebox/cluster/gen/clusterv1"
	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/store"
)

// The transfer's limits (docs/CLUSTER.md, "Transfer").
const (
	// DefaultMaxObjectSize is the largest object the offsite unit takes
	// when ReplicationConfig names no limit: four times a default pack
	// (16 MiB), so a pack with its headers fits with room, while a peer
	// cannot fill the partial area with one endless object.
	DefaultMaxObjectSize = 64 << 20
	// MaxChallengeLength bounds the range of one storage challenge.
	MaxChallengeLength = 16 << 20
	// minNonce is the shortest challenge nonce the offsite unit accepts.
	minNonce = 16
	// maxNonce is the longest.
	maxNonce = 64
)

// PartialDir is the folder of the unfinished transfers in the offsite
// unit's cluster state directory (STATE/cluster/partial).
const PartialDir = "partial"

// ReplicationConfig is what NewReplicationServer needs.
type ReplicationConfig struct {
	// Ledger guards the offsite unit's store: every object is written
	// through it.
	Ledger *Ledger
	// Dir holds the .partial files of unfinished transfers: the unit's
	// cluster state directory's PartialDir, never the store.
	Dir string
	// Self signs the receipts with its Ed25519 key; its device ID is the
	// receipts' Signer.
	Self *devid.Identity
	// Cluster returns the pair's cluster ID (the catalog's, FSM.Cluster);
	// receipts are refused while it is zero.
	Cluster func() ClusterID
	// MaxObjectSize: DefaultMaxObjectSize when 0.
	MaxObjectSize int64
	// Now is the clock of the receipts' Received (nil: time.Now).
	Now func() time.Time
	// Log (nil: slog.Default()).
	Log *slog.Logger
}

// ReplicationServer is the offsite unit's side of the transfer: the
// Replication service (Register). It keeps each unfinished transfer in
// an fsynced .partial file, stores a finished one through the ledger
// once its size and SHA-256 are right, and signs a receipt for it. One
// call at a time works on a given object; its methods may be called from
// any goroutine.
type ReplicationServer struct {
	cfg   ReplicationConfig
	locks nameLocks
}

// NewReplicationServer makes cfg.Dir if needed.
func NewReplicationServer(cfg ReplicationConfig) (*ReplicationServer, error) {
	switch {
	case cfg.Ledger == nil, cfg.Self == nil, cfg.Cluster == nil, cfg.Dir == "":
		return nil, errors.New("cluster: NewReplicationServer needs a ledger, an identity, the cluster ID and a directory")
	}
	if cfg.MaxObjectSize == 0 {
		cfg.MaxObjectSize = DefaultMaxObjectSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: the folder of partial transfers: %w", err)
	}
	return &ReplicationServer{cfg: cfg, locks: nameLocks{m: map[string]chan struct{}{}}}, nil
}

// Register adds the Replication service to the offsite unit's listener,
// whose pairing interceptors (Pairing.ServerOptions) admit only the
// paired home unit to it.
func (s *ReplicationServer) Register(r grpc.ServiceRegistrar) {
	clusterv1.RegisterReplicationServer(r, replicationService{s: s})
}

var _ clusterv1.ReplicationServer = replicationService{}

type replicationService struct {
	clusterv1.UnimplementedReplicationServer
	s *ReplicationServer
}

// Holding reports the partial transfer and the stored copy of an object.
func (r replicationService) Holding(ctx context.Context, req *clusterv1.HoldingRequest) (*clusterv1.HoldingReply, error) {
	o, err := replicatedObject(req.Name)
	if err != nil {
		return nil, err
	}
	unlock, err := r.s.locks.lock(ctx, req.Name)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	reply := &clusterv1.HoldingReply{}
	p, err := r.s.readPartial(o)
	if err != nil {
		return nil, replicationStatus(err)
	}
	if p.exists {
		reply.Partial, reply.PartialSize, reply.PartialSha256 = uint64(p.held), p.size, p.sum[:]
	}
	switch fi, err := r.s.cfg.Ledger.Stat(ctx, req.Name); {
	case err == nil:
		reply.Complete, reply.Size = true, uint64(fi.Size)
	case !errors.Is(err, store.ErrNotFound):
		return nil, replicationStatus(fmt.Errorf("holding %s: %w", req.Name, err))
	}
	return reply, nil
}

// Put receives an object; see the service's documentation.
func (r replicationService) Put(stream clusterv1.Replication_PutServer) error {
	s, ctx := r.s, stream.Context()
	first, err := stream.Recv()
	if err == io.EOF {
		return status.Error(codes.InvalidArgument, "replication: an empty Put stream")
	}
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "replication: a Put stream must start with its header")
	}
	o, err := replicatedObject(h.Name)
	if err != nil {
		return err
	}
	var sum [32]byte
	switch {
	case len(h.Sha256) != len(sum):
		return status.Errorf(codes.InvalidArgument, "replication: put of %s: a SHA-256 of %d bytes", h.Name, len(h.Sha256))
	case h.Size > uint64(s.cfg.MaxObjectSize):
		return status.Errorf(codes.ResourceExhausted, "replication: put of %s: %d bytes: %v: the offsite unit takes at most %d bytes per object; raise its limit if the repository's packs are larger", h.Name, h.Size, ErrTooLarge, s.cfg.MaxObjectSize)
	case h.Offset > h.Size:
		return status.Errorf(codes.InvalidArgument, "replication: put of %s: offset %d beyond its size %d", h.Name, h.Offset, h.Size)
	}
	copy(sum[:], h.Sha256)
	if o.Kind != KindConfig && sum != o.ID {
		return status.Errorf(codes.InvalidArgument, "replication: put of %s declares SHA-256 %x, but the object is named by its hash", h.Name, sum)
	}
	cluster := s.cfg.Cluster()
	if cluster == (ClusterID{}) {
		return status.Error(codes.FailedPrecondition, "replication: this offsite unit has no cluster ID yet (its catalog has not caught up with the home unit): retry later")
	}
	unlock, err := s.locks.lock(ctx, h.Name)
	if err != nil {
		return status.FromContextError(err).Err()
	}
	defer unlock()

	size := int64(h.Size)
	if h.Offset == h.Size {
		if fi, err := s.cfg.Ledger.Stat(ctx, h.Name); err == nil && fi.Size == size {
			return s.confirm(stream, o, size, sum, cluster)
		}
	}
	if err := s.receive(stream, o, size, sum, int64(h.Offset)); err != nil {
		return replicationStatus(err)
	}
	return s.reply(stream, o, size, sum, cluster)
}

// confirm answers a put of an object already stored whole with a
// receipt, once the stored copy hashes to sum.
func (s *ReplicationServer) confirm(stream clusterv1.Replication_PutServer, o Object, size int64, sum [32]byte, cluster ClusterID) error {
	ctx, name := stream.Context(), o.String()
	if _, err := stream.Recv(); err != io.EOF {
		if err == nil {
			return status.Errorf(codes.InvalidArgument, "replication: put of %s: bytes after offset %d, its size", name, size)
		}
		return err
	}
	obj, err := s.cfg.Ledger.Open(ctx, name)
	if err != nil {
		return replicationStatus(fmt.Errorf("confirm %s: %w", name, err))
	}
	got, err := hashRange(nil, obj, 0, size)
	obj.Close()
	if err != nil {
		return replicationStatus(fmt.Errorf("confirm %s: %w", name, err))
	}
	if got != sum {
		s.cfg.Log.Warn("cluster: a stored object is damaged", "object", name)
		return status.Errorf(codes.DataLoss, "replication: the offsite unit's copy of %s is damaged (it no longer hashes to its SHA-256): send it again from offset 0", name)
	}
	// A partial of the same object is of no more use.
	if err := s.removePartial(o); err != nil {
		return replicationStatus(err)
	}
	return s.reply(stream, o, size, sum, cluster)
}

// reply signs and sends the receipt for o.
func (s *ReplicationServer) reply(stream clusterv1.Replication_PutServer, o Object, size int64, sum [32]byte, cluster ClusterID) error {
	rc := Receipt{Object: o, Size: uint64(size), Hash: sum, Received: s.cfg.Now()}
	rc.Sign(cluster, s.cfg.Self.ID, s.cfg.Self.Key)
	return stream.SendAndClose(&clusterv1.PutReply{Receipt: EncodeCommand(&rc)})
}

// receive appends the stream's chunks to o's .partial from offset,
// which must be what it holds of this content, and stores the object
// through the ledger when the last byte is in.
func (s *ReplicationServer) receive(stream clusterv1.Replication_PutServer, o Object, size int64, sum [32]byte, offset int64) error {
	ctx, name := stream.Context(), o.String()
	p, err := s.readPartial(o)
	if err != nil {
		return err
	}
	held := p.held
	if p.exists && (p.size != uint64(size) || p.sum != sum) {
		held = 0 // a partial of other content (config only): replaced from 0
	}
	if offset != held {
		return status.Errorf(codes.FailedPrecondition, "replication: put of %s from offset %d, but this unit holds %d bytes of it: send from %d (ask Holding)", name, offset, held, held)
	}
	if held == 0 {
		if err := s.createPartial(o, size, sum); err != nil {
			return err
		}
	}
	path := s.partialPath(o)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("put %s: open its partial transfer: %w", name, err)
	}
	defer f.Close()
	got, unsynced := held, 0
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			// Cut: keep what arrived for the resume.
			if serr := f.Sync(); serr != nil {
				return fmt.Errorf("put %s: fsync its partial transfer: %w", name, serr)
			}
			return err
		}
		c := m.GetChunk()
		switch {
		case m.GetHeader() != nil:
			return status.Errorf(codes.InvalidArgument, "replication: put of %s: a second header", name)
		case len(c) > ChunkSize:
			return status.Errorf(codes.InvalidArgument, "replication: put of %s: a chunk of %d bytes, more than %d", name, len(c), ChunkSize)
		case got+int64(len(c)) > size:
			return status.Errorf(codes.InvalidArgument, "replication: put of %s: more than the %d bytes declared", name, size)
		}
		if _, err := f.Write(c); err != nil {
			return fmt.Errorf("put %s: write its partial transfer: %w", name, err)
		}
		got += int64(len(c))
		if unsynced += len(c); unsynced >= ChunkSize {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("put %s: fsync its partial transfer: %w", name, err)
			}
			unsynced = 0
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: fsync its partial transfer: %w", name, err)
	}
	if got < size {
		return status.Errorf(codes.FailedPrecondition, "replication: put of %s: %v: the stream ended after %d of %d bytes; nothing is stored, and the %d bytes are kept for a resume", name, ErrBadTransfer, got, size, got)
	}
	return s.store(ctx, o, size, sum)
}

// store checks o's complete partial against size and sum and hands it to
// the ledger; the partial is removed when the object is stored or
// refused, and kept after an error a retry may overcome.
func (s *ReplicationServer) store(ctx context.Context, o Object, size int64, sum [32]byte) error {
	name := o.String()
	f, err := os.Open(s.partialPath(o))
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer f.Close()
	got, err := hashRange(nil, f, partialHeaderLen, size)
	if err != nil {
		return fmt.Errorf("put %s: read its partial transfer: %w", name, err)
	}
	if got != sum {
		if err := s.removePartial(o); err != nil {
			return err
		}
		s.cfg.Log.Warn("cluster: a transfer arrived damaged", "object", name)
		return status.Errorf(codes.DataLoss, "replication: put of %s: %v: its %d bytes hash to %x, not to the SHA-256 the sender declared; nothing is stored and the partial transfer is dropped: the home unit sends it again from 0", name, ErrBadTransfer, size, got)
	}
	err = s.cfg.Ledger.Put(ctx, name, io.NewSectionReader(f, partialHeaderLen, size))
	if err == nil || errors.Is(err, ErrRefused) || errors.Is(err, ErrQuota) {
		if rerr := s.removePartial(o); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// The .partial file of an unfinished transfer (docs/FORMAT.md): a
// 48-byte header, then the bytes received so far.
const (
	partialMagic     = "SBPART1\n"
	partialHeaderLen = 8 + 8 + sha256.Size // magic, size, SHA-256
)

// partialPath is o's .partial: its name with '/' as '-'.
func (s *ReplicationServer) partialPath(o Object) string {
	return filepath.Join(s.cfg.Dir, strings.ReplaceAll(o.String(), "/", "-")+".partial")
}

// partial is what a .partial holds.
type partial struct {
	exists bool
	held   int64    // bytes after the header
	size   uint64   // declared by its transfer
	sum    [32]byte // declared by its transfer
}

// readPartial reads o's .partial header. A damaged one (short, unknown,
// more bytes than declared) is removed and reads as none.
func (s *ReplicationServer) readPartial(o Object) (partial, error) {
	path := s.partialPath(o)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return partial{}, nil
	}
	if err != nil {
		return partial{}, fmt.Errorf("partial transfer of %s: %w", o, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return partial{}, fmt.Errorf("partial transfer of %s: %w", o, err)
	}
	var hdr [partialHeaderLen]byte
	_, err = io.ReadFull(f, hdr[:])
	p := partial{exists: true, held: fi.Size() - partialHeaderLen, size: binary.BigEndian.Uint64(hdr[len(partialMagic):])}
	copy(p.sum[:], hdr[len(partialMagic)+8:])
	if err != nil || !bytes.HasPrefix(hdr[:], []byte(partialMagic)) || p.held > int64(p.size) {
		s.cfg.Log.Warn("cluster: dropped a damaged partial transfer", "file", path)
		return partial{}, s.removePartial(o)
	}
	return p, nil
}

// createPartial starts o's .partial afresh, its header durable.
func (s *ReplicationServer) createPartial(o Object, size int64, sum [32]byte) error {
	hdr := make([]byte, 0, partialHeaderLen)
	hdr = append(hdr, partialMagic...)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(size))
	hdr = append(hdr, sum[:]...)
	if err := atomicfile.WriteFile(s.partialPath(o), hdr, 0o600); err != nil {
		return fmt.Errorf("put %s: start its partial transfer: %w", o, err)
	}
	return nil
}

func (s *ReplicationServer) removePartial(o Object) error {
	if err := os.Remove(s.partialPath(o)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the partial transfer of %s: %w", o, err)
	}
	return nil
}

// Challenge hashes a nonce and a range of a stored object.
func (r replicationService) Challenge(ctx context.Context, req *clusterv1.ChallengeRequest) (*clusterv1.ChallengeReply, error) {
	if _, err := replicatedObject(req.Name); err != nil {
		return nil, err
	}
	switch {
	case len(req.Nonce) < minNonce || len(req.Nonce) > maxNonce:
		return nil, status.Errorf(codes.InvalidArgument, "replication: challenge of %s: a nonce of %d bytes, want %d to %d", req.Name, len(req.Nonce), minNonce, maxNonce)
	case req.Length > MaxChallengeLength:
		return nil, status.Errorf(codes.InvalidArgument, "replication: challenge of %s: %d bytes, more than %d", req.Name, req.Length, MaxChallengeLength)
	}
	obj, err := r.s.cfg.Ledger.Open(ctx, req.Name)
	if err != nil {
		return nil, replicationStatus(fmt.Errorf("challenge %s: %w", req.Name, err))
	}
	defer obj.Close()
	if req.Offset > uint64(obj.Size()) || req.Length > uint64(obj.Size())-req.Offset {
		return nil, status.Errorf(codes.OutOfRange, "replication: challenge of %s: bytes %d to %d, but it has %d", req.Name, req.Offset, req.Offset+req.Length, obj.Size())
	}
	sum, err := hashRange(req.Nonce, obj, int64(req.Offset), int64(req.Length))
	if err != nil {
		return nil, replicationStatus(fmt.Errorf("challenge %s: %w", req.Name, err))
	}
	return &clusterv1.ChallengeReply{Sha256: sum[:]}, nil
}

// hashRange is SHA-256(prefix || length bytes of r from off).
func hashRange(prefix []byte, r io.ReaderAt, off, length int64) ([32]byte, error) {
	h := sha256.New()
	h.Write(prefix)
	n, err := io.Copy(h, io.NewSectionReader(r, off, length))
	if err == nil && n != length {
		err = io.ErrUnexpectedEOF
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, err
}

// replicatedObject parses the name of an object the catalog can confirm.
func replicatedObject(name string) (Object, error) {
	o, err := ParseObject(name)
	if err != nil {
		return Object{}, status.Errorf(codes.InvalidArgument, "replication: %v: only config, keys/, data/, index/, snapshots/ and holds/ are replicated", err)
	}
	return o, nil
}

// replicationStatus maps an error of the offsite's side to the status
// the home unit sees; statuses pass as they are.
func replicationStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, ErrQuota):
		code = codes.ResourceExhausted
	case errors.Is(err, ErrRefused):
		code = codes.PermissionDenied
	case errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	}
	return status.Error(code, "replication: "+err.Error())
}

// nameLocks lets one call at a time work on an object.
type nameLocks struct {
	mu sync.Mutex
	m  map[string]chan struct{} // closed when the holder unlocks
}

// lock waits for name to be free, or for ctx to end.
func (l *nameLocks) lock(ctx context.Context, name string) (unlock func(), err error) {
	for {
		l.mu.Lock()
		busy, ok := l.m[name]
		if !ok {
			done := make(chan struct{})
			l.m[name] = done
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.m, name)
				l.mu.Unlock()
				close(done)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
