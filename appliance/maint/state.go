package maint

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

// AlertFunc raises an alert, or refreshes the open one with the same key.
// critical selects the severity: critical when true, warning otherwise.
// kind is one of the alert kinds of the daemon's bus ("drill", "scrub",
// "low-space"); space is the source (space) the alert concerns, "" for
// the whole box (who may see it depends on it). It must be safe to call
// from the service's goroutine.
type AlertFunc func(kind, key, space string, critical bool, subject, message string)

// ResolveFunc closes the alert with the key, if open.
type ResolveFunc func(key, message string)

func (f AlertFunc) raise(kind, key, space string, critical bool, subject, message string) {
	if f != nil {
		f(kind, key, space, critical, subject, message)
	}
}

func (f ResolveFunc) resolve(key, message string) {
	if f != nil {
		f(key, message)
	}
}

// writeJSON stores v at path atomically and durably: temp file, fsync,
// rename, fsync the directory.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

// readJSON loads path into v. A missing file leaves v alone and returns
// false with no error.
func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

// sleepUntil waits until t (by the wall clock now) or until ctx is done.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) error {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
