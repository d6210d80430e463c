package cards

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

// LedgerVersion is the version of the ledger format written by this
// package (see docs/CARDS.md).
const LedgerVersion = 1

// Ledger is the durable record of one card: every file found on it, where
// its copy lives in the library, its hash, and how far it got (copied and
// verified, backed up in which snapshot). It is written atomically to
// LedgerDir/<card>.json after each phase of an ingest.
type Ledger struct {
	Version   int       `json:"version"`
	Card      string    `json:"card"`
	CardRoot  string    `json:"card_root"` // where the card was mounted at the last ingest
	Library   string    `json:"library"`   // Config.Library at the last ingest; File.LibraryPath is relative to it
	Naming    string    `json:"naming"`
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`
	Completed time.Time `json:"completed,omitzero"` // zero until an ingest finished all phases
	Snapshot  string    `json:"snapshot,omitempty"` // the last snapshot taken of this card's files
	Files     []File    `json:"files"`
	Skipped   []Skipped `json:"skipped,omitempty"`

	path    string   // ledger file
	require []string // Config.Require of the call that returned the ledger
}

// File is one file of the card.
type File struct {
	CardPath    string    `json:"card_path"`              // slash-separated, relative to the card root
	LibraryPath string    `json:"library_path,omitempty"` // slash-separated, relative to Library
	Size        int64     `json:"size"`
	ModTime     time.Time `json:"mtime"`
	SHA256      string    `json:"sha256,omitempty"` // hex, of the bytes read from the card
	Copied      bool      `json:"copied"`           // the copy is in the library under LibraryPath
	Verified    bool      `json:"verified"`         // the copy was read back and its hash matched
	Snapshot    string    `json:"snapshot,omitempty"`
	Error       string    `json:"error,omitempty"` // why the file could not be copied (unreadable, not a regular file)
}

// Skipped is a hidden or system entry on the card that is not ingested
// (.Trashes, .Spotlight-V100, System Volume Information, ...).
type Skipped struct {
	CardPath string `json:"card_path"`
	Reason   string `json:"reason"`
}

func (f *File) sum() ([32]byte, bool) {
	var s [32]byte
	if len(f.SHA256) != 64 {
		return s, false
	}
	for i := range s {
		hi, ok1 := unhex(f.SHA256[2*i])
		lo, ok2 := unhex(f.SHA256[2*i+1])
		if !ok1 || !ok2 {
			return s, false
		}
		s[i] = hi<<4 | lo
	}
	return s, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func ledgerPath(cfg Config, cardID string) (string, error) {
	if cardID == "" || cardID == "." || cardID == ".." || strings.ContainsAny(cardID, "/\\\x00") || len(cardID) > 200 {
		return "", fmt.Errorf("%w: %q", ErrBadCardID, cardID)
	}
	if cfg.LedgerDir == "" {
		return "", fmt.Errorf("%w: LedgerDir is empty", ErrConfig)
	}
	return filepath.Join(cfg.LedgerDir, cardID+".json"), nil
}

// Load reads the ledger of a card. It returns ErrNoLedger when the card was
// never ingested.
func Load(cfg Config, cardID string) (*Ledger, error) {
	p, err := ledgerPath(cfg, cardID)
	if err != nil {
		return nil, err
	}
	l, err := loadFile(p)
	if err != nil {
		return nil, err
	}
	l.require = cfg.require()
	return l, nil
}

func loadFile(p string) (*Ledger, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load ledger %s: %w", p, ErrNoLedger)
	}
	if err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	var l Ledger
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("load ledger %s: %w", p, err)
	}
	if l.Version != LedgerVersion {
		return nil, fmt.Errorf("load ledger %s: version %d, this build reads %d", p, l.Version, LedgerVersion)
	}
	l.path = p
	return &l, nil
}

// List returns the ledgers of all ingested cards, most recently updated
// first. A ledger that cannot be read is an error: it is never silently
// left out.
func List(cfg Config) ([]*Ledger, error) {
	ents, err := os.ReadDir(cfg.LedgerDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list card ledgers: %w", err)
	}
	var out []*Ledger
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		l, err := loadFile(filepath.Join(cfg.LedgerDir, e.Name()))
		if err != nil {
			return nil, err
		}
		l.require = cfg.require()
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Updated.After(out[j].Updated) })
	return out, nil
}

// save writes the ledger atomically and durably.
func (l *Ledger) save() error {
	l.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(l.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save ledger of card %s: %w", l.Card, err)
	}
	return nil
}
