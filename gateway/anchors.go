package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shoebox/shoebox/gateway/audit"
	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/store"
)

// Anchors of the audit log: copies of the chain's head (seq, keyed hash,
// time), authenticated with the chain key, kept away from the log, so
// that a log cut short, rewritten or deleted is caught at the next start
// and by every check (docs/GATEWAY.md, "Audit log").
//
// They are written at start, every anchorEvery entries, every hour (the
// gateway's housekeeping) and when the gateway stops.

// anchorEvery is how many entries may be appended between two anchors.
const anchorEvery = 100

// anchorName is the anchor's name in the repository (anchors/audit).
const anchorName = "audit"

// anchorStore keeps a copy of the audit head away from the log. The state
// directory's copy (STATE/gateway/audit.anchor) and the repository's
// (anchors/audit, on the disk array) are the two today. The offsite unit
// will be a third, with the cluster work: implement anchorStore over the
// peer connection and add it in anchorStores. Until then a person with
// root on the box can rewrite the log and both copies together; the
// residual risk is in docs/GATEWAY.md.
type anchorStore interface {
	// where names the copy for messages ("the repository").
	where() string
	// put replaces the copy with b.
	put(ctx context.Context, b []byte) error
	// get returns the copy, or nil and no error when there is none.
	get(ctx context.Context) ([]byte, error)
}

// stateAnchor is the copy beside the log directory.
type stateAnchor struct{ path string }

func (s stateAnchor) where() string { return s.path }

func (s stateAnchor) put(_ context.Context, b []byte) error {
	return atomicfile.WriteFile(s.path, b, 0o600)
}

func (s stateAnchor) get(context.Context) ([]byte, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// repoAnchor is the copy in the repository, encrypted to its identity.
type repoAnchor struct{ d Backups }

func (repoAnchor) where() string { return "the repository (anchors/" + anchorName + ")" }

func (r repoAnchor) put(ctx context.Context, b []byte) error {
	return r.d.Repository().PutAnchor(ctx, anchorName, b)
}

func (r repoAnchor) get(ctx context.Context) ([]byte, error) {
	b, err := r.d.Repository().Anchor(ctx, anchorName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

// anchors holds the audit log's anchor stores and the last anchor
// written or read, which checks of the open log use.
type anchors struct {
	key    []byte
	stores []anchorStore
	busy   sync.Mutex // one writer at a time

	mu   sync.Mutex
	last *audit.Anchor
}

func (g *Gateway) anchorStores() []anchorStore {
	s := []anchorStore{stateAnchor{audit.AnchorPath(g.auditDir())}}
	if g.d != nil && g.d.Repository() != nil {
		s = append(s, repoAnchor{g.d})
	}
	return s
}

func (g *Gateway) auditDir() string { return filepath.Join(g.opt.Dir, "audit") }

// load reads every copy and returns the latest one that checks out. A
// copy that does not (edited, or made without the key) is reported in
// forged: it is itself tampering, and the next write replaces it. Copies
// that cannot be read (a degraded array) are in unreadable.
func (a *anchors) load(ctx context.Context) (latest *audit.Anchor, forged []string, unreadable error) {
	var all []*audit.Anchor
	var errs []error
	for _, s := range a.stores {
		b, err := s.get(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("read the audit anchor in %s: %w", s.where(), err))
			continue
		}
		if b == nil {
			continue
		}
		an, err := audit.ParseAnchor(a.key, b)
		if err != nil {
			forged = append(forged, fmt.Sprintf("the copy in %s: %v", s.where(), err))
			continue
		}
		all = append(all, &an)
	}
	latest = audit.Latest(all...)
	a.remember(latest)
	return latest, forged, errors.Join(errs...)
}

func (a *anchors) remember(an *audit.Anchor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = audit.Latest(a.last, an)
}

// reset forgets the anchors of a log that was moved aside.
func (a *anchors) reset() {
	a.mu.Lock()
	a.last = nil
	a.mu.Unlock()
}

// latest is the last anchor written or read.
func (a *anchors) latest() *audit.Anchor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// write stores an as every copy in stores, and remembers it. Failures
// are returned together; the copies that were written stay written.
func (a *anchors) write(ctx context.Context, an audit.Anchor, stores []anchorStore) error {
	a.busy.Lock()
	defer a.busy.Unlock()
	b := audit.EncodeAnchor(a.key, an)
	var errs []error
	for _, s := range stores {
		if err := s.put(ctx, b); err != nil {
			errs = append(errs, fmt.Errorf("anchor the audit log in %s: %w", s.where(), err))
		}
	}
	a.remember(&an)
	return errors.Join(errs...)
}

// anchorAudit writes the audit log's head to stores (all when nil), and
// logs what failed.
func (g *Gateway) anchorAudit(stores []anchorStore) {
	if stores == nil {
		stores = g.anchors.stores
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.anchors.write(ctx, g.audit.Anchor(), stores); err != nil {
		g.log.Warn("anchoring the audit log", "err", err)
	}
}

// maybeAnchor anchors in the background once anchorEvery entries have
// been appended since the last anchor. The write holds g.anchoring from
// before it starts until it ends: one at a time, and Close waits for it
// (and then starts no other).
func (g *Gateway) maybeAnchor(seq uint64) {
	last := g.anchors.latest()
	if last != nil && seq < last.Seq+anchorEvery || !g.anchoring.TryLock() {
		return
	}
	if g.closed {
		g.anchoring.Unlock()
		return
	}
	go func() {
		defer g.anchoring.Unlock()
		g.anchorAudit(nil)
	}()
}

// anchorLast anchors the log everywhere when the gateway stops serving,
// after a background anchor being written, unless it is closed already.
func (g *Gateway) anchorLast() {
	g.anchoring.Lock()
	defer g.anchoring.Unlock()
	if !g.closed {
		g.anchorAudit(nil)
	}
}
