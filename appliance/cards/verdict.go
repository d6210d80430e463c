package cards

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Verdict is the answer to "is it safe to format this card yet?".
type Verdict struct {
	Card string
	// Files counts the card's files: those in the ledger and, when the
	// card is present, those found on it. Hidden and system files are
	// not counted.
	Files int
	// Copied counts files whose library copy is present and matches the
	// ledger's hash now.
	Copied int
	// VerifiedOnBox and Offsite count files with a verified copy on the
	// array (CopyArray) and offsite (CopyOffsite) according to the
	// Verifier.
	VerifiedOnBox, Offsite int
	// Missing: card files with no intact copy in the library (not in the
	// ledger, not copied yet, or the library copy deleted or damaged).
	// Changed: card files that differ (size, mtime or content) from what
	// was ingested. Unreadable: card files or folders that cannot be read
	// or are not regular files. Card paths, slash-separated, sorted.
	Missing, Changed, Unreadable []string
	// Require names the verified copies each file needs besides the
	// card; Required is how many that is.
	Require  []string
	Required int
	// Copies lists, for the array and offsite, which copies exist and
	// which are missing, required or not.
	Copies []CopyStatus
	// SafeToFormat is true only when nothing is missing, changed or
	// unreadable and every file has every required copy.
	SafeToFormat bool
	// Reason says why, in plain words.
	Reason string
}

// Verdict re-checks the card against its ledger and asks v how many
// verified copies each file has. cardRoot is where the card is mounted, or
// "" when it is gone; when present, every file on it is read again and
// hashed, so a verdict on a full card takes as long as reading the card.
// The library copies are hashed too. ctx cancels the checks; a cancelled
// verdict is never safe. The library is the one recorded in the ledger;
// the copies required are Config.Require of the Load, List or Ingest call
// that returned the ledger.
func (l *Ledger) Verdict(ctx context.Context, cardRoot string, v Verifier) Verdict {
	req := l.require
	if len(req) == 0 {
		req = DefaultRequire(false)
	}
	vd := Verdict{Card: l.Card, Require: req, Required: len(req)}
	status := map[string]*CopyStatus{}
	for _, where := range []string{CopyArray, CopyOffsite} {
		status[where] = &CopyStatus{Where: where, Required: slices.Contains(req, where), Unavailable: v.Unavailable(ctx, where)}
	}
	snaps := map[string]set{CopyArray: {}, CopyOffsite: {}}
	missing, changed, unreadable := set{}, set{}, set{}
	var problems []string
	byPath := make(map[string]*File, len(l.Files))
	for i := range l.Files {
		byPath[l.Files[i].CardPath] = &l.Files[i]
	}
	seen := map[string]bool{}
	if cardRoot != "" {
		sc, err := scanCard(ctx, cardRoot)
		if err != nil {
			problems = append(problems, fmt.Sprintf("the card could not be read (%v)", err))
		}
		for _, o := range sc.odd {
			unreadable.add(o.rel)
			seen[o.rel] = true
		}
		for _, cf := range sc.files {
			seen[cf.rel] = true
			f := byPath[cf.rel]
			switch {
			case f == nil:
				missing.add(cf.rel)
			case f.Error != "" || !f.Copied:
				// counted below
			case f.Size != cf.size || !f.ModTime.Equal(cf.mtime):
				changed.add(cf.rel)
			default:
				got, err := hashFile(ctx, filepath.Join(cardRoot, filepath.FromSlash(cf.rel)))
				if err != nil {
					unreadable.add(cf.rel)
				} else if want, ok := f.sum(); !ok || got != want {
					changed.add(cf.rel)
				}
			}
		}
		// Something other than a file where the ledger has one (a
		// folder, a FIFO) cannot be read back; a file no longer on the
		// card is not a risk, its copies are checked below.
		for _, f := range l.Files {
			if seen[f.CardPath] {
				continue
			}
			if fi, err := os.Lstat(filepath.Join(cardRoot, filepath.FromSlash(f.CardPath))); err == nil && !fi.Mode().IsRegular() {
				unreadable.add(f.CardPath)
			}
		}
	}
	short := map[string]int{}
	var verr error
	for i := range l.Files {
		f := &l.Files[i]
		seen[f.CardPath] = true
		if f.Error != "" {
			unreadable.add(f.CardPath)
			continue
		}
		want, ok := f.sum()
		if !f.Copied || !f.Verified || !ok || f.LibraryPath == "" {
			missing.add(f.CardPath)
			continue
		}
		lib := filepath.Join(l.Library, filepath.FromSlash(f.LibraryPath))
		if got, err := hashFile(ctx, lib); err != nil || got != want {
			missing.add(f.CardPath)
			continue
		}
		vd.Copied++
		copies, err := v.Verified(ctx, lib, want, f.Snapshot)
		if err != nil && verr == nil {
			verr = err
		}
		has := map[string]bool{}
		for _, c := range copies {
			st, known := status[c.Where]
			if !known || has[c.Where] || st.Unavailable != "" {
				continue
			}
			has[c.Where] = true
			st.Files++
			if c.Snapshot != "" {
				snaps[c.Where].add(c.Snapshot)
			}
			if st.Verified.IsZero() || c.Verified.Before(st.Verified) {
				st.Verified = c.Verified
			}
		}
		for _, where := range req {
			if err != nil || !has[where] {
				short[where]++
			}
		}
	}
	vd.VerifiedOnBox, vd.Offsite = status[CopyArray].Files, status[CopyOffsite].Files
	for _, where := range []string{CopyArray, CopyOffsite} {
		status[where].Snapshots = snaps[where].sorted()
		vd.Copies = append(vd.Copies, *status[where])
	}
	vd.Files = len(seen)
	vd.Missing, vd.Changed, vd.Unreadable = missing.sorted(), changed.sorted(), unreadable.sorted()
	if n := len(vd.Unreadable); n > 0 {
		problems = append(problems, fmt.Sprintf("%s could not be read (%s)", files(n), names(vd.Unreadable)))
	}
	if n := len(vd.Changed); n > 0 {
		problems = append(problems, fmt.Sprintf("%s changed on the card since it was ingested (%s); ingest it again", files(n), names(vd.Changed)))
	}
	if n := len(vd.Missing); n > 0 {
		problems = append(problems, fmt.Sprintf("%s not safely in the library (%s)", filesAre(n), names(vd.Missing)))
	}
	for _, where := range req {
		n := short[where]
		if n == 0 {
			continue
		}
		what := "not yet verified on the array"
		if where == CopyOffsite {
			what = "not yet offsite"
		}
		p := fmt.Sprintf("%d of %d files %s", n, vd.Copied, what)
		if why := status[where].Unavailable; why != "" {
			p += " (" + why + ")"
		}
		problems = append(problems, p)
	}
	if verr != nil {
		problems = append(problems, fmt.Sprintf("copies could not be checked: %v", verr))
	}
	if err := ctx.Err(); err != nil {
		problems = append(problems, fmt.Sprintf("the check was interrupted: %v", err))
	}
	// The copies first, then the verdict: "array: all 5 files, snapshot
	// 1a2b3c4d, verified …; offsite: none, not required. Every file has
	// its required copies (array); safe to format."
	copies := ""
	if vd.Files > 0 {
		var l []string
		for _, c := range vd.Copies {
			l = append(l, c.text(vd.Files))
		}
		copies = strings.Join(l, "; ") + ". "
	}
	if len(problems) > 0 {
		vd.Reason = copies + capitalize(strings.Join(problems, "; ")) + "; keep the card."
		return vd
	}
	vd.SafeToFormat = true
	if vd.Files == 0 {
		vd.Reason = "the card holds no files; safe to format."
	} else {
		vd.Reason = fmt.Sprintf("%sEvery file has its required copies (%s); safe to format.", copies, strings.Join(req, " and "))
	}
	return vd
}

// CopyStatus is one kind of copy of a card's files: where, in which
// snapshots, verified when, and what is missing.
type CopyStatus struct {
	Where    string `json:"where"`
	Required bool   `json:"required"`
	// Files counts the card's files with a verified copy there.
	Files     int      `json:"files"`
	Snapshots []string `json:"snapshots,omitempty"`
	// Verified is the oldest verification among the files' copies: every
	// copy was read back at or after it.
	Verified time.Time `json:"verified,omitzero"`
	// Unavailable says why copies there cannot count now (the Verifier's
	// word), "" when they can.
	Unavailable string `json:"unavailable,omitempty"`
}

// text says in plain words what exists and what is missing: "array: all
// 5 files, snapshot 1a2b3c4d, verified 2026-12-07 19:40 UTC".
func (c CopyStatus) text(of int) string {
	req := ""
	if !c.Required {
		req = ", not required"
	}
	var s string
	switch {
	case c.Files == 0:
		s = fmt.Sprintf("%s: none%s", c.Where, req)
	case c.Files == of:
		s = fmt.Sprintf("%s: all %s", c.Where, files(of))
	default:
		s = fmt.Sprintf("%s: %d of %s%s", c.Where, c.Files, files(of), req)
	}
	if len(c.Snapshots) > 0 {
		s += fmt.Sprintf(", snapshot %s", strings.Join(c.Snapshots, ", "))
	}
	if !c.Verified.IsZero() {
		s += ", verified " + c.Verified.UTC().Format("2006-01-02 15:04 UTC")
	}
	if c.Unavailable != "" {
		s += " (" + c.Unavailable + ")"
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

type set map[string]bool

func (s set) add(k string) { s[k] = true }

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

func files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

func filesAre(n int) string {
	if n == 1 {
		return "1 file is"
	}
	return fmt.Sprintf("%d files are", n)
}

// names lists up to three names and how many more.
func names(l []string) string {
	if len(l) <= 3 {
		return strings.Join(l, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(l[:3], ", "), len(l)-3)
}

// hashFile hashes a regular file; anything else is an error, and a FIFO
// is never waited on.
func hashFile(ctx context.Context, p string) ([32]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return [32]byte{}, err
	}
	if !fi.Mode().IsRegular() {
		return [32]byte{}, fmt.Errorf("%s: not a regular file", p)
	}
	return hashReader(ctx, f)
}
