package appliance

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

func (d *Daemon) alertFunc() maint.AlertFunc {
	return func(kind, key string, critical bool, subject, message string) {
		sev := Warning
		if critical {
			sev = Critical
		}
		d.Bus.Raise(kind, key, sev, subject, message)
	}
}

// addJobs starts restore drills, scheduled scrubs, capacity forecasting
// and card ingest.
func (d *Daemon) addJobs(ctx context.Context) {
	ds := &maint.DrillService{
		Drill:     maint.Drill{Repo: d.Repo, Scratch: d.statePath("drill-scratch"), Files: d.Config.Drills.Files},
		Every:     time.Duration(d.Config.Drills.Every),
		StatePath: d.statePath("drills.jsonl"), Alert: d.alertFunc(), Resolve: d.Bus.Resolve, Logger: d.Logger,
		OnResult: func(r maint.DrillResult) {
			d.Metrics.DrillSeconds.Set(r.Seconds())
			res := "ok"
			if !r.OK {
				res = "failed"
				d.Metrics.ValidationFails.Inc()
			}
			d.Metrics.DrillRuns.WithLabelValues(res).Inc()
		},
	}
	d.sup.Add(ctx, "drills", ds)
	d.extraRoutes = append(d.extraRoutes, route{"GET /v1/drills", func(w http.ResponseWriter, r *http.Request) {
		h, err := maint.History(ds.StatePath)
		if err != nil && !os.IsNotExist(err) {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if h == nil {
			h = []maint.DrillResult{}
		}
		writeJSON(w, h)
	}})
	if d.Array != nil {
		layout := raid.Layout{Data: d.Config.Disks.Data, Parity: d.Config.Disks.Parity}
		if d.Config.Disks.Mirror {
			layout = raid.Mirror(len(d.Config.Disks.Members))
		}
		d.sup.Add(ctx, "scrub", &maint.ScrubService{Array: d.Array, Every: time.Duration(d.Config.Scrub.Every),
			FirstDelay: time.Duration(d.Config.Scrub.FirstDelay),
			RateLimit:  d.Config.Scrub.RateMiB << 20, StatePath: d.statePath("scrub.json"), Alert: d.alertFunc(),
			Resolve: d.Bus.Resolve, Logger: d.Logger,
			OnReport: func(rep *raid.ScrubReport) {
				d.Metrics.ScrubErrors.Add(float64(rep.ErrorsFound))
				d.Metrics.ScrubRepaired.Add(float64(rep.Repaired))
			},
			Progress: func(done, total int) { d.Metrics.ScrubProgress.Set(float64(done) / float64(max(total, 1))) }})
		d.sup.Add(ctx, "capacity", &maint.CapacityService{Usage: maint.ArrayUsage(d.Array, layout), Every: time.Hour,
			StatePath: d.statePath("usage.json"), Alert: d.alertFunc(), Resolve: d.Bus.Resolve, Logger: d.Logger,
			OnSample: func(used, free int64, days float64, ok bool) { d.Metrics.RepoBytes.Set(float64(used)) }})
	}
	if len(d.Config.Cards.Watch) > 0 {
		cw := &cardWatcher{d: d, cfg: cards.Config{Library: d.Config.Cards.Library, Naming: d.Config.Cards.Naming,
			LedgerDir: d.statePath("cards"), RequiredCopies: d.Config.Cards.RequiredCopies}, seen: map[string]bool{}}
		d.sup.Add(ctx, "cards", cw)
		d.extraRoutes = append(d.extraRoutes, route{"GET /v1/cards", cw.list})
	}
}

// cardWatcher ingests each card (a folder appearing under a watched
// root: a mounted removable volume, or a folder in tests) once.
type cardWatcher struct {
	d    *Daemon
	cfg  cards.Config
	mu   sync.Mutex
	seen map[string]bool
	// verified caches read-back verifications: path+hash -> ok.
	verified sync.Map
}

// cardPoll is how often watched roots are looked at for new cards.
var cardPoll = 2 * time.Second

func (c *cardWatcher) Serve(ctx context.Context) error {
	if err := os.MkdirAll(c.cfg.Library, 0o755); err != nil {
		return err
	}
	t := time.NewTicker(cardPoll)
	defer t.Stop()
	for {
		for _, root := range c.d.Config.Cards.Watch {
			ents, _ := os.ReadDir(root)
			for _, e := range ents {
				if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
					continue
				}
				dir := filepath.Join(root, e.Name())
				c.mu.Lock()
				done := c.seen[dir]
				c.seen[dir] = true
				c.mu.Unlock()
				if done {
					continue
				}
				c.d.Logger.Info("card found; copying it into the library", "card", dir)
				if _, err := cards.Ingest(ctx, c.cfg, dir, e.Name(), c, nil); err != nil && ctx.Err() == nil {
					c.d.Bus.Raise("card", "card/"+e.Name(), Critical, "Card "+e.Name()+" could not be ingested", err.Error()+"; keep the card, it is not safe to format")
					c.mu.Lock()
					delete(c.seen, dir) // try again
					c.mu.Unlock()
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Backup implements cards.Verifier: the library is backed up (only the
// new files are read).
func (c *cardWatcher) Backup(ctx context.Context, paths []string) (string, error) {
	r := c.d.Repo
	l, err := r.Lock(ctx, false, "card ingest")
	if err != nil {
		return "", err
	}
	defer l.Release()
	snap, err := r.Backup(ctx, vault.BackupOptions{Paths: []string{c.cfg.Library}, Tags: []string{"cards"}})
	if err != nil {
		return "", err
	}
	return snap.ID().String(), nil
}

// Verified implements cards.Verifier: a library file counts as one copy
// on the box ("box") when the newest snapshot of the library holds it and
// its stored content, read back from the array and verified blob by blob,
// has the given SHA-256. Offsite copies arrive with the cluster.
func (c *cardWatcher) Verified(ctx context.Context, path string, sum [32]byte) ([]string, error) {
	key := path + fmt.Sprintf("%x", sum)
	if _, ok := c.verified.Load(key); ok {
		return []string{"box"}, nil
	}
	r := c.d.Repo
	snap, err := r.FindSnapshot(ctx, "latest", vault.SnapshotFilter{Tags: []string{"cards"}})
	if err != nil {
		return nil, nil // not backed up yet
	}
	n, err := r.Lookup(ctx, snap.Tree, path)
	if err != nil || n.Type != vault.NodeFile {
		return nil, nil
	}
	h := sha256.New()
	for _, id := range n.Content {
		b, err := r.LoadBlob(ctx, id, nil)
		if err != nil {
			return nil, err
		}
		h.Write(b)
	}
	var got [32]byte
	h.Sum(got[:0])
	if got != sum {
		return nil, nil
	}
	c.verified.Store(key, true)
	return []string{"box"}, nil
}

func (c *cardWatcher) list(w http.ResponseWriter, r *http.Request) {
	ls, err := cards.List(c.cfg)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []cards.Verdict{}
	for _, l := range ls {
		root := ""
		for _, w := range c.d.Config.Cards.Watch {
			if fi, err := os.Stat(filepath.Join(w, l.Card)); err == nil && fi.IsDir() {
				root = filepath.Join(w, l.Card)
			}
		}
		out = append(out, l.Verdict(r.Context(), root, c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Card < out[j].Card })
	writeJSON(w, out)
}
