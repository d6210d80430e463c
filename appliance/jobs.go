package appliance

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/internal/mountinfo"
	"github.com/shoebox/shoebox/internal/pathx"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
	"golang.org/x/sys/unix"
)

func (d *Daemon) alertFunc() maint.AlertFunc {
	return func(kind, key, space string, critical bool, subject, message string) {
		sev := Warning
		if critical {
			sev = Critical
		}
		d.Bus.RaiseIn(space, kind, key, sev, subject, message)
	}
}

// addJobs starts restore drills, scheduled scrubs, capacity forecasting
// and card ingest; an offsite unit, which holds no key, runs no drills
// (and its config has no cards).
func (d *Daemon) addJobs(ctx context.Context) {
	ds := &maint.DrillService{
		Drill: maint.Drill{Repo: d.Repo, Scratch: d.statePath("drill-scratch"), Files: d.Config.Drills.Files, SpaceOf: SpaceOf,
			Track: func(space, snap string) maint.Op { return d.StartOperation(OpRestoreDrill, space, snap) }},
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
	if !d.Config.Offsite() { // drills restore snapshots: the home unit's keys
		d.sup.Add(ctx, "drills", ds)
	}
	if d.Array != nil {
		layout := d.layout()
		d.scrub = &maint.ScrubService{Array: d.Array, Every: time.Duration(d.Config.Scrub.Every),
			FirstDelay: time.Duration(d.Config.Scrub.FirstDelay),
			RateLimit:  d.Config.Scrub.RateMiB << 20, StatePath: d.statePath("scrub.json"), Alert: d.alertFunc(),
			Resolve: d.Bus.Resolve, Logger: d.Logger,
			OnReport: func(rep *raid.ScrubReport) {
				d.Metrics.ScrubErrors.Add(float64(rep.ErrorsFound))
				d.Metrics.ScrubRepaired.Add(float64(rep.Repaired))
			},
			Progress: func(done, total int) { d.Metrics.ScrubProgress.Set(float64(done) / float64(max(total, 1))) },
			Track:    func(subject string) maint.Op { return d.StartOperation(OpScrub, "", subject) }}
		d.sup.Add(ctx, "scrub", d.scrub)
		d.sup.Add(ctx, "capacity", &maint.CapacityService{Usage: maint.ArrayUsage(d.Array, layout), Every: time.Hour,
			StatePath: d.statePath("usage.json"), Alert: d.alertFunc(), Resolve: d.Bus.Resolve, Logger: d.Logger,
			OnSample: d.Metrics.SetCapacity})
	}
	if d.Config.Cards.Library != "" {
		cw := &cardWatcher{d: d, cfg: cards.Config{Library: d.Config.Cards.Library, Naming: d.Config.Cards.Naming,
			LedgerDir: d.statePath("cards"), Require: d.Config.Cards.Requirement(d.Config.OffsiteConfigured())},
			mountinfo: "/proc/self/mountinfo", seen: map[string]bool{}, ids: map[string]string{}}
		d.cards = cw
		d.sup.Add(ctx, "cards", cw)
	}
}

// cardWatcher ingests each card once per insertion. A card is a file
// system mounted under one of cards.mount_roots (its ID is the file
// system's UUID, so the same card inserted again finds its ledger), or a
// folder under one of cards.watch (its ID is the folder's name).
type cardWatcher struct {
	d         *Daemon
	cfg       cards.Config
	mountinfo string // /proc/self/mountinfo

	mu      sync.Mutex
	seen    map[string]bool   // cards ingested, by key, while they stay inserted
	ids     map[string]string // mount key -> card ID (blkid runs once per mount)
	present []foundCard       // the cards inserted at the last look
	// verified caches read-back verifications: path+hash -> ok.
	verified sync.Map
	hashes   cardHashes
}

// foundCard is a card inserted now.
type foundCard struct {
	key  string // "mount:<mount ID>", or the folder
	id   string // the ledger's card ID
	name string // for people: the mount point's or folder's name
	root string
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
		for _, card := range c.look() {
			c.ingest(ctx, card)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// look finds the cards inserted now, remembers them for verdicts, and
// returns those not ingested yet. A card that is gone is forgotten, so
// inserting it again ingests it again (resuming from its ledger).
func (c *cardWatcher) look() []foundCard {
	cfg := c.d.Config.Cards
	mounts, err := mountinfo.Read(c.mountinfo)
	if err != nil && len(cfg.MountRoots) > 0 {
		c.d.Logger.Warn("cards: cannot list mounted volumes", "err", err)
	}
	var found []foundCard
	points := map[string]bool{}
	for _, m := range mounts {
		points[m.Point] = true
		if !under(m.Point, cfg.MountRoots) || c.boxPath(m.Point) {
			continue
		}
		key := fmt.Sprintf("mount:%d", m.ID)
		c.mu.Lock()
		id, ok := c.ids[key]
		c.mu.Unlock()
		if !ok {
			id = volumeID(m)
			c.mu.Lock()
			c.ids[key] = id
			c.mu.Unlock()
		}
		found = append(found, foundCard{key: key, id: id, name: filepath.Base(m.Point), root: m.Point})
	}
	for _, root := range cfg.Watch {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			dir := filepath.Join(root, e.Name())
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || points[dir] && under(dir, cfg.MountRoots) {
				continue
			}
			found = append(found, foundCard{key: dir, id: e.Name(), name: e.Name(), root: dir})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.present = found
	keys := map[string]bool{}
	var fresh []foundCard
	for _, f := range found {
		keys[f.key] = true
		if !c.seen[f.key] {
			fresh = append(fresh, f)
		}
	}
	for k := range c.seen {
		if !keys[k] {
			delete(c.seen, k)
		}
	}
	for k := range c.ids {
		if !keys[k] {
			delete(c.ids, k)
		}
	}
	return fresh
}

// ingest copies one card into the library (cards.Ingest) and reports
// failures as "card" alerts naming the card.
func (c *cardWatcher) ingest(ctx context.Context, card foundCard) {
	c.mu.Lock()
	c.seen[card.key] = true
	c.mu.Unlock()
	name := card.id
	if card.name != card.id {
		name = card.name + " (" + card.id + ")"
	}
	c.d.Logger.Info("card found; copying it into the library", "card", name, "root", card.root)
	_, err := cards.Ingest(ctx, c.cfg, card.root, card.id, c, nil)
	switch {
	case err == nil:
		c.d.Bus.Resolve("card/"+card.id, "card "+name+" was copied")
	case ctx.Err() != nil:
	case errors.Is(err, cards.ErrCardRemoved):
		c.d.Logger.Warn("card removed during ingest", "card", name, "err", err)
		c.d.Bus.Raise("card", "card/"+card.id, Critical, "Card "+name+" was removed before it was copied", err.Error())
	default:
		c.d.Bus.Raise("card", "card/"+card.id, Critical, "Card "+name+" could not be ingested", err.Error()+"; keep the card, it is not safe to format")
		c.mu.Lock()
		delete(c.seen, card.key) // try again
		c.mu.Unlock()
	}
}

// boxPath reports whether a mount point holds the box's own data (an
// array disk, the library, the state, a source): never a card.
func (c *cardWatcher) boxPath(point string) bool {
	cfg := c.d.Config
	paths := append([]string{cfg.StateDir, cfg.Cards.Library, cfg.Repository.Path}, cfg.Disks.Members...)
	for _, s := range cfg.Sources {
		paths = append(paths, s.Path)
	}
	for _, p := range paths {
		if p != "" && (p == point || under(p, []string{point}) || under(point, []string{p})) {
			return true
		}
	}
	return false
}

// under reports whether path is strictly below one of roots.
func under(path string, roots []string) bool {
	for _, r := range roots {
		if pathx.Under(path, r) {
			return true
		}
	}
	return false
}

// volumeID names a mounted card: its file system UUID (from the
// /dev/disk/by-uuid links udev makes, else blkid), else its label, else
// its mount point's name.
func volumeID(m mountinfo.Mount) string {
	if strings.HasPrefix(m.Source, "/dev/") {
		if id := linkTo("/dev/disk/by-uuid", m.Source); id != "" {
			return id
		}
		if id := blkid("UUID", m.Source); id != "" {
			return id
		}
		if id := linkTo("/dev/disk/by-label", m.Source); id != "" {
			return id
		}
		if id := blkid("LABEL", m.Source); id != "" {
			return id
		}
	}
	return filepath.Base(m.Point)
}

// linkTo returns the name of the link in dir that points to the same
// block device as dev, or "".
func linkTo(dir, dev string) string {
	var want unix.Stat_t
	if unix.Stat(dev, &want) != nil || want.Mode&unix.S_IFMT != unix.S_IFBLK {
		return ""
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, e.Name()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == want.Rdev {
			return cardID(e.Name())
		}
	}
	return ""
}

// blkid asks blkid for a tag of dev ("" when it cannot tell).
func blkid(tag, dev string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "blkid", "-s", tag, "-o", "value", dev).Output()
	if err != nil {
		return ""
	}
	return cardID(strings.TrimSpace(string(out)))
}

// cardID makes a volume name usable as a ledger name ("" when nothing
// is left).
func cardID(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r < ' ' {
			return '_'
		}
		return r
	}, s)
	if s == "." || s == ".." {
		return ""
	}
	return s
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

// Unavailable implements cards.Verifier: copies on the array count only
// while the repository is on a redundant disk array that has all its
// disks and no degraded objects; offsite copies only once an offsite unit
// is paired (not yet possible).
func (c *cardWatcher) Unavailable(ctx context.Context, where string) string {
	switch where {
	case cards.CopyArray:
		_, why := c.arrayGeneration()
		return why
	case cards.CopyOffsite:
		if !c.d.Config.OffsiteConfigured() {
			return "no offsite unit is paired with this box"
		}
	}
	return ""
}

// arrayGeneration is the array's generation while it is redundant, or
// why it is not.
func (c *cardWatcher) arrayGeneration() (uint64, string) {
	a := c.d.Array
	if a == nil {
		return 0, "the repository is a plain folder, not a redundant disk array: a copy there is lost with its one disk"
	}
	st := a.Status()
	var gone []string
	for _, m := range st.Disks {
		if strings.HasPrefix(m.Problem, "missing") || strings.HasPrefix(m.Problem, "not mounted") {
			gone = append(gone, m.Path)
		}
	}
	switch {
	case len(gone) > 0:
		return 0, fmt.Sprintf("the disk array is degraded: %s missing; a copy on it is not redundant until the disk is back or replaced", strings.Join(gone, ", "))
	case st.State != raid.ArrayHealthy || st.Degraded > 0:
		return 0, fmt.Sprintf("the disk array is degraded (%d objects lack shards); run a scrub or replace the failed disk", st.Degraded)
	}
	return st.Generation, ""
}

// Verified implements cards.Verifier: a library file has a copy on the
// array when a snapshot of the library holds it and its stored content,
// read back from the array and verified blob by blob, has the given
// SHA-256. The snapshot the ledger recorded is tried first, then the
// other card snapshots, newest first (a later backup need not hold the
// file). A positive answer is cached only for the array generation it was
// read at, and only while the array is redundant.
func (c *cardWatcher) Verified(ctx context.Context, path string, sum [32]byte, snapshot string) ([]cards.Copy, error) {
	gen, why := c.arrayGeneration()
	if why != "" {
		return nil, nil // Unavailable says why
	}
	key := fmt.Sprintf("%s\x00%x\x00%d", path, sum, gen)
	if cp, ok := c.verified.Load(key); ok {
		return []cards.Copy{cp.(cards.Copy)}, nil
	}
	r := c.d.Repo
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var order []*vault.Snapshot
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		if !slices.Contains(s.Tags, "cards") {
			continue
		}
		if snapshot != "" && strings.HasPrefix(s.ID().String(), snapshot) {
			order = append([]*vault.Snapshot{s}, order...)
		} else {
			order = append(order, s)
		}
	}
	for _, s := range order {
		ok, err := c.snapshotHolds(ctx, s, path, sum)
		if err != nil {
			return nil, err
		}
		if ok {
			cp := cards.Copy{Where: cards.CopyArray, Snapshot: s.ID().Short(), Verified: time.Now().UTC()}
			c.verified.Store(key, cp)
			return []cards.Copy{cp}, nil
		}
	}
	return nil, nil
}

// snapshotHolds reads a file of a snapshot back and compares its SHA-256.
func (c *cardWatcher) snapshotHolds(ctx context.Context, s *vault.Snapshot, path string, sum [32]byte) (bool, error) {
	r := c.d.Repo
	n, err := r.Lookup(ctx, s.Tree, path)
	if err != nil || n.Type != vault.NodeFile {
		return false, nil
	}
	h := sha256.New()
	for _, id := range n.Content {
		b, err := r.LoadBlob(ctx, id, nil)
		if err != nil {
			return false, err
		}
		h.Write(b)
	}
	var got [32]byte
	h.Sum(got[:0])
	return got == sum, nil
}

// verdicts computes every ingested card's verdict, reading the cards
// inserted now and the library copies.
func (c *cardWatcher) verdicts(ctx context.Context) ([]cards.Verdict, error) {
	ls, err := cards.List(c.cfg)
	if err != nil {
		return nil, err
	}
	roots := c.roots()
	out := []cards.Verdict{}
	for _, l := range ls {
		out = append(out, l.Verdict(ctx, roots[l.Card], c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Card < out[j].Card })
	return out, nil
}

// roots maps the cards inserted now to where they are mounted.
func (c *cardWatcher) roots() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	roots := map[string]string{}
	for _, f := range c.present {
		roots[f.id] = f.root
	}
	return roots
}
