package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	// Workers is the number of files written at once.
	Workers  int
	Progress func(Progress)
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
	dirs  []restoreJob // directories whose metadata is set at the end
	// zeroBlobs holds the IDs (and lengths) of blobs found to be all
	// zeros: sparse files repeat them, and they become holes unread.
	zeroBlobs sync.Map
	created   map[string]bool
}

// Restore writes a snapshot (or the included part of it) under a target
// directory. Existing files at the same paths are replaced. File contents
// are verified blob by blob; zero-filled blobs become holes, so sparse
// files stay sparse.
func (r *Repository) Restore(ctx context.Context, snap *Snapshot, opt RestoreOptions) (*RestoreSummary, error) {
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
					// Damaged data spoils this file only: remove the
					// partial copy, record it, and go on with the rest.
					rs.root.Remove(j.path)
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
	if walkErr != nil {
		return &rs.sum, fmt.Errorf("restore: %w", walkErr)
	}
	// Directory times last, deepest first, after their contents.
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if err := rs.at(d.path, func(dir int, name string) error { return restoreMeta(dir, name, d.node) }); err != nil {
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
	return err
}

func (rs *restorer) warn(local string, err error) {
	rs.mu.Lock()
	rs.sum.Errors = append(rs.sum.Errors, fmt.Sprintf("%s: %v", rs.show(local), pathErr(err)))
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

// at calls fn with a descriptor of local's folder, opened through the
// root, and local's last element: the *at system calls then act on
// exactly that entry, never following a link in its place.
func (rs *restorer) at(local string, fn func(dir int, name string) error) error {
	d, err := rs.root.Open(filepath.Dir(local))
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(int(d.Fd()), filepath.Base(local))
}

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

// walkTree restores the tree at snapshot path dir; included says an
// ancestor matched the include patterns.
func (rs *restorer) walkTree(tree ID, dir string, included bool) error {
	t, err := rs.r.LoadTree(rs.ctx, tree)
	if err != nil {
		if damaged(err) {
			rs.failed(rs.show(rs.local(dir)), fmt.Errorf("directory listing: %w", err))
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
			if sel {
				if err := rs.ensureParent(local); err != nil {
					return err
				}
				// Whatever stands in the way is replaced, never followed.
				if fi, err := rs.root.Lstat(local); err == nil && !fi.IsDir() {
					if err := rs.root.Remove(local); err != nil {
						return fmt.Errorf("replace %s: %w", rs.show(local), pathErr(err))
					}
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
		if err := rs.ensureParent(local); err != nil {
			return err
		}
		if err := rs.restoreEntry(local, n); err != nil {
			return err
		}
	}
	return nil
}

// restoreEntry creates a non-directory node; file contents go to the
// workers.
func (rs *restorer) restoreEntry(local string, n *Node) error {
	if _, err := rs.root.Lstat(local); err == nil {
		rs.root.Remove(local) // a directory only when empty
	}
	switch n.Type {
	case NodeFile:
		if n.Links > 1 {
			key := [2]uint64{n.Device, n.Inode}
			if first, ok := rs.links[key]; ok {
				if err := rs.root.Link(first, local); err != nil {
					return fmt.Errorf("hard link %s: %w", rs.show(local), pathErr(err))
				}
				rs.sum.Links++
				return nil
			}
			rs.links[key] = local
			// Create the file now so that later hard links can point at it.
			f, err := rs.root.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
			if err != nil {
				return fmt.Errorf("create %s: %w", rs.show(local), pathErr(err))
			}
			f.Close()
		}
		select {
		case rs.jobs <- restoreJob{path: local, node: n}:
		case <-rs.ctx.Done():
			return rs.ctx.Err()
		}
		return nil
	case NodeSymlink:
		if err := rs.root.Symlink(n.Target(), local); err != nil {
			return fmt.Errorf("symlink %s: %w", rs.show(local), pathErr(err))
		}
	case NodeFIFO:
		if err := rs.at(local, func(dir int, name string) error { return unix.Mkfifoat(dir, name, n.Mode&0777) }); err != nil {
			return fmt.Errorf("fifo %s: %w", rs.show(local), pathErr(err))
		}
	case NodeDev, NodeCharDev:
		mode := uint32(syscall.S_IFBLK)
		if n.Type == NodeCharDev {
			mode = syscall.S_IFCHR
		}
		if err := rs.at(local, func(dir int, name string) error { return unix.Mknodat(dir, name, mode|n.Mode&0777, int(n.Rdev)) }); err != nil {
			rs.warn(local, fmt.Errorf("device node not restored: %w", pathErr(err)))
			return nil
		}
	case NodeSocket:
		return nil // sockets belong to a running program; nothing to restore
	}
	if err := rs.at(local, func(dir int, name string) error { return restoreMeta(dir, name, n) }); err != nil {
		rs.warn(local, err)
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
	return rs.at(j.path, func(dir int, name string) error { return rs.writeFile(dir, name, j, buf) })
}

// writeFile writes one file's content and metadata: name in the folder
// dir, created if needed, never through a link.
func (rs *restorer) writeFile(dir int, name string, j restoreJob, buf *[]byte) error {
	shown := rs.show(j.path)
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", shown, err)
	}
	f := os.NewFile(uintptr(fd), shown)
	var off int64
	for _, id := range j.node.Content {
		if n, ok := rs.zeroBlobs.Load(id); ok { // a hole: nothing to write
			off += int64(n.(int))
			rs.prog.bytes.Add(int64(n.(int)))
			continue
		}
		b, err := rs.r.LoadBlob(rs.ctx, id, (*buf)[:0])
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", shown, err)
		}
		if cap(b) > cap(*buf) {
			*buf = b[:0]
		}
		if isZero(b) {
			rs.zeroBlobs.Store(id, len(b))
		} else if _, err := f.WriteAt(b, off); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", shown, pathErr(err))
		}
		off += int64(len(b))
		rs.prog.bytes.Add(int64(len(b)))
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", shown, pathErr(err))
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
