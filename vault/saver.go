package vault

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/shoebox/shoebox/store"
)

// indexFlushPacks is how many new packs are collected before an index file
// is written during a long backup, so that a killed backup leaves indexed
// packs the next run reuses.
const indexFlushPacks = 32

// blobSaver assembles blobs into packs and writes them. Data blobs are
// assigned at random to one of two open packs (the defence restic 0.18
// introduced against chunk-size fingerprinting: whoever sees only pack
// sizes cannot tell which chunks of a file went into which pack); trees go
// to packs of their own so that metadata is read without touching data.
type blobSaver struct {
	r        *Repository
	packSize int

	mu      sync.Mutex
	pending map[ID]bool // blobs in packs not yet indexed
	rnd     *rand.Rand
	written []IndexPack // packs stored but not yet in an index file
	err     error

	// slots holds the open packs: two data packs per lane (a lane is one
	// backup worker, so workers never wait for each other's pack lock),
	// then one tree pack.
	slots     []slot
	lanes     int
	uploads   chan *packWriter
	closeOnce sync.Once
	wg        sync.WaitGroup

	// Stats, under mu.
	StoredBlobs, StoredBytes, RawBytes int64
}

type slot struct {
	mu sync.Mutex
	pw *packWriter
}

func (s *blobSaver) treeSlot() int { return len(s.slots) - 1 }

// newBlobSaver starts a saver for the given number of lanes (concurrent
// writers that each get packs of their own).
func newBlobSaver(r *Repository, lanes int) *blobSaver {
	var seed [32]byte
	crand.Read(seed[:])
	lanes = max(lanes, 1)
	s := &blobSaver{r: r, packSize: r.cfg.PackSize, pending: map[ID]bool{}, lanes: lanes,
		slots: make([]slot, 2*lanes+1), rnd: rand.New(rand.NewChaCha8(seed)), uploads: make(chan *packWriter)}
	for i := 0; i < 2; i++ {
		s.wg.Add(1)
		go s.uploader()
	}
	return s
}

// known reports whether a blob is stored or on its way.
func (s *blobSaver) known(id ID) bool {
	if s.r.index.Has(id) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[id]
}

// Save stores a blob unless it is already stored or pending. tryCompress
// asks for zstd; the stored form is kept only when it is smaller. lane is
// the caller's writer number: data blobs go at random to one of that
// lane's two packs. It reports whether the blob was new.
func (s *blobSaver) Save(ctx context.Context, lane int, t BlobType, id ID, plain []byte, tryCompress bool) (bool, error) {
	if s.r.index.Has(id) {
		return false, nil
	}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return false, err
	}
	if s.pending[id] {
		s.mu.Unlock()
		return false, nil
	}
	s.pending[id] = true
	si := s.slotFor(lane, t)
	s.mu.Unlock()

	stored, flags := plain, uint8(0)
	if tryCompress {
		if c := compress(nil, plain); c != nil {
			stored, flags = c, flagZstd
		}
	}
	return true, s.add(ctx, si, t, id, flags, stored, len(plain))
}

// slotFor picks the pack for a blob; s.mu must be held (for rnd).
func (s *blobSaver) slotFor(lane int, t BlobType) int {
	if t != DataBlob {
		return s.treeSlot()
	}
	return 2*(lane%s.lanes) + s.rnd.IntN(2)
}

func (s *blobSaver) add(ctx context.Context, si int, t BlobType, id ID, flags uint8, stored []byte, rawLen int) error {
	sl := &s.slots[si]
	sl.mu.Lock()
	if sl.pw == nil {
		pw, err := newPackWriter(ctx, s.r.store, s.r.key.recipient)
		if err != nil {
			sl.mu.Unlock()
			return err
		}
		sl.pw = pw
	}
	if err := sl.pw.add(t, id, flags, stored, rawLen); err != nil {
		sl.mu.Unlock()
		return err
	}
	var full *packWriter
	if sl.pw.size >= int64(s.packSize) {
		full, sl.pw = sl.pw, nil
	}
	sl.mu.Unlock()
	s.mu.Lock()
	s.StoredBlobs++
	s.StoredBytes += int64(len(stored))
	s.RawBytes += int64(rawLen)
	s.mu.Unlock()
	if full != nil {
		select {
		case s.uploads <- full:
		case <-ctx.Done():
			full.abort()
			return ctx.Err()
		}
	}
	return nil
}

func (s *blobSaver) uploader() {
	defer s.wg.Done()
	for pw := range s.uploads {
		if err := s.upload(context.Background(), pw); err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
		}
	}
}

// upload finishes a pack, stores it under the hash of its bytes and
// indexes its blobs.
func (s *blobSaver) upload(ctx context.Context, pw *packWriter) error {
	id, size, err := pw.finish(ctx)
	if err != nil {
		return err
	}
	ip := IndexPack{ID: id, Size: size, Blobs: pw.entries}
	s.r.index.addNewPack(ip)
	s.mu.Lock()
	for _, e := range pw.entries {
		delete(s.pending, e.ID)
	}
	s.written = append(s.written, ip)
	var flush []IndexPack
	if len(s.written) >= indexFlushPacks {
		flush, s.written = s.written, nil
	}
	s.mu.Unlock()
	if flush != nil {
		if _, err := s.r.writeIndexFile(ctx, &indexFile{Packs: flush}); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the open packs and an index file for everything written,
// and stops the uploaders. The saver cannot be used afterwards. When both
// data packs hold blobs they are merged into one, so that a backup of a
// single small file does not reveal its chunk sizes as two pack sizes.
func (s *blobSaver) Flush(ctx context.Context) (err error) {
	ts := s.treeSlot()
	var final []*packWriter
	for lane := 0; lane < s.lanes; lane++ {
		a, b := s.slots[2*lane].pw, s.slots[2*lane+1].pw
		s.slots[2*lane].pw, s.slots[2*lane+1].pw = nil, nil
		if a == nil {
			a, b = b, nil
		}
		if a != nil && b != nil {
			if err := s.mergePack(ctx, a, b); err != nil {
				a.abort()
				for _, pw := range final {
					pw.abort()
				}
				s.Abort()
				return err
			}
		}
		if a != nil {
			final = append(final, a)
		}
	}
	if t := s.slots[ts].pw; t != nil {
		final = append(final, t)
		s.slots[ts].pw = nil
	}
	for _, pw := range final {
		s.uploads <- pw
	}
	s.closeOnce.Do(func() { close(s.uploads) })
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	// Also the packs of this process that no index file lists yet: an
	// aborted backup's, whose blobs this one may have reused from the
	// in-memory index (and another running backup's, listed twice then,
	// which is harmless), so that no snapshot refers to a pack only this
	// process knows.
	packs := s.written
	for _, p := range s.r.index.unsavedPacks() {
		if !slices.ContainsFunc(s.written, func(w IndexPack) bool { return w.ID == p.ID }) {
			packs = append(packs, p)
		}
	}
	if len(packs) > 0 {
		if _, err := s.r.writeIndexFile(ctx, &indexFile{Packs: packs}); err != nil {
			return err
		}
		s.written = nil
	}
	return nil
}

// Abort stops the uploaders and discards the open packs.
func (s *blobSaver) Abort() {
	s.closeOnce.Do(func() { close(s.uploads) })
	s.wg.Wait()
	for i := range s.slots {
		if pw := s.slots[i].pw; pw != nil {
			pw.abort()
			s.slots[i].pw = nil
		}
	}
}

// mergePack moves every blob of b into a: b is stored, read back and
// deleted (if the process dies in between, b is an unindexed pack that
// prune removes).
func (s *blobSaver) mergePack(ctx context.Context, a, b *packWriter) error {
	id, _, err := b.finish(ctx)
	if err != nil {
		return err
	}
	file, err := store.ReadAll(ctx, s.r.store, packName(id))
	if err != nil {
		return err
	}
	plain, err := unseal(file, s.r.key.identity)
	if err != nil {
		return err
	}
	entries, err := readPackHeader(bytes.NewReader(plain), int64(len(plain)))
	if err != nil {
		return err
	}
	for _, e := range entries {
		stored := plain[e.Offset : e.Offset+e.Length]
		if err := a.add(e.Type, e.ID, e.Flags, stored, int(e.RawLen)); err != nil {
			return err
		}
	}
	return s.r.store.Delete(ctx, packName(id))
}
