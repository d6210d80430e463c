package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

const (
	logName  = "audit.log"
	headName = "head"
)

// Options configure Open.
type Options struct {
	// Key is the chain key (ChainKey of the box key); required. Entries
	// are written keyed with it, and keyed entries verified with it.
	Key []byte
	// Anchor, if not nil, is the last anchored head: Open refuses
	// (ErrTampered) a log that is shorter than it, differs from it at its
	// seq, or is missing.
	Anchor *Anchor
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Log is an open audit log. Its methods are safe for concurrent use;
// entries are written one at a time, in the order Append is called.
type Log struct {
	dir string
	now func() time.Time
	key []byte

	mu   sync.Mutex
	f    *os.File     // nil once closed
	seq  uint64       // last entry
	hash string       // its hash
	size int64        // bytes of whole entries in the file
	err  error        // sticky: a write failed and left the file in doubt
	fix  func() error // what completes the repair of err
}

// Open opens the log in dir, creating dir and an empty log if needed,
// and takes the exclusive lock that makes this process its only writer
// (ErrLocked if another has it).
//
// Open verifies the whole log first, against opt.Anchor when given. It
// repairs what a crash leaves behind and records the repair as an entry
// (see "Crashes" in the package documentation); for any other problem it
// returns an error wrapping ErrTampered with Verify's reason and changes
// nothing. A log whose last entry is unkeyed (written by an earlier
// version) is continued with keyed entries, the first of which,
// "audit.keyed", says how many came before.
func Open(dir string, opt Options) (*Log, error) {
	if len(opt.Key) < 32 {
		return nil, errors.New("open audit log: no chain key (Options.Key)")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	path := filepath.Join(dir, logName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l := &Log{dir: dir, now: opt.Now, key: opt.Key, f: f}
	repair, unkeyed, err := l.load(opt.Anchor)
	if err != nil {
		f.Close()
		return nil, err
	}
	if repair != "" {
		if _, err := l.Append(Entry{Actor: "shoebox", Action: ActionAuditRepaired, Detail: map[string]string{"reason": repair}}); err != nil {
			l.Close()
			return nil, err
		}
	}
	if unkeyed {
		if _, err := l.Append(Entry{Actor: "shoebox", Action: ActionAuditKeyed, Detail: map[string]string{"unkeyed_entries": strconv.FormatUint(l.seq, 10)}}); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// load locks the file, verifies it, repairs a crash and sets l's state.
// It returns the repair's description, if any, and whether the log ends
// with an unkeyed entry.
func (l *Log) load(anchor *Anchor) (repair string, unkeyed bool, err error) {
	path := l.f.Name()
	if err := unix.Flock(int(l.f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return "", false, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return "", false, fmt.Errorf("lock audit log %s: %w", path, err)
	}
	removeTemps(l.dir)
	data, err := io.ReadAll(l.f)
	if err != nil {
		return "", false, fmt.Errorf("read audit log %s: %w", path, err)
	}
	hb, err := os.ReadFile(filepath.Join(l.dir, headName))
	hasHead := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read audit head: %w", err)
	}
	if !hasHead && len(data) == 0 {
		// A new log. The directory is synced so that the log file
		// outlives a crash, and the head is written before any entry.
		if anchor != nil && anchor.Seq > 0 {
			return "", false, fmt.Errorf("%s: the log is missing or empty, but its anchor of %s names entry %d: the log was deleted: %w",
				path, anchor.Time.UTC().Format(time.RFC3339), anchor.Seq, ErrTampered)
		}
		if err := atomicfile.SyncDir(l.dir); err != nil {
			return "", false, fmt.Errorf("create audit log %s: %w", path, err)
		}
		if err := l.writeHead(0, zeroHash); err != nil {
			return "", false, err
		}
		l.hash = zeroHash
		return "", false, nil
	}

	rep, st := check(data, hb, hasHead, l.key, anchor)
	switch {
	case rep.OK:
	case rep.Crash && st.torn:
		if err := l.f.Truncate(st.end); err != nil {
			return "", false, fmt.Errorf("repair audit log %s: %w", path, err)
		}
		if err := l.f.Sync(); err != nil {
			return "", false, fmt.Errorf("repair audit log %s: %w", path, err)
		}
		repair = rep.Reason
	case rep.Crash:
		if err := l.writeHead(st.seq, st.hash); err != nil {
			return "", false, err
		}
		repair = rep.Reason
	default:
		return "", false, fmt.Errorf("%s: %s: %w", path, rep.Reason, ErrTampered)
	}
	l.seq, l.hash, l.size = st.seq, st.hash, st.end
	return repair, st.seq > 0 && rep.Unkeyed == st.seq, nil
}

// removeTemps deletes temporary head files a crash left behind.
func removeTemps(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, "."+headName+".tmp*"))
	for _, t := range tmps {
		os.Remove(t)
	}
}

func (l *Log) writeHead(seq uint64, hash string) error {
	if err := atomicfile.WriteFile(filepath.Join(l.dir, headName), encodeHead(head{seq, hash}), 0o600); err != nil {
		return fmt.Errorf("write audit head in %s: %w", l.dir, err)
	}
	return nil
}

// Append adds e to the log and returns it as written: with Seq, Time,
// Prev and Hash set, and any secret in its strings redacted (see
// "Secrets" in the package documentation). e.Action must not be empty;
// e.Seq, e.Time, e.Prev and e.Hash are ignored.
//
// When Append returns nil the entry is on disk (the log and its head are
// fsynced). When it returns an error the entry was not recorded, except
// after a failed head update: then the entry is in the log, and the Log
// refuses further entries (ErrFailed) until a later Append completes the
// repair (writes the head, or cuts off a failed write) before its own
// entry — or the next Open does.
func (l *Log) Append(e Entry) (Entry, error) {
	if e.Action == "" {
		return Entry{}, fmt.Errorf("%w: no action", ErrInvalid)
	}
	e = clean(e)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return Entry{}, ErrClosed
	}
	if l.err != nil {
		if err := l.fix(); err != nil {
			return Entry{}, fmt.Errorf("%w (repair failed again: %w)", l.err, err)
		}
		l.err, l.fix = nil, nil
	}
	e.Version = V2
	e.Seq = l.seq + 1
	e.Time = l.now().UTC()
	e.Prev = l.hash
	e.Hash = mac(l.key, e)
	b := append(encode(e), '\n')

	if _, err := l.f.Write(b); err != nil {
		return Entry{}, l.undo(err)
	}
	if err := l.f.Sync(); err != nil {
		return Entry{}, l.undo(err)
	}
	l.seq, l.hash, l.size = e.Seq, e.Hash, l.size+int64(len(b))
	if err := l.writeHead(e.Seq, e.Hash); err != nil {
		l.err = fmt.Errorf("%w: entry %d is in the log but %w", ErrFailed, e.Seq, err)
		seq, hash := e.Seq, e.Hash
		l.fix = func() error { return l.writeHead(seq, hash) }
		return Entry{}, l.err
	}
	return e, nil
}

// undo cuts a failed write off the log. If that fails too the Log stops.
func (l *Log) undo(cause error) error {
	err := fmt.Errorf("write audit log %s: %w", l.f.Name(), cause)
	cut := func() error {
		if err := l.f.Truncate(l.size); err != nil {
			return err
		}
		return l.f.Sync()
	}
	if cerr := cut(); cerr != nil {
		l.err, l.fix = fmt.Errorf("%w: %w, then %w", ErrFailed, err, cerr), cut
		return l.err
	}
	return err
}

// Filter selects entries for List. Zero fields select everything.
type Filter struct {
	Since  time.Time // entries at or after this time
	Actor  string    // exactly this actor
	Action string    // exactly this action, or with a final "." every action under it ("share.")
	Limit  int       // at most this many, the newest; 0 for no limit
}

func (f Filter) match(e Entry) bool {
	switch {
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case f.Actor != "" && e.Actor != f.Actor:
		return false
	case strings.HasSuffix(f.Action, "."):
		return strings.HasPrefix(e.Action, f.Action)
	case f.Action != "":
		return e.Action == f.Action
	}
	return true
}

// List returns the entries f selects, newest first. It reads the log
// from disk but does not verify the chain (Verify does); a line that
// cannot be read is an error wrapping ErrTampered.
func (l *Log) List(f Filter) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil, ErrClosed
	}
	data := make([]byte, l.size)
	if _, err := l.f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("read audit log %s: %w", l.f.Name(), err)
	}
	var out []Entry
	for len(data) > 0 && (f.Limit <= 0 || len(out) < f.Limit) {
		b := data[:len(data)-1] // the final newline
		i := bytes.LastIndexByte(b, '\n')
		e, err := decode(b[i+1:])
		if err != nil {
			return nil, fmt.Errorf("%s: a line %v, run Verify: %w", l.f.Name(), err, ErrTampered)
		}
		if f.match(e) {
			out = append(out, e)
		}
		data = data[:i+1]
	}
	return out, nil
}

// Verify verifies the open log against anchor (nil for none), like the
// package's Verify with the log's key, but safe while entries are being
// appended.
func (l *Log) Verify(anchor *Anchor) (Report, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return Report{}, ErrClosed
	}
	data, hb, hok, err := readFiles(l.dir)
	if err != nil {
		return Report{}, err
	}
	rep, _ := check(data, hb, hok, l.key, anchor)
	return rep, nil
}

// Anchor returns the head as an anchor taken now.
func (l *Log) Anchor() Anchor {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Anchor{Seq: l.seq, Hash: l.hash, Time: l.now().UTC()}
}

// Head returns the seq and hash of the last entry, for anchoring the log
// elsewhere.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.hash
}

// Close releases the log. Further calls return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrClosed
	}
	err := l.f.Close() // releases the flock
	l.f = nil
	return err
}
