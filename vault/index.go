package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/shoebox/shoebox/store"
)

// An index file is an age file whose plaintext is a zstd frame of
//
//	"SBIX" ‖ version (1) ‖ uvarint(#superseded) ‖ superseded index IDs (32 each)
//	‖ uvarint(#packs) ‖ packs
//	pack  = id (32) ‖ uvarint(pack file size) ‖ uvarint(#blobs) ‖ blobs
//	blob  = type (1) ‖ flags (1) ‖ id (32) ‖ uvarint(offset) ‖ uvarint(length) ‖ uvarint(plaintext length)
//
// It repeats the headers of the packs it lists, so that opening a
// repository reads the indexes, not every pack.
const (
	indexMagic   = "SBIX"
	indexVersion = 1
)

// IndexPack is one pack as an index file lists it.
type IndexPack struct {
	ID    ID
	Size  int64
	Blobs []packEntry
}

// indexFile is a decoded index file.
type indexFile struct {
	Supersedes []ID
	Packs      []IndexPack
}

func (f *indexFile) encode() []byte {
	b := make([]byte, 0, 64+len(f.Packs)*64)
	b = append(b, indexMagic...)
	b = append(b, indexVersion)
	b = binary.AppendUvarint(b, uint64(len(f.Supersedes)))
	for _, id := range f.Supersedes {
		b = append(b, id[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Packs)))
	for _, p := range f.Packs {
		b = append(b, p.ID[:]...)
		b = binary.AppendUvarint(b, uint64(p.Size))
		b = binary.AppendUvarint(b, uint64(len(p.Blobs)))
		for _, e := range p.Blobs {
			b = append(b, byte(e.Type), e.Flags)
			b = append(b, e.ID[:]...)
			b = binary.AppendUvarint(b, uint64(e.Offset))
			b = binary.AppendUvarint(b, uint64(e.Length))
			b = binary.AppendUvarint(b, uint64(e.RawLen))
		}
	}
	return b
}

type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) uvarint(max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > max {
		r.err = ErrCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = ErrCorrupt
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *byteReader) id() (id ID) {
	copy(id[:], r.bytes(32))
	return id
}

// parseIndexFile decodes the decompressed plaintext of an index file.
func parseIndexFile(b []byte) (*indexFile, error) {
	if len(b) < 5 || string(b[:4]) != indexMagic {
		return nil, fmt.Errorf("index: bad magic: %w", ErrCorrupt)
	}
	if b[4] != indexVersion {
		return nil, fmt.Errorf("index: version %d unknown: %w", b[4], ErrCorrupt)
	}
	r := &byteReader{b: b[5:]}
	f := &indexFile{}
	// Every count is bounded by what the remaining bytes could hold, so a
	// forged count cannot make us allocate more than the file's size.
	n := r.uvarint(uint64(len(r.b) / 32))
	for i := uint64(0); i < n && r.err == nil; i++ {
		f.Supersedes = append(f.Supersedes, r.id())
	}
	np := r.uvarint(uint64(len(r.b) / 34))
	for i := uint64(0); i < np && r.err == nil; i++ {
		p := IndexPack{ID: r.id(), Size: int64(r.uvarint(1 << 40))}
		nb := r.uvarint(uint64(len(r.b) / 37))
		p.Blobs = make([]packEntry, 0, nb)
		for j := uint64(0); j < nb && r.err == nil; j++ {
			tf := r.bytes(2)
			if r.err != nil {
				break
			}
			e := packEntry{Type: BlobType(tf[0]), Flags: tf[1], ID: r.id()}
			e.Offset = uint32(r.uvarint(1<<32 - 1))
			e.Length = uint32(r.uvarint(maxBlobSize))
			e.RawLen = uint32(r.uvarint(maxBlobSize))
			if e.Type > TreeBlob || e.Flags&^flagZstd != 0 {
				r.err = ErrCorrupt
			}
			p.Blobs = append(p.Blobs, e)
		}
		f.Packs = append(f.Packs, p)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = ErrCorrupt
	}
	if r.err != nil {
		return nil, fmt.Errorf("index: malformed: %w", ErrCorrupt)
	}
	return f, nil
}

// blobLoc is where a blob is stored. It takes 48 bytes plus the map's
// overhead (about 80 bytes per blob in all): with the default 1 MiB
// average chunk that is about 80 MiB of memory per TiB of unique data.
type blobLoc struct {
	pack   uint32 // index into Index.packs
	offset uint32
	length uint32
	rawLen uint32
	typ    BlobType
	flags  uint8
}

// Index maps blob IDs to their packs. It is safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	blobs map[ID]blobLoc
	packs []packRef
	byID  map[ID]uint32
	files map[ID]bool // index files loaded
	// superseded lists index files still in the store that a loaded one
	// supersedes (a prune killed between writing its index and deleting
	// the old ones). The next prune must supersede and delete them too:
	// were the file that supersedes them deleted first, they would come
	// back to life and list packs long gone.
	superseded map[ID]bool
	// damaged lists index files that could not be read, by name; the
	// packs no readable index lists were indexed from their own headers.
	damaged map[string]error
	// unsaved holds the packs this process stored (addNewPack) that no
	// index file it wrote lists yet: a running backup's, or an aborted
	// one's whose index file could not be written. They are in the
	// in-memory index, so that other backups reuse their blobs; the next
	// index file a backup writes before its snapshot lists them too
	// (blobSaver.Flush), so that no snapshot refers to a pack only this
	// process knows.
	unsaved map[ID]IndexPack
}

type packRef struct {
	ID   ID
	Size int64
}

func newIndex() *Index {
	return &Index{blobs: map[ID]blobLoc{}, byID: map[ID]uint32{}, files: map[ID]bool{}, superseded: map[ID]bool{},
		damaged: map[string]error{}, unsaved: map[ID]IndexPack{}}
}

// replace makes x hold what y holds (y is not used afterwards), keeping
// the packs of x that are still unsaved unless gone lists them (deleted
// from the store meanwhile). x stays the same object: a running
// operation that holds it sees the new content.
func (x *Index) replace(y *Index, gone map[ID]bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, p := range x.unsaved {
		if gone[id] {
			continue
		}
		if _, listed := y.byID[id]; !listed {
			y.addPackLocked(p)
		}
		y.unsaved[id] = p
	}
	x.blobs, x.packs, x.byID, x.files = y.blobs, y.packs, y.byID, y.files
	x.superseded, x.damaged, x.unsaved = y.superseded, y.damaged, y.unsaved
}

// known reports whether the index files named (the index folder's
// listing) are exactly the ones x was read from and wrote: loaded,
// superseded, damaged.
func (x *Index) known(names []string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(names) != len(x.files)+len(x.superseded)+len(x.damaged) {
		return false
	}
	for _, name := range names {
		if _, ok := x.damaged[name]; ok {
			continue
		}
		id, err := ParseID(strings.TrimPrefix(name, indexPrefix))
		if err != nil || !x.files[id] && !x.superseded[id] {
			return false
		}
	}
	return true
}

// addNewPack records a pack this process just stored, which no index
// file lists yet.
func (x *Index) addNewPack(p IndexPack) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addPackLocked(p)
	x.unsaved[p.ID] = p
}

// unsavedPacks returns the packs no index file lists yet.
func (x *Index) unsavedPacks() []IndexPack {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]IndexPack, 0, len(x.unsaved))
	for _, p := range x.unsaved {
		out = append(out, p)
	}
	return out
}

// hasPack reports whether a pack is indexed.
func (x *Index) hasPack(id ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.byID[id]
	return ok
}

// damagedFiles returns the index files that could not be read, by name.
func (x *Index) damagedFiles() map[string]error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[string]error, len(x.damaged))
	for k, v := range x.damaged {
		out[k] = v
	}
	return out
}

// addPack records a pack and its blobs.
func (x *Index) addPack(p IndexPack) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addPackLocked(p)
}

func (x *Index) addPackLocked(p IndexPack) {
	pi, ok := x.byID[p.ID]
	if !ok {
		pi = uint32(len(x.packs))
		x.packs = append(x.packs, packRef{ID: p.ID, Size: p.Size})
		x.byID[p.ID] = pi
	}
	for _, e := range p.Blobs {
		if _, dup := x.blobs[e.ID]; dup {
			continue
		}
		x.blobs[e.ID] = blobLoc{pack: pi, offset: e.Offset, length: e.Length, rawLen: e.RawLen, typ: e.Type, flags: e.Flags}
	}
}

// Has reports whether a blob is stored.
func (x *Index) Has(id ID) bool {
	x.mu.RLock()
	_, ok := x.blobs[id]
	x.mu.RUnlock()
	return ok
}

// lookup returns a blob's location and pack.
func (x *Index) lookup(id ID) (blobLoc, packRef, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l, ok := x.blobs[id]
	if !ok {
		return l, packRef{}, false
	}
	return l, x.packs[l.pack], true
}

// Len returns the number of blobs and packs.
func (x *Index) Len() (blobs, packs int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.blobs), len(x.packs)
}

// Packs returns every indexed pack with its blobs.
func (x *Index) Packs() []IndexPack {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]IndexPack, len(x.packs))
	for i, p := range x.packs {
		out[i] = IndexPack{ID: p.ID, Size: p.Size}
	}
	for id, l := range x.blobs {
		p := &out[l.pack]
		p.Blobs = append(p.Blobs, packEntry{Type: l.typ, Flags: l.flags, ID: id, Offset: l.offset, Length: l.length, RawLen: l.rawLen})
	}
	for i := range out {
		sort.Slice(out[i].Blobs, func(a, b int) bool { return out[i].Blobs[a].Offset < out[i].Blobs[b].Offset })
	}
	return out
}

// indexFiles returns the IDs of the index files loaded.
func (x *Index) indexFiles() []ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]ID, 0, len(x.files))
	for id := range x.files {
		out = append(out, id)
	}
	return out
}

// supersededFiles returns the superseded index files still in the store.
func (x *Index) supersededFiles() []ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]ID, 0, len(x.superseded))
	for id := range x.superseded {
		out = append(out, id)
	}
	return out
}

// loadIndex reads every index file, when the repository is opened.
func (r *Repository) loadIndex(ctx context.Context) error {
	names, err := r.indexNames(ctx)
	if err != nil {
		return err
	}
	x, err := r.readIndex(ctx, names)
	if err != nil {
		return err
	}
	r.index = x
	return nil
}

// indexNames lists the index folder.
func (r *Repository) indexNames(ctx context.Context) ([]string, error) {
	var names []string
	err := r.store.List(ctx, indexPrefix, func(fi store.ObjectInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	return names, err
}

// refreshIndex reads the index files again when they are not the ones
// the in-memory index was read from: another process (or this one's
// prune) wrote or deleted some since. A long-running process (the
// daemon) calls it before each backup, and when a pack it expected is
// gone, so that it never takes for stored a blob that another process's
// prune deleted, and finds the blobs a prune moved. It is cheap when
// nothing changed: one listing of the index folder.
func (r *Repository) refreshIndex(ctx context.Context) error {
	names, err := r.indexNames(ctx)
	if err != nil {
		return err
	}
	if r.index.known(names) {
		return nil
	}
	return r.reloadIndex(ctx, names)
}

// reloadIndex reads the index files named again into the in-memory
// index, keeping the packs this process stored that no index file lists
// yet, unless they are gone from the store.
func (r *Repository) reloadIndex(ctx context.Context, names []string) error {
	x, err := r.readIndex(ctx, names)
	if err != nil {
		return err
	}
	gone := map[ID]bool{}
	for _, p := range r.index.unsavedPacks() {
		if r.packGone(ctx, p.ID) {
			gone[p.ID] = true
		}
	}
	r.index.replace(x, gone)
	return nil
}

// readIndex reads the named index files into a new Index. Index files
// that another index supersedes (after a prune) are skipped; damaged ones
// are recorded, and the packs no readable index file lists are then
// indexed from their own headers.
func (r *Repository) readIndex(ctx context.Context, names []string) (*Index, error) {
	x := newIndex()
	files := make([]*indexFile, len(names))
	ids := make([]ID, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := ParseID(strings.TrimPrefix(name, indexPrefix))
			if err != nil {
				errs[i] = fmt.Errorf("index file %s: unexpected name: %w", name, ErrCorrupt)
				return
			}
			ids[i] = id
			files[i], errs[i] = r.readIndexFile(ctx, id)
		}()
	}
	wg.Wait()
	superseded := map[ID]bool{}
	for i, f := range files {
		if errs[i] != nil {
			// A damaged index file must not make the repository
			// unopenable: its packs are intact and list their own blobs.
			if errors.Is(errs[i], ErrCorrupt) {
				x.damaged[names[i]] = errs[i]
				continue
			}
			return nil, fmt.Errorf("%w: run `shoebox check`", errs[i])
		}
		for _, s := range f.Supersedes {
			superseded[s] = true
		}
	}
	for i, f := range files {
		if f != nil && superseded[ids[i]] {
			x.superseded[ids[i]] = true
		}
		if f == nil || superseded[ids[i]] {
			continue
		}
		x.files[ids[i]] = true
		for _, p := range f.Packs {
			x.addPack(p)
		}
	}
	if len(x.damaged) > 0 {
		if err := r.indexUnlistedPacks(ctx, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// indexUnlistedPacks adds to x, from their own headers, the packs that no
// index file in x lists, so that a damaged index file loses no data. A pack
// whose header cannot be read stays out (check reports it).
func (r *Repository) indexUnlistedPacks(ctx context.Context, x *Index) error {
	unlisted, err := r.unlistedPacks(ctx, x)
	if err != nil {
		return err
	}
	for _, fi := range unlisted {
		if p, err := r.readPackIndex(ctx, fi); err == nil {
			x.addPack(p)
		}
	}
	return nil
}

// unlistedPacks lists the packs in the store that x does not index.
func (r *Repository) unlistedPacks(ctx context.Context, x *Index) ([]store.ObjectInfo, error) {
	var out []store.ObjectInfo
	err := r.store.List(ctx, dataPrefix, func(fi store.ObjectInfo) error {
		id, err := ParseID(fi.Name[strings.LastIndexByte(fi.Name, '/')+1:])
		if err == nil && packName(id) == fi.Name && !x.hasPack(id) {
			out = append(out, fi)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// readPackIndex reads a pack's header: what the pack holds, as an index
// file would list it. The error wraps ErrCorrupt when the header cannot
// be decrypted or makes no sense, store.ErrNotFound when the pack is gone.
func (r *Repository) readPackIndex(ctx context.Context, fi store.ObjectInfo) (IndexPack, error) {
	id, err := ParseID(fi.Name[strings.LastIndexByte(fi.Name, '/')+1:])
	if err != nil {
		return IndexPack{}, fmt.Errorf("%s: %w", fi.Name, ErrCorrupt)
	}
	p, err := r.packs.get(ctx, id)
	if err != nil {
		if _, serr := r.store.Stat(ctx, fi.Name); errors.Is(serr, store.ErrNotFound) {
			return IndexPack{}, fmt.Errorf("pack %s: %w", fi.Name, serr)
		}
		return IndexPack{}, err
	}
	entries, err := readPackHeader(p.plain, p.size)
	size := p.obj.Size()
	r.packs.release(p)
	if err != nil {
		r.packs.forget(id)
		return IndexPack{}, fmt.Errorf("pack %s: %w", fi.Name, err)
	}
	return IndexPack{ID: id, Size: size, Blobs: entries}, nil
}

func (r *Repository) readIndexFile(ctx context.Context, id ID) (*indexFile, error) {
	name := indexPrefix + id.String()
	b, err := store.ReadAll(ctx, r.store, name)
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", name, err)
	}
	if FileID(b) != id {
		return nil, fmt.Errorf("index file %s: content does not match its name: %w", name, ErrCorrupt)
	}
	plain, err := unseal(b, r.key.identity)
	if err != nil {
		return nil, fmt.Errorf("decrypt index %s: %w: %v", name, ErrCorrupt, err)
	}
	raw, err := decompress(nil, plain, len(plain)*4)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w: %v", name, ErrCorrupt, err)
	}
	f, err := parseIndexFile(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

// writeIndexFile stores an index file and returns its ID.
func (r *Repository) writeIndexFile(ctx context.Context, f *indexFile) (ID, error) {
	enc, _ := zstdCodecs()
	plain := enc.EncodeAll(f.encode(), nil)
	sealed, err := seal(plain, r.key.recipient)
	if err != nil {
		return ID{}, err
	}
	id := FileID(sealed)
	if err := r.store.Put(ctx, indexPrefix+id.String(), bytes.NewReader(sealed)); err != nil {
		return ID{}, fmt.Errorf("write index: %w", err)
	}
	r.index.mu.Lock()
	r.index.files[id] = true
	for _, p := range f.Packs {
		delete(r.index.unsaved, p.ID)
	}
	r.index.mu.Unlock()
	return id, nil
}
