package raid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/reedsolomon"
	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/internal/blockdev"
	"github.com/shoebox/shoebox/store"
)

// Options tune an array.
type Options struct {
	// HedgeDelay is how long a read waits for a data shard before it also
	// reads parity (a slow disk is worked around, not declared failed).
	// Default 400 ms.
	HedgeDelay time.Duration
	// Logger receives repairs and disk trouble. Default: slog.Default().
	Logger *slog.Logger
	// ReadOnly opens the array without taking its lock: nothing is
	// written, repaired or cleaned up. For reading an array that another
	// process (shoeboxd) has open. It takes the readers' lock shared
	// until Close, so that the owner removes nothing meanwhile
	// (ExcludeReaders), and sees the objects as they were when it opened.
	ReadOnly bool
	// AllowSameDrive (Create only) lets members share a physical drive
	// and still hold shards of one object: for demos and tests, where the
	// "disks" are directories on one drive.
	AllowSameDrive bool
}

// Array is a store.ObjectStore that spreads every object over member disks as
// Data+Parity shards on distinct disks (see docs/RAID.md). It is safe for
// concurrent use.
type Array struct {
	opt    Options
	layout Layout
	enc    reedsolomon.Encoder // nil for mirrors

	mu       sync.RWMutex
	manifest *Manifest
	members  []*member       // present members, in manifest order
	missing  []MemberInfo    // active or draining members that are not present
	objects  map[string]*obj // object name -> its shards
	seq      atomic.Uint64

	readOnly bool
	locks    []*os.File // flock'ed lock files, one per member
	// readers are the members' readers' locks (shoebox/.readers): held
	// shared by a read-only array, exclusive by its owner while it
	// removes objects (ExcludeReaders).
	readers  []*os.File
	excluded sync.Mutex

	repaired, readErrors atomic.Int64
	repairWG             sync.WaitGroup
	repairing            sync.Map // object names being repaired
}

var _ store.ObjectStore = (*Array)(nil)

// member is a present member disk.
type member struct {
	path   string
	label  *Label
	state  DiskState
	store  *store.Dir
	dev    uint64
	serial string

	mu        sync.Mutex
	full      bool   // a write failed for lack of space (cleared by a later success)
	fullFree  uint64 // free bytes when it did: the disk is tried again once more is free
	readOnly  bool
	unmounted bool

	// Errors seen on this disk since the array opened (health input).
	ioErrors, checksumErrors atomic.Uint64
}

func (m *member) String() string {
	s := m.path
	if m.serial != "" {
		s += " (serial " + m.serial + ")"
	}
	return s
}

// shardLoc is one shard of an object.
type shardLoc struct {
	m   *member
	idx int
	seq uint64
}

// obj is what the array knows of an object: its size and where the shards
// of its newest complete write are.
type obj struct {
	size    int64
	seq     uint64
	sum     uint64
	layout  Layout
	shards  []shardLoc // of seq
	modTime time.Time
}

// Create makes a new array on the given member directories (each the
// mount point of one disk) and opens it.
func Create(paths []string, layout Layout, opt Options) (*Array, error) {
	if err := layout.Validate(len(paths)); err != nil {
		return nil, err
	}
	arrayID := newID()
	now := time.Now().UTC()
	man := &Manifest{Version: 1, ArrayID: arrayID, Generation: 1, Layout: layout, Created: now, Updated: now,
		SameDrive: opt.AllowSameDrive}
	// Check every disk before writing anything: a refused create leaves
	// the disks as they were.
	labels := make([][]byte, len(paths))
	for i, p := range paths {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("create array: %w", err)
		}
		if _, err := os.Stat(filepath.Join(p, labelFile)); err == nil {
			l, _, _, _ := readLabel(p)
			id := "another array"
			if l != nil {
				id = "array " + l.ArrayID[:8]
			}
			return nil, fmt.Errorf("create array: %s already belongs to %s; use an empty disk, or `shoebox raid add` to join it", p, id)
		}
		l, lb, err := newLabel(p, arrayID, layout)
		if err != nil {
			return nil, err
		}
		labels[i] = lb
		man.Members = append(man.Members, MemberInfo{DiskID: l.DiskID, State: StateActive, LabelHash: labelHash(lb),
			Serial: l.Serial, Path: p, Added: now})
	}
	if n := distinctDrives(man.Members); n < layout.Shards() && !opt.AllowSameDrive {
		return nil, fmt.Errorf("create array: layout %s needs %d different drives, these paths are on %d (two members on one drive never hold shards of the same object)", layout, layout.Shards(), n)
	}
	for i, p := range paths {
		if err := atomicfile.WriteFile(filepath.Join(p, labelFile), labels[i], 0o600); err != nil {
			for _, q := range paths[:i] {
				os.Remove(filepath.Join(q, labelFile))
			}
			return nil, fmt.Errorf("create array: label %s: %w", p, err)
		}
	}
	if err := writeManifest(paths, man); err != nil {
		return nil, err
	}
	return OpenArray(paths, opt)
}

// driveKey is the identity placement keeps apart: the drive's serial, or
// nothing when the array allows members on one drive.
func (a *Array) driveKey(l *Label) string {
	if a.manifest.SameDrive {
		return ""
	}
	return l.Serial
}

// distinctDrives counts members on different physical drives (members of
// unknown identity count as distinct).
func distinctDrives(ms []MemberInfo) int {
	seen := map[string]bool{}
	n := 0
	for _, m := range ms {
		if m.State == StateFailed {
			continue
		}
		if m.Serial == "" || !seen[m.Serial] {
			n++
		}
		if m.Serial != "" {
			seen[m.Serial] = true
		}
	}
	return n
}

func newLabel(p, arrayID string, layout Layout) (*Label, []byte, error) {
	mp, _ := blockdev.IsMountPoint(p)
	id, _ := blockdev.DriveIdentity(p)
	serial := id.Serial
	if serial == "" {
		serial = id.WWN
	}
	l := &Label{Version: 1, ArrayID: arrayID, DiskID: newID(), Created: time.Now().UTC(), Layout: layout,
		Serial: serial, WWN: id.WWN, Model: id.Model, MountPoint: mp}
	lb, err := jsonIndent(l)
	return l, lb, err
}

// writeManifest writes the manifest to every path that holds a label.
func writeManifest(paths []string, m *Manifest) error {
	b, err := encodeManifest(m)
	if err != nil {
		return err
	}
	var errs []error
	ok := 0
	for _, p := range paths {
		if err := atomicfile.WriteFile(filepath.Join(p, manifestFile), b, 0o600); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		ok++
	}
	if ok == 0 {
		return fmt.Errorf("write array manifest: %w", errors.Join(errs...))
	}
	return nil
}

// OpenArray opens an array from any subset of its member directories.
// Disks are recognised by their labels, not by order or path. Labels the
// newest manifest does not list (a stray or replaced disk) and a second
// disk with the same label (a clone) are refused and reported.
func OpenArray(paths []string, opt Options) (*Array, error) {
	if opt.HedgeDelay == 0 {
		opt.HedgeDelay = 400 * time.Millisecond
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	type found struct {
		path string
		l    *Label
		lb   []byte
		m    *Manifest
	}
	var fs []found
	var problems []string
	for _, p := range paths {
		l, lb, m, err := readLabel(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				problems = append(problems, fmt.Sprintf("%s: no Shoebox disk label (not a member, or the disk is not mounted)", p))
				continue
			}
			problems = append(problems, err.Error())
			continue
		}
		fs = append(fs, found{p, l, lb, m})
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("open array: no member found: %s", strings.Join(problems, "; "))
	}
	// The array is the one most of the given disks belong to: a stray disk
	// of another array never decides, whatever its manifest's generation.
	votes := map[string]int{}
	arrayID := fs[0].l.ArrayID
	for _, f := range fs {
		votes[f.l.ArrayID]++
		if votes[f.l.ArrayID] > votes[arrayID] {
			arrayID = f.l.ArrayID
		}
	}
	var man *Manifest
	for _, f := range fs {
		if f.l.ArrayID == arrayID && f.m != nil && (man == nil || f.m.Generation > man.Generation) {
			man = f.m
		}
	}
	if man == nil {
		return nil, fmt.Errorf("open array: no valid array manifest on the %d disks of array %s", votes[arrayID], arrayID[:min(8, len(arrayID))])
	}
	a := &Array{opt: opt, layout: man.Layout, manifest: man, objects: map[string]*obj{}}
	if !a.layout.IsMirror() {
		enc, err := reedsolomon.New(a.layout.Data, a.layout.Parity)
		if err != nil {
			return nil, err
		}
		a.enc = enc
	}
	seen := map[string]string{}
	var present []string
	for _, f := range fs {
		if f.l.ArrayID != arrayID {
			problems = append(problems, fmt.Sprintf("%s belongs to another array (%s); ignored", f.path, f.l.ArrayID[:8]))
			continue
		}
		mi := man.member(f.l.DiskID)
		switch {
		case mi == nil || mi.LabelHash != labelHash(f.lb):
			problems = append(problems, fmt.Sprintf("%s: its label is not in the array manifest (a replaced or stray disk); refused", f.path))
			continue
		case seen[f.l.DiskID] != "":
			problems = append(problems, fmt.Sprintf("%s carries the same disk label as %s (a cloned disk, or one disk given twice); refused", f.path, seen[f.l.DiskID]))
			continue
		case mi.State == StateFailed:
			problems = append(problems, fmt.Sprintf("%s was marked failed; ignored (wipe it before reusing it)", f.path))
			continue
		}
		seen[f.l.DiskID] = f.path
		st, err := store.OpenDir(filepath.Join(f.path, memberDir))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.path, err))
			continue
		}
		dev, _ := blockdev.DeviceOf(f.path)
		a.members = append(a.members, &member{path: f.path, label: f.l, state: mi.State, store: st, dev: dev, serial: a.driveKey(f.l)})
		present = append(present, f.path)
		mi.Path = f.path
	}
	for _, mi := range man.Members {
		if mi.State != StateFailed && seen[mi.DiskID] == "" {
			a.missing = append(a.missing, mi)
		}
	}
	for _, p := range problems {
		opt.Logger.Warn("raid: " + p)
	}
	if len(a.members) == 0 {
		return nil, fmt.Errorf("open array: no usable member: %s", strings.Join(problems, "; "))
	}
	a.readOnly = opt.ReadOnly
	if a.readOnly {
		if err := a.shareReaders(); err != nil {
			return nil, err
		}
	} else {
		if err := a.lock(); err != nil {
			return nil, err
		}
		// Heal stale manifest copies.
		if err := writeManifest(present, man); err != nil {
			opt.Logger.Warn("raid: " + err.Error())
		}
	}
	if err := a.scan(); err != nil {
		return nil, err
	}
	// Write sequences only grow, also when the clock went back since the
	// newest write on the disks.
	a.seq.Store(max(a.seq.Load(), uint64(time.Now().UnixNano())))
	return a, nil
}

// scan reads every shard header on every member and builds the object
// map, then deletes leftovers: shards of writes that a newer complete
// write replaced (an interrupted overwrite or delete), and shards older
// than a tombstone (an object deleted while their disk was missing).
func (a *Array) scan() error {
	type hit struct {
		h   *shardHeader
		loc shardLoc
		mod time.Time
	}
	type tombFile struct {
		m    *member
		file string
	}
	var mu sync.Mutex
	byName := map[string][]hit{}
	unreadable := map[string]bool{} // objects with a shard whose header is damaged
	tombs := map[string]uint64{}    // object name -> newest tombstone
	var tombFiles []tombFile
	var wg sync.WaitGroup
	errs := make([]error, len(a.members))
	for i, m := range a.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.store.List(context.Background(), tombDir, func(fi store.ObjectInfo) error {
				if name, seq, ok := parseTombName(fi.Name); ok {
					mu.Lock()
					tombs[name] = max(tombs[name], seq)
					tombFiles = append(tombFiles, tombFile{m, fi.Name})
					mu.Unlock()
				}
				return nil
			})
			if errs[i] != nil {
				return
			}
			errs[i] = m.store.List(context.Background(), "shards/", func(fi store.ObjectInfo) error {
				name, idx, seq, ok := parseShardName(fi.Name)
				if !ok {
					return nil
				}
				h, err := readShardHeader(m, fi.Name)
				if err != nil || h.Name != name || h.Index != idx || h.Seq != seq {
					a.opt.Logger.Warn("raid: unreadable shard", "disk", m.path, "shard", fi.Name, "err", err)
					mu.Lock()
					unreadable[name] = true
					mu.Unlock()
					return nil
				}
				mu.Lock()
				byName[name] = append(byName[name], hit{h, shardLoc{m, idx, h.Seq}, fi.ModTime})
				mu.Unlock()
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("open array: scan %s: %w", a.members[i].path, err)
		}
	}
	maxSeq := uint64(0)
	for _, t := range tombs {
		maxSeq = max(maxSeq, t)
	}
	stale := map[string][]shardLoc{}
	for name, hits := range byName {
		// Group by write; the newest write with enough distinct shards wins.
		groups := map[uint64][]hit{}
		locs := map[uint64][]shardLoc{}
		for _, h := range hits {
			maxSeq = max(maxSeq, h.h.Seq)
			if h.h.Seq < tombs[name] {
				stale[name] = append(stale[name], h.loc) // deleted
				continue
			}
			groups[h.h.Seq] = append(groups[h.h.Seq], h)
			locs[h.h.Seq] = append(locs[h.h.Seq], h.loc)
		}
		if len(groups) == 0 {
			continue
		}
		seqs := make([]uint64, 0, len(groups))
		for s := range groups {
			seqs = append(seqs, s)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] > seqs[j] })
		win := seqs[0]
		for _, s := range seqs {
			if distinctIndexes(locs[s]) >= groups[s][0].h.Layout.Data {
				win = s
				break
			}
		}
		g := groups[win]
		complete := distinctIndexes(locs[win]) >= g[0].h.Layout.Data
		if !complete && len(a.missing) == 0 && !unreadable[name] {
			// With every member present and every shard header
			// readable, fewer than Data shards of every write are
			// leftovers of an interrupted first put or delete: the
			// object does not exist.
			for _, h := range hits {
				if h.h.Seq >= tombs[name] {
					stale[name] = append(stale[name], h.loc)
				}
			}
			continue
		}
		o := &obj{size: g[0].h.ObjSize, seq: win, sum: g[0].h.ObjSum, layout: g[0].h.Layout, modTime: g[0].mod}
		for _, h := range g {
			o.shards = append(o.shards, h.loc)
		}
		if complete {
			// Older writes are leftovers once a newer one is complete;
			// newer incomplete writes (an interrupted put) too.
			for s, hs := range groups {
				if s != win {
					for _, h := range hs {
						stale[name] = append(stale[name], h.loc)
					}
				}
			}
		}
		a.objects[name] = o
	}
	a.seq.Store(max(a.seq.Load(), maxSeq))
	if a.readOnly {
		return nil // another process owns the array: leave its files alone
	}
	// Remove leftovers of interrupted writes and deleted objects.
	kept := map[string]bool{}
	for name, ls := range stale {
		for _, l := range ls {
			if err := l.m.store.Delete(context.Background(), shardName(name, l.idx, l.seq)); err != nil && !errors.Is(err, store.ErrNotFound) {
				a.opt.Logger.Warn("raid: cannot remove leftover shard", "disk", l.m.path, "object", name, "err", err)
				kept[name] = true
			}
		}
	}
	// With every member present, no shard a tombstone hides is left.
	if len(a.missing) == 0 {
		for _, f := range tombFiles {
			name, _, _ := parseTombName(f.file)
			if !kept[name] {
				f.m.store.Delete(context.Background(), f.file)
			}
		}
	}
	return nil
}

// tombDir holds tombstones: empty objects named after a deleted object and
// the write sequence of the delete, written to the present members when an
// object is deleted while members are missing. Shards of older writes are
// deleted when a member holding them comes back.
const tombDir = "tombs/"

func tombName(name string, seq uint64) string {
	return fmt.Sprintf("%s%s.%016x", tombDir, name, seq)
}

func parseTombName(s string) (string, uint64, bool) {
	s, ok := strings.CutPrefix(s, tombDir)
	i := strings.LastIndexByte(s, '.')
	if !ok || i <= 0 || len(s)-i-1 != 16 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(s[i+1:], 16, 64)
	if err != nil || fmt.Sprintf("%016x", seq) != s[i+1:] {
		return "", 0, false
	}
	return s[:i], seq, true
}

// distinctIndexes counts the different shard indexes among locations.
func distinctIndexes(ls []shardLoc) int {
	seen := map[int]bool{}
	for _, l := range ls {
		seen[l.idx] = true
	}
	return len(seen)
}

func readShardHeader(m *member, name string) (*shardHeader, error) {
	o, err := m.store.Open(context.Background(), name)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	buf := make([]byte, min(o.Size(), shardFixed+maxNameLen+4))
	if n, err := o.ReadAt(buf, 0); err != nil && !(err == io.EOF && n == len(buf)) {
		return nil, err
	}
	h, _, err := parseShardHeader(buf)
	return h, err
}

// lock takes an exclusive lock on every member (shoebox/.lock), so that
// two processes never write, repair or clean up one array at once.
func (a *Array) lock() error {
	for _, m := range a.members {
		f, err := os.OpenFile(filepath.Join(m.path, memberDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			a.unlock()
			return fmt.Errorf("open array: lock %s: %w", m.path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			a.unlock()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return fmt.Errorf("%w: %s is open in another process (shoeboxd?); use the CLI through the daemon, or open the array read-only", ErrArrayBusy, m.path)
			}
			return fmt.Errorf("open array: lock %s: %w", m.path, err)
		}
		a.locks = append(a.locks, f)
	}
	a.openReaders()
	return nil
}

func (a *Array) unlock() {
	for _, f := range append(a.locks, a.readers...) {
		f.Close()
	}
	a.locks, a.readers = nil, nil
}

// readersLock is the file, in every member's shoebox folder, that
// processes reading an array its owner has open flock shared, and the
// owner exclusive while it removes objects.
const readersLock = ".readers"

// openReaders opens every member's readers' lock, creating it if it can
// (a member where it can be neither opened nor made is left out: nothing
// else is written there either).
func (a *Array) openReaders() {
	for _, m := range a.members {
		p := filepath.Join(m.path, memberDir, readersLock)
		f, err := os.OpenFile(p, os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			f, err = os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o600)
		}
		if err != nil {
			a.opt.Logger.Warn("raid: readers' lock", "disk", m.path, "err", err)
			continue
		}
		a.readers = append(a.readers, f)
	}
}

// shareReaders takes the readers' lock shared on every member, waiting
// while the owner removes objects (a forget or prune takes seconds).
func (a *Array) shareReaders() error {
	a.openReaders()
	for _, f := range a.readers {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			a.opt.Logger.Info("raid: waiting for the process that owns the array (shoeboxd) to finish removing snapshots or data")
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
		}
		if err != nil {
			a.unlock()
			return fmt.Errorf("open array: readers' lock %s: %w", f.Name(), err)
		}
	}
	return nil
}

// ExcludeReaders takes the readers' lock exclusive on every member, so
// that no process reading the array (opened ReadOnly beside its owner)
// sees objects vanish: the owner calls it before it removes snapshots or
// data, and release when done. While another process reads, it tries
// again every 100 ms until ctx ends, then fails with ErrReadersBusy:
// removing can wait, reading cannot.
func (a *Array) ExcludeReaders(ctx context.Context) (release func(), err error) {
	if a.readOnly {
		return nil, a.checkWritable()
	}
	if !a.excluded.TryLock() {
		// flock does not exclude within one process: this does.
		return nil, errors.New("another operation of this process is removing objects")
	}
	unlock := func(n int) {
		for _, f := range a.readers[:n] {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		busy := false
		for i, f := range a.readers {
			err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if errors.Is(err, syscall.EWOULDBLOCK) {
				unlock(i)
				busy = true
				break
			}
			if err != nil {
				unlock(i)
				a.excluded.Unlock()
				return nil, fmt.Errorf("readers' lock %s: %w", f.Name(), err)
			}
		}
		if !busy {
			return func() { unlock(len(a.readers)); a.excluded.Unlock() }, nil
		}
		select {
		case <-ctx.Done():
			a.excluded.Unlock()
			return nil, fmt.Errorf("%w (a shoebox command run on the box: ls, restore, check …)", ErrReadersBusy)
		case <-tick.C:
		}
	}
}

// ReadOnly reports whether the array was opened ReadOnly.
func (a *Array) ReadOnly() bool { return a.readOnly }

// checkWritable refuses writes to a read-only array.
func (a *Array) checkWritable() error {
	if a.readOnly {
		return fmt.Errorf("%w (another process owns it)", ErrReadOnly)
	}
	return nil
}
