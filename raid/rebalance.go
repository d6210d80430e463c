package raid

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"syscall"

	"github.com/shoebox/shoebox/store"
)

// Rebalance moves shards from the fullest members to the emptiest (by the
// share of each disk the array's shards take), as after `raid add`, until
// they are within one shard of each other or nothing can move without
// putting two shards of an object on one disk. Objects stay readable and
// fully redundant throughout: a shard is copied and verified before the
// old copy is deleted. It returns the number of shards moved.
func (a *Array) Rebalance(ctx context.Context) (int, error) {
	moved := 0
	for {
		if err := ctx.Err(); err != nil {
			return moved, err
		}
		src, dst, ok := a.unbalanced()
		if !ok {
			return moved, nil
		}
		name, loc, found := a.movable(src, dst)
		if !found {
			return moved, nil
		}
		if err := a.moveShard(ctx, name, loc, dst); err != nil {
			return moved, err
		}
		moved++
	}
}

type fill struct {
	m           *member
	held, total float64
}

// unbalanced picks the fullest and the emptiest active member, or reports
// that the spread is below one shard.
func (a *Array) unbalanced() (src, dst *member, ok bool) {
	a.mu.RLock()
	held := map[*member]int64{}
	biggest := int64(0)
	for _, o := range a.objects {
		sz := o.size/int64(o.layout.Data) + 1
		biggest = max(biggest, sz)
		for _, l := range o.shards {
			held[l.m] += sz
		}
	}
	var fs []fill
	for _, m := range a.members {
		if m.state != StateActive {
			continue
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(m.path, &st); err != nil {
			continue
		}
		free := float64(st.Bavail) * float64(st.Bsize)
		fs = append(fs, fill{m: m, held: float64(held[m]), total: float64(held[m]) + free})
	}
	a.mu.RUnlock()
	if len(fs) < 2 || biggest == 0 {
		return nil, nil, false
	}
	share := func(f fill) float64 { return f.held / f.total }
	sort.Slice(fs, func(i, j int) bool { return share(fs[i]) > share(fs[j]) })
	hi, lo := fs[0], fs[len(fs)-1]
	// Moving one shard changes the bytes on each side by its size; stop
	// when the move would overshoot (the emptier disk would become the
	// fuller one).
	b := float64(biggest)
	if (hi.held-b)/hi.total < (lo.held+b)/lo.total {
		return nil, nil, false
	}
	return hi.m, lo.m, true
}

// movable finds a shard on src of an object that has no shard on dst (nor
// on dst's drive).
func (a *Array) movable(src, dst *member) (string, shardLoc, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	names := make([]string, 0, len(a.objects))
	for n := range a.objects {
		names = append(names, n)
	}
	sort.Strings(names)
outer:
	for _, n := range names {
		o := a.objects[n]
		var cand *shardLoc
		for i, l := range o.shards {
			if l.m == dst || (dst.serial != "" && l.m.serial == dst.serial && l.m != src) {
				continue outer
			}
			if l.m == src && cand == nil {
				cand = &o.shards[i]
			}
		}
		if cand != nil {
			return n, *cand, true
		}
	}
	return "", shardLoc{}, false
}

// moveShard copies a verified shard to dst and deletes the old copy.
func (a *Array) moveShard(ctx context.Context, name string, loc shardLoc, dst *member) error {
	a.mu.RLock()
	o := a.objects[name]
	a.mu.RUnlock()
	if o == nil {
		return nil
	}
	f, err := loc.m.store.Open(ctx, shardName(name, loc.idx, loc.seq))
	if err != nil {
		return err
	}
	b := make([]byte, f.Size())
	_, rerr := f.ReadAt(b, 0)
	f.Close()
	if rerr != nil && f.Size() > 0 && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	if _, err := a.readShard(ctx, name, o, loc); err != nil {
		return nil // a bad shard is scrub's business, not rebalance's
	}
	if err := dst.put(ctx, shardName(name, loc.idx, loc.seq), bytes.NewReader(b)); err != nil {
		return err
	}
	a.mu.Lock()
	shards := append([]shardLoc(nil), o.shards...) // readers hold the old slice
	for i, l := range shards {
		if l == loc {
			shards[i].m = dst
		}
	}
	o.shards = shards
	a.mu.Unlock()
	if err := loc.m.store.Delete(ctx, shardName(name, loc.idx, loc.seq)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
