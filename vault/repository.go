package vault

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"filippo.io/age"
	"github.com/shoebox/shoebox/store"
)

// Repository is an open, unlocked repository. Its methods are safe for
// concurrent use.
type Repository struct {
	store   store.ObjectStore
	key     *MasterKey
	cfg     *Config
	hash    hasher
	index   *Index
	keyName string // key file used to open, if any

	packs *packCache
	// snaps caches decoded snapshots by ID. A snapshot file never
	// changes (its name is the hash of its bytes), so a cached one stays
	// true until the file is deleted, which List then no longer shows.
	snaps sync.Map // ID → *Snapshot
	// backups counts the backups running in this process, so that one
	// does not take another's packs for leftovers (othersWriting).
	backups atomic.Int32
}

func newRepository(st store.ObjectStore, key *MasterKey, cfg *Config) *Repository {
	r := &Repository{store: st, key: key, cfg: cfg, hash: newHasher(cfg.HashKey), index: newIndex()}
	r.packs = newPackCache(r, 8)
	return r
}

// Store returns the object store the repository lives in.
func (r *Repository) Store() store.ObjectStore { return r.store }

// Index returns the in-memory index.
func (r *Repository) Index() *Index { return r.index }

// HashBlob returns the ID a plaintext would have in this repository.
func (r *Repository) HashBlob(b []byte) ID { return r.hash.Sum(b) }

// Close releases open pack handles, and closes the store when it has a
// Close method (the disk array waits for its background repairs).
func (r *Repository) Close() error {
	r.packs.closeAll()
	if c, ok := r.store.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// packName is the object name of a pack.
func packName(id ID) string {
	s := id.String()
	return dataPrefix + s[:2] + "/" + s
}

// openPack is a pack opened for random reads of its plaintext.
type openPack struct {
	id    ID
	obj   store.Object
	plain io.ReaderAt
	size  int64
	refs  int
	elem  *list.Element
}

// packCache keeps recently used packs open, with their age file keys, so
// that reading many blobs from one pack repeats neither the public-key
// unwrap nor the open.
type packCache struct {
	r     *Repository
	mu    sync.Mutex
	max   int
	open  map[ID]*openPack
	lru   *list.List
	fkeys map[ID][]byte // age file keys of packs read before
}

func newPackCache(r *Repository, max int) *packCache {
	return &packCache{r: r, max: max, open: map[ID]*openPack{}, lru: list.New(), fkeys: map[ID][]byte{}}
}

// get returns an open pack; release must be called when done.
func (c *packCache) get(ctx context.Context, id ID) (*openPack, error) {
	c.mu.Lock()
	if p, ok := c.open[id]; ok {
		p.refs++
		c.lru.MoveToFront(p.elem)
		c.mu.Unlock()
		return p, nil
	}
	fk := c.fkeys[id]
	c.mu.Unlock()

	name := packName(id)
	obj, err := c.r.store.Open(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("pack %s is missing: %w: run `shoebox check` to see which files and snapshots are affected", name, ErrCorrupt)
		}
		return nil, fmt.Errorf("open pack %s: %w", name, err)
	}
	var ids []age.Identity
	if fk != nil {
		ids = []age.Identity{age.NewInjectedFileKeyIdentity(fk)}
	} else {
		hdr, err := age.ExtractHeader(store.Reader(obj))
		if err != nil {
			obj.Close()
			return nil, fmt.Errorf("pack %s: %w: %v", name, ErrCorrupt, err)
		}
		fk, err = age.DecryptHeader(hdr, c.r.key.identity)
		if err != nil {
			obj.Close()
			return nil, fmt.Errorf("pack %s: cannot decrypt its header: %w: %v", name, ErrCorrupt, err)
		}
		ids = []age.Identity{age.NewInjectedFileKeyIdentity(fk)}
	}
	plain, size, err := age.DecryptReaderAt(newWindowReader(obj, obj.Size()), obj.Size(), ids...)
	if err != nil {
		obj.Close()
		return nil, fmt.Errorf("pack %s: %w: %v", name, ErrCorrupt, err)
	}
	p := &openPack{id: id, obj: obj, plain: plain, size: size, refs: 1}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.fkeys[id] = fk
	if q, ok := c.open[id]; ok { // lost a race; use the other
		q.refs++
		obj.Close()
		return q, nil
	}
	c.open[id] = p
	p.elem = c.lru.PushFront(p)
	c.evict()
	return p, nil
}

func (c *packCache) release(p *openPack) {
	c.mu.Lock()
	p.refs--
	if p.refs == 0 && p.elem == nil {
		p.obj.Close()
	}
	c.evict()
	c.mu.Unlock()
}

// evict closes least recently used packs beyond the limit.
func (c *packCache) evict() {
	for e := c.lru.Back(); e != nil && c.lru.Len() > c.max; {
		prev := e.Prev()
		p := e.Value.(*openPack)
		c.lru.Remove(e)
		p.elem = nil
		delete(c.open, p.id)
		if p.refs == 0 {
			p.obj.Close()
		}
		e = prev
	}
}

// forget drops a pack from the cache (after prune deleted it).
func (c *packCache) forget(id ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.open[id]; ok {
		c.lru.Remove(p.elem)
		p.elem = nil
		delete(c.open, id)
		if p.refs == 0 {
			p.obj.Close()
		}
	}
	delete(c.fkeys, id)
}

func (c *packCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.open {
		c.lru.Remove(p.elem)
		p.elem = nil
		if p.refs == 0 {
			p.obj.Close()
		}
		delete(c.open, id)
	}
}

// LoadBlob returns the plaintext of a blob, verified against its ID. buf
// is reused when large enough.
func (r *Repository) LoadBlob(ctx context.Context, id ID, buf []byte) ([]byte, error) {
	loc, pack, ok := r.index.lookup(id)
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), ErrBlobMissing)
	}
	b, err := r.loadBlobAt(ctx, id, loc, pack.ID, buf)
	if err != nil && r.packGone(ctx, pack.ID) {
		// Another process's prune may have moved the blob (a long-running
		// process holds an index read before): read the index files again.
		if rerr := r.refreshIndex(ctx); rerr != nil {
			return nil, err
		}
		if loc2, pack2, ok := r.index.lookup(id); ok && pack2.ID != pack.ID {
			return r.loadBlobAt(ctx, id, loc2, pack2.ID, buf)
		}
	}
	return b, err
}

// packGone reports whether a pack is no longer in the store.
func (r *Repository) packGone(ctx context.Context, id ID) bool {
	_, err := r.store.Stat(ctx, packName(id))
	return errors.Is(err, store.ErrNotFound)
}

func (r *Repository) loadBlobAt(ctx context.Context, id ID, loc blobLoc, packID ID, buf []byte) ([]byte, error) {
	p, err := r.packs.get(ctx, packID)
	if err != nil {
		return nil, err
	}
	defer r.packs.release(p)
	if int64(loc.offset)+int64(loc.length) > p.size {
		return nil, fmt.Errorf("blob %s lies beyond the end of pack %s: %w", id.Short(), packName(packID), ErrCorrupt)
	}
	stored := buf
	if loc.flags&flagZstd != 0 || cap(stored) < int(loc.length) {
		stored = make([]byte, loc.length)
	}
	stored = stored[:loc.length]
	if n, err := p.plain.ReadAt(stored, int64(loc.offset)); err != nil && !(err == io.EOF && n == len(stored)) {
		return nil, fmt.Errorf("read blob %s from pack %s: %w: %v", id.Short(), packName(packID), ErrCorrupt, err)
	}
	plain := stored
	if loc.flags&flagZstd != 0 {
		plain, err = decompress(buf, stored, int(loc.rawLen))
		if err != nil {
			return nil, fmt.Errorf("blob %s in pack %s: %w: %v", id.Short(), packName(packID), ErrCorrupt, err)
		}
	}
	if len(plain) != int(loc.rawLen) || r.hash.Sum(plain) != id {
		return nil, fmt.Errorf("blob %s in pack %s does not match its ID: %w", id.Short(), packName(packID), ErrCorrupt)
	}
	return plain, nil
}
