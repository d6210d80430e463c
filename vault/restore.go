package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RestoreOptions say where and what to restore.
type RestoreOptions struct {
	// Target is the directory the snapshot's absolute paths are recreated
	// under: /home/ann/photos is restored to Target/home/ann/photos.
	// Everything is created through an os.Root opened at Target: a
	// symbolic link inside it, found there or restored from the snapshot,
	// never leads the restore outside.
	Target string
	// Root, when set, holds Target: Target is then a local path relative
	// to Root (filepath.IsLocal), created through Root, and the summary's
	// and errors' paths are relative to Root too (they show nothing of
	// where Root is).
	Root *os.Root
	// Include restricts the restore to matching paths and what is below
	// them. A pattern matches a full snapshot path ("/home/ann/photos"),
	// with shell globs, or a base name ("*.CR3").
	Include []string
	// Existing says what happens where the target already holds
	// something at a path the restore writes (folders that are already
	// folders are merged, never in the way). The default refuses.
	Existing Existing
	// NoKeep deletes what Overwrite and Verify replace instead of keeping
	// it as NAME.shoebox-old. A folder in the way that holds anything is
	// kept all the same: a restore never deletes a folder's content.
	NoKeep bool
	// Workers is the number of files written at once.
	Workers  int
	Progress func(Progress)
}

// Existing is what a restore does with an entry already at a path it
// restores: the one rule of the command line and the API.
type Existing string

const (
	// ExistingRefuse (the default) restores nothing when anything is in
	// the way, and says what: the target is checked before the first
	// write, and files are created exclusively (O_EXCL), so a file made
	// meanwhile is not overwritten either.
	ExistingRefuse Existing = "refuse"
	// ExistingOverwrite replaces what is in the way, keeping it as
	// NAME.shoebox-old (NAME.shoebox-old.1, … when that is taken)
	// unless NoKeep.
	ExistingOverwrite Existing = "overwrite"
	// ExistingSkip leaves what is in the way as it is.
	ExistingSkip Existing = "skip"
	// ExistingVerify compares what is in the way with the snapshot — a
	// file's content by hashing it as the snapshot's blobs, not by size
	// and time — and replaces it, as Overwrite does, only if it differs.
	ExistingVerify Existing = "verify"
)

// ParseExisting reads an Existing choice; "" is ExistingRefuse.
func ParseExisting(s string) (Existing, error) {
	switch e := Existing(s); e {
	case "":
		return ExistingRefuse, nil
	case ExistingRefuse, ExistingOverwrite, ExistingSkip, ExistingVerify:
		return e, nil
	}
	return "", fmt.Errorf("%q is not a choice for existing files: refuse, overwrite, skip or verify", s)
}

// ExistingError is returned by a restore that refuses existing files
// (ExistingRefuse): Path, relative to the target, is the first entry in
// the way in the snapshot's order, and Target is the target as messages
// name it. Nothing was written.
type ExistingError struct {
	Path, Target string
}

func (e *ExistingError) Error() string {
	return fmt.Sprintf("%s already exists in %s: nothing was restored", e.Path, e.Target)
}

// RestoreSummary counts what a restore did.
type RestoreSummary struct {
	Files, Dirs, Links int64
	Bytes              int64
	Duration           time.Duration
	// Errors lists warnings (metadata that could not be applied) and the
	// files that could not be restored.
	Errors []string
	// Failed counts files and directories not restored because their data
	// is damaged or missing; Restore then returns an error wrapping
	// ErrCorrupt after restoring everything else.
	Failed int64
	// Entries that were in the way: left as they were because they
	// equal the snapshot's (Verify) or by choice (Skip), or replaced
	// (Overwrite, and Verify where they differ). Files and Links count
	// the replacements too.
	Same, Skipped, Replaced int64
}

// damaged reports whether err means repository data is damaged or
// missing (as opposed to a problem writing the target).
func damaged(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBlobMissing)
}

func (rs *restorer) failed(p string, err error) {
	rs.mu.Lock()
	rs.sum.Failed++
	rs.sum.Errors = append(rs.sum.Errors, fmt.Sprintf("%s: not restored: %v", p, err))
	rs.mu.Unlock()
}

// matchInclude reports whether p is selected, and whether something below
// p could be.
func matchInclude(patterns []string, p string) (selected, descend bool) {
	if len(patterns) == 0 {
		return true, true
	}
	for _, pat := range patterns {
		pat = strings.TrimSuffix(pat, "/")
		if !strings.HasPrefix(pat, "/") {
			if ok, _ := path.Match(pat, path.Base(p)); ok {
				return true, true
			}
			descend = true
			continue
		}
		if ok, _ := path.Match(pat, p); ok || p == pat || strings.HasPrefix(p, pat+"/") {
			return true, true
		}
		// Is p an ancestor of what the pattern names?
		pc := strings.Split(strings.TrimPrefix(pat, "/"), "/")
		qc := strings.Split(strings.TrimPrefix(p, "/"), "/")
		if len(qc) < len(pc) {
			anc := true
			for i := range qc {
				if ok, _ := path.Match(pc[i], qc[i]); !ok {
					anc = false
					break
				}
			}
			if anc {
				descend = true
			}
		}
	}
	return false, descend
}

type restoreJob struct {
	path string
	node *Node
	// inTheWay: something not a folder is at path (Overwrite or Verify
	// decide in the worker, which compares and writes).
	inTheWay bool
}

// linkJob is a hard link to the first restored path of its inode, made
// once every file is written.
type linkJob struct {
	first, path string
}

type restorer struct {
	r     *Repository
	opt   RestoreOptions
	root  *os.Root // the target: every path below is relative to it
	shown string   // how the target is named in messages
	ctx   context.Context
	jobs  chan restoreJob
	prog  *progressCounter
	mu    sync.Mutex
	sum   RestoreSummary
	links map[[2]uint64]string
	// later holds hard links to make after the files they point at.
	later []linkJob
	dirs  []restoreJob // directories whose metadata is set at the end
	// zeroBlobs holds the IDs (and lengths) of blobs found to be all
	// zeros: sparse files repeat them, and they become holes unread.
	zeroBlobs sync.Map
	created   map[string]bool
	// look: the walk only looks for the first entry in the way
	// (ExistingRefuse's check before anything is written).
	look bool
}

// Restore writes a snapshot (or the included part of it) under a target
// directory. What is already at a path it restores is refused, skipped,
// verified or replaced as opt.Existing says (ExistingError when
// refused). File contents are verified blob by blob; zero-filled blobs
// become holes, so sparse files stay sparse.
func (r *Repository) Restore(ctx context.Context, snap *Snapshot, opt RestoreOptions) (*RestoreSummary, error) {
	existing, err := ParseExisting(string(opt.Existing))
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	opt.Existing = existing
	root, shown, err := openTarget(opt)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer root.Close()
	workers := opt.Workers
	if workers <= 0 {
		workers = max(2, runtime.NumCPU())
	}
	rs := &restorer{r: r, opt: opt, root: root, shown: shown, ctx: ctx, jobs: make(chan restoreJob, 2*workers),
		prog: &progressCounter{start: time.Now()}, links: map[[2]uint64]string{}, created: map[string]bool{".": true}}
	if opt.Existing == ExistingRefuse {
		// Before the first write: is anything in the way?
		rs.look = true
		err := rs.walkTree(snap.Tree, "/", false)
		rs.look = false
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rs.ctx = cctx

	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 8<<20)
			for j := range rs.jobs {
				if cctx.Err() != nil {
					continue
				}
				if err := rs.restoreFile(j, &buf); err != nil {
					if !damaged(err) {
						cancel(err)
						continue
					}
					// Damaged data spoils this file only (its partial
					// copy is gone, and what was in its way is as it
					// was): record it, and go on with the rest.
					rs.failed(rs.show(j.path), err)
				}
			}
		}()
	}
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	if opt.Progress != nil {
		pwg.Add(2)
		go rs.prog.report(opt.Progress, stop, &pwg)
		go func() { // totals for the ETA
			defer pwg.Done()
			r.walkTolerant(cctx, snap.Tree, "/", func(p string, n *Node) {
				if n.Type == NodeFile {
					if sel, _ := matchInclude(opt.Include, p); sel || len(opt.Include) == 0 {
						rs.prog.totalFiles.Add(1)
						rs.prog.totalBytes.Add(int64(n.Size))
					}
				}
			})
		}()
	}
	walkErr := rs.walkTree(snap.Tree, "/", false)
	close(rs.jobs)
	wg.Wait()
	close(stop)
	pwg.Wait()
	if walkErr == nil || errors.Is(walkErr, context.Canceled) {
		if cause := context.Cause(cctx); cause != nil {
			walkErr = cause // a worker's error, not the cancellation it caused
		}
	}
	if walkErr == nil {
		walkErr = rs.makeLinks()
	}
	if walkErr != nil {
		return &rs.sum, fmt.Errorf("restore: %w", walkErr)
	}
	// Directory times last, deepest first, after their contents.
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if err := rs.at(d.path, func(dir atDir, name string) error { return restoreMeta(dir, name, d.node) }); err != nil {
			rs.warn(d.path, err)
		}
	}
	rs.sum.Duration = time.Since(rs.prog.start)
	if rs.sum.Failed > 0 {
		first := ""
		for _, e := range rs.sum.Errors {
			if strings.Contains(e, ": not restored: ") {
				first = e
				break
			}
		}
		return &rs.sum, fmt.Errorf("restore: %d files or directories could not be restored because repository data is damaged or missing (first: %s); everything else was restored; run `shoebox check --read-data` to see the damage and restore those files from another copy: %w", rs.sum.Failed, first, ErrCorrupt)
	}
	return &rs.sum, nil
}

// openTarget creates the restore's target and opens it as a root; shown
// is how messages name it.
func openTarget(opt RestoreOptions) (root *os.Root, shown string, err error) {
	if opt.Target == "" && opt.Root == nil {
		return nil, "", errors.New("no target directory")
	}
	if opt.Root == nil {
		target, err := filepath.Abs(opt.Target)
		if err != nil {
			return nil, "", err
		}
		if err := os.MkdirAll(target, 0o700); err != nil {
			return nil, "", err
		}
		root, err := os.OpenRoot(target)
		return root, target, err
	}
	target := filepath.Clean(opt.Target)
	if !filepath.IsLocal(target) && target != "." {
		return nil, "", fmt.Errorf("target %q is not a folder inside the restore root", opt.Target)
	}
	if err := opt.Root.MkdirAll(target, 0o700); err != nil {
		return nil, "", fmt.Errorf("target %s: %w", target, pathErr(err))
	}
	root, err = opt.Root.OpenRoot(target)
	if err != nil {
		return nil, "", fmt.Errorf("target %s: %w", target, pathErr(err))
	}
	return root, target, nil
}

// pathErr drops the path from a *fs.PathError: messages name paths
// themselves, as the restore shows them.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

func (rs *restorer) warn(local string, err error) {
	rs.mu.Lock()
	rs.sum.Errors = append(rs.sum.Errors, fmt.Sprintf("%s: %v", rs.show(local), pathErr(err)))
	rs.mu.Unlock()
}

// count adds one to a summary counter.
func (rs *restorer) count(c *int64) {
	rs.mu.Lock()
	*c++
	rs.mu.Unlock()
}

// local is where snapshot path p goes, relative to the target.
func (rs *restorer) local(p string) string {
	if l := filepath.FromSlash(strings.TrimPrefix(path.Clean(p), "/")); l != "" {
		return l
	}
	return "."
}

// show names a local path in messages.
func (rs *restorer) show(local string) string { return filepath.Join(rs.shown, local) }

// ensureParent creates the restored parent directories of p.
func (rs *restorer) ensureParent(local string) error {
	dir := filepath.Dir(local)
	if rs.created[dir] {
		return nil
	}
	if err := rs.root.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", rs.show(dir), pathErr(err))
	}
	rs.created[dir] = true
	return nil
}

// lstat describes what is at local: nil when nothing is.
func (rs *restorer) lstat(local string) (fs.FileInfo, error) {
	fi, err := rs.root.Lstat(local)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rs.show(local), pathErr(err))
	}
	return fi, nil
}

// inTheWay applies opt.Existing to fi, found at local where n is
// restored, and returns whether to restore n there. A regular file's
// node is restored (Overwrite), or compared first (Verify), by the worker
// that writes it: it goes in once it is complete. Anything else in the
// way is cleared first (replace).
func (rs *restorer) inTheWay(local string, fi fs.FileInfo, n *Node) (bool, error) {
	if stay, err := rs.leave(local); stay || err != nil {
		return false, err
	}
	if n.Type == NodeFile && !fi.IsDir() {
		return true, nil
	}
	if rs.opt.Existing == ExistingVerify && rs.sameEntry(local, fi, n) {
		rs.count(&rs.sum.Same)
		return false, nil
	}
	return true, rs.replace(local, fi.IsDir())
}

// leave applies Refuse and Skip to what is in the way at local, and
// reports whether it stays. Refuse fails: the check before the first
// write did not see it, so it was made meanwhile.
func (rs *restorer) leave(local string) (bool, error) {
	switch rs.opt.Existing {
	case ExistingRefuse:
		return true, &ExistingError{Path: local, Target: rs.shown}
	case ExistingSkip:
		rs.count(&rs.sum.Skipped)
		return true, nil
	}
	return false, nil
}

// replace clears what is at local out of the way of what replaces it.
func (rs *restorer) replace(local string, isDir bool) error {
	rs.count(&rs.sum.Replaced)
	err := rs.at(local, func(dir atDir, name string) error { return rs.clear(dir, name, isDir) })
	if err != nil {
		return fmt.Errorf("replace %s: %w", rs.show(local), pathErr(err))
	}
	return nil
}

// clear moves name (in the folder dir) aside as NAME.shoebox-old, or
// removes it with NoKeep; a folder that holds anything is always moved
// aside.
func (rs *restorer) clear(dir atDir, name string, isDir bool) error {
	if rs.opt.NoKeep && !isDir {
		return unlinkAt(dir, name)
	}
	if rs.opt.NoKeep && rmdirAt(dir, name) == nil {
		return nil // an empty folder
	}
	_, err := moveAside(dir, name)
	return err
}

// moveAside renames name (in the folder dir) to the first free one of
// NAME.shoebox-old, NAME.shoebox-old.1, …, never replacing anything, and
// returns the new name.
func moveAside(dir atDir, name string) (string, error) {
	for i := 0; i < 1000; i++ {
		old := name + ".shoebox-old"
		if i > 0 {
			old += "." + strconv.Itoa(i)
		}
		err := renameNoReplace(dir, name, old)
		if errors.Is(err, errExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("keep %s as %s: %w", name, old, err)
		}
		return old, nil
	}
	return "", fmt.Errorf("keep %s: %s.shoebox-old up to .999 are all taken; move them away", name, name)
}

// sameEntry reports whether fi, found at local, is what n restores:
// a symbolic link to the same target, a device with the same number, a
// FIFO or socket. Regular files are compared by sameFile.
func (rs *restorer) sameEntry(local string, fi fs.FileInfo, n *Node) bool {
	m := fi.Mode()
	switch n.Type {
	case NodeSymlink:
		t, err := rs.root.Readlink(local)
		return m&fs.ModeSymlink != 0 && err == nil && t == n.Target()
	case NodeFIFO:
		return m&fs.ModeNamedPipe != 0
	case NodeSocket:
		return m&fs.ModeSocket != 0
	case NodeDev, NodeCharDev:
		rdev, ok := rdevOf(fi)
		want := fs.ModeDevice
		if n.Type == NodeCharDev {
			want |= fs.ModeCharDevice
		}
		return ok && m&(fs.ModeDevice|fs.ModeCharDevice) == want && rdev == n.Rdev
	}
	return false
}

// sameFile reports whether the regular file name (in the folder dir)
// holds exactly n's content: its size, then every blob's bytes hashed as
// the snapshot's blob IDs are. A blob the index lacks counts as a
// difference (writing the file then reports it).
func (rs *restorer) sameFile(dir atDir, name string, n *Node, buf *[]byte) (bool, error) {
	f, err := openToCompare(dir, name, n.Size)
	if f == nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || uint64(fi.Size()) != n.Size {
		return false, err
	}
	for _, id := range n.Content {
		loc, _, ok := rs.r.index.lookup(id)
		if !ok {
			return false, nil
		}
		if cap(*buf) < int(loc.rawLen) {
			*buf = make([]byte, 0, loc.rawLen)
		}
		b := (*buf)[:loc.rawLen]
		if _, err := io.ReadFull(f, b); err != nil {
			return false, nil // shorter than it said: it changed meanwhile
		}
		if rs.r.hash.Sum(b) != id {
			return false, nil
		}
	}
	return true, nil
}

// walkTree restores the tree at snapshot path dir; included says an
// ancestor matched the include patterns. With rs.look it writes nothing
// and returns the first entry in the way (an ExistingError).
func (rs *restorer) walkTree(tree ID, dir string, included bool) error {
	t, err := rs.r.LoadTree(rs.ctx, tree)
	if err != nil {
		if damaged(err) {
			if !rs.look {
				rs.failed(rs.show(rs.local(dir)), fmt.Errorf("directory listing: %w", err))
			}
			return nil
		}
		return fmt.Errorf("%s: %w", dir, err)
	}
	for _, n := range t.Nodes {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		p := path.Join(dir, n.FileName())
		sel, desc := included, true
		if !included {
			sel, desc = matchInclude(rs.opt.Include, p)
		}
		local := rs.local(p)
		if n.Type == NodeDir {
			if !sel && !desc {
				continue
			}
			fi, err := rs.lstat(local)
			switch {
			case err != nil:
				return err
			case fi == nil && rs.look:
				continue // nothing below can be in the way
			case fi != nil && !fi.IsDir():
				// Something not a folder where the folder (or one
				// that leads to what is selected) goes.
				if ok, err := rs.inTheWay(local, fi, n); err != nil || !ok {
					if err != nil {
						return err
					}
					continue
				}
			}
			if sel && !rs.look {
				if err := rs.ensureParent(local); err != nil {
					return err
				}
				if err := rs.root.Mkdir(local, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("create %s: %w", rs.show(local), pathErr(err))
				}
				rs.created[local] = true
				rs.dirs = append(rs.dirs, restoreJob{path: local, node: n})
				rs.sum.Dirs++
			}
			if err := rs.walkTree(*n.Subtree, p, sel); err != nil {
				return err
			}
			continue
		}
		if !sel {
			continue
		}
		fi, err := rs.lstat(local)
		if err != nil {
			return err
		}
		if rs.look {
			if fi != nil {
				return &ExistingError{Path: local, Target: rs.shown}
			}
			continue
		}
		if err := rs.ensureParent(local); err != nil {
			return err
		}
		if err := rs.restoreEntry(local, n, fi); err != nil {
			return err
		}
	}
	return nil
}

// restoreEntry creates a non-directory node; fi is what is in its way,
// if anything. File contents go to the workers; hard links wait for
// them.
func (rs *restorer) restoreEntry(local string, n *Node, fi fs.FileInfo) error {
	if n.Type == NodeFile && n.Links > 1 {
		key := [2]uint64{n.Device, n.Inode}
		if first, ok := rs.links[key]; ok {
			rs.later = append(rs.later, linkJob{first: first, path: local})
			return nil
		}
		rs.links[key] = local
	}
	if fi != nil {
		if ok, err := rs.inTheWay(local, fi, n); err != nil || !ok {
			return err
		}
	}
	switch n.Type {
	case NodeFile:
		select {
		case rs.jobs <- restoreJob{path: local, node: n, inTheWay: fi != nil && !fi.IsDir()}:
		case <-rs.ctx.Done():
			return rs.ctx.Err()
		}
		return nil
	case NodeSymlink:
		if err := rs.root.Symlink(n.Target(), local); err != nil {
			return fmt.Errorf("symlink %s: %w", rs.show(local), pathErr(err))
		}
	case NodeFIFO:
		if err := rs.at(local, func(dir atDir, name string) error { return mkfifoAt(dir, name, n.Mode&0777) }); err != nil {
			return fmt.Errorf("fifo %s: %w", rs.show(local), pathErr(err))
		}
	case NodeDev, NodeCharDev:
		if err := rs.at(local, func(dir atDir, name string) error {
			return mknodAt(dir, name, n.Type == NodeCharDev, n.Mode&0777, n.Rdev)
		}); err != nil {
			rs.warn(local, fmt.Errorf("device node not restored: %w", pathErr(err)))
			return nil
		}
	case NodeSocket:
		return nil // sockets belong to a running program; nothing to restore
	}
	if err := rs.at(local, func(dir atDir, name string) error { return restoreMeta(dir, name, n) }); err != nil {
		rs.warn(local, err)
	}
	return nil
}

// makeLinks makes the hard links, now that the files they point at are
// written. One whose first path was not restored (damaged data) is not
// restored either.
func (rs *restorer) makeLinks() error {
	for _, l := range rs.later {
		if err := rs.ctx.Err(); err != nil {
			return err
		}
		fi, err := rs.lstat(l.path)
		if err != nil {
			return err
		}
		first, err := rs.root.Lstat(l.first)
		if err != nil {
			rs.failed(rs.show(l.path), fmt.Errorf("hard link to %s, which was not restored", rs.show(l.first)))
			continue
		}
		if fi != nil {
			if stay, err := rs.leave(l.path); stay || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			if rs.opt.Existing == ExistingVerify && os.SameFile(fi, first) {
				rs.count(&rs.sum.Same)
				continue
			}
			if err := rs.replace(l.path, fi.IsDir()); err != nil {
				return err
			}
		}
		if err := rs.root.Link(l.first, l.path); err != nil {
			return fmt.Errorf("hard link %s: %w", rs.show(l.path), pathErr(err))
		}
		rs.sum.Links++
	}
	return nil
}

var zeroBlock = make([]byte, 8<<20)

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func (rs *restorer) restoreFile(j restoreJob, buf *[]byte) error {
	return rs.at(j.path, func(dir atDir, name string) error {
		if !j.inTheWay {
			return rs.writeFile(dir, name, name, j, buf)
		}
		if rs.opt.Existing == ExistingVerify {
			same, err := rs.sameFile(dir, name, j.node, buf)
			if err != nil {
				return fmt.Errorf("compare %s: %w", rs.show(j.path), pathErr(err))
			}
			if same {
				rs.count(&rs.sum.Same)
				return nil
			}
		}
		// The new file is written beside the one in the way, which stays
		// as it was until the new one is complete.
		var rnd [6]byte
		rand.Read(rnd[:])
		tmp := fmt.Sprintf(".%s.shoebox-%x", name, rnd)
		if len(tmp) > 255 {
			tmp = fmt.Sprintf(".shoebox-%x", rnd)
		}
		if err := rs.writeFile(dir, tmp, name, j, buf); err != nil {
			return err
		}
		if err := rs.swapIn(dir, tmp, name); err != nil {
			unlinkAt(dir, tmp)
			return fmt.Errorf("replace %s: %w", rs.show(j.path), err)
		}
		rs.count(&rs.sum.Replaced)
		return nil
	})
}

// swapIn puts the complete file tmp in the place of name (both in the
// folder dir): at once with NoKeep, else after moving name aside (and
// back, should the rename fail).
func (rs *restorer) swapIn(dir atDir, tmp, name string) error {
	if rs.opt.NoKeep {
		return renameAt(dir, tmp, name)
	}
	old, err := moveAside(dir, name)
	if err != nil {
		return err
	}
	if err := renameNoReplace(dir, tmp, name); err != nil {
		renameNoReplace(dir, old, name)
		return err
	}
	return nil
}

// writeFile writes one file's content and metadata: a new file named
// name in the folder dir, never through a link and never over anything
// (O_EXCL); as is the name it will have (for hard links and messages).
// Damaged data leaves no partial file behind.
func (rs *restorer) writeFile(dir atDir, name, as string, j restoreJob, buf *[]byte) error {
	shown := rs.show(j.path)
	f, err := createAt(dir, name, shown)
	if errors.Is(err, errExist) && name == as {
		// Made since the walk looked: not overwritten.
		return &ExistingError{Path: j.path, Target: rs.shown}
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", shown, err)
	}
	fail := func(err error) error {
		f.Close()
		unlinkAt(dir, name)
		return err
	}
	var off int64
	for _, id := range j.node.Content {
		if n, ok := rs.zeroBlobs.Load(id); ok { // a hole: nothing to write
			off += int64(n.(int))
			rs.prog.bytes.Add(int64(n.(int)))
			continue
		}
		b, err := rs.r.LoadBlob(rs.ctx, id, (*buf)[:0])
		if err != nil {
			return fail(fmt.Errorf("%s: %w", shown, err))
		}
		if cap(b) > cap(*buf) {
			*buf = b[:0]
		}
		if isZero(b) {
			rs.zeroBlobs.Store(id, len(b))
		} else if _, err := f.WriteAt(b, off); err != nil {
			return fail(fmt.Errorf("write %s: %w", shown, pathErr(err)))
		}
		off += int64(len(b))
		rs.prog.bytes.Add(int64(len(b)))
	}
	if err := f.Truncate(off); err != nil {
		return fail(fmt.Errorf("write %s: %w", shown, pathErr(err)))
	}
	if err := restoreFileMeta(f, j.node); err == nil {
		err = setTimes(dir, name, j.node)
		if err != nil {
			rs.warn(j.path, err)
		}
	} else {
		rs.warn(j.path, err)
	}
	if err := f.Close(); err != nil {
		unlinkAt(dir, name)
		return fmt.Errorf("write %s: %w", shown, pathErr(err))
	}
	rs.prog.files.Add(1)
	rs.mu.Lock()
	rs.sum.Files++
	rs.sum.Bytes += off
	rs.mu.Unlock()
	return nil
}

// Dump writes the content of a file in a snapshot to w.
func (r *Repository) Dump(ctx context.Context, n *Node, w io.Writer) error {
	if n.Type != NodeFile {
		return fmt.Errorf("dump %s: not a regular file", n.FileName())
	}
	var buf []byte
	for _, id := range n.Content {
		b, err := r.LoadBlob(ctx, id, buf[:0])
		if err != nil {
			return err
		}
		buf = b
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
