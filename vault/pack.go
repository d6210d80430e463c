package vault

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"hash"
	"sync"

	"filippo.io/age"
	"github.com/shoebox/shoebox/store"
)

// A pack is one age file. Its plaintext is
//
//	blob₀ ‖ blob₁ ‖ … ‖ blobₙ₋₁ ‖ header ‖ uint32le(len(header))
//
// and the header is
//
//	"SBPK" ‖ version (1 byte) ‖ uint32le(n) ‖ n × entry
//	entry = type (1) ‖ flags (1) ‖ id (32) ‖ uint32le(stored length) ‖ uint32le(plaintext length)
//
// Blob offsets are implicit: each blob starts where the previous ended.
// The header is at the end so that a pack is written in one pass; a reader
// finds it through the last four bytes, which DecryptReaderAt reaches
// without decrypting the rest of the file.
const (
	packMagic      = "SBPK"
	packVersion    = 1
	packEntrySize  = 1 + 1 + 32 + 4 + 4
	packHeaderHead = 4 + 1 + 4
	// maxBlobSize bounds a stored blob (chunks are at most 8 MiB; trees of
	// huge directories are the largest).
	maxBlobSize = 1 << 30
)

// packEntry locates one blob in a pack's plaintext.
type packEntry struct {
	Type   BlobType
	Flags  uint8
	ID     ID
	Offset uint32
	Length uint32 // stored (possibly compressed) length
	RawLen uint32 // plaintext length
}

// encodePackHeader returns the header and trailing length of a pack.
func encodePackHeader(entries []packEntry) []byte {
	b := make([]byte, 0, packHeaderHead+len(entries)*packEntrySize+4)
	b = append(b, packMagic...)
	b = append(b, packVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, byte(e.Type), e.Flags)
		b = append(b, e.ID[:]...)
		b = binary.LittleEndian.AppendUint32(b, e.Length)
		b = binary.LittleEndian.AppendUint32(b, e.RawLen)
	}
	return binary.LittleEndian.AppendUint32(b, uint32(len(b)))
}

// parsePackHeader decodes a header (without the trailing length) of a pack
// whose blobs occupy the first dataLen plaintext bytes.
func parsePackHeader(h []byte, dataLen int64) ([]packEntry, error) {
	if len(h) < packHeaderHead || string(h[:4]) != packMagic {
		return nil, fmt.Errorf("pack header: bad magic: %w", ErrCorrupt)
	}
	if h[4] != packVersion {
		return nil, fmt.Errorf("pack header: version %d unknown: %w", h[4], ErrCorrupt)
	}
	n := binary.LittleEndian.Uint32(h[5:9])
	if int64(len(h)-packHeaderHead) != int64(n)*packEntrySize {
		return nil, fmt.Errorf("pack header: %d entries do not fit %d bytes: %w", n, len(h), ErrCorrupt)
	}
	entries := make([]packEntry, n)
	var off int64
	p := h[packHeaderHead:]
	for i := range entries {
		e := &entries[i]
		e.Type = BlobType(p[0])
		e.Flags = p[1]
		copy(e.ID[:], p[2:34])
		e.Length = binary.LittleEndian.Uint32(p[34:38])
		e.RawLen = binary.LittleEndian.Uint32(p[38:42])
		p = p[packEntrySize:]
		if e.Type != DataBlob && e.Type != TreeBlob {
			return nil, fmt.Errorf("pack header: entry %d: unknown type %d: %w", i, e.Type, ErrCorrupt)
		}
		if e.Flags&^flagZstd != 0 || e.Length > maxBlobSize || e.RawLen > maxBlobSize ||
			(e.Flags&flagZstd == 0 && e.Length != e.RawLen) {
			return nil, fmt.Errorf("pack header: entry %d: bad lengths or flags: %w", i, ErrCorrupt)
		}
		e.Offset = uint32(off)
		off += int64(e.Length)
		if off > dataLen {
			return nil, fmt.Errorf("pack header: entry %d beyond the data: %w", i, ErrCorrupt)
		}
	}
	if off != dataLen {
		return nil, fmt.Errorf("pack header: blobs cover %d of %d bytes: %w", off, dataLen, ErrCorrupt)
	}
	return entries, nil
}

// readPackHeader reads the header of a decrypted pack.
func readPackHeader(plain io.ReaderAt, size int64) ([]packEntry, error) {
	if size < packHeaderHead+4 {
		return nil, fmt.Errorf("pack too short (%d bytes): %w", size, ErrCorrupt)
	}
	var tail [4]byte
	if _, err := plain.ReadAt(tail[:], size-4); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	hl := int64(binary.LittleEndian.Uint32(tail[:]))
	if hl < packHeaderHead || hl > size-4 {
		return nil, fmt.Errorf("pack header length %d out of range: %w", hl, ErrCorrupt)
	}
	h := make([]byte, hl)
	if n, err := plain.ReadAt(h, size-4-hl); err != nil && !(errors.Is(err, io.EOF) && int64(n) == hl) {
		return nil, err
	}
	return parsePackHeader(h, size-4-hl)
}

// packWriter assembles one pack, encrypting as blobs arrive and
// streaming the ciphertext to a pending object while hashing it for its
// name, so that a pack being written costs no memory beyond a buffer.
type packWriter struct {
	pending store.Pending
	aw      *asyncWriter
	sha     hash.Hash
	enc     io.WriteCloser
	entries []packEntry
	size    int64 // plaintext bytes of blobs so far
	fileLen int64 // ciphertext bytes so far
}

// packWriteBuffer is the write buffer of a pack being assembled.
const packWriteBuffer = 512 << 10

func newPackWriter(ctx context.Context, st store.ObjectStore, to age.Recipient) (*packWriter, error) {
	pending, err := store.CreatePending(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("new pack: %w", err)
	}
	p := &packWriter{pending: pending, sha: sha256.New(), aw: newAsyncWriter(pending)}
	w, err := age.Encrypt(writerFunc(p.write), to)
	if err != nil {
		pending.Abort()
		return nil, err
	}
	p.enc = w
	return p, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (p *packWriter) write(b []byte) (int, error) {
	p.sha.Write(b)
	p.fileLen += int64(len(b))
	return p.aw.Write(b)
}

// add appends a stored blob (already compressed if flags say so).
func (p *packWriter) add(t BlobType, id ID, flags uint8, stored []byte, rawLen int) error {
	if _, err := p.enc.Write(stored); err != nil {
		return err
	}
	p.entries = append(p.entries, packEntry{Type: t, Flags: flags, ID: id, Offset: uint32(p.size),
		Length: uint32(len(stored)), RawLen: uint32(rawLen)})
	p.size += int64(len(stored))
	return nil
}

// finish writes the header and commits the pack under the SHA-256 of its
// bytes, returning the ID and file size.
func (p *packWriter) finish(ctx context.Context) (ID, int64, error) {
	if _, err := p.enc.Write(encodePackHeader(p.entries)); err != nil {
		p.pending.Abort()
		return ID{}, 0, err
	}
	if err := p.enc.Close(); err != nil {
		p.pending.Abort()
		return ID{}, 0, err
	}
	if err := p.aw.Close(); err != nil {
		p.pending.Abort()
		return ID{}, 0, err
	}
	var id ID
	p.sha.Sum(id[:0])
	if err := p.pending.Commit(ctx, packName(id)); err != nil {
		return ID{}, 0, fmt.Errorf("write pack: %w", err)
	}
	return id, p.fileLen, nil
}

// abort discards an unfinished pack.
func (p *packWriter) abort() {
	p.aw.Close()
	p.pending.Abort()
}

// asyncWriter is a buffered writer whose buffers are written by a
// goroutine of its own, so that the workers chunking and encrypting never
// wait for a write system call (or for the kernel throttling dirty pages).
// Buffers come from a pool shared by all packs.
type asyncWriter struct {
	w    io.Writer
	cur  []byte
	ch   chan []byte
	done chan struct{}
	err  error
	once sync.Once
}

// writeBuffers is the free list of write buffers shared by all packs.
var writeBuffers = make(chan []byte, 16)

func getWriteBuffer() []byte {
	select {
	case b := <-writeBuffers:
		return b
	default:
		return make([]byte, 0, packWriteBuffer)
	}
}

func putWriteBuffer(b []byte) {
	select {
	case writeBuffers <- b[:0]:
	default:
	}
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{w: w, ch: make(chan []byte, 2), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for b := range a.ch {
			if a.err == nil {
				_, a.err = a.w.Write(b)
			}
			putWriteBuffer(b)
		}
	}()
	return a
}

// Write buffers b. An error of an earlier write is returned by Close.
func (a *asyncWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if a.cur == nil {
			a.cur = getWriteBuffer()
		}
		k := min(len(b), cap(a.cur)-len(a.cur))
		a.cur = append(a.cur, b[:k]...)
		b = b[k:]
		if len(a.cur) == cap(a.cur) {
			a.ch <- a.cur
			a.cur = nil
		}
	}
	return n, nil
}

// Close writes what is buffered, waits for the writes and returns the
// first error.
func (a *asyncWriter) Close() error {
	a.once.Do(func() {
		if len(a.cur) > 0 {
			a.ch <- a.cur
		}
		a.cur = nil
		close(a.ch)
	})
	<-a.done
	return a.err
}
