package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/shoebox/shoebox/internal/process"
	"github.com/shoebox/shoebox/store"
)

// Lock timing. A lock is refreshed every LockRefresh; one not refreshed
// for LockStale is stale (its process died or lost the repository).
var (
	LockRefresh = 5 * time.Minute
	LockStale   = 30 * time.Minute
)

// LockInfo is the content of a lock file.
type LockInfo struct {
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username,omitempty"`
	PID       int       `json:"pid"`
	Operation string    `json:"operation,omitempty"`

	name string
}

func (l *LockInfo) String() string {
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	return fmt.Sprintf("%s lock by %s (PID %d on %s, user %s) since %s", kind, l.Operation, l.PID, l.Hostname, l.Username, l.Time.Local().Format(time.RFC3339))
}

// Stale reports whether the lock's holder is gone: it was not refreshed
// for LockStale, or it was taken on this host by a process that no longer
// runs.
func (l *LockInfo) Stale() bool {
	if time.Since(l.Time) > LockStale {
		return true
	}
	host, _ := os.Hostname()
	if l.Hostname == host && l.PID > 0 && l.PID != os.Getpid() {
		return !process.Alive(l.PID)
	}
	return false
}

// Lock is a held repository lock. Release it when the operation ends.
type Lock struct {
	r    *Repository
	info LockInfo
	mu   sync.Mutex
	name string
	stop chan struct{}
	done chan struct{}
	// readers releases the store's readers' lock (sharedReaders), held
	// exclusive by an exclusive lock.
	readers func()
}

// sharedReaders is a store that other processes on the box may read
// while this one owns it (a raid array beside shoeboxd): they hold its
// readers' lock shared instead of writing lock files, and an exclusive
// Lock (forget, prune: what removes) takes it exclusive.
type sharedReaders interface {
	ReadOnly() bool
	ExcludeReaders(ctx context.Context) (release func(), err error)
}

// ReadersWait is how long an exclusive lock waits for other processes
// reading the store beside its owner (sharedReaders) to finish before it
// fails with ErrLocked: long enough for an ls, a find or a small
// restore; a check --read-data of hours is not waited for.
var ReadersWait = 30 * time.Second

func (r *Repository) writeLock(ctx context.Context, info *LockInfo) (string, error) {
	plain, err := json.Marshal(info)
	if err != nil {
		return "", err
	}
	sealed, err := seal(plain, r.key.recipient)
	if err != nil {
		return "", err
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	name := locksPrefix + hex.EncodeToString(rnd[:])
	if err := r.store.Put(ctx, name, bytes.NewReader(sealed)); err != nil {
		return "", fmt.Errorf("write lock: %w", err)
	}
	return name, nil
}

// Locks lists the lock files. Unreadable lock files are returned as stale
// exclusive locks so that `unlock` can remove them.
func (r *Repository) Locks(ctx context.Context) ([]*LockInfo, error) {
	var out []*LockInfo
	err := r.store.List(ctx, locksPrefix, func(fi store.ObjectInfo) error {
		b, err := store.ReadAll(ctx, r.store, fi.Name)
		if errors.Is(err, store.ErrNotFound) {
			return nil // released meanwhile
		}
		var l LockInfo
		if err == nil {
			var plain []byte
			if plain, err = unseal(b, r.key.identity); err == nil {
				err = json.Unmarshal(plain, &l)
			}
		}
		if err != nil {
			l = LockInfo{Exclusive: true, Operation: "unreadable lock file", Time: fi.ModTime.Add(-LockStale - time.Minute)}
		}
		l.name = fi.Name
		out = append(out, &l)
		return nil
	})
	return out, err
}

// Lock takes a shared (backup, restore, check) or exclusive (forget,
// prune) lock. It fails with ErrLocked, naming the holder, when a
// conflicting lock that is not stale exists; stale locks are ignored (and
// reported by `shoebox unlock`, which removes them). On a store other
// processes read beside its owner (a raid array beside shoeboxd), an
// exclusive lock also excludes them, waiting up to ReadersWait for them to
// finish and then failing with ErrLocked; and a reader's shared lock
// writes nothing (it holds the store's readers' lock already), while its
// exclusive one fails.
func (r *Repository) Lock(ctx context.Context, exclusive bool, operation string) (*Lock, error) {
	host, _ := os.Hostname()
	username := ""
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	l := &Lock{r: r, info: LockInfo{Time: time.Now().UTC(), Exclusive: exclusive, Hostname: host,
		Username: username, PID: os.Getpid(), Operation: operation}}
	if sr, ok := r.store.(sharedReaders); ok && sr.ReadOnly() {
		// Another process owns the store; reading it holds its readers'
		// lock already, so nothing is removed meanwhile.
		if exclusive {
			return nil, fmt.Errorf("%s: %w: another process (shoeboxd) owns the repository", operation, store.ErrReadOnly)
		}
		return &Lock{r: r, info: l.info}, nil
	} else if ok && exclusive {
		wctx, cancel := context.WithTimeout(ctx, ReadersWait)
		release, err := sr.ExcludeReaders(wctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: %w; %s waits until it is done", ErrLocked, err, operation)
		}
		l.readers = release
	}
	fail := func(err error) (*Lock, error) {
		if l.name != "" {
			r.store.Delete(ctx, l.name)
		}
		if l.readers != nil {
			l.readers()
		}
		return nil, err
	}
	name, err := r.writeLock(ctx, &l.info)
	if err != nil {
		return fail(err)
	}
	l.name = name
	locks, err := r.Locks(ctx)
	if err != nil {
		return fail(err)
	}
	for _, o := range locks {
		if o.name == name || o.Stale() {
			continue
		}
		if exclusive || o.Exclusive {
			return fail(fmt.Errorf("%w: %s; wait for it to finish, or if that process is gone run `shoebox unlock`", ErrLocked, o))
		}
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.refresh()
	return l, nil
}

// refresh rewrites the lock periodically so it never looks stale while the
// operation runs.
func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(LockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.info.Time = time.Now().UTC()
			if name, err := l.r.writeLock(context.Background(), &l.info); err == nil {
				l.r.store.Delete(context.Background(), l.name)
				l.name = name
			}
			l.mu.Unlock()
		}
	}
}

// Release removes the lock.
func (l *Lock) Release() error {
	if l == nil || l.stop == nil {
		return nil // nothing written: a reader beside the store's owner
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.r.store.Delete(context.Background(), l.name)
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if l.readers != nil {
		l.readers()
	}
	return err
}

// RemoveStaleLocks deletes locks whose holder is gone and returns them.
func (r *Repository) RemoveStaleLocks(ctx context.Context) ([]*LockInfo, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	var removed []*LockInfo
	for _, l := range locks {
		if !l.Stale() {
			continue
		}
		if err := r.store.Delete(ctx, l.name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return removed, err
		}
		removed = append(removed, l)
	}
	return removed, nil
}

// holdInfo is an immutability hold on a snapshot (holds/<id>): until the
// date, forget refuses to remove the snapshot and prune keeps everything
// it references. Holds are never removed by Shoebox; an expired hold is
// simply ignored.
type holdInfo struct {
	Snapshot ID        `json:"snapshot"`
	Until    time.Time `json:"until"`
	Created  time.Time `json:"created"`
}

// Hold places an immutability hold on a snapshot until the given time.
// A hold can be extended by a later hold but never shortened.
func (r *Repository) Hold(ctx context.Context, snap ID, until time.Time) error {
	if !until.After(time.Now()) {
		return fmt.Errorf("lock: %s is in the past", until.Format(time.RFC3339))
	}
	plain, err := json.Marshal(holdInfo{Snapshot: snap, Until: until.UTC(), Created: time.Now().UTC()})
	if err != nil {
		return err
	}
	sealed, err := seal(plain, r.key.recipient)
	if err != nil {
		return err
	}
	return r.store.Put(ctx, holdsPrefix+FileID(sealed).String(), bytes.NewReader(sealed))
}

// Holds returns, per snapshot, the latest hold date still in the future.
func (r *Repository) Holds(ctx context.Context) (map[ID]time.Time, error) {
	out := map[ID]time.Time{}
	now := time.Now()
	err := r.store.List(ctx, holdsPrefix, func(fi store.ObjectInfo) error {
		b, err := store.ReadAll(ctx, r.store, fi.Name)
		if err != nil {
			return err
		}
		id, err := ParseID(strings.TrimPrefix(fi.Name, holdsPrefix))
		if err != nil || FileID(b) != id {
			return fmt.Errorf("hold file %s: %w", fi.Name, ErrCorrupt)
		}
		plain, err := unseal(b, r.key.identity)
		if err != nil {
			return fmt.Errorf("hold file %s: %w: %v", fi.Name, ErrCorrupt, err)
		}
		var h holdInfo
		if err := json.Unmarshal(plain, &h); err != nil {
			return fmt.Errorf("hold file %s: %w: %v", fi.Name, ErrCorrupt, err)
		}
		if h.Until.After(now) && h.Until.After(out[h.Snapshot]) {
			out[h.Snapshot] = h.Until
		}
		return nil
	})
	return out, err
}
