package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/shoebox/shoebox/store"
)

// The ledger's defaults and limits (docs/CLUSTER.md, "The offsite ledger").
const (
	// DefaultDeleteDelay is how long an object requested for deletion is
	// kept before Purge may remove it.
	DefaultDeleteDelay = 30 * 24 * time.Hour
	// MinDeleteDelay is the shortest delay OpenLedger accepts: a week in
	// which the owner can notice that the home unit went wrong.
	MinDeleteDelay = 7 * 24 * time.Hour
	// DefaultFreezeAbove is the fraction of the stored objects that may be
	// requested for deletion within FreezeWindow before deletions freeze.
	DefaultFreezeAbove = 0.10
	// FreezeWindow is the rolling window FreezeAbove is counted over.
	FreezeWindow = 24 * time.Hour
)

// LedgerOptions configure a Ledger; zero values take the defaults.
type LedgerOptions struct {
	// DeleteDelay: DefaultDeleteDelay; less than MinDeleteDelay is refused.
	DeleteDelay time.Duration
	// FreezeAbove: DefaultFreezeAbove; it must be above 0 and at most 1.
	FreezeAbove float64
	// Quota is the most bytes the store may hold, objects awaiting purge
	// included; 0 means no quota.
	Quota int64
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// OnFreeze, if set, is called once when deletions freeze, after the
	// freeze is durable, on the goroutine whose request tripped it and
	// without the ledger's lock held (it may call the Ledger). It raises
	// the alert on this unit and tells the home unit.
	OnFreeze func(FreezeInfo)
}

func (o *LedgerOptions) setDefaults() error {
	if o.DeleteDelay == 0 {
		o.DeleteDelay = DefaultDeleteDelay
	}
	if o.DeleteDelay < MinDeleteDelay {
		return fmt.Errorf("offsite ledger: a deletion delay of %v is shorter than the minimum of %d days: the owner needs time to notice that the home unit went wrong", o.DeleteDelay, MinDeleteDelay/(24*time.Hour))
	}
	if o.FreezeAbove == 0 {
		o.FreezeAbove = DefaultFreezeAbove
	}
	if !(o.FreezeAbove > 0 && o.FreezeAbove <= 1) {
		return fmt.Errorf("offsite ledger: freeze_above %g is not a fraction above 0 and at most 1 (0.10 is 10 %%)", o.FreezeAbove)
	}
	if o.Quota < 0 {
		return fmt.Errorf("offsite ledger: negative quota %d", o.Quota)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Buckets of the ledger's database.
var (
	// bucketDeleted: object name → deletionRecord (JSON).
	bucketDeleted = []byte("ledger.deleted")
	// bucketHolds: object name → hold's end (RFC 3339, UTC).
	bucketHolds = []byte("ledger.holds")
	// bucketRequests: 8-byte big-endian Unix nanoseconds + object name →
	// nothing: the deletion requests of the last FreezeWindow.
	bucketRequests = []byte("ledger.requests")
	// bucketMeta: "version" → "1"; "freeze" → FreezeInfo (JSON) while frozen.
	bucketMeta = []byte("ledger.meta")
)

const ledgerVersion = "1"

var (
	keyVersion = []byte("version")
	keyFreeze  = []byte("freeze")
)

// errLedgerClosed is returned by a Ledger after Close.
var errLedgerClosed = errors.New("offsite ledger closed")

type deletionRecord struct {
	At   time.Time `json:"at"`
	Size int64     `json:"size"`
}

// Ledger is the offsite unit's guard over its store: the replication
// server writes and deletes there only through it, and it applies the
// offsite unit's own rules whatever the home unit asks (package doc,
// docs/CLUSTER.md). Reads (Open, Stat, List) go straight to the store,
// objects awaiting purge included, so the replica restores as a
// repository until they are purged.
//
// Its records live in a bbolt database (OpenLedger's path) that one
// process opens at a time. All methods are safe for concurrent use; puts
// stream concurrently and take the lock only to commit.
//
// It is not a store.ObjectStore on purpose: its Put refuses what a store
// must accept (replacing config, names that are not a repository's) and
// its deletions are requests, so passing it where a store is expected
// would silently change what the caller gets.
type Ledger struct {
	st  store.ObjectStore
	opt LedgerOptions

	mu      sync.Mutex
	db      *bbolt.DB // nil once closed
	objects int       // objects in the store, awaiting purge included
	bytes   int64     // their bytes
	recent  []int64   // Unix nanoseconds of the deletion requests in the window, oldest first
	freeze  FreezeInfo
}

// OpenLedger opens (creating if needed) the ledger database at path, in
// the offsite unit's state directory (never on the store it guards), over
// st. It lists st once to count its objects and bytes; everything written
// to st afterwards must go through the ledger.
func OpenLedger(ctx context.Context, st store.ObjectStore, path string, opt LedgerOptions) (*Ledger, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open offsite ledger %s: another process has it open (is shoeboxd running?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open offsite ledger %s: %w", path, err)
	}
	l := &Ledger{st: st, opt: opt, db: db}
	if err := l.load(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open offsite ledger %s: %w", path, err)
	}
	return l, nil
}

func (l *Ledger) load(ctx context.Context) error {
	err := l.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketDeleted, bucketHolds, bucketRequests, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keyVersion); {
		case v == nil:
			if err := meta.Put(keyVersion, []byte(ledgerVersion)); err != nil {
				return err
			}
		case string(v) != ledgerVersion:
			return fmt.Errorf("ledger version %q is not %s: it was written by another version of Shoebox", v, ledgerVersion)
		}
		if v := meta.Get(keyFreeze); v != nil {
			if err := json.Unmarshal(v, &l.freeze); err != nil {
				return fmt.Errorf("freeze record: %w", err)
			}
		}
		return tx.Bucket(bucketRequests).ForEach(func(k, _ []byte) error {
			l.recent = append(l.recent, requestTime(k))
			return nil
		})
	})
	if err != nil {
		return err
	}
	return l.st.List(ctx, "", func(fi store.ObjectInfo) error {
		l.objects++
		l.bytes += fi.Size
		return nil
	})
}

// Close closes the database. The store is the caller's.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		return nil
	}
	err := l.db.Close()
	l.db = nil
	return err
}

// Open, Stat and List read the store, objects awaiting purge included.
func (l *Ledger) Open(ctx context.Context, name string) (store.Object, error) {
	return l.st.Open(ctx, name)
}

// Stat returns the stored object's size and time (see Open).
func (l *Ledger) Stat(ctx context.Context, name string) (store.ObjectInfo, error) {
	return l.st.Stat(ctx, name)
}

// List lists the store (see Open).
func (l *Ledger) List(ctx context.Context, prefix string, fn func(store.ObjectInfo) error) error {
	return l.st.List(ctx, prefix, fn)
}

// Put stores the object read from r under name, if the rules allow:
//   - name must be a repository object's (docs/FORMAT.md): config, or
//     keys/, data/, index/, snapshots/, holds/ named by the SHA-256 of the
//     bytes, which must match (so a key file or a pack is never replaced
//     by other bytes, while a damaged copy is replaced by the right
//     ones), or anchors/ (replaced in place); locks/ and anything else
//     are refused (ErrRefused);
//   - config is written once: the same bytes again are accepted and
//     change nothing, other bytes are refused (ErrWriteOnce);
//   - the store's bytes, objects awaiting purge included, stay within the
//     quota (ErrQuota; a transfer is cut as soon as it would exceed it).
//
// An object awaiting purge that is put again is kept: its deletion
// request is dropped. A refused or failed Put leaves the store as it was.
func (l *Ledger) Put(ctx context.Context, name string, r io.Reader) error {
	kind, id, err := classify(name)
	if err != nil {
		return refused("put", name, err)
	}
	limit := int64(-1)
	if l.opt.Quota > 0 {
		var old int64
		if fi, err := l.st.Stat(ctx, name); err == nil {
			old = fi.Size
		}
		l.mu.Lock()
		limit = max(l.opt.Quota-l.bytes+old, 0)
		l.mu.Unlock()
	}
	p, err := store.CreatePending(ctx, l.st)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	done := false
	defer func() {
		if !done {
			p.Abort()
		}
	}()
	h := sha256.New()
	w := &quotaWriter{w: io.MultiWriter(p, h), limit: limit}
	if _, err := io.Copy(w, r); err != nil {
		if errors.Is(err, errOverQuota) {
			l.mu.Lock()
			used := l.bytes
			l.mu.Unlock()
			return &QuotaError{Name: name, Size: w.seen, Used: used, Limit: l.opt.Quota}
		}
		return fmt.Errorf("put %s: %w", name, err)
	}
	sum := h.Sum(nil)
	if id != "" && hex.EncodeToString(sum) != id {
		return refused("put", name, ErrHashMismatch)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		return errLedgerClosed
	}
	exists, old := false, int64(0)
	switch fi, err := l.st.Stat(ctx, name); {
	case err == nil:
		exists, old = true, fi.Size
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("put %s: %w", name, err)
	}
	if kind == kindConfig && exists {
		cur, err := store.ReadAll(ctx, l.st, name)
		if err != nil {
			return fmt.Errorf("put %s: read the stored copy: %w", name, err)
		}
		if s := sha256.Sum256(cur); bytes.Equal(s[:], sum) {
			return nil
		}
		return refused("put", name, ErrWriteOnce)
	}
	if l.opt.Quota > 0 && l.bytes-old+w.n > l.opt.Quota {
		return &QuotaError{Name: name, Size: w.n, Used: l.bytes, Limit: l.opt.Quota}
	}
	// Drop a pending deletion before the object is written: if the
	// process dies in between, the old copy stays, which is harmless;
	// the other order could purge the copy just received.
	pending, err := l.pending(name)
	if err == nil && pending {
		err = l.db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketDeleted).Delete([]byte(name))
		})
	}
	if err != nil {
		return fmt.Errorf("put %s: offsite ledger: %w", name, err)
	}
	done = true
	if err := p.Commit(ctx, name); err != nil {
		return err
	}
	l.bytes += w.n - old
	if !exists {
		l.objects++
	}
	return nil
}

// errOverQuota cuts a transfer that would exceed the quota.
var errOverQuota = errors.New("over quota")

// quotaWriter passes writes on while they stay within limit bytes (no
// limit when negative).
type quotaWriter struct {
	w     io.Writer
	limit int64
	n     int64 // bytes written
	seen  int64 // bytes offered, the refused ones included
}

func (q *quotaWriter) Write(b []byte) (int, error) {
	q.seen += int64(len(b))
	if q.limit >= 0 && q.n+int64(len(b)) > q.limit {
		return 0, errOverQuota
	}
	n, err := q.w.Write(b)
	q.n += int64(n)
	return n, err
}

// RequestDelete records that the home unit asked to delete name. The
// object stays in the store, readable, until Purge removes it once the
// deletion delay has passed and no hold covers it; a later Put of it, or
// Undelete, keeps it. Asking again for an object awaiting purge changes
// nothing (its delay runs from the first request).
//
// Refused (ErrRefused): config (ErrKeepConfig), the last key file not
// awaiting purge (ErrLastKey), names that are no repository object's. A
// missing object is store.ErrNotFound.
//
// Frozen (ErrFrozen): when this request would make more than FreezeAbove
// of the stored objects requested for deletion within FreezeWindow, it is
// refused, deletions freeze (durably), OnFreeze is called, and every
// later request and Purge is refused until Unfreeze.
func (l *Ledger) RequestDelete(ctx context.Context, name string) error {
	kind, _, err := classify(name)
	if err != nil {
		return refused("delete", name, err)
	}
	if kind == kindConfig {
		return refused("delete", name, ErrKeepConfig)
	}
	l.mu.Lock()
	froze, err := l.requestDelete(ctx, name, kind)
	l.mu.Unlock()
	if froze && l.opt.OnFreeze != nil {
		var fe *FrozenError
		if errors.As(err, &fe) {
			l.opt.OnFreeze(fe.Freeze)
		}
	}
	return err
}

// requestDelete is RequestDelete under l.mu; froze says this request froze
// deletions.
func (l *Ledger) requestDelete(ctx context.Context, name string, kind objectKind) (froze bool, err error) {
	if l.db == nil {
		return false, errLedgerClosed
	}
	if l.freeze.Frozen {
		return false, &FrozenError{Op: "delete", Name: name, Freeze: l.freeze}
	}
	pending, err := l.pending(name)
	if err != nil || pending {
		return false, err
	}
	fi, err := l.st.Stat(ctx, name)
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", name, err)
	}
	if kind == kindKey {
		others, err := l.keysLeft(ctx, name)
		if err != nil {
			return false, err
		}
		if others == 0 {
			return false, refused("delete", name, ErrLastKey)
		}
	}
	now := l.opt.Now()
	l.trim(now)
	if n := len(l.recent) + 1; float64(n) > l.opt.FreezeAbove*float64(l.objects) {
		f := FreezeInfo{Frozen: true, Since: now.UTC(), Name: name, Requested: n, Objects: l.objects, Above: l.opt.FreezeAbove}
		v, _ := json.Marshal(f)
		if err := l.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFreeze, v) }); err != nil {
			return false, fmt.Errorf("delete %s: offsite ledger: %w", name, err)
		}
		l.freeze = f
		return true, &FrozenError{Op: "delete", Name: name, Freeze: f}
	}
	rec, _ := json.Marshal(deletionRecord{At: now.UTC(), Size: fi.Size})
	cutoff := now.Add(-FreezeWindow).UnixNano()
	err = l.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketDeleted).Put([]byte(name), rec); err != nil {
			return err
		}
		reqs := tx.Bucket(bucketRequests)
		c := reqs.Cursor()
		for k, _ := c.First(); k != nil && requestTime(k) <= cutoff; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return reqs.Put(requestKey(now, name), nil)
	})
	if err != nil {
		return false, fmt.Errorf("delete %s: offsite ledger: %w", name, err)
	}
	l.recent = append(l.recent, now.UnixNano())
	return false, nil
}

// trim drops the deletion requests older than the window from l.recent.
func (l *Ledger) trim(now time.Time) {
	cutoff := now.Add(-FreezeWindow).UnixNano()
	i := 0
	for i < len(l.recent) && l.recent[i] <= cutoff {
		i++
	}
	l.recent = l.recent[i:]
}

func requestKey(t time.Time, name string) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
	return append(k, name...)
}

func requestTime(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[:8])) }

// pending reports whether a deletion of name is awaiting purge.
func (l *Ledger) pending(name string) (bool, error) {
	var ok bool
	err := l.db.View(func(tx *bbolt.Tx) error {
		ok = tx.Bucket(bucketDeleted).Get([]byte(name)) != nil
		return nil
	})
	return ok, err
}

// keysLeft counts the stored key files other than name that no deletion
// awaits.
func (l *Ledger) keysLeft(ctx context.Context, name string) (int, error) {
	var n int
	err := l.db.View(func(tx *bbolt.Tx) error {
		deleted := tx.Bucket(bucketDeleted)
		return l.st.List(ctx, "keys/", func(fi store.ObjectInfo) error {
			if fi.Name != name && deleted.Get([]byte(fi.Name)) == nil {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count key files: %w", err)
	}
	return n, nil
}

// Purge removes from the store the objects whose deletion delay has
// passed and that no hold covers, and returns their names, in name order.
// It never removes the last key file in the store. While deletions are
// frozen it removes nothing and returns an ErrFrozen. On an error it
// returns what it purged so far; calling it again goes on.
func (l *Ledger) Purge(ctx context.Context) ([]string, error) {
	l.mu.Lock()
	due, err := l.due()
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var purged []string
	for _, name := range due {
		if err := ctx.Err(); err != nil {
			return purged, err
		}
		l.mu.Lock()
		ok, err := l.purge(ctx, name)
		l.mu.Unlock()
		if err != nil {
			return purged, err
		}
		if ok {
			purged = append(purged, name)
		}
	}
	return purged, nil
}

// due returns the objects Purge may remove, and forgets holds that ended.
func (l *Ledger) due() ([]string, error) {
	if l.db == nil {
		return nil, errLedgerClosed
	}
	if l.freeze.Frozen {
		return nil, &FrozenError{Op: "purge", Freeze: l.freeze}
	}
	now := l.opt.Now()
	var due []string
	err := l.db.Update(func(tx *bbolt.Tx) error {
		holds := tx.Bucket(bucketHolds)
		c := holds.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if until, _ := time.Parse(time.RFC3339Nano, string(v)); !until.After(now) {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bucketDeleted).ForEach(func(k, v []byte) error {
			if l.isDue(holds, k, v, now) {
				due = append(due, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("purge: offsite ledger: %w", err)
	}
	return due, nil
}

// isDue reports whether the deletion record v of object k may be purged
// at now.
func (l *Ledger) isDue(holds *bbolt.Bucket, k, v []byte, now time.Time) bool {
	var rec deletionRecord
	if json.Unmarshal(v, &rec) != nil || rec.At.Add(l.opt.DeleteDelay).After(now) {
		return false
	}
	if h := holds.Get(k); h != nil {
		if until, _ := time.Parse(time.RFC3339Nano, string(h)); until.After(now) {
			return false
		}
	}
	return true
}

// purge removes one object if it is still due, under l.mu.
func (l *Ledger) purge(ctx context.Context, name string) (bool, error) {
	if l.db == nil {
		return false, errLedgerClosed
	}
	if l.freeze.Frozen {
		return false, &FrozenError{Op: "purge", Freeze: l.freeze}
	}
	now := l.opt.Now()
	var due bool
	err := l.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketDeleted).Get([]byte(name))
		due = v != nil && l.isDue(tx.Bucket(bucketHolds), []byte(name), v, now)
		return nil
	})
	if err != nil || !due {
		return false, err
	}
	if kind, _, _ := classify(name); kind == kindKey {
		n := 0
		if err := l.st.List(ctx, "keys/", func(fi store.ObjectInfo) error {
			if fi.Name != name {
				n++
			}
			return nil
		}); err != nil {
			return false, fmt.Errorf("purge %s: count key files: %w", name, err)
		}
		if n == 0 {
			return false, nil
		}
	}
	var size int64 = -1
	if fi, err := l.st.Stat(ctx, name); err == nil {
		size = fi.Size
		if err := l.st.Delete(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("purge %s: %w", name, err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("purge %s: %w", name, err)
	}
	if err := l.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketHolds).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(bucketDeleted).Delete([]byte(name))
	}); err != nil {
		return false, fmt.Errorf("purge %s: offsite ledger: %w", name, err)
	}
	if size >= 0 {
		l.objects--
		l.bytes -= size
	}
	return true, nil
}

// Hold keeps name from being purged until the given time, whether or not
// it is stored or awaiting purge yet. Holds only grow: a hold ending
// earlier than the one recorded changes nothing. The replication code
// feeds it with every object a held snapshot needs.
func (l *Ledger) Hold(ctx context.Context, name string, until time.Time) error {
	if _, _, err := classify(name); err != nil {
		return refused("hold", name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		return errLedgerClosed
	}
	err := l.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketHolds)
		if v := b.Get([]byte(name)); v != nil {
			if cur, err := time.Parse(time.RFC3339Nano, string(v)); err == nil && !cur.Before(until) {
				return nil
			}
		}
		return b.Put([]byte(name), []byte(until.UTC().Format(time.RFC3339Nano)))
	})
	if err != nil {
		return fmt.Errorf("hold %s: offsite ledger: %w", name, err)
	}
	return nil
}

// HeldUntil returns the end of name's hold, or the zero time.
func (l *Ledger) HeldUntil(name string) (time.Time, error) {
	var until time.Time
	err := l.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketHolds).Get([]byte(name)); v != nil {
			until, _ = time.Parse(time.RFC3339Nano, string(v))
		}
		return nil
	})
	return until, err
}

// Deletion is an object awaiting purge.
type Deletion struct {
	Name        string
	Size        int64
	RequestedAt time.Time
	// PurgeAfter is when the delay ends; a hold may keep it longer.
	PurgeAfter time.Time
	HeldUntil  time.Time
}

// Deletions lists the objects awaiting purge, in name order.
func (l *Ledger) Deletions() ([]Deletion, error) {
	var ds []Deletion
	err := l.view(func(tx *bbolt.Tx) error {
		holds := tx.Bucket(bucketHolds)
		return tx.Bucket(bucketDeleted).ForEach(func(k, v []byte) error {
			var rec deletionRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("record of %s: %w", k, err)
			}
			d := Deletion{Name: string(k), Size: rec.Size, RequestedAt: rec.At, PurgeAfter: rec.At.Add(l.opt.DeleteDelay)}
			if h := holds.Get(k); h != nil {
				d.HeldUntil, _ = time.Parse(time.RFC3339Nano, string(h))
			}
			ds = append(ds, d)
			return nil
		})
	})
	return ds, err
}

// Undelete drops the deletion request of an object awaiting purge: a local
// operator's action (the home unit cannot ask for it).
func (l *Ledger) Undelete(ctx context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		return errLedgerClosed
	}
	pending, err := l.pending(name)
	if err != nil {
		return err
	}
	if !pending {
		return refused("undelete", name, ErrNotPending)
	}
	return l.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDeleted).Delete([]byte(name))
	})
}

// Unfreeze lifts a freeze of deletions: a local operator's action, once
// the home unit has been checked (the home unit cannot ask for it). The
// requests counted so far are forgotten, so the next day is counted
// afresh.
func (l *Ledger) Unfreeze(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		return errLedgerClosed
	}
	err := l.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketRequests); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketRequests); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyFreeze)
	})
	if err != nil {
		return fmt.Errorf("unfreeze: offsite ledger: %w", err)
	}
	l.freeze = FreezeInfo{}
	l.recent = nil
	return nil
}

// LedgerStatus is the ledger's state at a glance.
type LedgerStatus struct {
	Objects int   // objects stored, awaiting purge included
	Bytes   int64 // their bytes
	Quota   int64 // 0: none
	// PendingDeletions objects, of PendingBytes, await purge.
	PendingDeletions int
	PendingBytes     int64
	Holds            int
	Freeze           FreezeInfo
	DeleteDelay      time.Duration
	FreezeAbove      float64
}

// Status returns the ledger's state.
func (l *Ledger) Status() (LedgerStatus, error) {
	l.mu.Lock()
	s := LedgerStatus{Objects: l.objects, Bytes: l.bytes, Quota: l.opt.Quota, Freeze: l.freeze,
		DeleteDelay: l.opt.DeleteDelay, FreezeAbove: l.opt.FreezeAbove}
	l.mu.Unlock()
	err := l.view(func(tx *bbolt.Tx) error {
		s.Holds = tx.Bucket(bucketHolds).Stats().KeyN
		return tx.Bucket(bucketDeleted).ForEach(func(_, v []byte) error {
			var rec deletionRecord
			if json.Unmarshal(v, &rec) == nil {
				s.PendingBytes += rec.Size
			}
			s.PendingDeletions++
			return nil
		})
	})
	return s, err
}

// view runs fn in a read transaction of the open database.
func (l *Ledger) view(fn func(*bbolt.Tx) error) error {
	l.mu.Lock()
	db := l.db
	l.mu.Unlock()
	if db == nil {
		return errLedgerClosed
	}
	return db.View(fn)
}
