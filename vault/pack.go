package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
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

// packWriter assembles one pack, encrypting as blobs arrive.
type packWriter struct {
	buf     bytes.Buffer
	enc     io.WriteCloser
	entries []packEntry
	size    int64 // plaintext bytes of blobs so far
}

// start begins the age file in p.buf.
func (p *packWriter) start(to age.Recipient) error {
	w, err := age.Encrypt(&p.buf, to)
	if err != nil {
		return err
	}
	p.enc = w
	return nil
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

// finish writes the header and returns the complete age file.
func (p *packWriter) finish() ([]byte, error) {
	if _, err := p.enc.Write(encodePackHeader(p.entries)); err != nil {
		return nil, err
	}
	if err := p.enc.Close(); err != nil {
		return nil, err
	}
	return p.buf.Bytes(), nil
}
