package raid

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/internal/blockdev"
	"github.com/shoebox/shoebox/store"
)

// ScrubOptions tune a scrub.
type ScrubOptions struct {
	// Repair rewrites bad or missing shards from parity.
	Repair bool
	// RateLimit caps the bytes read per second (0: no limit), so that
	// backups keep running while a scrub goes on.
	RateLimit int64
	// Progress, when set, is called after each object.
	Progress func(done, total int)
}

// ScrubReport is what a scrub found and did.
type ScrubReport struct {
	Objects       int           `json:"objects"`
	Shards        int           `json:"shards_checked"`
	BytesChecked  int64         `json:"bytes_checked"`
	ErrorsFound   int           `json:"errors_found"`
	Repaired      int           `json:"errors_repaired"`
	Degraded      []string      `json:"degraded,omitempty"`      // fewer shards than the layout, not repaired
	Unrecoverable []string      `json:"unrecoverable,omitempty"` // fewer than Data good shards
	Duration      time.Duration `json:"duration_ns"`
}

// Scrub reads every shard of every object, verifies it and, with Repair,
// rewrites what is bad or missing from the good shards.
func (a *Array) Scrub(ctx context.Context, opt ScrubOptions) (*ScrubReport, error) {
	if opt.Repair {
		if err := a.checkWritable(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	rep := &ScrubReport{}
	names := a.names()
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		a.mu.RLock()
		o := a.objects[name]
		var nshards int
		if o != nil {
			nshards = len(o.shards)
		}
		a.mu.RUnlock()
		if o == nil {
			continue
		}
		rep.Objects++
		data, bad, err := a.read(ctx, name, o, true)
		rep.Shards += nshards
		shardBytes := o.size / int64(o.layout.Data)
		rep.BytesChecked += shardBytes * int64(nshards)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return rep, err
			}
			rep.ErrorsFound++
			rep.Unrecoverable = append(rep.Unrecoverable, name)
			continue
		}
		rep.ErrorsFound += len(bad)
		if len(bad) > 0 {
			if opt.Repair {
				n := a.repair(ctx, name, o, data, bad)
				rep.Repaired += n
				if n < len(bad) {
					rep.Degraded = append(rep.Degraded, name)
				}
			} else {
				rep.Degraded = append(rep.Degraded, name)
			}
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(names))
		}
		if opt.RateLimit > 0 {
			want := time.Duration(float64(rep.BytesChecked) / float64(opt.RateLimit) * float64(time.Second))
			if d := want - time.Since(start); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return rep, ctx.Err()
				}
			}
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

func (a *Array) names() []string {
	a.mu.RLock()
	names := make([]string, 0, len(a.objects))
	for n := range a.objects {
		names = append(names, n)
	}
	a.mu.RUnlock()
	sort.Strings(names)
	return names
}

// Rebuild restores full redundancy: every object missing shards (on a
// failed, missing or removed disk, or never written in degraded mode) gets
// them rebuilt onto other disks, least redundant objects first. It is
// idempotent — the work left is computed from the shards on the disks —
// so an interrupted rebuild resumes where it stopped when run again.
func (a *Array) Rebuild(ctx context.Context, progress func(done, total int)) (*ScrubReport, error) {
	if err := a.checkWritable(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &ScrubReport{}
	type todo struct {
		name string
		o    *obj
		have int
	}
	var work []todo
	a.mu.RLock()
	for name, o := range a.objects {
		have := 0
		for _, l := range o.shards {
			if l.m.state == StateActive {
				have++
			}
		}
		if distinctIndexes(activeLocs(o.shards)) < o.layout.Shards() {
			work = append(work, todo{name, o, have})
		}
	}
	a.mu.RUnlock()
	sort.Slice(work, func(i, j int) bool {
		if work[i].have != work[j].have {
			return work[i].have < work[j].have
		}
		return work[i].name < work[j].name
	})
	for i, w := range work {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Objects++
		data, _, err := a.read(ctx, w.name, w.o, false)
		if err != nil {
			rep.Unrecoverable = append(rep.Unrecoverable, w.name)
			continue
		}
		a.mu.RLock()
		missing := missingIndexes(w.o)
		a.mu.RUnlock()
		rep.ErrorsFound += len(missing)
		n := a.repair(ctx, w.name, w.o, data, missing)
		rep.Repaired += n
		rep.BytesChecked += w.o.size
		if n < len(missing) {
			rep.Degraded = append(rep.Degraded, w.name)
		}
		if progress != nil {
			progress(i+1, len(work))
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

func activeLocs(ls []shardLoc) []shardLoc {
	var out []shardLoc
	for _, l := range ls {
		if l.m.state == StateActive {
			out = append(out, l)
		}
	}
	return out
}

// missingIndexes lists the shard indexes an object lacks on active disks.
func missingIndexes(o *obj) []int {
	have := map[int]bool{}
	for _, l := range o.shards {
		if l.m.state == StateActive {
			have[l.idx] = true
		}
	}
	var out []int
	for i := 0; i < o.layout.Shards(); i++ {
		if !have[i] {
			out = append(out, i)
		}
	}
	return out
}

// updateManifest applies change to a copy of the manifest, raises the
// generation and writes it to every present member (and extra paths).
func (a *Array) updateManifest(change func(m *Manifest), extra ...string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := *a.manifest
	m.Members = append([]MemberInfo(nil), a.manifest.Members...)
	change(&m)
	m.Generation++
	m.Updated = time.Now().UTC()
	paths := append([]string(nil), extra...)
	for _, mem := range a.members {
		paths = append(paths, mem.path)
	}
	if err := writeManifest(paths, &m); err != nil {
		return err
	}
	a.manifest = &m
	return nil
}

// findMember resolves a disk by path, disk ID (or prefix) or serial.
func (a *Array) findMember(ref string) (*MemberInfo, *member, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	abs, _ := filepath.Abs(ref)
	for i := range a.manifest.Members {
		mi := &a.manifest.Members[i]
		if mi.DiskID == ref || (len(ref) >= 6 && len(mi.DiskID) >= len(ref) && mi.DiskID[:len(ref)] == ref) ||
			(mi.Serial != "" && mi.Serial == ref) || mi.Path == ref || mi.Path == abs {
			for _, m := range a.members {
				if m.label.DiskID == mi.DiskID {
					return mi, m, nil
				}
			}
			return mi, nil, nil
		}
	}
	return nil, nil, fmt.Errorf("no disk %q in the array (see `shoebox raid status`)", ref)
}

// Add joins a new, empty disk to the array. New objects favour it (it has
// the most free space); Rebalance moves existing shards onto it.
func (a *Array) Add(path string) error {
	if err := a.checkWritable(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(path, labelFile)); err == nil {
		// A label of this array that the manifest does not list is what
		// an add interrupted before the manifest was written leaves: the
		// disk is taken again.
		l, _, _, _ := readLabel(path)
		a.mu.RLock()
		leftover := l != nil && l.ArrayID == a.manifest.ArrayID && a.manifest.member(l.DiskID) == nil
		a.mu.RUnlock()
		if !leftover {
			return fmt.Errorf("add %s: it already carries a Shoebox disk label; wipe it first", path)
		}
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("add %s: %w", path, err)
	}
	l, lb, err := newLabel(path, a.manifest.ArrayID, a.layout)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(path, labelFile), lb, 0o600); err != nil {
		return fmt.Errorf("add %s: %w", path, err)
	}
	st, err := store.OpenDir(filepath.Join(path, memberDir))
	if err != nil {
		return err
	}
	err = a.updateManifest(func(m *Manifest) {
		m.Members = append(m.Members, MemberInfo{DiskID: l.DiskID, State: StateActive, LabelHash: labelHash(lb),
			Serial: l.Serial, Path: path, Added: time.Now().UTC()})
	}, path)
	if err != nil {
		return err
	}
	dev, _ := blockdev.DeviceOf(path)
	a.mu.Lock()
	a.members = append(a.members, &member{path: path, label: l, state: StateActive, store: st, dev: dev, serial: a.driveKey(l)})
	a.mu.Unlock()
	return nil
}

// Replace marks a disk failed, adds its replacement and rebuilds the
// shards it held onto the new disk (and others).
func (a *Array) Replace(ctx context.Context, old, newPath string, progress func(done, total int)) (*ScrubReport, error) {
	mi, m, err := a.findMember(old)
	if err != nil {
		return nil, err
	}
	id := mi.DiskID
	if err := a.setState(id, m, StateFailed); err != nil {
		return nil, err
	}
	// A replace run again after an interruption may find the new disk
	// already added.
	if !a.attach(newPath) {
		if err := a.Add(newPath); err != nil {
			return nil, err
		}
	}
	return a.Rebuild(ctx, progress)
}

// attach makes path a present member if the manifest lists its label as
// an active member (a replace interrupted after its add, run again without
// the new disk among the array's paths), and reads the object map again to
// take in the shards already rebuilt onto it. It reports whether path is
// now a present active member.
func (a *Array) attach(path string) bool {
	l, lb, _, err := readLabel(path)
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	mi := a.manifest.member(l.DiskID)
	if l.ArrayID != a.manifest.ArrayID || mi == nil || mi.LabelHash != labelHash(lb) || mi.State != StateActive {
		return false
	}
	for _, m := range a.members {
		if m.label.DiskID == l.DiskID {
			return true
		}
	}
	st, err := store.OpenDir(filepath.Join(path, memberDir))
	if err != nil {
		return false
	}
	dev, _ := blockdev.DeviceOf(path)
	a.members = append(a.members, &member{path: path, label: l, state: StateActive, store: st, dev: dev, serial: a.driveKey(l)})
	var missing []MemberInfo
	for _, x := range a.missing {
		if x.DiskID != l.DiskID {
			missing = append(missing, x)
		}
	}
	a.missing = missing
	a.objects = map[string]*obj{}
	if err := a.scan(); err != nil {
		a.opt.Logger.Warn("raid: "+err.Error(), "disk", path)
	}
	return true
}

func (a *Array) setState(diskID string, m *member, state DiskState) error {
	err := a.updateManifest(func(man *Manifest) {
		if mi := man.member(diskID); mi != nil {
			mi.State = state
		}
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if m != nil {
		m.state = state
		if state == StateFailed {
			for i, x := range a.members {
				if x == m {
					a.members = append(a.members[:i], a.members[i+1:]...)
					break
				}
			}
			// Its shards no longer count.
			for _, o := range a.objects {
				var keep []shardLoc
				for _, l := range o.shards {
					if l.m != m {
						keep = append(keep, l)
					}
				}
				o.shards = keep
			}
		}
	}
	var missing []MemberInfo
	for _, x := range a.manifest.Members {
		if x.State == StateFailed {
			continue
		}
		present := false
		for _, pm := range a.members {
			if pm.label.DiskID == x.DiskID {
				present = true
			}
		}
		if !present {
			missing = append(missing, x)
		}
	}
	a.missing = missing
	return nil
}

// Evacuate moves every shard off a disk (marked draining, so it takes no
// new ones) onto other disks, keeping each object's shards on distinct
// disks: what to do when SMART says a disk is failing. With remove, the
// disk then leaves the array.
func (a *Array) Evacuate(ctx context.Context, ref string, remove bool, progress func(done, total int)) (*ScrubReport, error) {
	mi, m, err := a.findMember(ref)
	if err != nil {
		return nil, err
	}
	if err := a.setState(mi.DiskID, m, StateDraining); err != nil {
		return nil, err
	}
	// Shards on a draining disk do not count as redundancy: Rebuild
	// writes them elsewhere, then they are deleted from the disk.
	rep, err := a.Rebuild(ctx, progress)
	if err != nil {
		return rep, err
	}
	if m != nil {
		a.mu.Lock()
		for name, o := range a.objects {
			var keep []shardLoc
			for _, l := range o.shards {
				if l.m == m && distinctIndexes(activeLocs(o.shards)) >= o.layout.Shards() {
					if err := m.store.Delete(ctx, shardName(name, l.idx, l.seq)); err != nil && !errors.Is(err, store.ErrNotFound) {
						keep = append(keep, l)
					}
					continue
				}
				keep = append(keep, l)
			}
			o.shards = keep
		}
		a.mu.Unlock()
	}
	if len(rep.Degraded) > 0 || len(rep.Unrecoverable) > 0 {
		return rep, fmt.Errorf("evacuate %s: %d objects could not be moved (not enough space or disks); the disk keeps their shards", ref, len(rep.Degraded)+len(rep.Unrecoverable))
	}
	if remove {
		return rep, a.setState(mi.DiskID, m, StateFailed)
	}
	return rep, nil
}

// DiskStatus describes one member for `shoebox raid status`.
type DiskStatus struct {
	DiskID     string    `json:"disk_id"`
	Path       string    `json:"path"`
	Serial     string    `json:"serial,omitempty"`
	WWN        string    `json:"wwn,omitempty"`
	Model      string    `json:"model,omitempty"`
	State      DiskState `json:"state"`
	Present    bool      `json:"present"`
	Problem    string    `json:"problem,omitempty"`
	TotalBytes uint64    `json:"total_bytes,omitempty"`
	FreeBytes  uint64    `json:"free_bytes,omitempty"`
	Shards     int       `json:"shards"`
	// IOErrors and ChecksumErrors count failed shard reads on this disk
	// since the array opened; the disk health verdict uses them.
	IOErrors       uint64 `json:"io_errors"`
	ChecksumErrors uint64 `json:"checksum_errors"`
}

// Status is the array's health for `shoebox raid status` and the API.
type Status struct {
	ArrayID    string       `json:"array_id"`
	Layout     string       `json:"layout"`
	Generation uint64       `json:"generation"`
	State      ArrayState   `json:"state"`
	Objects    int          `json:"objects"`
	Degraded   int          `json:"degraded_objects"` // fewer shards than the layout
	Lost       int          `json:"lost_objects"`     // fewer than Data shards present
	Repaired   int64        `json:"shards_repaired"`
	ReadErrors int64        `json:"read_errors"`
	Disks      []DiskStatus `json:"disks"`
}

// Status reports members, missing disks and object redundancy.
func (a *Array) Status() *Status {
	a.mu.RLock()
	defer a.mu.RUnlock()
	st := &Status{ArrayID: a.manifest.ArrayID, Layout: a.layout.String(), Generation: a.manifest.Generation,
		Objects: len(a.objects), Repaired: a.repaired.Load(), ReadErrors: a.readErrors.Load(), State: ArrayHealthy}
	count := map[*member]int{}
	for _, o := range a.objects {
		n := distinctIndexes(activeLocs(o.shards))
		if n < o.layout.Shards() {
			st.Degraded++
		}
		if distinctIndexes(o.shards) < o.layout.Data {
			st.Lost++
		}
		for _, l := range o.shards {
			count[l.m]++
		}
	}
	for _, m := range a.members {
		d := DiskStatus{DiskID: m.label.DiskID, Path: m.path, Serial: m.label.Serial, WWN: m.label.WWN, Model: m.label.Model,
			State: m.state, Present: true, Shards: count[m], IOErrors: m.ioErrors.Load(), ChecksumErrors: m.checksumErrors.Load()}
		var fs syscall.Statfs_t
		if err := syscall.Statfs(m.path, &fs); err == nil {
			d.TotalBytes = fs.Blocks * uint64(fs.Bsize)
			d.FreeBytes = fs.Bavail * uint64(fs.Bsize)
		}
		m.checkMounted() // a disk that vanished or was unmounted since the last write
		m.mu.Lock()
		switch {
		case m.unmounted:
			d.Problem = "not mounted / vanished"
		case m.readOnly:
			d.Problem = "read-only"
		case m.full:
			d.Problem = "full"
		}
		m.mu.Unlock()
		st.Disks = append(st.Disks, d)
	}
	for _, mi := range a.missing {
		st.Disks = append(st.Disks, DiskStatus{DiskID: mi.DiskID, Path: mi.Path, Serial: mi.Serial, State: mi.State,
			Problem: "missing: pull or reconnect the disk with this serial, or replace it"})
	}
	if len(a.missing) > 0 || st.Degraded > 0 {
		st.State = ArrayDegraded
	}
	return st
}
