package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// Source is one protected folder: watched continuously or backed up on a
// schedule, with its retention applied after each backup.
type Source struct {
	d   *Daemon
	cfg SourceConfig

	mu          sync.Mutex
	lastOK      time.Time // last successful backup; zero when never
	watchFrom   time.Time // stalls count from the last success, or from when the source started
	lastErr     error
	lastSnap    string
	running     bool
	progress    vault.Progress
	trigger     chan struct{}
	expectEvery time.Duration
}

// SourceTag marks a snapshot with the source (space) it belongs to:
// "source:NAME".
const SourceTag = "source:"

// SpaceOf returns the space (source name) a snapshot belongs to; "" for
// snapshots made outside any source (CLI backups, the card library):
// box-wide, owner and admin only.
func SpaceOf(sn *vault.Snapshot) string {
	for _, t := range sn.Tags {
		if name, ok := strings.CutPrefix(t, SourceTag); ok {
			return name
		}
	}
	return ""
}

// SourceStatus is a source as the API shows it.
type SourceStatus struct {
	Name        string         `json:"name"`
	Path        string         `json:"path"`
	Mode        string         `json:"mode"`
	Schedule    string         `json:"schedule,omitempty"`
	LastSuccess *time.Time     `json:"last_success,omitempty"`
	LastError   string         `json:"last_error,omitempty"`
	LastSnap    string         `json:"last_snapshot,omitempty"`
	Running     bool           `json:"running"`
	Progress    vault.Progress `json:"progress"`
}

func newSource(d *Daemon, c SourceConfig) *Source {
	s := &Source{d: d, cfg: c, trigger: make(chan struct{}, 1), watchFrom: time.Now()}
	s.expectEvery = time.Duration(c.ExpectEvery)
	if s.expectEvery == 0 {
		s.expectEvery = 24 * time.Hour
		if c.Mode == "scheduled" {
			if sch, err := ParseSchedule(c.Schedule); err == nil {
				now := time.Now()
				s.expectEvery = 2 * sch.Next(sch.Next(now)).Sub(sch.Next(now))
			}
		}
	}
	// The last success survives restarts (state/sources/NAME).
	if b, err := os.ReadFile(d.statePath("sources", c.Name)); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
			s.lastOK = t
		}
	}
	return s
}

// Status reports the source.
func (s *Source) Status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SourceStatus{Name: s.cfg.Name, Path: s.cfg.Path, Mode: s.cfg.Mode, Schedule: s.cfg.Schedule,
		LastSnap: s.lastSnap, Running: s.running, Progress: s.progress}
	if !s.lastOK.IsZero() {
		t := s.lastOK
		st.LastSuccess = &t
	}
	if s.lastErr != nil {
		st.LastError = s.d.HidePaths(s.lastErr.Error())
	}
	return st
}

// Trigger asks for a backup now ("run now").
func (s *Source) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Serve runs the source until ctx ends. A new source's folder is made
// if missing; once the source has been backed up, a missing folder (moved,
// deleted, its disk not mounted) is an alarm and is never made again: an
// empty folder backed up would look like success, and keep rules would
// then push the real snapshots out.
func (s *Source) Serve(ctx context.Context) error {
	s.mu.Lock()
	never := s.lastOK.IsZero()
	s.mu.Unlock()
	if never {
		if err := os.MkdirAll(s.cfg.Path, 0o755); err != nil {
			return fmt.Errorf("source %s: %w", s.cfg.Name, err)
		}
	}
	if s.cfg.Mode == "scheduled" {
		return s.serveScheduled(ctx)
	}
	return s.serveContinuous(ctx)
}

func (s *Source) serveScheduled(ctx context.Context) error {
	sch, err := ParseSchedule(s.cfg.Schedule)
	if err != nil {
		return err
	}
	for {
		next := sch.Next(time.Now())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(next)):
		case <-s.trigger:
		}
		s.backup(ctx)
	}
}

// rescanEvery is how often a continuous source looks whether its folder
// is still the one it watches (tests shorten it).
var rescanEvery = time.Minute

// serveContinuous watches the folder tree and backs up a burst of changes
// once it has settled; a heartbeat backup every half of the expected
// interval proves the machinery works (and catches missed events).
//
// The folder may go away and come back (moved and moved back, a disk
// unmounted and mounted): the kernel drops the watch of a moved folder,
// and the watches below it follow it to its new place. So the source
// also watches the folder's parent for the folder's return, and looks
// every rescanEvery whether the folder is the one it watches; either way
// it watches the returned tree afresh and backs it up. While the folder
// is gone, backups fail and their alert stays open; it is resolved by the
// first backup that succeeds after the return.
func (s *Source) serveContinuous(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	root, parent := s.cfg.Path, filepath.Dir(s.cfg.Path)
	addTree := func(dir string) {
		filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				w.Add(p)
			}
			return nil
		})
	}
	var armed os.FileInfo // the folder watched now; nil while it is gone
	// arm watches the folder's tree afresh, and reports whether it is there.
	arm := func() bool {
		for _, p := range w.WatchList() {
			if p != parent {
				w.Remove(p) // after a move, these watch folders elsewhere
			}
		}
		armed = nil
		if fi, err := os.Stat(root); err == nil && fi.IsDir() {
			addTree(root)
			armed = fi
		}
		return armed != nil
	}
	w.Add(parent) // a parent that is gone is watched once the rescan finds it
	arm()
	settle := time.Duration(s.cfg.Settle)
	heartbeat := time.NewTicker(max(s.expectEvery/2, time.Minute))
	defer heartbeat.Stop()
	rescan := time.NewTicker(rescanEvery)
	defer rescan.Stop()
	var timer *time.Timer
	var fire <-chan time.Time
	s.backup(ctx) // catch up with what changed while the box was off
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watcher closed")
			}
			if ev.Name != root && !under(ev.Name, []string{root}) {
				continue // another entry of the parent folder
			}
			switch {
			case ev.Name == root && ev.Has(fsnotify.Create):
				arm() // the folder is back (moved back, made again)
			case ev.Name == root && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)):
				arm() // gone: the next backup fails and raises the alert
			case ev.Has(fsnotify.Create):
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					addTree(ev.Name)
				}
			}
			if timer == nil {
				timer = time.NewTimer(settle)
			} else {
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
				timer.Reset(settle)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watcher closed")
			}
			// An overflowing event queue loses events: back up everything.
			s.d.Logger.Warn("watch: "+err.Error(), "source", s.cfg.Name)
			s.Trigger()
		case <-fire:
			fire = nil
			s.backup(ctx)
		case <-s.trigger:
			s.backup(ctx)
		case <-heartbeat.C:
			s.backup(ctx)
		case <-rescan.C:
			w.Add(parent) // again, in case it was gone (a no-op when watched)
			fi, err := os.Stat(root)
			gone := err != nil && armed != nil
			if gone || err == nil && (armed == nil || !os.SameFile(fi, armed)) {
				// Gone, back, or another folder in its place, and no event
				// said so (an unmount, a missed event): watch it afresh and
				// back it up (or fail, and alert).
				arm()
				s.backup(ctx)
			}
		}
	}
}

// backup runs one backup of the source and applies its retention.
func (s *Source) backup(ctx context.Context) {
	d := s.d
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	start := time.Now()
	snap, err := s.run(ctx)
	if ctx.Err() != nil {
		return // shutting down: the snapshot was not written, nothing lost
	}
	d.Metrics.BackupDuration.WithLabelValues(s.cfg.Name).Observe(time.Since(start).Seconds())
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
	if err != nil {
		d.Metrics.BackupRuns.WithLabelValues(s.cfg.Name, "failed").Inc()
		d.Logger.Error("backup failed", "source", s.cfg.Name, "err", err)
		d.Bus.RaiseIn(s.cfg.Name, "backup-failed", "backup-failed/"+s.cfg.Name, Critical,
			fmt.Sprintf("Backup of %s failed", s.cfg.Name), err.Error())
		return
	}
	d.Metrics.BackupRuns.WithLabelValues(s.cfg.Name, "ok").Inc()
	sum := snap.Summary
	maint.LogDone(d.Logger, "backup", time.Since(start), "source", s.cfg.Name, "snapshot", snap.ID().Short(),
		"files", sum.FilesTotal, "files_new", sum.FilesNew, "files_changed", sum.FilesChanged,
		"bytes_total", sum.BytesTotal, "bytes_new", sum.BytesAdded, "bytes_stored", sum.BytesStored, "unreadable", len(sum.Errors))
	d.Metrics.BackupBytes.WithLabelValues(s.cfg.Name).Add(float64(sum.BytesAdded))
	d.Metrics.BackupFiles.WithLabelValues(s.cfg.Name).Add(float64(sum.FilesNew + sum.FilesChanged))
	now := time.Now()
	d.Metrics.LastSuccess.WithLabelValues(s.cfg.Name).Set(float64(now.Unix()))
	s.mu.Lock()
	s.lastOK, s.lastSnap = now, snap.ID().String()
	s.mu.Unlock()
	os.MkdirAll(d.statePath("sources"), 0o700)
	atomicfile.WriteFile(d.statePath("sources", s.cfg.Name), []byte(now.Format(time.RFC3339Nano)), 0o600)
	d.Bus.Resolve("backup-failed/"+s.cfg.Name, "a later backup succeeded")
	d.Bus.Resolve("backup-stalled/"+s.cfg.Name, "backups are running again")
	if len(sum.Errors) > 0 {
		d.Bus.RaiseIn(s.cfg.Name, "backup-incomplete", "backup-incomplete/"+s.cfg.Name, Warning,
			fmt.Sprintf("%d files of %s could not be read", len(sum.Errors), s.cfg.Name), sum.Errors[0])
	} else {
		d.Bus.Resolve("backup-incomplete/"+s.cfg.Name, "")
	}
	if l := sum.Leftovers; l != nil && len(l.Indexed) > 0 {
		d.Logger.Info("backup: indexed the packs an interrupted backup left; their data was not sent again", "source", s.cfg.Name, "packs", len(l.Indexed))
	}
	if l := sum.Leftovers; l != nil && len(l.Unreadable) > 0 {
		var names []string
		for name := range l.Unreadable {
			names = append(names, name)
		}
		sort.Strings(names)
		d.Logger.Warn("backup: packs whose header cannot be read stay unindexed; run `shoebox check --read-data`, then `shoebox prune` removes them",
			"source", s.cfg.Name, "packs", strings.Join(names, " "))
	}
	if sum.Unchanged {
		// No new snapshot: nothing new to lock or to weigh against the
		// keep rules.
		d.Logger.Info("backup: nothing changed since the last snapshot; no new snapshot", "source", s.cfg.Name, "snapshot", snap.ID().Short(),
			"files", sum.FilesTotal, "duration", sum.End.Sub(sum.Start).Round(time.Millisecond))
		return
	}
	if err := s.applyRetention(ctx, snap); errors.Is(err, raid.ErrReadersBusy) {
		// A shoebox command reads the array (a long restore or check):
		// nothing is wrong, retention runs after the next backup.
		d.Logger.Info("retention: postponed to the next backup while a shoebox command reads the array", "source", s.cfg.Name, "err", err)
	} else if err != nil {
		d.Logger.Error("retention", "source", s.cfg.Name, "err", err)
	}
	d.updateRepoMetrics(ctx)
}

func (s *Source) run(ctx context.Context) (snap *vault.Snapshot, err error) {
	op := s.d.StartOperation(OpBackup, s.cfg.Name, s.cfg.Name)
	defer func() { op.Done(err) }()
	// The folder was checked when the source was added; check it again:
	// it (or a folder on the way) may have been swapped for a link into
	// the state directory or /etc since. The vault's walker reads by path,
	// so a swap during the backup itself is not caught (docs/DAEMON.md).
	if err := s.d.Config.CheckSourcePath(s.cfg.Path); err != nil {
		s.d.Logger.Error("backup refused: the source's folder may not be read", "source", s.cfg.Name, "err", err)
		var pe *SourcePathError
		if errors.As(err, &pe) {
			return nil, errors.New(pe.Public())
		}
		return nil, err
	}
	if _, err := os.Stat(s.cfg.Path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the folder %s is gone (moved, deleted, or its disk not mounted): put it back, or remove the source; the box keeps looking for it and backs it up as soon as it is back", s.cfg.Path)
	}
	r := s.d.Repo
	l, err := r.Lock(ctx, false, "backup of "+s.cfg.Name)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	skip, heartbeat := s.cfg.skipUnchanged()
	return r.Backup(ctx, vault.BackupOptions{Paths: []string{s.cfg.Path}, Tags: append([]string{SourceTag + s.cfg.Name}, s.cfg.Tags...),
		SkipUnchanged: skip, Heartbeat: heartbeat,
		Progress: func(p vault.Progress) {
			op.Update(p.Files, p.TotalFiles, p.Bytes, p.TotalBytes)
			s.mu.Lock()
			s.progress = p
			s.mu.Unlock()
		}})
}

// applyRetention locks the new snapshot for LockDays and forgets this
// source's snapshots its keep rules do not want: nothing up to and
// including the contract's end date (Until), and never a snapshot still
// locked. Without keep rules nothing is forgotten, before or after Until:
// the box never deletes a client's photos on a date alone.
func (s *Source) applyRetention(ctx context.Context, snap *vault.Snapshot) error {
	rt := s.cfg.Retention
	r := s.d.Repo
	if rt.LockDays > 0 {
		if err := r.Hold(ctx, snap.ID(), time.Now().AddDate(0, 0, rt.LockDays)); err != nil {
			return fmt.Errorf("lock snapshot %s for %d days: %w", snap.ID().Short(), rt.LockDays, err)
		}
	}
	if keepAll(rt.Until, time.Now()) {
		return nil
	}
	p := vault.Policy{Last: rt.KeepLast, Hourly: rt.KeepHourly, Daily: rt.KeepDaily, Weekly: rt.KeepWeekly,
		Monthly: rt.KeepMonthly, Yearly: rt.KeepYearly}
	if p.Empty() {
		return nil
	}
	l, err := r.Lock(ctx, true, "retention of "+s.cfg.Name)
	if err != nil {
		return err // another job holds the repository; next time
	}
	defer l.Release()
	start := time.Now()
	decisions, err := r.ForgetMatching(ctx, vault.SnapshotFilter{Paths: []string{s.cfg.Path}, Tags: []string{SourceTag + s.cfg.Name}}, p, false)
	if err != nil {
		return err
	}
	removed := 0
	for _, dc := range decisions {
		if !dc.Keep {
			removed++
		}
	}
	if removed > 0 {
		maint.LogDone(s.d.Logger, "forget", time.Since(start), "source", s.cfg.Name, "removed", removed, "kept", len(decisions)-removed)
	}
	return nil
}

// keepAll reports whether a contract ending on until (2006-01-02, local
// time; "" for none) still keeps every snapshot at now: through the
// whole of its last day.
func keepAll(until string, now time.Time) bool {
	if until == "" {
		return false
	}
	day, err := time.ParseInLocation("2006-01-02", until, time.Local)
	return err != nil || now.Before(day.AddDate(0, 0, 1)) // unreadable: keep, to be safe
}

// checkStall raises "backup-stalled" when no backup succeeded within the
// expected interval.
func (s *Source) checkStall() {
	s.mu.Lock()
	last, running, never := s.lastOK, s.running, s.lastOK.IsZero()
	if never {
		last = s.watchFrom
	}
	s.mu.Unlock()
	if running || time.Since(last) <= s.expectEvery {
		return
	}
	what := fmt.Sprintf("The last successful backup of %s (%s) was at %s", s.cfg.Name, s.cfg.Path, last.Local().Format("2006-01-02 15:04"))
	if never {
		what = fmt.Sprintf("No backup of %s (%s) has succeeded since it has been watched (%s)", s.cfg.Name, s.cfg.Path, last.Local().Format("2006-01-02 15:04"))
	}
	s.d.Bus.RaiseIn(s.cfg.Name, "backup-stalled", "backup-stalled/"+s.cfg.Name, Critical,
		fmt.Sprintf("No backup of %s for %s", s.cfg.Name, time.Since(last).Round(time.Minute)),
		what+"; new photos there are not protected. Check `shoebox status` and the disks.")
}
