package smart

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

// History keeps, per disk, a downsampled series of Samples and the
// acknowledged Baseline, one JSON file per disk in a directory, each
// rewritten atomically (temporary file, fsync, rename, fsync of the
// directory) so a power cut leaves the old or the new history.
//
// Downsampling keeps every sample of the last 48 hours, the first of each
// hour for 30 days, the first of each day beyond, and every sample where
// the verdict changed: a poll every 10 minutes costs about 1,000 samples
// (~100 KB) per disk for years of history.
type History struct {
	dir string
	mu  sync.Mutex
	now func() time.Time
}

// DiskHistory is what History keeps for one disk.
type DiskHistory struct {
	Key      string    `json:"key"`
	Model    string    `json:"model,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	WWN      string    `json:"wwn,omitempty"`
	Path     string    `json:"last_path,omitempty"`
	Baseline *Baseline `json:"baseline,omitempty"`
	Samples  []Sample  `json:"samples"`
}

// OpenHistory opens (creating) a history directory.
func OpenHistory(dir string) (*History, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("smart history: %w", err)
	}
	return &History{dir: dir, now: time.Now}, nil
}

// Key names a disk in history: its serial, else its WWN, else its device
// path (a disk without either cannot be told apart after a reboot).
func Key(r *Record) string {
	k := r.Serial
	if k == "" {
		k = r.WWN
	}
	if k == "" {
		k = "path-" + strings.TrimPrefix(r.Device, "/dev/")
	}
	return strings.Map(func(c rune) rune {
		if c == '/' || c == 0 || c == ' ' {
			return '_'
		}
		return c
	}, k)
}

func (h *History) file(key string) string { return filepath.Join(h.dir, key+".json") }

// Load returns a disk's history (empty when none).
func (h *History) Load(key string) (*DiskHistory, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.load(key)
}

func (h *History) load(key string) (*DiskHistory, error) {
	b, err := os.ReadFile(h.file(key))
	if errors.Is(err, os.ErrNotExist) {
		return &DiskHistory{Key: key}, nil
	}
	if err != nil {
		return nil, err
	}
	var d DiskHistory
	if err := json.Unmarshal(b, &d); err != nil {
		// A damaged history must not stop health checks: start anew and
		// keep the damaged file for inspection.
		os.Rename(h.file(key), h.file(key)+".damaged")
		return &DiskHistory{Key: key}, nil
	}
	return &d, nil
}

func (h *History) save(d *DiskHistory) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(h.file(d.Key), b, 0o600)
}

// Append adds a sample for the disk of r and downsamples.
func (h *History) Append(r *Record, s Sample) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.load(Key(r))
	if err != nil {
		return err
	}
	d.Model, d.Serial, d.WWN, d.Path = r.Model, r.Serial, r.WWN, r.Device
	d.Samples = downsample(append(d.Samples, s), h.now())
	return h.save(d)
}

// Ack records the disk's current counters as the baseline: conditions
// seen so far stop raising the verdict; growth beyond them still does.
func (h *History) Ack(key, note string) (*Baseline, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.load(key)
	if err != nil {
		return nil, err
	}
	if len(d.Samples) == 0 {
		return nil, fmt.Errorf("disk %s has no readings yet; run `shoebox disks` first", key)
	}
	// The latest sample that carries the disk's counters (a reading of a
	// sleeping or unreadable disk has none).
	last := d.Samples[len(d.Samples)-1]
	for i := len(d.Samples) - 1; i >= 0; i-- {
		if len(d.Samples[i].Counters) > 0 {
			last = d.Samples[i]
			break
		}
	}
	d.Baseline = &Baseline{Time: h.now().UTC(), Counters: last.Counters, Note: note}
	return d.Baseline, h.save(d)
}

// Keys lists the disks with history.
func (h *History) Keys() ([]string, error) {
	m, err := filepath.Glob(filepath.Join(h.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range m {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	sort.Strings(out)
	return out, nil
}

// Find resolves a disk given by key, serial, WWN, model or last path.
func (h *History) Find(ref string) (*DiskHistory, error) {
	keys, err := h.Keys()
	if err != nil {
		return nil, err
	}
	var found []*DiskHistory
	for _, k := range keys {
		d, err := h.Load(k)
		if err != nil {
			continue
		}
		if k == ref || d.Serial == ref || d.WWN == ref || d.Path == ref || "/dev/"+ref == d.Path {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no disk %q in the health history (see `shoebox disks`)", ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%q matches %d disks; give the serial", ref, len(found))
}

// downsample thins a series as History documents.
func downsample(s []Sample, now time.Time) []Sample {
	sort.SliceStable(s, func(i, j int) bool { return s[i].Time.Before(s[j].Time) })
	out := s[:0:0]
	seen := map[string]bool{}
	var prev State
	for i, x := range s {
		age := now.Sub(x.Time)
		var bucket string
		switch {
		case age <= 48*time.Hour:
			bucket = ""
		case age <= 30*24*time.Hour:
			bucket = x.Time.UTC().Format("2006-01-02T15")
		default:
			bucket = x.Time.UTC().Format("2006-01-02")
		}
		keep := bucket == "" || !seen[bucket] || (i > 0 && x.State != prev) || i == len(s)-1
		if bucket != "" {
			seen[bucket] = true
		}
		prev = x.State
		if keep {
			out = append(out, x)
		}
	}
	return out
}
