package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/shoebox/shoebox/store"
)

// CheckOptions select how deep check goes.
type CheckOptions struct {
	// ReadData reads every pack, verifies its SHA-256 name, decrypts it
	// and verifies every blob against its ID.
	ReadData bool
	Workers  int
	Progress func(Progress)
}

// Damage names one file a damaged or missing blob affects.
type Damage struct {
	Snapshot string `json:"snapshot"`
	Path     string `json:"path"`
	Pack     string `json:"pack,omitempty"`
}

// CheckResult is what check found. Errors mean data is damaged or missing;
// warnings are harmless leftovers.
type CheckResult struct {
	Snapshots    int      `json:"snapshots"`
	Packs        int      `json:"packs"`
	Blobs        int      `json:"blobs"`
	BytesRead    int64    `json:"bytes_read"`
	Errors       []string `json:"errors,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
	DamagedPacks []string `json:"damaged_packs,omitempty"`
	Affected     []Damage `json:"affected,omitempty"`
}

// OK reports whether check found no errors.
func (c *CheckResult) OK() bool { return len(c.Errors) == 0 }

type checker struct {
	r   *Repository
	res *CheckResult
	mu  sync.Mutex
	bad map[ID]string // damaged or missing blob -> pack name (or "")
}

func (c *checker) errorf(format string, args ...any) {
	c.mu.Lock()
	c.res.Errors = append(c.res.Errors, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *checker) markBad(id ID, pack string) {
	c.mu.Lock()
	if _, ok := c.bad[id]; !ok {
		c.bad[id] = pack
	}
	c.mu.Unlock()
}

// Check verifies the repository: that every pack the index lists exists
// with the right size, that every snapshot's trees load and every blob they
// reference is indexed, and with ReadData that every byte decrypts and
// matches its hash. It names each affected file in each snapshot.
func (r *Repository) Check(ctx context.Context, opt CheckOptions) (*CheckResult, error) {
	c := &checker{r: r, res: &CheckResult{}, bad: map[ID]string{}}
	packs := r.index.Packs()
	c.res.Packs = len(packs)
	c.res.Blobs, _ = r.index.Len()

	// 0. Index files that could not be read.
	damaged := r.index.damagedFiles()
	for _, name := range sortedNames(damaged) {
		c.errorf("index file %s is damaged (%v); the packs it listed were indexed from their own headers: run `shoebox prune` to write a new index", name, damaged[name])
	}

	// 1. Packs on disk against the index.
	onDisk := map[ID]int64{}
	err := r.store.List(ctx, dataPrefix, func(fi store.ObjectInfo) error {
		s := fi.Name[strings.LastIndexByte(fi.Name, '/')+1:]
		id, err := ParseID(s)
		if err != nil || packName(id) != fi.Name {
			c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("%s: not a pack name; ignored", fi.Name))
			return nil
		}
		onDisk[id] = fi.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	indexed := map[ID]bool{}
	for _, p := range packs {
		indexed[p.ID] = true
		size, ok := onDisk[p.ID]
		switch {
		case !ok:
			c.errorf("pack %s is missing (%d blobs lost)", packName(p.ID), len(p.Blobs))
			c.res.DamagedPacks = append(c.res.DamagedPacks, packName(p.ID))
			for _, b := range p.Blobs {
				c.markBad(b.ID, packName(p.ID))
			}
		case size != p.Size:
			c.errorf("pack %s has %d bytes, the index says %d (truncated or damaged)", packName(p.ID), size, p.Size)
			c.res.DamagedPacks = append(c.res.DamagedPacks, packName(p.ID))
			for _, b := range p.Blobs {
				c.markBad(b.ID, packName(p.ID))
			}
		}
	}
	for id := range onDisk {
		if !indexed[id] {
			c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("pack %s is not in any index (left by an interrupted backup or prune; `shoebox prune` removes it)", packName(id)))
		}
	}

	// 2. Every pack's bytes.
	if opt.ReadData {
		c.readData(ctx, packs, onDisk, opt)
	}

	// 3. Snapshots and their trees.
	snaps, err := r.snapshotsTolerant(ctx, c)
	if err != nil {
		return nil, err
	}
	c.res.Snapshots = len(snaps)
	seenTrees := map[ID]bool{}
	for _, s := range snaps {
		c.checkTree(ctx, s, s.Tree, "/", seenTrees)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// 4. Name what the damage affects.
	if len(c.bad) > 0 {
		for _, s := range snaps {
			r.walkTolerant(ctx, s.Tree, "/", func(p string, n *Node) {
				for _, b := range n.Content {
					if pack, ok := c.bad[b]; ok {
						c.res.Affected = append(c.res.Affected, Damage{Snapshot: s.id.Short(), Path: p, Pack: pack})
						break
					}
				}
			})
		}
	}
	sort.Strings(c.res.DamagedPacks)
	c.res.DamagedPacks = slices.Compact(c.res.DamagedPacks)
	return c.res, nil
}

// snapshotsTolerant loads every snapshot, recording unreadable ones as
// errors instead of failing.
func (r *Repository) snapshotsTolerant(ctx context.Context, c *checker) ([]*Snapshot, error) {
	var out []*Snapshot
	err := r.store.List(ctx, snapshotPrefix, func(fi store.ObjectInfo) error {
		id, err := ParseID(strings.TrimPrefix(fi.Name, snapshotPrefix))
		if err != nil {
			c.res.Warnings = append(c.res.Warnings, fmt.Sprintf("%s: not a snapshot name; ignored", fi.Name))
			return nil
		}
		s, err := r.LoadSnapshot(ctx, id)
		if err != nil {
			c.errorf("snapshot %s cannot be read: %v", id.Short(), err)
			return nil
		}
		out = append(out, s)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, err
}

func (c *checker) checkTree(ctx context.Context, s *Snapshot, id ID, dir string, seen map[ID]bool) {
	if seen[id] || ctx.Err() != nil {
		return
	}
	seen[id] = true
	t, err := c.r.LoadTree(ctx, id)
	if err != nil {
		c.errorf("snapshot %s: directory %s: %v", s.id.Short(), dir, err)
		c.markBad(id, "")
		return
	}
	for _, n := range t.Nodes {
		p := dir + n.FileName()
		for _, b := range n.Content {
			if !c.r.index.Has(b) {
				c.errorf("snapshot %s: %s: data blob %s is not in the index", s.id.Short(), p, b.Short())
				c.markBad(b, "")
			}
		}
		if n.Type == NodeDir && n.Subtree != nil {
			c.checkTree(ctx, s, *n.Subtree, p+"/", seen)
		}
	}
}

// walkTolerant visits the readable part of a tree.
func (r *Repository) walkTolerant(ctx context.Context, id ID, dir string, fn func(string, *Node)) {
	t, err := r.LoadTree(ctx, id)
	if err != nil {
		fn(dir, &Node{Type: NodeDir, Content: []ID{id}})
		return
	}
	for _, n := range t.Nodes {
		p := dir + n.FileName()
		fn(p, n)
		if n.Type == NodeDir && n.Subtree != nil {
			r.walkTolerant(ctx, *n.Subtree, p+"/", fn)
		}
	}
}

// readData verifies every pack's bytes with a few workers.
func (c *checker) readData(ctx context.Context, packs []IndexPack, onDisk map[ID]int64, opt CheckOptions) {
	workers := opt.Workers
	if workers <= 0 {
		workers = 2
	}
	prog := &progressCounter{}
	prog.start = nowFunc()
	var total int64
	for _, p := range packs {
		total += p.Size
	}
	prog.totalBytes.Store(total)
	prog.totalFiles.Store(int64(len(packs)))
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	if opt.Progress != nil {
		pwg.Add(1)
		go prog.report(opt.Progress, stop, &pwg)
	}
	jobs := make(chan IndexPack)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for p := range jobs {
				if _, ok := onDisk[p.ID]; ok {
					buf = c.readPack(ctx, p, buf)
				}
				prog.files.Add(1)
				prog.bytes.Add(p.Size)
			}
		}()
	}
	for _, p := range packs {
		if ctx.Err() != nil {
			break
		}
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	close(stop)
	pwg.Wait()
	c.res.BytesRead = prog.bytes.Load()
}

// readPack verifies one pack: its bytes against its SHA-256 name, then
// every blob the index lists, decrypted through the random-access reader
// (each age chunk authenticates on its own, so damage in one place spares
// the blobs elsewhere). buf is a blob buffer reused between packs; memory
// stays at a few MiB per worker whatever the pack size.
func (c *checker) readPack(ctx context.Context, p IndexPack, buf []byte) []byte {
	name := packName(p.ID)
	fail := func(format string, args ...any) {
		c.errorf("pack %s: %s", name, fmt.Sprintf(format, args...))
		c.mu.Lock()
		c.res.DamagedPacks = append(c.res.DamagedPacks, name)
		c.mu.Unlock()
	}
	allBad := func() {
		for _, b := range p.Blobs {
			c.markBad(b.ID, name)
		}
	}
	obj, err := c.r.store.Open(ctx, name)
	if err != nil {
		fail("%v", err)
		allBad()
		return buf
	}
	defer obj.Close()
	size := obj.Size()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(obj, 0, size), make([]byte, 1<<20)); err != nil {
		fail("read: %v", err)
		allBad()
		return buf
	}
	if !bytes.Equal(h.Sum(nil), p.ID[:]) {
		fail("content does not match its name (SHA-256): the file was altered or damaged on disk")
	}
	ra, psize, err := age.DecryptReaderAt(newWindowReader(obj, size), size, c.r.key.identity)
	if err != nil {
		// The age header or the final chunk (which holds the pack header)
		// is damaged: no blob of this pack can be trusted.
		fail("cannot be decrypted: %v", err)
		allBad()
		return buf
	}
	entries, err := readPackHeader(ra, psize)
	if err != nil {
		fail("%v", err)
		allBad()
		return buf
	}
	inHeader := make(map[ID]packEntry, len(entries))
	for _, e := range entries {
		inHeader[e.ID] = e
	}
	for _, b := range p.Blobs {
		e, ok := inHeader[b.ID]
		if !ok || e.Offset != b.Offset || e.Length != b.Length {
			fail("blob %s is not where the index says", b.ID.Short())
			c.markBad(b.ID, name)
			continue
		}
		if cap(buf) < int(e.Length) {
			buf = make([]byte, e.Length)
		}
		stored := buf[:e.Length]
		if n, err := ra.ReadAt(stored, int64(e.Offset)); err != nil && !(err == io.EOF && n == len(stored)) {
			fail("blob %s is damaged: %v", b.ID.Short(), err)
			c.markBad(b.ID, name)
			continue
		}
		c.verifyBlob(name, b, stored)
	}
	return buf
}

// verifyBlob checks a stored blob against its ID.
func (c *checker) verifyBlob(pack string, b packEntry, stored []byte) {
	data := stored
	if b.Flags&flagZstd != 0 {
		var err error
		if data, err = decompress(nil, stored, int(b.RawLen)); err != nil {
			c.errorf("pack %s: blob %s does not decompress: %v", pack, b.ID.Short(), err)
			c.markBad(b.ID, pack)
			return
		}
	}
	if len(data) != int(b.RawLen) || c.r.hash.Sum(data) != b.ID {
		c.errorf("pack %s: blob %s does not match its ID", pack, b.ID.Short())
		c.markBad(b.ID, pack)
	}
}

var nowFunc = time.Now

func sortedNames(m map[string]error) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
