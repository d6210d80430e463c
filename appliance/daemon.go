package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/cluster"
	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/smart"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// Version is the build's version: `git describe` through -ldflags -X
// in the Makefile's build, "dev" otherwise.
var Version = "dev"

// Daemon is shoeboxd: it owns the array and the repository and runs the
// box's services under a supervisor.
type Daemon struct {
	Config  *Config
	Logger  *slog.Logger
	Bus     *Bus
	Metrics *Metrics
	// ops are the long operations in progress (Operations).
	ops *operations

	Array *raid.Array // nil when the repository is a plain folder
	// Store holds the repository's objects (the array, or the folder of
	// repository.path); on an offsite unit, the replica's.
	Store store.ObjectStore
	// Repo is the open repository; nil on an offsite unit, which holds
	// no key to open it (Config.Offsite).
	Repo *vault.Repository

	// API, when set (by cmd/shoeboxd), builds the gateway: the phone's
	// API on the daemon's HTTPS port. Without it the port serves only
	// /healthz and /metrics.
	API APIFunc

	sup        Supervisor
	sources    map[string]*Source // guarded by srcs.mu
	srcs       sourceSet
	runCtx     context.Context
	poller     *smart.Poller
	cards      *cardWatcher
	scrub      *maint.ScrubService // nil without an array
	notReady   atomic.Value        // string: why the box is not ready, "" when ready
	problems   sync.Map            // component → what is wrong with it (SetProblem)
	listenAddr atomic.Value        // string: the HTTPS listener's address once listening
	// identity and pairing are the unit's side of the pair
	// (cluster.go), set by open; clusterAddr is the offsite unit's
	// cluster listener's address once listening.
	identity    *devid.Identity
	pairing     *cluster.Pairing
	clusterAddr atomic.Value // string
	recovery    string       // recovery identity file written at first start
	hideOnce    sync.Once    // builds hider (HidePaths)
	hider       *strings.Replacer
	// discoverDisks lists the disks SMART polling reads (nil: the
	// machine's block devices); tests feed it recorded readings.
	discoverDisks func() ([]smart.Disk, error)
}

// Paths inside the state directory (docs/DAEMON.md).
func (d *Daemon) statePath(parts ...string) string {
	return filepath.Join(append([]string{d.Config.StateDir}, parts...)...)
}

// New prepares a daemon; Run starts it.
func New(cfg *Config, logger *slog.Logger) *Daemon {
	if logger == nil {
		logger = slog.Default()
	}
	d := &Daemon{Config: cfg, Logger: logger, Bus: NewBus(), Metrics: NewMetrics(), ops: newOperations(), sources: map[string]*Source{},
		srcs: sourceSet{stops: map[string]func(){}}}
	d.notReady.Store("starting")
	d.Bus.hide = d.HidePaths
	d.ops.hide = d.HidePaths
	d.sup = Supervisor{Bus: d.Bus, Logger: logger}
	d.Metrics.Registry.MustRegister(boxCollector{d})
	return d
}

// NotReady returns why the box is not ready, or "".
func (d *Daemon) NotReady() string { return d.notReady.Load().(string) }

// SetProblem records what is wrong with a component that keeps the box
// from working as it should (the gateway's audit log cannot be written),
// or, with msg "", that it is resolved. While any problem is set,
// /healthz answers 503 naming them. Safe for concurrent use.
func (d *Daemon) SetProblem(component, msg string) {
	if msg == "" {
		d.problems.Delete(component)
		return
	}
	d.problems.Store(component, msg)
}

// Problems returns the problems set, as "component: msg", sorted.
func (d *Daemon) Problems() []string {
	var out []string
	d.problems.Range(func(k, v any) bool {
		out = append(out, k.(string)+": "+v.(string))
		return true
	})
	slices.Sort(out)
	return out
}

// open opens (on first start: creates) the array and the repository.
// An offsite unit opens the array (or folder) only: it holds no
// passphrase, so it neither opens nor, on empty disks, makes a
// repository; its store stays as the replication leaves it.
func (d *Daemon) open(ctx context.Context) error {
	for _, dir := range []string{d.statePath(), d.statePath("smart"), d.statePath("cards"), d.statePath("tls")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
	}
	var passphrase string
	if !d.Config.Offsite() {
		pass, err := os.ReadFile(d.Config.Repository.PassphraseFile)
		if err != nil {
			return fmt.Errorf("repository passphrase: %w (set repository.passphrase_file)", err)
		}
		passphrase = strings.TrimRight(string(pass), "\r\n")
	}
	if err := d.openCluster(); err != nil {
		return err
	}
	if d.Config.Repository.Path != "" {
		dir, err := store.OpenDir(d.Config.Repository.Path)
		if err != nil {
			return err
		}
		d.Store = dir
	} else {
		a, err := d.openArray()
		if err != nil {
			return err
		}
		d.Array, d.Store = a, a
	}
	if d.Config.Offsite() {
		return nil
	}
	st := d.Store
	repo, err := vault.Open(ctx, st, passphrase)
	if errors.Is(err, vault.ErrNotRepository) {
		var recovery string
		repo, recovery, err = vault.Init(ctx, st, vault.InitOptions{Passphrase: passphrase})
		if err == nil {
			d.recovery = d.statePath("RECOVERY-IDENTITY.txt")
			text := "# Shoebox recovery identity: print this, keep it away from the box, then delete this file.\n# It opens the repository if the passphrase is lost: shoebox --identity-file FILE ...\n" + recovery + "\n"
			if werr := os.WriteFile(d.recovery, []byte(text), 0o600); werr != nil {
				return werr
			}
			d.Logger.Warn("created the repository; its recovery identity is in " + d.recovery + ": print it and delete the file")
		}
	}
	if err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	d.Repo = repo
	return nil
}

// openArray opens the configured array, creating it on empty disks.
func (d *Daemon) openArray() (*raid.Array, error) {
	dc := d.Config.Disks
	labelled := false
	for _, m := range dc.Members {
		if _, err := os.Stat(filepath.Join(m, "shoebox-disk.json")); err == nil {
			labelled = true
		}
	}
	if !labelled {
		layout := raid.Layout{Data: dc.Data, Parity: dc.Parity}
		if dc.Mirror {
			layout = raid.Mirror(len(dc.Members))
		}
		d.Logger.Info("first start: creating the disk array", "layout", layout.String(), "disks", dc.Members)
		return raid.Create(dc.Members, layout, raid.Options{AllowSameDrive: dc.AllowSameDrive, Logger: d.Logger})
	}
	return raid.OpenArray(dc.Members, raid.Options{Logger: d.Logger})
}

// Run starts everything and returns when ctx ends, after a graceful
// shutdown (docs/DESIGN.md, "The supervisor"): every service and task
// was started through d.sup; they are cancelled (a backup in flight
// stops without writing its snapshot: the repository stays consistent),
// then waited for (at most shutdownWait); then the API (the gateway) is
// closed, and the repository last, once nothing uses it.
func (d *Daemon) Run(ctx context.Context, started func(d *Daemon)) error {
	if err := d.open(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var api Service
	running := false
	defer func() {
		cancel()
		d.stop(api, running)
	}()
	d.runCtx = sctx
	if !d.Config.Offsite() { // an offsite unit has no repository to back up into
		d.updateRepoMetrics(ctx)
		if err := d.loadAPISources(); err != nil {
			return err
		}
		d.srcs.mu.Lock()
		for _, sc := range d.Config.Sources {
			src := newSource(d, sc)
			d.sources[sc.Name] = src
			d.sup.Add(sctx, "source "+sc.Name, src)
		}
		for _, sc := range d.srcs.api {
			d.startSourceLocked(sc)
		}
		d.srcs.mu.Unlock()
	}
	d.sup.Add(sctx, "stall-check", ServiceFunc(d.checkStalls))
	d.sup.Add(sctx, "notify", ServiceFunc(d.notify))
	d.addMaintenance(sctx)
	d.addJobs(sctx)
	if d.Config.Offsite() { // the home unit only dials; the service owns ln from here
		ln, err := d.listenCluster()
		if err != nil {
			return err
		}
		d.sup.Add(sctx, "cluster", &clusterListener{d: d, ln: ln})
	}
	srv, err := d.newServer()
	if srv != nil {
		api = srv.api
	}
	if err != nil {
		return err
	}
	d.sup.Add(sctx, "https", srv)
	if srv.api != nil {
		d.sup.Add(sctx, "api", srv.api)
	}
	d.notReady.Store("")
	start := []any{"version", Version, "https", d.ListenAddr()}
	if d.Config.ListenHTTP != "" {
		start = append(start, "http", d.Config.ListenHTTP)
	}
	if a := d.ClusterAddr(); a != "" {
		start = append(start, "cluster", a)
	}
	start = append(start, "device_id", d.identity.ID.String())
	d.Logger.Info("shoeboxd started", append(start, "role", d.Config.Role, "array", d.ArrayState(), "state", d.Config.StateDir)...)
	running = true
	if started != nil {
		started(d)
	}
	<-ctx.Done()
	return nil
}

// shutdownWait bounds how long Run waits for the services and tasks
// once cancelled.
const shutdownWait = 30 * time.Second

// stop ends what Run started, in order, once the services' ctx is
// cancelled: wait for every service and task of the supervisor, close
// the API (an io.Closer: the gateway's database and audit log), close
// the repository (on an offsite unit, its store). After shutdownWait it
// closes them anyway (as the process is about to exit). running: the
// daemon had started (it logs the stop then; a failed start was logged
// by the caller).
func (d *Daemon) stop(api Service, running bool) {
	stopping := time.Now()
	if running {
		d.Logger.Info("shoeboxd stopping")
	}
	d.notReady.Store("shutting down")
	done := make(chan struct{})
	go func() { d.sup.Wait(); close(done) }()
	t := time.NewTimer(shutdownWait)
	defer t.Stop()
	select {
	case <-done:
		if running {
			d.Logger.Info("shoeboxd stopped", "duration", time.Since(stopping).Round(time.Millisecond))
		}
	case <-t.C:
		d.Logger.Warn("services did not stop within 30 s; leaving (the repository stays consistent)", "duration", time.Since(stopping).Round(time.Millisecond))
	}
	if c, ok := api.(io.Closer); ok {
		if err := c.Close(); err != nil {
			d.Logger.Warn("closing the API", "err", err)
		}
	}
	if d.Repo != nil {
		d.Repo.Close() // and its store
	} else if c, ok := d.Store.(io.Closer); ok {
		c.Close()
	}
}

// ArrayState sums the array up for people: "healthy, 3 of 3 disks",
// "degraded, 2 of 3 disks"; "folder" for a repository in a plain folder.
func (d *Daemon) ArrayState() string {
	if d.Array == nil {
		return "folder"
	}
	st := d.Array.Status()
	present := 0
	for _, disk := range st.Disks {
		if disk.Present {
			present++
		}
	}
	return fmt.Sprintf("%s, %d of %d disks", st.State, present, len(st.Disks))
}

// checkStalls raises an alert for every source without a successful
// backup within its expected interval (silent failures are the classic
// disaster).
func (d *Daemon) checkStalls(ctx context.Context) error {
	t := time.NewTicker(stallCheckEvery)
	defer t.Stop()
	for {
		d.eachSource((*Source).checkStall)
		d.Metrics.AlertsOpen.Set(float64(len(d.Bus.List(false))))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// stallCheckEvery is how often sources are checked for stalls (tests
// shorten it).
var stallCheckEvery = 10 * time.Second
