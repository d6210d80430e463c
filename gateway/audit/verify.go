package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Report is what Verify found.
type Report struct {
	// OK is true when every entry is intact, chained and named by the
	// head: the log is exactly what was appended.
	OK bool

	// Entries is how many entries, from seq 1, verified.
	Entries uint64

	// LastHash is the hash of entry Entries (64 "0"s when there is none).
	LastHash string

	// Head is the seq the head file names (0 if it is missing or damaged).
	Head uint64

	// BadSeq is the first entry that fails, or 0 when OK or when the
	// problem is with the head file alone.
	BadSeq uint64

	// Reason says what is wrong, in plain language; "" when OK.
	Reason string

	// Crash is true when the problem is what a crash leaves behind
	// (see "Crashes" in the package documentation): Open repairs it.
	Crash bool

	// Unkeyed is how many entries at the start of the log are V1
	// (unkeyed, from an earlier version): evidence, but a full rewrite
	// of them is caught only by an anchor.
	Unkeyed uint64

	// Anchored is the seq of the anchor the log was checked against, 0
	// when none was given.
	Anchored uint64
}

func (r Report) String() string {
	if r.OK {
		return fmt.Sprintf("audit log OK: %d entries, last hash %s", r.Entries, r.LastHash)
	}
	return r.Reason
}

// head is the head file's content.
type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func encodeHead(h head) []byte {
	b, _ := json.Marshal(h)
	return append(b, '\n')
}

// parseHead reads a head file's bytes, which must be exactly what
// encodeHead writes.
func parseHead(b []byte) (head, bool) {
	var h head
	if json.Unmarshal(b, &h) != nil || !validHash(h.Hash) || !bytes.Equal(encodeHead(h), b) {
		return head{}, false
	}
	return h, true
}

// Verify checks the log in dir (see Open) and reports the first problem.
// key is the chain key (ChainKey): keyed entries cannot be checked
// without it. anchor, if not nil, is the last anchored head (see
// "Anchors" in the package documentation): a log shorter than it, or
// with another hash at its seq, or missing, fails. The error is for
// files that cannot be read; a damaged log is a Report with OK false.
//
// Verify reads the files without locking them: run it on a log no process
// is writing, or use (*Log).Verify on the open one. A missing directory
// or an empty one is an empty, intact log, unless an anchor names
// entries.
func Verify(dir string, key []byte, anchor *Anchor) (Report, error) {
	data, hb, hok, err := readFiles(dir)
	if err != nil {
		return Report{}, err
	}
	rep, _ := check(data, hb, hok, key, anchor)
	return rep, nil
}

// readFiles reads the log (nil if missing) and the head (hok false if
// missing).
func readFiles(dir string) (data, hb []byte, hok bool, err error) {
	hb, err = os.ReadFile(filepath.Join(dir, headName))
	switch {
	case err == nil:
		hok = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, false, fmt.Errorf("read audit head: %w", err)
	}
	// The head is read first: a writer appends to the log before it
	// moves the head, so the log holds at least what this head names.
	data, err = os.ReadFile(filepath.Join(dir, logName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, fmt.Errorf("read audit log: %w", err)
	}
	return data, hb, hok, nil
}

// state is where a check of the log ended, for Open.
type state struct {
	seq  uint64 // last good entry
	hash string // its hash
	end  int64  // offset after its newline
	torn bool   // the rest of the file is an incomplete line
}

// check verifies a log's bytes against its head file's bytes (hasHead
// false when there is no head file), the chain key and the anchor.
func check(data, hb []byte, hasHead bool, key []byte, anchor *Anchor) (Report, state) {
	st := state{hash: zeroHash}
	rep := Report{LastHash: zeroHash}
	fail := func(seq uint64, format string, args ...any) (Report, state) {
		rep.BadSeq = seq
		rep.Reason = fmt.Sprintf(format, args...)
		return rep, st
	}

	h := head{Hash: zeroHash}
	if hasHead {
		var ok bool
		if h, ok = parseHead(hb); !ok {
			return fail(0, "the head file is damaged or was edited: it does not hold a seq and hash as the log writes them")
		}
		rep.Head = h.Seq
	} else if len(data) > 0 {
		return fail(0, "the head file is missing although the log has entries: it was deleted, so a cut-off end of the log would go unnoticed")
	}

	anchoredHash := ""
	keyed := false
	rest := data
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			st.torn = true
			break
		}
		seq := st.seq + 1
		e, err := decode(rest[:i])
		switch {
		case i == 0:
			return fail(seq, "entry %d: the log has an empty line where entry %d should be", seq, seq)
		case errors.Is(err, errNotJSON):
			return fail(seq, "entry %d is damaged: its line is not a JSON entry", seq)
		case err != nil:
			return fail(seq, "entry %d was edited: its line is not in the exact form the log writes", seq)
		case e.Seq > seq:
			return fail(seq, "entry %d is missing: the line after entry %d holds entry %d, so entries were deleted or reordered", seq, st.seq, e.Seq)
		case e.Seq < seq:
			return fail(seq, "entry %d is out of place: where entry %d should be the log holds entry %d again, so entries were reordered or copied", seq, seq, e.Seq)
		case e.Prev != st.hash:
			if seq == 1 {
				return fail(seq, "entry 1 does not start the chain (its prev is not 64 zeros): entries before it were removed or it was replaced")
			}
			return fail(seq, "entry %d does not follow entry %d (its prev is not entry %d's hash): entry %d was replaced or entries were reordered", seq, st.seq, st.seq, st.seq)
		case e.Version == V1 && keyed:
			return fail(seq, "entry %d is unkeyed although keyed entries come before it: it was written or rewritten without the box key", seq)
		case e.Version == V2 && len(key) == 0:
			return fail(seq, "entry %d is keyed: checking it needs the chain key, derived from the box key (STATE/gateway/box.key)", seq)
		case e.Hash != hashOf(e, key):
			if e.Version == V2 {
				return fail(seq, "entry %d was edited or forged: its keyed hash does not match its contents (or the box key is not the one that wrote it)", seq)
			}
			return fail(seq, "entry %d was edited: its hash does not match its contents", seq)
		}
		keyed = keyed || e.Version == V2
		if !keyed {
			rep.Unkeyed = seq
		}
		if anchor != nil && seq == anchor.Seq {
			anchoredHash = e.Hash
		}
		st.seq, st.hash = seq, e.Hash
		st.end += int64(i) + 1
		rep.Entries, rep.LastHash = seq, e.Hash
		rest = rest[i+1:]
	}

	n := st.seq
	if anchor != nil && anchor.Seq > 0 {
		rep.Anchored = anchor.Seq
		when := anchor.Time.UTC().Format(time.RFC3339)
		switch {
		case n == 0:
			return fail(1, "the log is missing or empty, but its anchor of %s names entry %d: the log was deleted", when, anchor.Seq)
		case n < anchor.Seq && !st.torn:
			return fail(n+1, "the log ends at entry %d, but its anchor of %s names entry %d: entries %d to %d were cut off", n, when, anchor.Seq, n+1, anchor.Seq)
		case n < anchor.Seq:
			return fail(n+1, "entry %d is incomplete and the log ends before entry %d, which its anchor of %s names: the end of the log was cut off", n+1, anchor.Seq, when)
		case anchoredHash != anchor.Hash:
			return fail(anchor.Seq, "entry %d differs from the copy of the head anchored at %s: the log was rewritten", anchor.Seq, when)
		}
	}
	switch {
	case st.torn && h.Seq == n && h.Hash == st.hash:
		rep.Crash = true
		return fail(n+1, "incomplete last entry, probably a crash: entry %d was being written when the box stopped and was never acknowledged (%d bytes without an end of line); opening the log removes it", n+1, len(rest))
	case st.torn && h.Seq > n:
		return fail(n+1, "entry %d is incomplete although it had been recorded (the head names entry %d): the end of the log was cut off or damaged", n+1, h.Seq)
	case st.torn:
		return fail(n+1, "entry %d is incomplete and the head does not match the entries before it: the head was rewritten", n+1)
	case h.Seq > n:
		return fail(n+1, "the log ends at entry %d but the head names entry %d: entries %d to %d were cut off the end", n, h.Seq, n+1, h.Seq)
	case h.Seq == n && h.Hash != st.hash:
		return fail(n, "the head does not match the log: it names entry %d with a different hash, so the log or the head was rewritten", n)
	case h.Seq == n:
		rep.OK = true
		return rep, st
	case h.Seq == n-1 && h.Hash == prevHash(data, st):
		rep.Crash = true
		return fail(n, "entry %d was written but not acknowledged, probably a crash: the box stopped before recording it in the head; opening the log keeps it", n)
	default:
		return fail(h.Seq+1, "the log goes on past the head: the head names entry %d but the log has %d entries, so entries were added by something else or the head was rewritten", h.Seq, n)
	}
}

// prevHash returns the prev of the last good entry (which check has
// already decoded and verified).
func prevHash(data []byte, st state) string {
	b := data[:st.end-1]
	e, err := decode(b[bytes.LastIndexByte(b, '\n')+1:])
	if err != nil {
		return ""
	}
	return e.Prev
}
