package raid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoebox/shoebox/internal/blockdev"
	"github.com/shoebox/shoebox/store"
)

// Put implements store.ObjectStore. The object is split into shards written to
// distinct disks, each atomically; the write sequence in every shard header
// makes readers take the newest write that is complete, so a crash leaves
// the old object or the new one. When disks are missing or full, the
// object is stored on fewer disks (at least Data) and left for repair.
func (a *Array) Put(ctx context.Context, name string, r io.Reader) error {
	if err := store.CheckName(name); err != nil {
		return err
	}
	if err := a.checkWritable(); err != nil {
		return err
	}
	data, err := readAllSized(r)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	return a.putBytes(ctx, name, data)
}

// readAllSized reads r whole, in one allocation when r knows its length.
func readAllSized(r io.Reader) ([]byte, error) {
	if l, ok := r.(interface{ Len() int }); ok {
		b := make([]byte, l.Len())
		_, err := io.ReadFull(r, b)
		return b, err
	}
	return io.ReadAll(r)
}

// putBytes stores an object whose bytes the array may use as scratch
// space beyond len(data) (the parity shards go into spare capacity).
func (a *Array) putBytes(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.checkWritable(); err != nil {
		return err
	}
	shards, err := a.encodeOwned(data)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	seq := a.seq.Add(1)
	sum := checksum(data)
	placed, err := a.writeShards(ctx, name, seq, sum, int64(len(data)), shards, allIndexes(a.layout.Shards()), nil)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	o := &obj{size: int64(len(data)), seq: seq, sum: sum, layout: a.layout, shards: placed, modTime: time.Now()}
	a.mu.Lock()
	old := a.objects[name]
	if old != nil && old.seq > seq {
		// A concurrent put of the same name started later and finished
		// first: it wins, as it will when the disks are read again.
		a.mu.Unlock()
		a.deleteShards(name, placed, nil)
		return nil
	}
	var oldShards []shardLoc
	if old != nil {
		oldShards = old.shards
	}
	a.objects[name] = o
	a.mu.Unlock()
	if len(placed) < a.layout.Shards() {
		a.opt.Logger.Warn("raid: object stored with reduced redundancy; scrub will repair it", "object", name,
			"shards", len(placed), "want", a.layout.Shards())
	}
	a.deleteShards(name, oldShards, nil)
	return nil
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// encode splits an object into the layout's shards without touching
// data's memory (it may be shared with a reader).
func (a *Array) encode(data []byte) ([][]byte, error) {
	if a.layout.IsMirror() {
		return a.encodeOwned(data)
	}
	return a.encodeOwned(append(make([]byte, 0, len(data)+len(data)/a.layout.Data*a.layout.Parity+2*a.layout.Shards()), data...))
}

// encodeOwned splits an object into the layout's shards; the data shards
// alias data and the parity shards use its spare capacity when it has
// enough.
func (a *Array) encodeOwned(data []byte) ([][]byte, error) {
	if a.layout.IsMirror() {
		out := make([][]byte, a.layout.Shards())
		for i := range out {
			out[i] = data
		}
		return out, nil
	}
	buf := data
	if len(buf) == 0 {
		buf = []byte{0} // reedsolomon cannot split nothing; the header says size 0
	}
	shards, err := a.enc.Split(buf)
	if err != nil {
		return nil, err
	}
	if err := a.enc.Encode(shards); err != nil {
		return nil, err
	}
	return shards, nil
}

// writeShards writes the given shard indexes to distinct disks not in
// avoid, choosing disks with the most free space and never two on one
// drive. A disk that fails (full, read-only, unmounted, gone) is skipped
// and another one tried. It returns where the shards went; it fails only
// when fewer than Data shards of the object would exist.
func (a *Array) writeShards(ctx context.Context, name string, seq, sum uint64, size int64, shards [][]byte, idxs []int, avoid []shardLoc) ([]shardLoc, error) {
	candidates := a.writable()
	used := map[*member]bool{}
	drives := map[string]bool{}
	for _, l := range avoid {
		used[l.m] = true
		if l.m.serial != "" {
			drives[l.m.serial] = true
		}
	}
	type result struct {
		loc shardLoc
		err error
	}
	var placed []shardLoc
	var failures []string
	pending := append([]int(nil), idxs...)
	for len(pending) > 0 {
		// Assign each pending shard a disk.
		var batch []shardLoc
		for _, idx := range pending {
			var pick *member
			for _, m := range candidates {
				if used[m] || (m.serial != "" && drives[m.serial]) {
					continue
				}
				pick = m
				break
			}
			if pick == nil {
				break
			}
			used[pick] = true
			if pick.serial != "" {
				drives[pick.serial] = true
			}
			batch = append(batch, shardLoc{m: pick, idx: idx, seq: seq})
		}
		if len(batch) == 0 {
			break
		}
		results := make(chan result, len(batch))
		for _, l := range batch {
			go func() {
				h := &shardHeader{Name: name, Layout: a.layout, Index: l.idx, ObjSize: size,
					ShardLen: int64(len(shards[l.idx])), Seq: seq, ObjSum: sum, ShardSum: checksum(shards[l.idx])}
				err := l.m.put(ctx, shardName(name, l.idx, l.seq), &twoPart{h.encode(), shards[l.idx]})
				results <- result{l, err}
			}()
		}
		done := map[int]bool{}
		for range batch {
			res := <-results
			if res.err != nil {
				failures = append(failures, fmt.Sprintf("%s: %v", res.loc.m, res.err))
				a.opt.Logger.Warn("raid: shard write failed; trying another disk", "disk", res.loc.m.path, "object", name, "err", res.err)
				continue
			}
			placed = append(placed, res.loc)
			done[res.loc.idx] = true
		}
		var next []int
		for _, idx := range pending {
			if !done[idx] {
				next = append(next, idx)
			}
		}
		// Shards whose disk failed are retried on disks not tried yet;
		// the loop ends when every shard is placed or no untried disk
		// is left (each round marks its disks used).
		pending = next
		if err := ctx.Err(); err != nil {
			break
		}
	}
	total := len(placed) + len(avoid)
	if total < a.layout.Data {
		// Not enough for the object to exist: undo what was written.
		a.deleteShards(name, placed, nil)
		why := "not enough disks available"
		if len(failures) > 0 {
			why = strings.Join(failures, "; ")
		}
		return nil, fmt.Errorf("%w: only %d of the %d shards needed could be written (%s); check the disks with `shoebox raid status`", ErrDegraded, total, a.layout.Data, why)
	}
	sort.Slice(placed, func(i, j int) bool { return placed[i].idx < placed[j].idx })
	return placed, nil
}

// writable returns the members that take new shards, most free space
// first.
func (a *Array) writable() []*member {
	a.mu.RLock()
	var ms []*member
	for _, m := range a.members {
		if m.state == StateActive {
			ms = append(ms, m)
		}
	}
	a.mu.RUnlock()
	type cand struct {
		m    *member
		free uint64
	}
	var cs []cand
	for _, m := range ms {
		m.mu.Lock()
		bad := m.readOnly || m.unmounted
		full, fullFree := m.full, m.fullFree
		m.mu.Unlock()
		if bad {
			continue
		}
		free, err := freeBytes(m.path)
		// A full disk is tried again once space was freed on it.
		if err != nil || (full && free < fullFree+1<<20) {
			continue
		}
		cs = append(cs, cand{m, free})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].free > cs[j].free })
	out := make([]*member, len(cs))
	for i, c := range cs {
		out[i] = c.m
	}
	return out
}

// put writes one shard file after checking the disk is still the one the
// array opened (a disk that failed to mount leaves an empty directory on
// the system disk, which must never fill up in its place).
func (m *member) put(ctx context.Context, name string, r io.Reader) error {
	if err := m.checkMounted(); err != nil {
		return err
	}
	err := m.store.Put(ctx, name, r)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err == nil:
		m.full = false
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		m.full = true
		m.fullFree, _ = freeBytes(m.path)
	case errors.Is(err, syscall.EROFS):
		m.readOnly = true
	}
	return err
}

func (m *member) checkMounted() error {
	dev, err := blockdev.DeviceOf(m.path)
	if err == nil && dev == m.dev && (!m.label.MountPoint || isMountPoint(m.path)) {
		return nil
	}
	m.mu.Lock()
	m.unmounted = true
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("disk %s vanished: %w", m, err)
	}
	return fmt.Errorf("%w: %s is no longer the disk the array opened (not mounted?); refusing to write to the disk underneath", ErrNotMounted, m)
}

// freeBytes returns the space available to the array on a member.
func freeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func isMountPoint(p string) bool {
	ok, err := blockdev.IsMountPoint(p)
	return err == nil && ok
}

// deleteShards removes shards, except those also in keep.
func (a *Array) deleteShards(name string, locs, keep []shardLoc) {
	for _, l := range locs {
		if containsLoc(keep, l) {
			continue
		}
		if err := l.m.store.Delete(context.Background(), shardName(name, l.idx, l.seq)); err != nil && !errors.Is(err, store.ErrNotFound) {
			a.opt.Logger.Warn("raid: cannot delete shard", "disk", l.m.path, "object", name, "err", err)
		}
	}
}

func containsLoc(ls []shardLoc, l shardLoc) bool {
	for _, k := range ls {
		if k == l {
			return true
		}
	}
	return false
}

// memObject is an object read into memory.
type memObject struct {
	*bytes.Reader
	size int64
}

func (o memObject) Close() error { return nil }
func (o memObject) Size() int64  { return o.size }

// Open implements store.ObjectStore: it reads the data shards in parallel,
// verifies them, and reconstructs from parity when a shard is missing,
// short, corrupt or slow; bad shards are rewritten in the background.
func (a *Array) Open(ctx context.Context, name string) (store.Object, error) {
	if err := store.CheckName(name); err != nil {
		return nil, err
	}
	a.mu.RLock()
	o := a.objects[name]
	a.mu.RUnlock()
	if o == nil {
		return nil, fmt.Errorf("open %s: %w", name, store.ErrNotFound)
	}
	data, bad, err := a.read(ctx, name, o, false)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if len(bad) > 0 && !a.readOnly {
		if _, busy := a.repairing.LoadOrStore(name, true); !busy {
			a.repairWG.Add(1)
			go func() {
				defer a.repairWG.Done()
				defer a.repairing.Delete(name)
				a.repair(context.Background(), name, o, data, bad)
			}()
		}
	}
	return memObject{bytes.NewReader(data), int64(len(data))}, nil
}

// shardRead is the outcome of reading one shard.
type shardRead struct {
	loc  shardLoc
	data []byte
	err  error
}

// read assembles an object. With all set it reads every shard (scrub);
// otherwise the data shards first and parity only when needed. It returns
// the shard indexes found bad or missing.
func (a *Array) read(ctx context.Context, name string, o *obj, all bool) ([]byte, []int, error) {
	k := o.layout.Data
	a.mu.RLock()
	locs := o.shards // replaced, never changed in place, by repairs
	a.mu.RUnlock()
	byIdx := map[int][]shardLoc{}
	for _, l := range locs {
		byIdx[l.idx] = append(byIdx[l.idx], l)
	}
	results := make(chan shardRead, len(locs))
	started := map[int]bool{}
	start := func(idx int) bool {
		ls := byIdx[idx]
		if started[idx] || len(ls) == 0 {
			return false
		}
		started[idx] = true
		go func() {
			d, err := a.readShard(ctx, name, o, ls[0])
			results <- shardRead{ls[0], d, err}
		}()
		return true
	}
	inflight := 0
	first := k
	if all {
		first = o.layout.Shards()
	}
	for idx := 0; idx < first; idx++ {
		if start(idx) {
			inflight++
		}
	}
	// startParity starts one more shard not yet asked for.
	startMore := func() bool {
		for idx := 0; idx < o.layout.Shards(); idx++ {
			if start(idx) {
				inflight++
				return true
			}
		}
		return false
	}
	// Data shards that do not exist at all are replaced at once.
	for idx := 0; idx < k && !all; idx++ {
		if len(byIdx[idx]) == 0 {
			startMore()
		}
	}
	good := map[int][]byte{}
	var bad []int
	for idx := 0; idx < o.layout.Shards(); idx++ {
		if len(byIdx[idx]) == 0 {
			bad = append(bad, idx)
		}
	}
	hedge := time.NewTimer(a.opt.HedgeDelay)
	defer hedge.Stop()
	var errs []string
	for inflight > 0 && (all || len(good) < k) {
		select {
		case r := <-results:
			inflight--
			if r.err != nil {
				a.readErrors.Add(1)
				errs = append(errs, fmt.Sprintf("%s shard %d: %v", r.loc.m, r.loc.idx, r.err))
				bad = append(bad, r.loc.idx)
				startMore()
				continue
			}
			good[r.loc.idx] = r.data
		case <-hedge.C:
			// A slow disk: ask parity too, without declaring it failed.
			for i := 0; i < o.layout.Parity && startMore(); i++ {
			}
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	if len(good) < k {
		return nil, nil, fmt.Errorf("%w: only %d of %d needed shards readable (%s); the object is lost unless a missing disk comes back", ErrCorruptObject, len(good), k, strings.Join(errs, "; "))
	}
	data, err := a.assemble(o, good)
	if err != nil {
		return nil, nil, err
	}
	sort.Ints(bad)
	return data, bad, nil
}

// assemble joins verified shards into the object.
func (a *Array) assemble(o *obj, good map[int][]byte) ([]byte, error) {
	var data []byte
	if o.layout.IsMirror() {
		for _, d := range good {
			data = d
			break
		}
	} else {
		shards := make([][]byte, o.layout.Shards())
		for i, d := range good {
			shards[i] = d
		}
		if err := a.enc.ReconstructData(shards); err != nil {
			return nil, fmt.Errorf("%w: reconstruct: %v", ErrCorruptObject, err)
		}
		var buf bytes.Buffer
		buf.Grow(int(o.size))
		if err := a.enc.Join(&buf, shards, int(max(o.size, 1))); err != nil {
			return nil, fmt.Errorf("%w: join: %v", ErrCorruptObject, err)
		}
		data = buf.Bytes()[:o.size]
	}
	if int64(len(data)) != o.size || checksum(data) != o.sum {
		return nil, fmt.Errorf("%w: checksum of the whole object does not match", ErrCorruptObject)
	}
	return data, nil
}

// testReadDelay, when set by a test, delays every shard read from the
// member at path: a slow disk, for the hedged-read tests.
var testReadDelay atomic.Pointer[func(path string) time.Duration]

// readShard reads and verifies one shard file, counting failures against
// the disk (they feed the disk's health verdict).
func (a *Array) readShard(ctx context.Context, name string, o *obj, l shardLoc) ([]byte, error) {
	d, err := a.readShardFile(ctx, name, o, l)
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound), errors.Is(err, context.Canceled):
	case errors.Is(err, errShardChecksum) || errors.Is(err, errShardHeader):
		l.m.checksumErrors.Add(1)
	default:
		l.m.ioErrors.Add(1)
	}
	return d, err
}

func (a *Array) readShardFile(ctx context.Context, name string, o *obj, l shardLoc) ([]byte, error) {
	if delay := testReadDelay.Load(); delay != nil {
		if d := (*delay)(l.m.path); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	f, err := l.m.store.Open(ctx, shardName(name, l.idx, l.seq))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, f.Size())
	if n, err := f.ReadAt(b, 0); err != nil && !(err == io.EOF && n == len(b)) {
		return nil, err
	}
	h, hl, err := parseShardHeader(b)
	if err != nil {
		return nil, err
	}
	d := b[hl:]
	switch {
	case h.Name != name || h.Index != l.idx || h.Seq != o.seq:
		return nil, errors.New("shard belongs to another write")
	case int64(len(d)) != h.ShardLen:
		return nil, fmt.Errorf("shard is short: %d of %d bytes", len(d), h.ShardLen)
	case checksum(d) != h.ShardSum:
		return nil, errShardChecksum
	}
	return d, nil
}

// repair rewrites bad or missing shards of an object from its verified
// content.
func (a *Array) repair(ctx context.Context, name string, o *obj, data []byte, bad []int) int {
	shards, err := a.encode(data)
	if err != nil {
		return 0
	}
	// Keep the good shards where they are; rewrite bad ones in place when
	// the disk takes them, or elsewhere.
	badSet := map[int]bool{}
	for _, i := range bad {
		badSet[i] = true
	}
	var keep []shardLoc
	a.mu.RLock()
	cur := a.objects[name]
	for _, l := range o.shards {
		if !badSet[l.idx] {
			keep = append(keep, l)
		}
	}
	a.mu.RUnlock()
	if cur != o {
		return 0 // overwritten or deleted meanwhile
	}
	placed, err := a.writeShards(ctx, name, o.seq, o.sum, o.size, shards, bad, keep)
	if err != nil {
		a.opt.Logger.Warn("raid: repair failed", "object", name, "err", err)
		return 0
	}
	placedIdx := map[int]bool{}
	for _, l := range placed {
		placedIdx[l.idx] = true
	}
	var drop []shardLoc
	a.mu.Lock()
	if a.objects[name] == o {
		now := append(keep, placed...)
		for _, l := range o.shards {
			switch {
			case !badSet[l.idx] || containsLoc(placed, l):
			case !placedIdx[l.idx] && l.m.state != StateActive:
				// A good shard on a draining disk stays until it
				// could be rebuilt elsewhere.
				now = append(now, l)
			default:
				drop = append(drop, l)
			}
		}
		o.shards = now
	}
	a.mu.Unlock()
	// Bad copies left on other disks than the rewrite are removed.
	for _, l := range drop {
		l.m.store.Delete(ctx, shardName(name, l.idx, l.seq))
	}
	a.repaired.Add(int64(len(placed)))
	a.opt.Logger.Info("raid: repaired shards", "object", name, "shards", len(placed))
	return len(placed)
}

// Stat implements store.ObjectStore.
func (a *Array) Stat(ctx context.Context, name string) (store.ObjectInfo, error) {
	if err := store.CheckName(name); err != nil {
		return store.ObjectInfo{}, err
	}
	a.mu.RLock()
	o := a.objects[name]
	a.mu.RUnlock()
	if o == nil {
		return store.ObjectInfo{}, fmt.Errorf("stat %s: %w", name, store.ErrNotFound)
	}
	return store.ObjectInfo{Name: name, Size: o.size, ModTime: o.modTime}, nil
}

// List implements store.ObjectStore.
func (a *Array) List(ctx context.Context, prefix string, fn func(store.ObjectInfo) error) error {
	a.mu.RLock()
	var infos []store.ObjectInfo
	for name, o := range a.objects {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, store.ObjectInfo{Name: name, Size: o.size, ModTime: o.modTime})
		}
	}
	a.mu.RUnlock()
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements store.ObjectStore.
func (a *Array) Delete(ctx context.Context, name string) error {
	if err := store.CheckName(name); err != nil {
		return err
	}
	if err := a.checkWritable(); err != nil {
		return err
	}
	a.mu.Lock()
	o := a.objects[name]
	delete(a.objects, name)
	degraded := len(a.missing) > 0
	a.mu.Unlock()
	if o == nil {
		return fmt.Errorf("delete %s: %w", name, store.ErrNotFound)
	}
	undoTomb := func() {}
	if degraded {
		// Shards on the missing disks survive the delete: a tombstone on
		// the present ones keeps the object deleted when they come back.
		undoTomb = a.writeTombstone(ctx, name)
	}
	var errs []error
	var left []shardLoc
	for _, l := range o.shards {
		if err := l.m.store.Delete(ctx, shardName(name, l.idx, l.seq)); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
			left = append(left, l)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if distinctIndexes(left) < o.layout.Data {
		// Too few shards are left for the object to exist (a read-only
		// disk kept one, say): it is deleted, and the next open of the
		// array with every disk writable removes the leftovers.
		a.opt.Logger.Warn("raid: deleted object left shards behind", "object", name, "err", errors.Join(errs...))
		return nil
	}
	// The object still exists: keep it, with the shards that are left.
	undoTomb()
	a.mu.Lock()
	if a.objects[name] == nil {
		kept := *o
		kept.shards = left
		a.objects[name] = &kept
	}
	a.mu.Unlock()
	return fmt.Errorf("delete %s: %w", name, errors.Join(errs...))
}

// writeTombstone records on every present member that name was deleted,
// and returns a function that removes the record again.
func (a *Array) writeTombstone(ctx context.Context, name string) (undo func()) {
	seq := a.seq.Add(1)
	a.mu.RLock()
	ms := append([]*member(nil), a.members...)
	a.mu.RUnlock()
	var written []*member
	for _, m := range ms {
		if err := m.put(ctx, tombName(name, seq), bytes.NewReader(nil)); err != nil {
			a.opt.Logger.Warn("raid: cannot write tombstone", "disk", m.path, "object", name, "err", err)
			continue
		}
		written = append(written, m)
	}
	if len(written) == 0 {
		a.opt.Logger.Warn("raid: no tombstone written: the object may come back with a missing disk", "object", name)
	}
	return func() {
		for _, m := range written {
			m.store.Delete(context.Background(), tombName(name, seq))
		}
	}
}

// CreatePending implements store.PendingCreator: objects are assembled in a
// pooled buffer (they are split into shards only when complete), whose
// spare capacity then holds the parity shards.
func (a *Array) CreatePending(ctx context.Context) (store.Pending, error) {
	return &arrayPending{a: a, buf: getObjectBuffer()}, nil
}

type arrayPending struct {
	a   *Array
	buf []byte
}

func (p *arrayPending) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	return len(b), nil
}

func (p *arrayPending) Commit(ctx context.Context, name string) error {
	if err := store.CheckName(name); err != nil {
		p.Abort()
		return err
	}
	err := p.a.putBytes(ctx, name, p.buf)
	p.Abort()
	return err
}

func (p *arrayPending) Abort() error {
	putObjectBuffer(p.buf)
	p.buf = nil
	return nil
}

// objectBuffers is a free list of buffers for objects being assembled
// (packs of ~16 MiB plus room for parity).
var objectBuffers = make(chan []byte, 4)

const objectBufferCap = 28 << 20

func getObjectBuffer() []byte {
	select {
	case b := <-objectBuffers:
		return b[:0]
	default:
		return make([]byte, 0, objectBufferCap)
	}
}

func putObjectBuffer(b []byte) {
	if cap(b) < objectBufferCap || cap(b) > 4*objectBufferCap {
		return
	}
	select {
	case objectBuffers <- b[:0]:
	default:
	}
}

// twoPart is a shard file's bytes (header, then shard) as one reader that
// writes itself out in two system calls.
type twoPart struct {
	head, body []byte
}

func (t *twoPart) Read(p []byte) (int, error) {
	if len(t.head) > 0 {
		n := copy(p, t.head)
		t.head = t.head[n:]
		return n, nil
	}
	if len(t.body) == 0 {
		return 0, io.EOF
	}
	n := copy(p, t.body)
	t.body = t.body[n:]
	return n, nil
}

func (t *twoPart) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(t.head)
	if err != nil {
		return int64(n), err
	}
	m, err := w.Write(t.body)
	t.head, t.body = nil, nil
	return int64(n + m), err
}

// Close waits for background repairs and releases the array's lock.
func (a *Array) Close() error {
	a.repairWG.Wait()
	a.unlock()
	return nil
}

func (a *Array) String() string {
	var ps []string
	for _, m := range a.members {
		ps = append(ps, m.path)
	}
	return "raid:" + strings.Join(ps, ",")
}
