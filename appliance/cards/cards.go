package cards

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoebox/shoebox/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// Where a verified copy of a card file can be, besides the card.
const (
	// CopyArray: in a snapshot on the box's redundant disk array, read
	// back from the array and compared with the card's SHA-256.
	CopyArray = "array"
	// CopyOffsite: confirmed by the paired offsite unit.
	CopyOffsite = "offsite"
)

// DefaultRequire is the copies a card's files need before the card is
// SAFE TO FORMAT when the config names none: what the box can deliver, a
// verified copy on the redundant array, and also offsite once an offsite
// unit is configured (with the card that makes 3-2-1).
func DefaultRequire(offsiteConfigured bool) []string {
	if offsiteConfigured {
		return []string{CopyArray, CopyOffsite}
	}
	return []string{CopyArray}
}

// Copy is one verified copy of a card file besides the card.
type Copy struct {
	Where    string    `json:"where"`              // CopyArray or CopyOffsite
	Snapshot string    `json:"snapshot,omitempty"` // the snapshot holding it (array)
	Verified time.Time `json:"verified"`           // when it was read back and compared
}

// DefaultNaming is the folder template used when Config.Naming is empty.
const DefaultNaming = "{date}/{camera}"

// Config configures card ingest.
type Config struct {
	// Library is where card files are copied, e.g. /srv/photos/cards.
	Library string
	// Naming is the folder template under Library, made of the tokens
	// {date} (2006-01-02: EXIF DateTimeOriginal of JPEG and TIFF-based raw
	// files, else the file's mtime in local time), {camera} (EXIF Model,
	// else "unknown") and {card} (the card ID), separated by "/" or other
	// text. Files of the card folder sharing a stem (IMG_0001.CR2,
	// IMG_0001.JPG, IMG_0001.xmp) go to the same folder. Default
	// "{date}/{camera}".
	Naming string
	// LedgerDir holds one ledger per card, <card>.json.
	LedgerDir string
	// Require names the verified copies besides the card (CopyArray,
	// CopyOffsite) every file needs for SAFE TO FORMAT. Empty means
	// DefaultRequire(false).
	Require []string
}

func (c Config) require() []string {
	if len(c.Require) == 0 {
		return DefaultRequire(false)
	}
	return slices.Clone(c.Require)
}

func (c Config) naming() string {
	if c.Naming == "" {
		return DefaultNaming
	}
	return c.Naming
}

func (c Config) validate() error {
	if c.Library == "" {
		return fmt.Errorf("%w: Library is empty", ErrConfig)
	}
	if c.LedgerDir == "" {
		return fmt.Errorf("%w: LedgerDir is empty", ErrConfig)
	}
	n := c.naming()
	rest := strings.NewReplacer("{date}", "", "{camera}", "", "{card}", "").Replace(n)
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("%w: Naming %q: only {date}, {camera} and {card} are known", ErrConfig, n)
	}
	for _, r := range c.Require {
		if r != CopyArray && r != CopyOffsite {
			return fmt.Errorf("%w: Require %q: only %q and %q are known", ErrConfig, r, CopyArray, CopyOffsite)
		}
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: Naming %q: empty, \".\" or \"..\" folder", ErrConfig, n)
		}
	}
	return nil
}

// Verifier is what the daemon supplies: it backs up library files and
// says which verified copies of a file exist. Its methods may be called
// from any goroutine; they must honour ctx.
type Verifier interface {
	// Backup backs up the given library paths (absolute) and returns the
	// snapshot ID.
	Backup(ctx context.Context, paths []string) (snapshot string, err error)
	// Verified reports the verified copies of a library file (absolute
	// path) with the given SHA-256 content: CopyArray once a snapshot
	// holding it on the redundant array has been read back and compared,
	// CopyOffsite once the paired unit confirms it. snapshot is the one
	// the ledger recorded for the file ("" when none): the verifier looks
	// there first, then in the other snapshots, not only the latest.
	Verified(ctx context.Context, path string, sha256 [32]byte, snapshot string) ([]Copy, error)
	// Unavailable says why copies of a kind cannot count now ("the disk
	// array is degraded: …", "no offsite unit is paired with this box"),
	// "" when they can.
	Unavailable(ctx context.Context, where string) string
}

// saveEvery bounds the work lost by a crash during the copy phase; a
// restarted ingest also adopts identical files it finds in the library.
const (
	saveEveryFiles = 32
	saveEveryTime  = 2 * time.Second
)

// Ingest copies every regular file of the card mounted at cardRoot into
// the library, verifies each copy by reading it back, records it in the
// card's ledger, and backs the copies up with v.Backup. The ledger is
// saved after the copy phase, after the backup, and every few files in
// between; an ingest that was interrupted (crash, cancelled ctx) is resumed
// by calling Ingest again: files already copied and verified are skipped,
// and no file is copied twice.
//
// A file that cannot be read is recorded with its error and does not stop
// the ingest; the verdict lists it. Ingest returns an error for what stops
// it (ctx cancelled, library or ledger not writable, backup failed),
// together with the ledger as saved so far when there is one.
//
// progress, if not nil, is called synchronously after each file with the
// number of files handled and the total. Two ingests of the same card at
// once: the second returns ErrBusy.
func Ingest(ctx context.Context, cfg Config, cardRoot, cardID string, v Verifier, progress func(done, total int)) (*Ledger, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	lp, err := ledgerPath(cfg, cardID)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(cardRoot)
	if err != nil {
		return nil, fmt.Errorf("ingest card %s: %w", cardID, err)
	}
	var rootStat unix.Stat_t
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("ingest card %s: card root %s is not a readable folder: %v", cardID, root, err)
	}
	if err := unix.Stat(root, &rootStat); err != nil {
		return nil, fmt.Errorf("ingest card %s: %w", cardID, err)
	}
	// removed reports the card gone: its root vanished or is now another
	// file system (unmounted: the mount point's own folder shows).
	removed := func() bool {
		var st unix.Stat_t
		return unix.Stat(root, &st) != nil || st.Dev != rootStat.Dev || st.Ino != rootStat.Ino
	}
	removedErr := func(l *Ledger, total int) error {
		done := 0
		for _, f := range l.Files {
			if f.Copied && f.Verified {
				done++
			}
		}
		return saveAnd(l, fmt.Errorf("ingest card %s: %w (%s): %d of %d files copied; "+
			"insert the card again to finish (the copy resumes where it stopped) and do not format it", cardID, ErrCardRemoved, root, done, total))
	}
	for _, d := range []string{cfg.LedgerDir, cfg.Library} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("ingest card %s: %w", cardID, err)
		}
	}
	unlock, err := lockCard(lp)
	if err != nil {
		return nil, fmt.Errorf("ingest card %s: %w", cardID, err)
	}
	defer unlock()

	l, err := loadFile(lp)
	if errors.Is(err, ErrNoLedger) {
		l = &Ledger{Version: LedgerVersion, Card: cardID, path: lp}
	} else if err != nil {
		return nil, err
	}
	l.require = cfg.require()
	l.CardRoot, l.Naming, l.Started, l.Completed = root, cfg.naming(), time.Now().UTC(), time.Time{}
	if l.Library != "" && l.Library != cfg.Library {
		return l, fmt.Errorf("%w: Library is %s but card %s was ingested into %s", ErrConfig, cfg.Library, cardID, l.Library)
	}
	l.Library = cfg.Library

	sc, err := scanCard(ctx, root)
	if err != nil {
		if removed() {
			return l, removedErr(l, len(l.Files))
		}
		return l, fmt.Errorf("ingest card %s: %w", cardID, err)
	}
	l.Skipped = sc.skipped
	byPath := make(map[string]int, len(l.Files))
	for i, f := range l.Files {
		byPath[f.CardPath] = i
	}
	entry := func(p string) *File {
		i, ok := byPath[p]
		if !ok {
			i = len(l.Files)
			l.Files = append(l.Files, File{CardPath: p})
			byPath[p] = i
		}
		return &l.Files[i]
	}
	for _, o := range sc.odd {
		f := entry(o.rel)
		if !f.Copied { // a copied file that became odd stays as it was; the verdict flags it
			f.Error = o.reason
		}
	}

	folders := folderFor(cfg, cardID, root, sc.files, func(f cardFile) bool {
		i, ok := byPath[f.rel]
		return ok && l.Files[i].done(cfg.Library, f)
	})
	total := len(sc.files) + len(sc.odd)
	done := len(sc.odd)
	lastSave, sinceSave := time.Now(), 0
	for _, cf := range sc.files {
		if err := ctx.Err(); err != nil {
			return l, saveAnd(l, fmt.Errorf("ingest card %s: %w", cardID, err))
		}
		f := entry(cf.rel)
		if !f.done(cfg.Library, cf) {
			*f = File{CardPath: cf.rel, Size: cf.size, ModTime: cf.mtime}
			rel, sum, err := copyFile(ctx, cfg.Library, filepath.Join(root, filepath.FromSlash(cf.rel)), folders[cf.rel], cf)
			switch {
			case err == nil:
				f.LibraryPath, f.SHA256, f.Copied, f.Verified = rel, hex.EncodeToString(sum[:]), true, true
			case ctx.Err() != nil:
				return l, saveAnd(l, fmt.Errorf("ingest card %s: %w", cardID, ctx.Err()))
			case errors.Is(err, errLibrary):
				return l, saveAnd(l, fmt.Errorf("ingest card %s: %w", cardID, err))
			case removed():
				return l, removedErr(l, len(sc.files))
			default:
				f.Error = err.Error()
			}
			sinceSave++
		}
		done++
		if progress != nil {
			progress(done, total)
		}
		if sinceSave >= saveEveryFiles || sinceSave > 0 && time.Since(lastSave) > saveEveryTime {
			if err := l.save(); err != nil {
				return l, err
			}
			lastSave, sinceSave = time.Now(), 0
		}
	}
	if progress != nil && total == 0 {
		progress(0, 0)
	}
	if err := l.save(); err != nil {
		return l, err
	}

	// Backup phase: every verified copy not yet in a snapshot.
	var paths []string
	var idx []int
	for i, f := range l.Files {
		if f.Copied && f.Verified && f.Snapshot == "" {
			paths = append(paths, filepath.Join(cfg.Library, filepath.FromSlash(f.LibraryPath)))
			idx = append(idx, i)
		}
	}
	if len(paths) > 0 {
		snap, err := v.Backup(ctx, paths)
		if err != nil {
			return l, saveAnd(l, fmt.Errorf("ingest card %s: back up %d copied files: %w", cardID, len(paths), err))
		}
		for _, i := range idx {
			l.Files[i].Snapshot = snap
		}
		l.Snapshot = snap
	}
	l.Completed = time.Now().UTC()
	if err := l.save(); err != nil {
		return l, err
	}
	return l, nil
}

func saveAnd(l *Ledger, err error) error {
	if serr := l.save(); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// done reports whether the ledger entry already holds a verified copy of
// the card file as it is now, and the copy is still in the library.
func (f *File) done(library string, cf cardFile) bool {
	if !f.Copied || !f.Verified || f.Size != cf.size || !f.ModTime.Equal(cf.mtime) || f.LibraryPath == "" {
		return false
	}
	fi, err := os.Stat(filepath.Join(library, filepath.FromSlash(f.LibraryPath)))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == f.Size
}

// lockCard takes an exclusive lock on the card's ledger.
func lockCard(ledger string) (func(), error) {
	f, err := os.OpenFile(ledger+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// cardFile is a regular file found on the card.
type cardFile struct {
	rel   string // slash-separated, relative to the card root
	size  int64
	mtime time.Time
}

type oddFile struct{ rel, reason string }

type scan struct {
	files   []cardFile
	odd     []oddFile // present but not ingestible: not a regular file, unreadable folder
	skipped []Skipped
}

// systemNames are folders and files that card readers and operating systems
// leave on cards; they are not photos.
var systemNames = map[string]bool{
	"System Volume Information": true,
	"$RECYCLE.BIN":              true,
	"RECYCLER":                  true,
	"Thumbs.db":                 true,
	"desktop.ini":               true,
}

func hiddenName(name string) bool { return strings.HasPrefix(name, ".") || systemNames[name] }

// scanCard walks the card in lexical order without following symlinks and
// without opening anything but folders.
func scanCard(ctx context.Context, root string) (scan, error) {
	var s scan
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			if rel == "." {
				return err
			}
			s.odd = append(s.odd, oddFile{rel, "unreadable: " + err.Error()})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if rel == "." {
			return nil
		}
		if hiddenName(d.Name()) {
			s.skipped = append(s.skipped, Skipped{CardPath: rel, Reason: "hidden or system file"})
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				s.odd = append(s.odd, oddFile{rel, "unreadable: " + err.Error()})
				return nil
			}
			s.files = append(s.files, cardFile{rel: rel, size: fi.Size(), mtime: fi.ModTime()})
		default:
			s.odd = append(s.odd, oddFile{rel, "not a regular file (" + d.Type().String() + ")"})
		}
		return nil
	})
	return s, err
}

// folderFor decides the library folder (slash-separated, relative to the
// library) of each card file that still needs copying. Files of one card
// folder with the same stem share the folder of the first of them that
// has an EXIF date, so a raw file stays next to its JPEG and sidecar.
func folderFor(cfg Config, cardID, root string, files []cardFile, skip func(cardFile) bool) map[string]string {
	type group struct {
		info    exifInfo
		mtime   time.Time
		hasDate bool
	}
	groups := map[string]*group{}
	key := func(rel string) string {
		ext := path.Ext(rel)
		return strings.ToLower(strings.TrimSuffix(rel, ext))
	}
	var todo []cardFile
	for _, f := range files {
		if !skip(f) {
			todo = append(todo, f)
		}
	}
	needExif := strings.Contains(cfg.naming(), "{date}") || strings.Contains(cfg.naming(), "{camera}")
	for _, f := range todo {
		k := key(f.rel)
		g := groups[k]
		if g == nil {
			g = &group{mtime: f.mtime}
			groups[k] = g
		}
		if !needExif || g.hasDate {
			continue
		}
		info := exifOf(filepath.Join(root, filepath.FromSlash(f.rel)))
		if info.Date != "" {
			g.info, g.hasDate = info, true
		} else if g.info.Model == "" {
			g.info.Model = info.Model
		}
	}
	out := make(map[string]string, len(todo))
	for _, f := range todo {
		g := groups[key(f.rel)]
		date := g.info.Date
		if date == "" {
			date = g.mtime.Local().Format("2006-01-02")
		}
		out[f.rel] = strings.NewReplacer(
			"{date}", date,
			"{camera}", cleanName(g.info.Model),
			"{card}", cleanName(cardID),
		).Replace(cfg.naming())
	}
	return out
}

func exifOf(p string) exifInfo {
	f, err := os.OpenFile(p, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return exifInfo{}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return exifInfo{}
	}
	return readExif(f, fi.Size())
}

// nonblock keeps open from waiting on a FIFO found where a file was.
const nonblock = unix.O_NONBLOCK

// cleanName makes a metadata value usable as one folder name.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == ':' {
			return '_'
		}
		return r
	}, s)
	s = strings.Trim(strings.TrimSpace(s), ".")
	if s == "" {
		return "unknown"
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// copyFile copies the card file src into the library folder dir (relative),
// durably and without overwriting a different file, and verifies the copy
// by reading it back. It returns the copy's path relative to the library.
// A file with the same name and the same bytes already there is adopted,
// not copied again.
func copyFile(ctx context.Context, library, src, dir string, cf cardFile) (string, [32]byte, error) {
	var sum [32]byte
	in, err := os.OpenFile(src, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return "", sum, fmt.Errorf("unreadable: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", sum, fmt.Errorf("unreadable: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", sum, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	absDir := filepath.Join(library, filepath.FromSlash(dir))
	if err := os.MkdirAll(absDir, 0o755); err != nil {
		return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
	}
	tmp, err := os.CreateTemp(absDir, ".shoebox-card-*.tmp")
	if err != nil {
		return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
	}
	defer os.Remove(tmp.Name()) // after a link or a failure
	defer tmp.Close()

	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, in})
	if err != nil {
		if ctx.Err() != nil {
			return "", sum, ctx.Err()
		}
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == tmp.Name() {
			return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
		}
		return "", sum, fmt.Errorf("unreadable: %w", err)
	}
	copy(sum[:], h.Sum(nil))
	if after, err := in.Stat(); err != nil || n != cf.size || after.Size() != n || !after.ModTime().Equal(cf.mtime) {
		return "", sum, fmt.Errorf("changed while it was being copied (%d bytes read, %d expected)", n, cf.size)
	}
	if err := tmp.Sync(); err != nil {
		return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
	}
	// Read the copy back, from the disk rather than the page cache where
	// the kernel allows it.
	_ = unix.Fadvise(int(tmp.Fd()), 0, 0, unix.FADV_DONTNEED)
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
	}
	h2 := sha256.New()
	if _, err := io.Copy(h2, ctxReader{ctx, tmp}); err != nil {
		if ctx.Err() != nil {
			return "", sum, ctx.Err()
		}
		return "", sum, fmt.Errorf("%w: read back: %w", errLibrary, err)
	}
	if string(h2.Sum(nil)) != string(sum[:]) {
		return "", sum, fmt.Errorf("%w: %w", errLibrary, ErrVerify)
	}
	if err := os.Chtimes(tmp.Name(), cf.mtime, cf.mtime); err != nil {
		return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
	}
	base := path.Base(cf.rel)
	for i := 0; ; i++ {
		name := suffixed(base, i)
		dst := filepath.Join(absDir, name)
		err := os.Link(tmp.Name(), dst)
		if err == nil {
			if err := atomicfile.SyncDir(absDir); err != nil {
				return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
			}
			return path.Join(dir, name), sum, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", sum, fmt.Errorf("%w: %w", errLibrary, err)
		}
		if same, _ := sameContent(dst, n, sum); same {
			return path.Join(dir, name), sum, nil
		}
		if i > 10000 {
			return "", sum, fmt.Errorf("%w: too many files named %s in %s", errLibrary, base, absDir)
		}
	}
}

// suffixed returns name for i == 0, else name with "-i" before the extension.
func suffixed(name string, i int) string {
	if i == 0 {
		return name
	}
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "-" + strconv.Itoa(i) + ext
}

func sameContent(p string, size int64, sum [32]byte) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false, err
	}
	got, err := hashReader(context.Background(), f)
	return err == nil && got == sum, err
}

func hashReader(ctx context.Context, r io.Reader) ([32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
