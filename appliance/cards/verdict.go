package cards

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	// VerifiedOnBox and Offsite count files with a "box" and an "offsite"
	// verified copy according to the Verifier.
	VerifiedOnBox, Offsite int
	// Missing: card files with no intact copy in the library (not in the
	// ledger, not copied yet, or the library copy deleted or damaged).
	// Changed: card files that differ (size, mtime or content) from what
	// was ingested. Unreadable: card files or folders that cannot be read
	// or are not regular files. Card paths, slash-separated, sorted.
	Missing, Changed, Unreadable []string
	// Required is the number of verified copies each file needs.
	Required int
	// SafeToFormat is true only when nothing is missing, changed or
	// unreadable and every file has at least Required verified copies.
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
// the number of copies required is Config.RequiredCopies of the Load, List
// or Ingest call that returned the ledger.
func (l *Ledger) Verdict(ctx context.Context, cardRoot string, v Verifier) Verdict {
	vd := Verdict{Card: l.Card, Required: l.required}
	if vd.Required <= 0 {
		vd.Required = DefaultRequiredCopies
	}
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
	var short, noBox, noOffsite int
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
		copies, err := v.Verified(ctx, lib, want)
		if err != nil && verr == nil {
			verr = err
		}
		distinct := map[string]bool{}
		for _, c := range copies {
			distinct[c] = true
		}
		if distinct["box"] {
			vd.VerifiedOnBox++
		}
		if distinct["offsite"] {
			vd.Offsite++
		}
		if err != nil || len(distinct) < vd.Required {
			short++
			if !distinct["box"] {
				noBox++
			}
			if !distinct["offsite"] {
				noOffsite++
			}
		}
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
	if short > 0 {
		var detail []string
		if noBox > 0 {
			detail = append(detail, fmt.Sprintf("%d not yet verified on the box's disks", noBox))
		}
		if noOffsite > 0 {
			detail = append(detail, fmt.Sprintf("%d not yet offsite", noOffsite))
		}
		s := fmt.Sprintf("%d of %d files have fewer than %d verified copies", short, vd.Copied, vd.Required)
		if len(detail) > 0 {
			s += " (" + strings.Join(detail, ", ") + ")"
		}
		problems = append(problems, s)
	}
	if verr != nil {
		problems = append(problems, fmt.Sprintf("copies could not be checked: %v", verr))
	}
	if err := ctx.Err(); err != nil {
		problems = append(problems, fmt.Sprintf("the check was interrupted: %v", err))
	}
	if len(problems) > 0 {
		vd.Reason = strings.Join(problems, "; ") + "; keep the card."
		return vd
	}
	vd.SafeToFormat = true
	if vd.Files == 0 {
		vd.Reason = "the card holds no files; safe to format."
	} else {
		vd.Reason = fmt.Sprintf("all %d files have at least %d verified copies (%d on the box, %d offsite); safe to format.", vd.Files, vd.Required, vd.VerifiedOnBox, vd.Offsite)
	}
	return vd
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
