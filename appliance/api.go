package appliance

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/smart"
)

// This file is the daemon's programmatic API: what the gateway (the
// phone's REST/gRPC API) calls. Each method is safe for concurrent use.

// SourceInfo is a source with its settings, as the API shows it.
type SourceInfo struct {
	SourceStatus
	Retention Retention
	// FromConfig is true for sources defined in the config file: the API
	// shows them but cannot change them.
	FromConfig bool
}

// apiSourcesFile keeps the sources added through the API.
const apiSourcesFile = "sources.json"

// sourceSet guards the daemon's sources, which the API can add and
// remove while the daemon runs.
type sourceSet struct {
	mu    sync.RWMutex
	stops map[string]func() // API sources' services: cancel, then wait for the service (and its backup) to return
	api   []SourceConfig    // persisted in apiSourcesFile
}

// Sources lists every source: the config file's, then the API's.
func (d *Daemon) Sources() []SourceInfo {
	d.srcs.mu.RLock()
	defer d.srcs.mu.RUnlock()
	var out []SourceInfo
	add := func(c SourceConfig, fromConfig bool) {
		if s := d.sources[c.Name]; s != nil {
			out = append(out, SourceInfo{SourceStatus: s.Status(), Retention: c.Retention, FromConfig: fromConfig})
		}
	}
	for _, c := range d.Config.Sources {
		add(c, true)
	}
	for _, c := range d.srcs.api {
		add(c, false)
	}
	return out
}

// source returns the named source, or nil.
func (d *Daemon) source(name string) *Source {
	d.srcs.mu.RLock()
	defer d.srcs.mu.RUnlock()
	return d.sources[name]
}

// eachSource calls fn for every source.
func (d *Daemon) eachSource(fn func(*Source)) {
	d.srcs.mu.RLock()
	list := make([]*Source, 0, len(d.sources))
	for _, s := range d.sources {
		list = append(list, s)
	}
	d.srcs.mu.RUnlock()
	for _, s := range list {
		fn(s)
	}
}

// RunSource starts a backup of the named source now.
func (d *Daemon) RunSource(name string) error {
	if err := d.needsKey(); err != nil {
		return err
	}
	s := d.source(name)
	if s == nil {
		return fmt.Errorf("%w %q: list them with `shoebox sources`", ErrNoSource, name)
	}
	s.Trigger()
	return nil
}

// checkSource fills in c's defaults and validates it as the config
// file's sources are validated; replacing names the source c replaces.
func (d *Daemon) checkSource(c *SourceConfig, replacing string) error {
	if err := d.needsKey(); err != nil {
		return err
	}
	c.applyDefaults()
	var msgs []string
	for _, p := range c.problems() {
		msgs = append(msgs, p.key+": "+p.msg)
	}
	if filepath.IsAbs(c.Path) {
		if err := d.Config.CheckSourcePath(c.Path); err != nil {
			msgs = append(msgs, "path: "+err.Error())
		}
	}
	d.srcs.mu.RLock()
	for _, s := range append(slices.Clone(d.Config.Sources), d.srcs.api...) {
		if c.Name != "" && s.Name == c.Name && s.Name != replacing {
			msgs = append(msgs, fmt.Sprintf("name: duplicate source name %q", c.Name))
		}
	}
	d.srcs.mu.RUnlock()
	if len(msgs) > 0 {
		return fmt.Errorf("%w %q: %s", ErrBadSource, c.Name, strings.Join(msgs, "; "))
	}
	return nil
}

// AddSource adds a source and starts protecting it; it survives restarts
// (state directory, sources.json).
func (d *Daemon) AddSource(c SourceConfig) (SourceInfo, error) {
	if err := d.checkSource(&c, ""); err != nil {
		return SourceInfo{}, err
	}
	if fi, err := os.Stat(c.Path); err != nil || !fi.IsDir() {
		return SourceInfo{}, fmt.Errorf("%w %q: %s is not a folder on the box", ErrBadSource, c.Name, c.Path)
	}
	d.srcs.mu.Lock()
	api := append(slices.Clone(d.srcs.api), c)
	if err := d.saveAPISources(api); err != nil {
		d.srcs.mu.Unlock()
		return SourceInfo{}, err
	}
	d.srcs.api = api
	d.startSourceLocked(c)
	d.srcs.mu.Unlock()
	d.Logger.Info("source added through the API", "source", c.Name, "path", c.Path)
	return d.sourceInfo(c.Name), nil
}

// UpdateSource replaces an API source's settings (a config-file source
// must be changed in the config file).
func (d *Daemon) UpdateSource(c SourceConfig) (SourceInfo, error) {
	if err := d.checkSource(&c, c.Name); err != nil {
		return SourceInfo{}, err
	}
	d.srcs.mu.Lock()
	i := slices.IndexFunc(d.srcs.api, func(s SourceConfig) bool { return s.Name == c.Name })
	if i < 0 {
		d.srcs.mu.Unlock()
		return SourceInfo{}, d.notAPISource(c.Name)
	}
	api := slices.Clone(d.srcs.api)
	api[i] = c
	if err := d.saveAPISources(api); err != nil {
		d.srcs.mu.Unlock()
		return SourceInfo{}, err
	}
	d.srcs.api = api
	d.stopSourceLocked(c.Name)
	d.startSourceLocked(c)
	d.srcs.mu.Unlock()
	return d.sourceInfo(c.Name), nil
}

// RemoveSource stops protecting an API source. Its snapshots stay in the
// repository (retention no longer applies to them).
func (d *Daemon) RemoveSource(name string) error {
	if err := d.needsKey(); err != nil {
		return err
	}
	d.srcs.mu.Lock()
	defer d.srcs.mu.Unlock()
	i := slices.IndexFunc(d.srcs.api, func(s SourceConfig) bool { return s.Name == name })
	if i < 0 {
		return d.notAPISource(name)
	}
	api := slices.Delete(slices.Clone(d.srcs.api), i, i+1)
	if err := d.saveAPISources(api); err != nil {
		return err
	}
	d.srcs.api = api
	d.stopSourceLocked(name)
	return nil
}

func (d *Daemon) notAPISource(name string) error {
	if slices.ContainsFunc(d.Config.Sources, func(s SourceConfig) bool { return s.Name == name }) {
		return fmt.Errorf("%w: %q is defined in the config file; change it there and restart shoeboxd", ErrBadSource, name)
	}
	return fmt.Errorf("%w %q", ErrNoSource, name)
}

func (d *Daemon) sourceInfo(name string) SourceInfo {
	for _, s := range d.Sources() {
		if s.Name == name {
			return s
		}
	}
	return SourceInfo{}
}

func (d *Daemon) startSourceLocked(c SourceConfig) {
	ctx, cancel := context.WithCancel(d.runCtx)
	src := newSource(d, c)
	d.sources[c.Name] = src
	done := d.sup.Add(ctx, "source "+c.Name, src)
	d.srcs.stops[c.Name] = func() { cancel(); <-done }
}

// stopSourceLocked stops an API source's service and waits for it to
// return, with the backup it may be running: a source removed and added
// again, or updated, never has two backups at once.
func (d *Daemon) stopSourceLocked(name string) {
	if stop := d.srcs.stops[name]; stop != nil {
		stop()
	}
	delete(d.srcs.stops, name)
	delete(d.sources, name)
}

func (d *Daemon) saveAPISources(api []SourceConfig) error {
	b, err := json.MarshalIndent(api, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(d.statePath(apiSourcesFile), b, 0o600)
}

// loadAPISources reads the API's sources at start.
func (d *Daemon) loadAPISources() error {
	b, err := os.ReadFile(d.statePath(apiSourcesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &d.srcs.api)
	}
	if err != nil {
		return fmt.Errorf("%s: %w (the sources added through the API; fix or remove the file)", d.statePath(apiSourcesFile), err)
	}
	return nil
}

// Capacity is the array's space and the growth forecast.
type Capacity struct {
	Total, Used, Free int64
	// DaysUntilFull is -1 when usage is not growing or not yet known.
	DaysUntilFull float64
}

// Capacity reports the usable space; ok is false without an array.
func (d *Daemon) Capacity() (Capacity, bool) {
	if d.Array == nil {
		return Capacity{}, false
	}
	used, free, err := maint.ArrayUsage(d.Array, d.layout())(context.Background())
	if err != nil {
		return Capacity{}, false
	}
	c := Capacity{Total: used + free, Used: used, Free: free, DaysUntilFull: -1}
	if l, err := maint.LoadUsageLog(d.statePath("usage.json")); err == nil {
		if days, ok := maint.Forecast(l.Samples, free, time.Now()); ok {
			c.DaysUntilFull = days
		}
	}
	return c, true
}

// DiskHealth is a disk's latest SMART verdict.
type DiskHealth struct {
	State       string
	Reasons     []string
	Temperature int
}

// DiskHealth returns the latest verdict for an array member, matched by
// serial number or WWN; UNKNOWN when the disk has no SMART data (a
// folder, a virtual disk) or polling is off.
func (d *Daemon) DiskHealth(m raid.DiskStatus) DiskHealth {
	if d.poller != nil {
		for _, st := range d.poller.Last() {
			r := st.Record
			if r == nil || (m.Serial == "" || r.Serial != m.Serial) && (m.WWN == "" || r.WWN != m.WWN) {
				continue
			}
			// The action sentence ends the list: the phone shows it
			// as the last line (the API has no field of its own for it).
			why := st.Verdict.Reasons
			if st.Verdict.Action != "" {
				why = append(slices.Clip(why), st.Verdict.Action)
			}
			return DiskHealth{State: string(st.Verdict.State), Reasons: why, Temperature: r.Temperature}
		}
	}
	return DiskHealth{State: string(smart.Unknown), Reasons: []string{"no SMART data for this disk (a folder or virtual disk, or SMART polling is off)"}}
}

// HealthSample is one point of a disk's health history.
type HealthSample struct {
	Time                              time.Time
	State                             string
	Temperature                       int
	Reallocated, Pending, MediaErrors int64
}

// DiskHistory returns the health history of a disk (by array disk ID,
// serial, WWN or device path): empty for an array member without SMART
// data (a folder, a virtual disk), ErrNoDisk for a disk the box does not
// know.
func (d *Daemon) DiskHistory(ref string) ([]HealthSample, error) {
	member := false
	if d.Array != nil {
		for _, m := range d.Array.Status().Disks {
			if m.DiskID == ref || m.Serial != "" && m.Serial == ref || m.WWN != "" && m.WWN == ref || m.Path == ref {
				member = true
				if m.Serial != "" {
					ref = m.Serial
				}
			}
		}
	}
	h, err := smart.OpenHistory(d.statePath("smart"))
	if err != nil {
		return nil, err
	}
	dh, err := h.Find(ref)
	if err != nil {
		if member {
			return []HealthSample{}, nil // no SMART data recorded for it (yet)
		}
		return nil, fmt.Errorf("%w %q: %v", ErrNoDisk, ref, err)
	}
	var out []HealthSample
	for _, s := range dh.Samples {
		out = append(out, HealthSample{Time: s.Time, State: string(s.State), Temperature: s.Temperature,
			Reallocated: int64(s.Counters["5"]), Pending: int64(s.Counters["197"]), MediaErrors: int64(s.Counters["nvme_media_errors"])})
	}
	return out, nil
}

// Cards returns every card's safe-to-format verdict.
func (d *Daemon) Cards(ctx context.Context) ([]cards.Verdict, error) {
	if d.cards == nil {
		return nil, nil
	}
	return d.cards.verdicts(ctx)
}

// CardLedger returns a card's ingest ledger and its verdict now.
func (d *Daemon) CardLedger(ctx context.Context, id string) (*cards.Ledger, cards.Verdict, error) {
	if d.cards == nil {
		return nil, cards.Verdict{}, fmt.Errorf("%w: card ingest is off (cards.library)", cards.ErrNoLedger)
	}
	l, err := cards.Load(d.cards.cfg, id)
	if err != nil {
		return nil, cards.Verdict{}, err
	}
	return l, l.Verdict(ctx, d.cards.roots()[id], d.cards), nil
}

// OpenRestoreRoot opens the folder API restores go into (STATE/restores,
// made on first use) as an os.Root: the gateway creates and checks every
// restore target through it, so that no path and no link a restore made
// leads outside. The caller closes it.
func (d *Daemon) OpenRestoreRoot() (*os.Root, error) {
	dir := d.statePath("restores")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("the restore folder: %w", err)
	}
	return os.OpenRoot(dir)
}

// adminOp runs an array operation in the background as an Operation.
func (d *Daemon) adminOp(kind, subject string, fn func(ctx context.Context, progress func(done, total int)) (*raid.ScrubReport, error)) error {
	if d.Array == nil {
		return errNoArray
	}
	op := d.StartOperation(kind, "", subject)
	err := d.sup.Go(d.runCtx, kind+" "+subject, func(ctx context.Context) {
		rep, err := fn(ctx, func(done, total int) { op.Update(int64(done), int64(total), 0, 0) })
		op.Done(err)
		if err != nil {
			d.Bus.Raise("scrub", kind+"/"+subject, Warning, "Array "+kind+" failed", err.Error())
			return
		}
		d.Logger.Info("array operation finished", "kind", kind, "subject", subject, "repaired", rep.Repaired, "errors", rep.ErrorsFound)
	})
	if err != nil {
		op.Done(err)
	}
	return err
}

// StartScrub starts a scrub now (verify every shard, repair from
// redundancy) through the scheduled scrub's service: the same rate limit,
// state, alerts and metrics, and the next scheduled one counts from it.
func (d *Daemon) StartScrub() error {
	if d.scrub == nil {
		return errNoArray
	}
	return d.sup.Go(d.runCtx, "scrub (by hand)", func(ctx context.Context) {
		if _, err := d.scrub.Run(ctx); err != nil {
			d.Bus.Raise("scrub", "scrub/array", Warning, "Array scrub failed", err.Error())
		}
	})
}

// StartReplace replaces disk ref by the empty folder or mount point
// newPath, which CheckDiskPath must accept: nothing is changed otherwise.
func (d *Daemon) StartReplace(ref, newPath string) error {
	if err := d.Config.CheckDiskPath(newPath); err != nil {
		return err
	}
	return d.adminOp("rebuild", ref, func(ctx context.Context, progress func(done, total int)) (*raid.ScrubReport, error) {
		return d.Array.Replace(ctx, ref, newPath, progress)
	})
}

// StartEvacuate moves every shard off disk ref.
func (d *Daemon) StartEvacuate(ref string) error {
	return d.adminOp("evacuate", ref, func(ctx context.Context, progress func(done, total int)) (*raid.ScrubReport, error) {
		return d.Array.Evacuate(ctx, ref, false, progress)
	})
}

// APIEnv is what the gateway needs from the daemon's HTTPS listener.
type APIEnv struct {
	// CertDER is the box's certificate (its key pin goes into pairing links).
	CertDER []byte
	// LocalToken is the local API token (state directory, api-token):
	// the CLI on the box authenticates with it, from loopback only.
	LocalToken string
	// Dir is the gateway's state directory (STATE/gateway).
	Dir string
}

// APIFunc builds the API handler served on the daemon's HTTPS port for
// every path but /healthz and /metrics, and a service to supervise.
type APIFunc func(d *Daemon, env APIEnv) (http.Handler, Service, error)

// Drills returns the restore drills' results, oldest first, each with
// the space of the snapshot it restored (looked up for results recorded
// before drills noted it; "" when the snapshot is gone or has none).
func (d *Daemon) Drills(ctx context.Context) ([]maint.DrillResult, error) {
	if err := d.needsKey(); err != nil {
		return nil, err
	}
	h, err := maint.History(d.statePath("drills.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var spaces map[string]string // snapshot ID -> space, listed once when needed
	for i := range h {
		if h[i].Space != "" {
			continue
		}
		if spaces == nil {
			snaps, err := d.Repo.Snapshots(ctx)
			if err != nil {
				return nil, err
			}
			spaces = map[string]string{}
			for _, sn := range snaps {
				spaces[sn.ID().String()] = SpaceOf(sn)
			}
		}
		h[i].Space = spaces[h[i].Snapshot]
	}
	return h, nil
}

// layout is the array layout the config asks for.
func (d *Daemon) layout() raid.Layout {
	if d.Config.Disks.Mirror {
		return raid.Mirror(len(d.Config.Disks.Members))
	}
	return raid.Layout{Data: d.Config.Disks.Data, Parity: d.Config.Disks.Parity}
}

// ListenAddr is the HTTPS listener's address once it listens, else the
// configured one.
func (d *Daemon) ListenAddr() string {
	if a := d.listenAddr.Load(); a != nil {
		return a.(string)
	}
	return d.Config.Listen
}

// PublicURLAdvice is what /healthz and the start log say when public_url
// is unset.
const PublicURLAdvice = "pairing and share links use the address each request named, which a phone away from home may not reach; set public_url (docs/DAEMON.md)"

// PublicURL is how phones reach the box: public_url, or https://HOST:PORT.
func (d *Daemon) PublicURL() string {
	if d.Config.PublicURL != "" {
		return strings.TrimRight(d.Config.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(d.Config.Listen)
	if err != nil {
		return "https://" + d.Config.Listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host, _ = os.Hostname()
	}
	if a := d.listenAddr.Load(); a != nil {
		_, port, _ = net.SplitHostPort(a.(string))
	}
	return "https://" + net.JoinHostPort(host, port)
}

// SourceInbox is the folder where phone uploads for a source land: the
// source's own folder, so that a continuous source backs them up within
// seconds.
func (d *Daemon) SourceInbox(name string) (string, error) {
	if err := d.needsKey(); err != nil {
		return "", err
	}
	s := d.source(name)
	if s == nil {
		return "", fmt.Errorf("%w %q: uploads go into a source's folder; list them with GET /v1/sources", ErrNoSource, name)
	}
	return s.cfg.Path, nil
}

// HoldsFile says whether the box already holds a file with this SHA-256
// in a backed-up card's library copy (a phone need not upload a photo
// the photographer already brought in on the card). The index is rebuilt
// from the ledgers at most once a minute.
func (d *Daemon) HoldsFile(sum [32]byte) bool {
	if d.cards == nil {
		return false
	}
	return d.cards.holds(hex.EncodeToString(sum[:]))
}

// cardHashes is the card watcher's index of ingested files by SHA-256.
type cardHashes struct {
	mu    sync.Mutex
	built time.Time
	set   map[string]bool
}

func (c *cardWatcher) holds(sum string) bool {
	h := &c.hashes
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.built) > time.Minute {
		set := map[string]bool{}
		if ls, err := cards.List(c.cfg); err == nil {
			for _, l := range ls {
				for _, f := range l.Files {
					if f.Verified && f.Snapshot != "" {
						set[f.SHA256] = true
					}
				}
			}
		}
		h.set, h.built = set, time.Now()
	}
	return h.set[sum]
}
