package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/internal/units"
	"github.com/shoebox/shoebox/vault"
)

// lockOptions are lock's argument and flag.
type lockOptions struct {
	Snapshot string
	Until    string // parseUntil's forms
}

func cmdLock(g *globals) *cobra.Command {
	var opts lockOptions
	c := &cobra.Command{
		Use:   "lock SNAPSHOT --until DATE",
		Short: "Make a snapshot immutable until a date (cannot be undone)",
		Long:  "DATE is 2006-01-02 (until the end of that day, 23:59:59.999 in this machine's time zone), an RFC 3339 time (exactly then), or a duration from now of at least an hour such as 90d, 6mo or 1y (m is minutes, mo months: docs/UNITS.md). The output says the instant and its zone. Until then forget refuses to remove the snapshot and prune keeps all it references. A lock can be extended, never shortened.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Snapshot = args[0]
			return runLock(cmd.Context(), g, opts)
		},
	}
	c.Flags().StringVar(&opts.Until, "until", "", "immutable until this `date`")
	c.MarkFlagRequired("until")
	return c
}

// runLock makes a snapshot immutable until a time.
func runLock(ctx context.Context, g *globals, opts lockOptions) error {
	t, err := parseUntil(opts.Until)
	if err != nil {
		return err
	}
	return g.withRepo(ctx, "lock", shared, func(r *vault.Repository) error {
		snap, err := r.FindSnapshot(ctx, opts.Snapshot, vault.SnapshotFilter{})
		if err != nil {
			return err
		}
		if err := r.Hold(ctx, snap.ID(), t); err != nil {
			return err
		}
		// A hold is never shortened: report the one in force.
		if holds, err := r.Holds(ctx); err == nil && holds[snap.ID()].After(t) {
			t = holds[snap.ID()]
		}
		if g.json {
			return g.printJSON(map[string]any{"snapshot": snap.ID().String(), "immutable_until": t})
		}
		g.out("snapshot %s is immutable until %s\n", snap.ID().Short(), t.Local().Format(untilLayout))
		return nil
	})
}

func cmdUnlock(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Remove stale repository locks (of processes that are gone)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUnlock(cmd.Context(), g)
		},
	}
}

// runUnlock removes the locks of processes that are gone and lists the
// others.
func runUnlock(ctx context.Context, g *globals) error {
	return g.withRepo(ctx, "unlock", noLock, func(r *vault.Repository) error {
		removed, err := r.RemoveStaleLocks(ctx)
		if err != nil {
			return err
		}
		locks, err := r.Locks(ctx)
		if err != nil {
			return err
		}
		if g.json {
			rm, live := []string{}, []string{}
			for _, l := range removed {
				rm = append(rm, l.String())
			}
			for _, l := range locks {
				live = append(live, l.String())
			}
			return g.printJSON(map[string]any{"removed": rm, "active": live})
		}
		for _, l := range removed {
			g.out("removed stale %s\n", l)
		}
		for _, l := range locks {
			g.out("still active: %s (not removed)\n", l)
		}
		if len(removed) == 0 && len(locks) == 0 {
			g.out("no locks\n")
		}
		return nil
	})
}

// parseUntil accepts a date, an RFC 3339 time or a duration from now.
// untilLayout prints a lock's end with its zone: "2026-12-31 23:59:59.999
// CET (+01:00)".
const untilLayout = "2006-01-02 15:04:05.000 MST (-07:00)"

// parseUntil reads lock --until: a date means the end of that day in the
// box's local time zone (23:59:59.999), as a backup tool's "until the
// 31st" does; an RFC 3339 time is exact; a duration counts from now.
func parseUntil(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t.AddDate(0, 0, 1).Add(-time.Millisecond), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	switch d, err := units.ParseRetention(strings.TrimPrefix(s, "+")); {
	case err == nil:
		return time.Now().Add(d), nil
	case errors.Is(err, units.ErrTooShort):
		return time.Time{}, fmt.Errorf("until: %w", err)
	}
	return time.Time{}, fmt.Errorf("bad date %q: use 2027-06-30, an RFC 3339 time, or a duration such as 90d or 6mo (docs/UNITS.md)", s)
}
