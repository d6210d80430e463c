package maint

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoebox/shoebox/vault"
)

// DefaultDrillFiles is how many files a drill restores when Drill.Files
// is zero.
const DefaultDrillFiles = 10

// Drill restores a random sample of files from a random snapshot and
// verifies them. A Drill is not safe for concurrent use (it owns Rand).
type Drill struct {
	Repo *vault.Repository
	// Scratch is the directory under which each drill creates, and
	// removes again, its own restore directory.
	Scratch string
	// Files is the sample size (default DefaultDrillFiles).
	Files int
	// Rand chooses the snapshot and the files (default: randomly seeded).
	Rand *rand.Rand
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SpaceOf, when set, names the space (source) a snapshot belongs to,
	// "" for none: a drill's result, alert and operation carry it, so that
	// only those who may read that space see which files it restored.
	SpaceOf func(*vault.Snapshot) string
	// Track, when set, is called as each drill starts restoring, with the
	// subject "snapshot ID"; the restore reports its progress to the
	// returned Op.
	Track func(space, subject string) Op
}

// DrillResult is one line of the drill history.
type DrillResult struct {
	Time     time.Time `json:"time"`
	Snapshot string    `json:"snapshot"`
	// Space is the source the snapshot belongs to ("" for none, and in
	// results written before it was recorded).
	Space    string        `json:"space,omitempty"`
	Files    int           `json:"files"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"` // time to restore the sample
	OK       bool          `json:"ok"`
	// Failures names each file that did not come back intact, with why.
	Failures []string `json:"failures,omitempty"`
}

// Seconds returns the time to restore in seconds, for metrics.
func (r DrillResult) Seconds() float64 { return r.Duration.Seconds() }

type sample struct {
	path string
	node *vault.Node
}

func (d *Drill) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Drill) rng() *rand.Rand {
	if d.Rand == nil {
		d.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return d.Rand
}

// Run performs one drill. Damaged or missing repository data, and
// restored files that differ from the snapshot, make a result with OK
// false and the failing paths; an error means the drill itself could not
// run (no snapshots: ErrNoSnapshots; an unreadable snapshot list or tree,
// a scratch directory that cannot be written, ctx cancelled).
func (d *Drill) Run(ctx context.Context) (*DrillResult, error) {
	snaps, err := d.Repo.Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("drill: list snapshots: %w", err)
	}
	if len(snaps) == 0 {
		return nil, ErrNoSnapshots
	}
	rng := d.rng()
	snap := snaps[rng.IntN(len(snaps))]
	res := &DrillResult{Time: d.now(), Snapshot: snap.ID().String()}
	if d.SpaceOf != nil {
		res.Space = d.SpaceOf(snap)
	}

	k := d.Files
	if k <= 0 {
		k = DefaultDrillFiles
	}
	// Reservoir sampling (algorithm R): every file has a k/n chance.
	var picked []sample
	seen := 0
	err = d.Repo.Walk(ctx, snap.Tree, func(p string, n *vault.Node) error {
		if n.Type != vault.NodeFile {
			return nil
		}
		seen++
		if len(picked) < k {
			picked = append(picked, sample{p, n})
		} else if j := rng.IntN(seen); j < k {
			picked[j] = sample{p, n}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A tree that cannot be read is a failed drill: that part of the
		// snapshot cannot be restored.
		res.Failures = append(res.Failures, fmt.Sprintf("snapshot %s: tree unreadable: %v", snap.ID().Short(), err))
	}
	if len(picked) == 0 {
		res.OK = len(res.Failures) == 0
		return res, nil
	}

	if err := os.MkdirAll(d.Scratch, 0o700); err != nil {
		return nil, fmt.Errorf("drill: scratch directory: %w", err)
	}
	target, err := os.MkdirTemp(d.Scratch, "drill-")
	if err != nil {
		return nil, fmt.Errorf("drill: scratch directory: %w", err)
	}
	defer removeAll(target)

	include := make([]string, len(picked))
	for i, s := range picked {
		include[i] = escapeGlob(s.path)
	}
	start := time.Now()
	var op Op = noOp{}
	if d.Track != nil {
		op = d.Track(res.Space, "snapshot "+snap.ID().Short())
	}
	_, rerr := d.Repo.Restore(ctx, snap, vault.RestoreOptions{Target: target, Include: include,
		Progress: func(p vault.Progress) { op.Update(p.Files, p.TotalFiles, p.Bytes, p.TotalBytes) }})
	op.Done(rerr)
	res.Duration = time.Since(start)
	if rerr != nil && !errors.Is(rerr, vault.ErrCorrupt) && !errors.Is(rerr, vault.ErrBlobMissing) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("drill: restore into %s: %w", target, rerr)
	}

	for _, s := range picked {
		res.Files++
		res.Bytes += int64(s.node.Size)
		if why := d.verify(ctx, target, s); why != "" {
			res.Failures = append(res.Failures, s.path+": "+why)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.OK = len(res.Failures) == 0
	return res, nil
}

// verify checks one restored file against the snapshot: size, and
// SHA-256 against the stored blobs read afresh. It returns why the file
// failed, or "".
func (d *Drill) verify(ctx context.Context, target string, s sample) string {
	want := sha256.New()
	var buf []byte
	var stored int64
	for i, id := range s.node.Content {
		b, err := d.Repo.LoadBlob(ctx, id, buf[:0])
		if err != nil {
			return fmt.Sprintf("stored data damaged (blob %d of %d): %v", i+1, len(s.node.Content), err)
		}
		buf = b
		stored += int64(len(b))
		want.Write(b)
	}
	if stored != int64(s.node.Size) {
		return fmt.Sprintf("stored content is %d bytes, the snapshot says %d", stored, s.node.Size)
	}
	local := filepath.Join(target, filepath.FromSlash(s.path))
	f, err := os.Open(local)
	if err != nil {
		return fmt.Sprintf("not restored: %v", err)
	}
	defer f.Close()
	got := sha256.New()
	n, err := io.Copy(got, f)
	if err != nil {
		return fmt.Sprintf("restored file unreadable: %v", err)
	}
	if n != int64(s.node.Size) {
		return fmt.Sprintf("restored %d bytes, want %d", n, s.node.Size)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		return "restored content differs from the stored content"
	}
	return ""
}

// escapeGlob quotes the shell-glob characters of a path so that a
// RestoreOptions.Include pattern matches exactly that path.
func escapeGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// removeAll removes a scratch tree, making restored read-only
// directories writable first.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// AppendHistory appends one result to the JSON-lines history at path in a
// single write, and syncs it to disk.
func AppendHistory(path string, r DrillResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("append drill history %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("append drill history %s: %w", path, err)
	}
	return f.Close()
}

// History reads the drill history at path, oldest first. A missing file
// is an empty history; a line torn by a crash is skipped.
func History(path string) ([]DrillResult, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []DrillResult
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r DrillResult
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// DefaultDrillEvery is how often a DrillService drills when Every is zero.
const DefaultDrillEvery = 7 * 24 * time.Hour

// DrillService runs drills on a schedule: the next drill is due Every
// after the last one in the history at StatePath (at once when there is
// none), so a restart keeps the rhythm.
type DrillService struct {
	Drill
	Every     time.Duration
	StatePath string // drill history, JSON lines
	Alert     AlertFunc
	Resolve   ResolveFunc
	// OnResult, when set, is called after each drill from Serve's
	// goroutine (metrics).
	OnResult func(DrillResult)
	Logger   *slog.Logger
}

// Serve drills until ctx is done; it returns ctx's error. A drill that
// fails raises a critical "drill" alert naming the damaged files; the
// next successful one resolves it. A drill that cannot run at all raises
// a warning under the key "drill-error" and is retried after an hour (or
// Every, when shorter).
func (s *DrillService) Serve(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = DefaultDrillEvery
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	var next time.Time
	if h, err := History(s.StatePath); err != nil {
		log.Warn("drill history unreadable; drilling now", "path", s.StatePath, "err", err)
	} else if len(h) > 0 {
		next = h[len(h)-1].Time.Add(every)
	}
	for {
		if err := sleepUntil(ctx, s.now, next); err != nil {
			return err
		}
		res, err := s.Run(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case errors.Is(err, ErrNoSnapshots):
			s.Resolve.resolve("drill-error", "")
			next = s.now().Add(min(time.Hour, every))
			continue
		case err != nil:
			log.Warn("restore drill could not run", "err", err)
			s.Alert.raise("drill", "drill-error", "", false, "Restore drill could not run",
				fmt.Sprintf("The scheduled restore drill could not run: %v. It will be retried; if this keeps happening, check the scratch space and the repository.", err))
			next = s.now().Add(min(time.Hour, every))
			continue
		}
		s.Resolve.resolve("drill-error", "")
		if err := AppendHistory(s.StatePath, *res); err != nil {
			log.Warn("drill history not saved", "path", s.StatePath, "err", err)
		}
		if s.OnResult != nil {
			s.OnResult(*res)
		}
		if res.OK {
			LogDone(log, "restore-drill", res.Duration, "result", "passed", "snapshot", shortID(res.Snapshot),
				"files", res.Files, "bytes", res.Bytes)
			s.Resolve.resolve("drill", fmt.Sprintf("A restore drill of %d files from snapshot %.8s passed.", res.Files, res.Snapshot))
		} else {
			log.Error("restore-drill failed", "op", "restore-drill", "result", "failed", "snapshot", shortID(res.Snapshot),
				"failures", res.Failures, "duration", res.Duration.Round(time.Millisecond))
			s.Alert.raise("drill", "drill", res.Space, true, "Restore drill failed: backed-up files did not come back intact",
				drillMessage(res))
		}
		next = res.Time.Add(every)
	}
}

// shortID is a snapshot ID's 8-character form, as the CLI prints it.
func shortID(id string) string { return id[:min(8, len(id))] }

func drillMessage(r *DrillResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "A test restore of %d sampled files from snapshot %.8s found %d problems; these could not be restored intact:\n",
		r.Files, r.Snapshot, len(r.Failures))
	for i, f := range r.Failures {
		if i == 10 {
			fmt.Fprintf(&b, "  … and %d more\n", len(r.Failures)-10)
			break
		}
		fmt.Fprintf(&b, "  %s\n", f)
	}
	b.WriteString("The backup copies of these files are damaged. Keep the originals, run `shoebox check --read-data` and a scrub, and back the originals up again.")
	return b.String()
}
