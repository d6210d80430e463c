package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic/chunker"
)

// BackupOptions say what to back up.
type BackupOptions struct {
	Paths []string
	Tags  []string
	// Host overrides the host name recorded in the snapshot.
	Host string
	// Parent is the snapshot to compare with; when nil the latest snapshot
	// of the same host and paths is used, unless NoParent is set.
	Parent   *Snapshot
	NoParent bool
	// Workers is the number of files read and chunked at once (default:
	// the number of CPUs, at least 2).
	Workers int
	// Progress, when set, receives counters about twice a second and once
	// at the end.
	Progress func(Progress)
	// Time overrides the snapshot time (tests).
	Time time.Time
	// Excludes are glob patterns matched against base names.
	Excludes []string
	// SkipUnchanged writes no snapshot when the paths hold the same as in
	// the parent (content, and the metadata Diff compares: not access or
	// change times, nor the folders above the paths; restic's
	// --skip-if-unchanged compares whole trees): Backup then returns a
	// copy of the parent whose Summary (this run's) has Unchanged set. Heartbeat, when
	// set, still writes one when the parent is at least this old, so that
	// there is a snapshot per period for keep rules that count periods.
	SkipUnchanged bool
	Heartbeat     time.Duration
}

// Progress reports a long operation: files and bytes done and, when known,
// the totals.
type Progress struct {
	Files, TotalFiles int64
	Bytes, TotalBytes int64
	Elapsed           time.Duration
	Done              bool
}

// Rate returns bytes per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Bytes) / p.Elapsed.Seconds()
}

// ETA estimates the time left, or 0 when unknown.
func (p Progress) ETA() time.Duration {
	rate := p.Rate()
	if rate <= 0 || p.TotalBytes <= p.Bytes {
		return 0
	}
	return time.Duration(float64(p.TotalBytes-p.Bytes) / rate * float64(time.Second))
}

// progressCounter collects progress from many goroutines.
type progressCounter struct {
	files, bytes, totalFiles, totalBytes atomic.Int64
	start                                time.Time
}

func (c *progressCounter) snapshot(done bool) Progress {
	return Progress{Files: c.files.Load(), Bytes: c.bytes.Load(), TotalFiles: c.totalFiles.Load(),
		TotalBytes: c.totalBytes.Load(), Elapsed: time.Since(c.start), Done: done}
}

// report calls fn periodically until stop is closed, then once more.
func (c *progressCounter) report(fn func(Progress), stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	if fn == nil {
		return
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fn(c.snapshot(false))
		case <-stop:
			fn(c.snapshot(true))
			return
		}
	}
}

// archiver runs one backup.
type archiver struct {
	r       *Repository
	saver   *blobSaver
	opt     BackupOptions
	jobs    chan *fileJob
	prog    *progressCounter
	ctx     context.Context
	cancel  context.CancelCauseFunc
	summary Summary

	mu        sync.Mutex
	hardlinks map[[2]uint64][]ID
	zeroOnce  sync.Once
	zeroID    *ID // ID of a hole chunk, once a sparse file was seen
	excludes  []string

	// dirs counts finishDir goroutines: on cancellation they must all have
	// returned before the saver is aborted.
	dirs sync.WaitGroup
}

// future is a node whose content or subtree is still being computed.
type future struct {
	node *Node
	done chan struct{}
}

func doneFuture(n *Node) *future {
	f := &future{node: n, done: make(chan struct{})}
	close(f.done)
	return f
}

type fileJob struct {
	path string
	f    *future
}

// Backup stores the given paths as a new snapshot. Files that cannot be
// read are skipped and listed in the summary's Errors (the snapshot is then
// incomplete and the caller must tell the user); repository errors abort
// the backup and leave no snapshot.
func (r *Repository) Backup(ctx context.Context, opt BackupOptions) (*Snapshot, error) {
	if len(opt.Paths) == 0 {
		return nil, errors.New("backup: no paths given")
	}
	var paths []string
	for _, p := range opt.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(abs); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		paths = append(paths, abs)
	}
	sort.Strings(paths)
	r.backups.Add(1)
	defer r.backups.Add(-1)
	// What other processes wrote (or pruned) since the index was read,
	// then the packs of killed backups, so that their blobs are reused
	// (and the parent found when its index file was lost).
	if err := r.refreshIndex(ctx); err != nil {
		return nil, fmt.Errorf("backup: read the index: %w", err)
	}
	leftovers, err := r.indexLeftovers(ctx, maxLeftoverPacks, func() bool { return r.othersWriting(ctx) })
	if err != nil {
		return nil, fmt.Errorf("backup: index the packs of interrupted backups: %w", err)
	}
	host := opt.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	parent := opt.Parent
	if parent == nil && !opt.NoParent {
		p, err := r.latestParent(ctx, SnapshotFilter{Host: host, Paths: paths})
		if err == nil {
			parent = p
		} else if !errors.Is(err, ErrNoSnapshot) {
			return nil, err
		}
	}
	var parentTree *Tree
	if parent != nil {
		t, err := r.LoadTree(ctx, parent.Tree)
		if err != nil {
			return nil, fmt.Errorf("backup: load parent snapshot %s: %w", parent.id.Short(), err)
		}
		parentTree = t
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = max(2, runtime.NumCPU())
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a := &archiver{r: r, saver: newBlobSaver(r, workers), opt: opt, jobs: make(chan *fileJob, workers),
		prog: &progressCounter{start: time.Now()}, ctx: cctx, cancel: cancel,
		hardlinks: map[[2]uint64][]ID{}, excludes: opt.Excludes}
	a.summary.Start = time.Now().UTC()
	if len(leftovers.Indexed)+len(leftovers.Unreadable)+leftovers.Remaining > 0 || leftovers.Skipped {
		a.summary.Leftovers = leftovers
	}

	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go a.worker(i, &wg)
	}
	stopProgress := make(chan struct{})
	var pwg sync.WaitGroup
	if opt.Progress != nil {
		pwg.Add(2)
		go a.scanTotals(paths, &pwg)
		go a.prog.report(opt.Progress, stopProgress, &pwg)
	}

	root := a.saveRoot(paths, parentTree)
	<-root.done
	a.dirs.Wait()
	close(a.jobs)
	wg.Wait()
	close(stopProgress)
	pwg.Wait()

	if err := context.Cause(cctx); err != nil {
		a.saver.Abort()
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := a.saver.Flush(ctx); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	username := ""
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	t := opt.Time
	if t.IsZero() {
		t = time.Now()
	}
	a.summary.End = time.Now().UTC()
	a.summary.BlobsAdded = a.saver.StoredBlobs
	a.summary.BytesAdded = a.saver.RawBytes
	a.summary.BytesStored = a.saver.StoredBytes
	if opt.SkipUnchanged && parent != nil && (opt.Heartbeat <= 0 || t.Sub(parent.Time) < opt.Heartbeat) {
		same, err := r.samePaths(ctx, parent.Tree, *root.node.Subtree, paths)
		if err != nil {
			return nil, fmt.Errorf("backup: compare with the parent snapshot %s: %w", parent.id.Short(), err)
		}
		if same {
			a.summary.Unchanged = true
			cp := *parent
			cp.Summary = &a.summary
			return &cp, nil
		}
	}
	snap := &Snapshot{Time: t, Tree: *root.node.Subtree, Paths: paths, Hostname: host, Username: username,
		UID: uint32(uid), GID: uint32(gid), Tags: opt.Tags, Program: "shoebox", Summary: &a.summary}
	if parent != nil {
		pid := parent.id
		snap.Parent = &pid
	}
	if _, err := r.SaveSnapshot(ctx, snap); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return snap, nil
}

func (a *archiver) fail(err error) {
	a.cancel(err)
}

func (a *archiver) warn(path string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.summary.Errors = append(a.summary.Errors, fmt.Sprintf("%s: %v", path, err))
}

// vdir is a directory on the way from / to a backed-up path.
type vdir struct {
	path     string
	children map[string]*vdir
	target   bool
}

// saveRoot builds the root tree: the backed-up paths under their full
// absolute path, with the real metadata of every directory on the way.
func (a *archiver) saveRoot(paths []string, parent *Tree) *future {
	root := &vdir{path: "/", children: map[string]*vdir{}}
	for _, p := range paths {
		d := root
		if p == "/" {
			d.target = true
			continue
		}
		for _, c := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
			next := d.children[c]
			if next == nil {
				next = &vdir{path: filepath.Join(d.path, c), children: map[string]*vdir{}}
				d.children[c] = next
			}
			d = next
		}
		d.target = true
	}
	if root.target {
		return a.saveDir("/", &Node{Type: NodeDir}, parent)
	}
	return a.saveVirtual(root, &Node{Type: NodeDir}, parent)
}

func (a *archiver) saveVirtual(d *vdir, node *Node, parent *Tree) *future {
	names := make([]string, 0, len(d.children))
	for n := range d.children {
		names = append(names, n)
	}
	sort.Strings(names)
	var kids []*future
	for _, name := range names {
		c := d.children[name]
		var pn *Node
		if parent != nil {
			pn = parent.Find(name)
		}
		if c.target {
			if f := a.saveEntry(c.path, name, pn); f != nil {
				kids = append(kids, f)
			}
			continue
		}
		// A directory on the way to a backed-up path may be a symlink
		// (/home -> /data/home): it is recorded as the directory it leads
		// to, so that the path stays a path in the snapshot.
		fi, err := os.Stat(c.path)
		if err != nil {
			a.warn(c.path, err)
			continue
		}
		n := nodeFromInfo(name, fi)
		kids = append(kids, a.saveVirtual(c, n, a.parentSubtree(pn)))
	}
	return a.finishDir(node, kids)
}

// parentSubtree loads the parent's tree for a directory node, or nil.
func (a *archiver) parentSubtree(pn *Node) *Tree {
	if pn == nil || pn.Type != NodeDir || pn.Subtree == nil {
		return nil
	}
	t, err := a.r.LoadTree(a.ctx, *pn.Subtree)
	if err != nil {
		return nil // back up as if new
	}
	return t
}

// saveEntry starts saving one file system entry; nil means skipped.
func (a *archiver) saveEntry(path, name string, pn *Node) *future {
	if a.ctx.Err() != nil {
		return nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		a.warn(path, err)
		return nil
	}
	n := nodeFromInfo(name, fi)
	if x, err := readXattrs(path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			a.warn(path, fmt.Errorf("read extended attributes: %w", err))
		}
	} else {
		n.Xattrs = x
	}
	switch n.Type {
	case NodeDir:
		return a.saveDir(path, n, a.parentSubtree(pn))
	case NodeSymlink:
		t, err := os.Readlink(path)
		if err != nil {
			a.warn(path, err)
			return nil
		}
		n.setTarget(t)
		return doneFuture(n)
	case NodeFile:
		a.prog.files.Add(0)
		if pn != nil && pn.Type == NodeFile && pn.Size == n.Size && pn.ModTime.Equal(n.ModTime) &&
			pn.CTime.Equal(n.CTime) && pn.Inode == n.Inode && a.allKnown(pn.Content) {
			n.Content = pn.Content
			a.mu.Lock()
			a.summary.FilesUnchanged++
			a.summary.FilesTotal++
			a.summary.BytesTotal += int64(n.Size)
			a.mu.Unlock()
			a.prog.files.Add(1)
			a.prog.bytes.Add(int64(n.Size))
			return doneFuture(n)
		}
		a.mu.Lock()
		if pn == nil {
			a.summary.FilesNew++
		} else {
			a.summary.FilesChanged++
		}
		a.summary.FilesTotal++
		a.mu.Unlock()
		f := &future{node: n, done: make(chan struct{})}
		select {
		case a.jobs <- &fileJob{path: path, f: f}:
		case <-a.ctx.Done():
			return nil
		}
		return f
	default:
		return doneFuture(n)
	}
}

func (a *archiver) allKnown(ids []ID) bool {
	for _, id := range ids {
		if !a.saver.known(id) {
			return false
		}
	}
	return true
}

func (a *archiver) excluded(name string) bool {
	for _, p := range a.excludes {
		if ok, _ := filepath.Match(p, name); ok {
			return true
		}
	}
	return false
}

// saveDir walks a directory and returns a future for its node.
func (a *archiver) saveDir(path string, node *Node, parent *Tree) *future {
	entries, err := readDir(path)
	if err != nil {
		a.warn(path, err)
		node.Error = err.Error()
	}
	var kids []*future
	for _, e := range entries {
		if a.ctx.Err() != nil {
			break
		}
		name := e.Name()
		if a.excluded(name) {
			continue
		}
		var pn *Node
		if parent != nil {
			pn = parent.Find(name)
		}
		if f := a.saveEntry(filepath.Join(path, name), name, pn); f != nil {
			kids = append(kids, f)
		}
	}
	a.mu.Lock()
	a.summary.DirsTotal++
	a.mu.Unlock()
	return a.finishDir(node, kids)
}

// finishDir saves the tree of a directory once all its children are done,
// without holding up the walk.
func (a *archiver) finishDir(node *Node, kids []*future) *future {
	f := &future{node: node, done: make(chan struct{})}
	a.dirs.Add(1)
	go func() {
		defer a.dirs.Done()
		defer close(f.done)
		t := &Tree{Nodes: make([]*Node, 0, len(kids))}
		for _, k := range kids {
			select {
			case <-k.done:
			case <-a.ctx.Done():
				return
			}
			t.Nodes = append(t.Nodes, k.node)
		}
		t.sort()
		b, err := encodeTree(t)
		if err != nil {
			a.fail(err)
			return
		}
		id := a.r.hash.Sum(b)
		if _, err := a.saver.Save(a.ctx, 0, TreeBlob, id, b, true); err != nil {
			a.fail(err)
			return
		}
		node.Subtree = &id
	}()
	return f
}

// worker reads, chunks, hashes and saves files.
func (a *archiver) worker(lane int, wg *sync.WaitGroup) {
	defer wg.Done()
	var buf []byte
	var ch *chunker.Chunker
	for job := range a.jobs {
		if a.ctx.Err() == nil {
			if ch == nil { // allocated on first use: a no-change backup needs none
				ch = chunker.New(nil, a.r.cfg.ChunkerPolynomial)
				buf = make([]byte, chunker.MaxSize)
			}
			a.saveFile(lane, job, ch, buf)
		}
		close(job.f.done)
	}
}

func (a *archiver) saveFile(lane int, job *fileJob, ch *chunker.Chunker, buf []byte) {
	n := job.f.node
	if n.Links > 1 {
		a.mu.Lock()
		content, ok := a.hardlinks[[2]uint64{n.Device, n.Inode}]
		a.mu.Unlock()
		if ok {
			n.Content = content
			a.prog.files.Add(1)
			a.prog.bytes.Add(int64(n.Size))
			a.mu.Lock()
			a.summary.BytesTotal += int64(n.Size)
			a.mu.Unlock()
			return
		}
	}
	f, err := openNoATime(job.path)
	if err != nil {
		a.warn(job.path, err)
		n.Error = err.Error()
		n.Size = 0
		return
	}
	defer f.Close()
	st := &fileState{lane: lane}
	for _, seg := range segments(f, int64(n.Size)) {
		var err error
		if seg.hole {
			err = a.saveHole(st, n, seg.length)
		} else {
			ch.Reset(io.NewSectionReader(f, seg.off, seg.length), a.r.cfg.ChunkerPolynomial)
			err = a.saveChunks(st, n, ch, buf)
		}
		if err != nil {
			a.warn(job.path, fmt.Errorf("read: %w (the snapshot keeps the first %d bytes)", err, st.size))
			n.Error = err.Error()
			break
		}
		if a.ctx.Err() != nil {
			return
		}
	}
	// Bytes appended after the size we saw (a file still being written).
	if st.size == n.Size {
		ch.Reset(io.NewSectionReader(f, int64(st.size), 1<<62), a.r.cfg.ChunkerPolynomial)
		a.saveChunks(st, n, ch, buf)
	}
	size := st.size
	// A file that changed while it was read is stored as read, with a
	// warning: the next backup picks up the final version.
	if fi, err := f.Stat(); err == nil {
		if uint64(fi.Size()) != size || modTimeOf(fi) != n.ModTime {
			a.warn(job.path, errors.New("file changed while it was read; the next backup stores the new version"))
		}
	}
	n.Size = size
	a.prog.files.Add(1)
	a.mu.Lock()
	a.summary.BytesTotal += int64(size)
	if n.Links > 1 {
		a.hardlinks[[2]uint64{n.Device, n.Inode}] = n.Content
	}
	a.mu.Unlock()
}

// fileState is the progress through one file.
type fileState struct {
	lane     int // the worker's number: its own packs
	size     uint64
	compress bool
	started  bool
}

// saveChunks chunks r and saves the blobs.
func (a *archiver) saveChunks(st *fileState, n *Node, ch *chunker.Chunker, buf []byte) error {
	for {
		c, err := ch.Next(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !st.started {
			st.compress = Compressible(n.FileName(), c.Data)
			st.started = true
		}
		if err := a.saveData(st, n, c.Data); err != nil {
			return err
		}
	}
}

func (a *archiver) saveData(st *fileState, n *Node, data []byte) error {
	var id ID
	if len(data) == holeChunk && a.zeroID != nil && isZero(data) {
		id = *a.zeroID
	} else {
		id = a.r.hash.Sum(data)
	}
	if _, err := a.saver.Save(a.ctx, st.lane, DataBlob, id, data, st.compress); err != nil {
		a.fail(err)
		return nil // the backup is aborting; the cause is recorded
	}
	n.Content = append(n.Content, id)
	st.size += uint64(len(data))
	a.prog.bytes.Add(int64(len(data)))
	return nil
}

// holeChunk is the chunk size of zero runs the file system reports as
// holes: they are stored without being read or chunked (restore turns
// them back into holes).
const holeChunk = chunker.MinSize

// saveHole saves a run of zeros of the given length.
func (a *archiver) saveHole(st *fileState, n *Node, length int64) error {
	zeros := zeroBlock[:holeChunk]
	a.zeroOnce.Do(func() {
		id := a.r.hash.Sum(zeros)
		a.zeroID = &id
	})
	for length > 0 {
		k := min(length, int64(holeChunk))
		if err := a.saveData(st, n, zeros[:k]); err != nil {
			return err
		}
		if a.ctx.Err() != nil {
			return nil
		}
		length -= k
	}
	return nil
}

// segment is a run of a file: data, or a hole.
type segment struct {
	off, length int64
	hole        bool
}

// scanTotals counts files and bytes for the progress ETA.
func (a *archiver) scanTotals(paths []string, wg *sync.WaitGroup) {
	defer wg.Done()
	for _, p := range paths {
		filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || a.ctx.Err() != nil {
				return nil
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					a.prog.totalFiles.Add(1)
					a.prog.totalBytes.Add(fi.Size())
				}
			}
			return nil
		})
	}
}
