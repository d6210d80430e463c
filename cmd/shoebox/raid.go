package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/internal/units"
	"github.com/shoebox/shoebox/raid"
)

// raidOptions are the arguments and flags of the raid commands.
type raidOptions struct {
	Dirs []string // the member directories, in any order

	// create and capacity: the layout.
	Data, Parity   int
	Mirror         bool
	AllowSameDrive bool // create

	// scrub
	Repair bool
	Rate   float64 // MiB/s; 0: no limit

	Disk   string // add: the new, empty disk; replace, evacuate, remove: the one leaving (path, disk ID or serial)
	NewDir string // replace: the empty disk taking its place
	Remove bool   // evacuate: take the disk out of the array afterwards

	Sizes []string // capacity: disk sizes (docs/UNITS.md)
}

func cmdRaid(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "raid",
		Short: "Manage the disk array (erasure-coded storage over the box's disks)",
		Long: `An array spreads every object over its member disks as data and parity
shards, so losing up to --parity disks (or bit rot anywhere) loses nothing.
Members are given as directories (the disks' mount points) in any order; a
repository lives on an array with --repo raid:DIR1,DIR2,...`,
	}
	var opts raidOptions
	// sub makes a raid command whose arguments parse sets into opts.
	sub := func(use, short string, args cobra.PositionalArgs, parse func(args []string), run func(ctx context.Context, g *globals, opts raidOptions) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  args,
			RunE: func(cmd *cobra.Command, args []string) error {
				parse(args)
				return run(cmd.Context(), g, opts)
			},
		}
	}
	dirs := func(args []string) { opts.Dirs = args }
	create := sub("create [--data K --parity M | --mirror] DIR...", "Create an array on empty disks",
		cobra.MinimumNArgs(2), dirs, runRaidCreate)
	create.Flags().IntVar(&opts.Data, "data", 2, "data shards per object (K)")
	create.Flags().IntVar(&opts.Parity, "parity", 1, "parity shards per object (M): disks that may fail")
	create.Flags().BoolVar(&opts.Mirror, "mirror", false, "keep a full copy of every object on every disk")
	create.Flags().BoolVar(&opts.AllowSameDrive, "allow-same-drive", false, "allow members on one physical drive (demos and tests only: no protection against that drive failing)")

	status := sub("status DIR...", "Show the array's disks, their state and redundancy",
		cobra.MinimumNArgs(1), dirs, runRaidStatus)
	scrub := sub("scrub [--repair] DIR...", "Read and verify every shard; with --repair rewrite bad ones from parity",
		cobra.MinimumNArgs(1), dirs, runRaidScrub)
	scrub.Flags().BoolVar(&opts.Repair, "repair", false, "rewrite bad or missing shards")
	scrub.Flags().Float64Var(&opts.Rate, "rate", 0, "read at most this many MiB/s (0: no limit)")
	add := sub("add NEWDIR DIR...", "Add an empty disk (NEWDIR) to the array of DIR... and rebalance onto it",
		cobra.MinimumNArgs(2), func(args []string) { opts.Disk, opts.Dirs = args[0], args[1:] }, runRaidAdd)
	replace := sub("replace OLD NEWDIR DIR...", "Replace disk OLD (path, disk ID or serial) by the empty NEWDIR and rebuild",
		cobra.MinimumNArgs(3), func(args []string) { opts.Disk, opts.NewDir, opts.Dirs = args[0], args[1], args[2:] }, runRaidReplace)
	rebuild := sub("rebuild DIR...", "Restore full redundancy of objects missing shards (resumes an interrupted rebuild)",
		cobra.MinimumNArgs(1), dirs, runRaidRebuild)
	evacuate := sub("evacuate DISK DIR...", "Move every shard off DISK (when SMART says it is failing)",
		cobra.MinimumNArgs(2), func(args []string) { opts.Disk, opts.Dirs, opts.Remove = args[0], args[1:], false }, runRaidEvacuate)
	remove := sub("remove DISK DIR...", "Move every shard off DISK, then take it out of the array",
		cobra.MinimumNArgs(2), func(args []string) { opts.Disk, opts.Dirs, opts.Remove = args[0], args[1:], true }, runRaidEvacuate)
	capacity := sub("capacity --data K --parity M SIZE...", "Usable capacity of disks of the given sizes (e.g. 4T 4T 8T; T is 10^12 as disk makers count, TiB 2^40: docs/UNITS.md) in a layout",
		cobra.MinimumNArgs(1), func(args []string) { opts.Sizes = args }, runRaidCapacity)
	capacity.Flags().IntVar(&opts.Data, "data", 2, "data shards per object (K)")
	capacity.Flags().IntVar(&opts.Parity, "parity", 1, "parity shards per object (M)")
	capacity.Flags().BoolVar(&opts.Mirror, "mirror", false, "mirror over all the disks")
	c.AddCommand(create, status, scrub, add, replace, rebuild, evacuate, remove, capacity)
	return c
}

// raidProgress reports an array operation's progress on the terminal
// (nil when stderr is not one).
func raidProgress(g *globals, what string) func(done, total int) {
	if !g.isTerminal() {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(g.stderr, "\r%s: %d/%d objects", what, done, total)
		if done == total {
			fmt.Fprintln(g.stderr)
		}
	}
}

// runRaidCreate creates an array on the empty opts.Dirs.
func runRaidCreate(ctx context.Context, g *globals, opts raidOptions) error {
	layout := raid.Layout{Data: opts.Data, Parity: opts.Parity}
	if opts.Mirror {
		layout = raid.Mirror(len(opts.Dirs))
	}
	a, err := raid.Create(opts.Dirs, layout, raid.Options{AllowSameDrive: opts.AllowSameDrive})
	if err != nil {
		return err
	}
	defer a.Close()
	return printRaidStatus(g, a.Status())
}

// runRaidStatus prints the array's disks, their state and redundancy.
func runRaidStatus(ctx context.Context, g *globals, opts raidOptions) error {
	return withArray(opts.Dirs, func(a *raid.Array) error {
		return printRaidStatus(g, a.Status())
	})
}

// runRaidScrub reads and verifies every shard (and, with opts.Repair,
// rewrites the bad ones).
func runRaidScrub(ctx context.Context, g *globals, opts raidOptions) error {
	return withArray(opts.Dirs, func(a *raid.Array) error {
		rep, err := a.Scrub(ctx, raid.ScrubOptions{Repair: opts.Repair, RateLimit: int64(opts.Rate * (1 << 20)), Progress: raidProgress(g, "scrub")})
		if err != nil {
			return err
		}
		return printReport(g, "scrub", rep)
	})
}

// runRaidAdd adds the empty disk opts.Disk and rebalances onto it.
func runRaidAdd(ctx context.Context, g *globals, opts raidOptions) error {
	return withArray(opts.Dirs, func(a *raid.Array) error {
		if err := a.Add(opts.Disk); err != nil {
			return err
		}
		// The daemon rebalances in the background; the CLI does it now
		// (interrupting it is safe: every move is copy, verify, delete).
		n, err := a.Rebalance(ctx)
		if err != nil {
			return err
		}
		g.out("moved %d shards onto %s\n", n, opts.Disk)
		return printRaidStatus(g, a.Status())
	})
}

// runRaidReplace replaces opts.Disk by the empty opts.NewDir and
// rebuilds.
func runRaidReplace(ctx context.Context, g *globals, opts raidOptions) error {
	return withArray(opts.Dirs, func(a *raid.Array) error {
		rep, err := a.Replace(ctx, opts.Disk, opts.NewDir, raidProgress(g, "rebuild"))
		if err != nil {
			return err
		}
		return printReport(g, "rebuild", rep)
	})
}

// runRaidRebuild restores full redundancy of objects missing shards.
func runRaidRebuild(ctx context.Context, g *globals, opts raidOptions) error {
	return withArray(opts.Dirs, func(a *raid.Array) error {
		rep, err := a.Rebuild(ctx, raidProgress(g, "rebuild"))
		if err != nil {
			return err
		}
		return printReport(g, "rebuild", rep)
	})
}

// runRaidEvacuate moves every shard off opts.Disk (and, with
// opts.Remove, takes it out of the array).
func runRaidEvacuate(ctx context.Context, g *globals, opts raidOptions) error {
	return withArray(opts.Dirs, func(a *raid.Array) error {
		rep, err := a.Evacuate(ctx, opts.Disk, opts.Remove, raidProgress(g, "evacuate"))
		if rep != nil {
			printReport(g, "evacuate", rep)
		}
		return err
	})
}

// runRaidCapacity prints the usable capacity of disks of opts.Sizes in
// the layout.
func runRaidCapacity(ctx context.Context, g *globals, opts raidOptions) error {
	var sizes []int64
	for _, a := range opts.Sizes {
		n, err := units.ParseSize(a)
		if err != nil {
			return fmt.Errorf("disk size: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("disk size %q: a disk holds more than 0 bytes", a)
		}
		sizes = append(sizes, n)
	}
	k, m := opts.Data, opts.Parity
	if opts.Mirror {
		k, m = 1, len(sizes)-1
	}
	usable, wasted, err := raid.UsableCapacity(sizes, k, m)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(map[string]any{"usable_bytes": usable, "wasted_bytes": wasted})
	}
	fmt.Fprintf(g.stdout, "usable: %s with %d+%d on %d disks\n", bytesStr(usable), k, m, len(sizes))
	for i, w := range wasted {
		if w > 0 {
			fmt.Fprintf(g.stdout, "disk %d (%s): %s can never be used in this layout\n", i+1, opts.Sizes[i], bytesStr(w))
		}
	}
	return nil
}

func printReport(g *globals, what string, rep *raid.ScrubReport) error {
	if g.json {
		return g.printJSON(rep)
	}
	fmt.Fprintf(g.stdout, "%s: %d objects, %d shards, %s checked in %s; %d errors found, %d repaired\n", what, rep.Objects,
		rep.Shards, bytesStr(rep.BytesChecked), rep.Duration.Round(1e6), rep.ErrorsFound, rep.Repaired)
	for _, n := range rep.Degraded {
		fmt.Fprintf(g.stdout, "  still missing shards: %s\n", n)
	}
	for _, n := range rep.Unrecoverable {
		fmt.Fprintf(g.stdout, "  UNRECOVERABLE: %s (run `shoebox check --read-data` on the repository to see which files and snapshots)\n", n)
	}
	if len(rep.Unrecoverable) > 0 {
		return fmt.Errorf("%s found %d unrecoverable objects", what, len(rep.Unrecoverable))
	}
	return nil
}

func printRaidStatus(g *globals, st *raid.Status) error {
	if g.json {
		return g.printJSON(st)
	}
	fmt.Fprintf(g.stdout, "array %s  layout %s  generation %d  state %s\n", st.ArrayID[:8], st.Layout, st.Generation, strings.ToUpper(st.State.String()))
	fmt.Fprintf(g.stdout, "objects %d, degraded %d, lost %d; shards repaired %d, read errors %d\n\n", st.Objects, st.Degraded, st.Lost, st.Repaired, st.ReadErrors)
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "DISK\tSTATE\tSERIAL\tPATH\tFREE\tSHARDS\tPROBLEM")
	for _, d := range st.Disks {
		free := ""
		if d.TotalBytes > 0 {
			free = fmt.Sprintf("%s of %s", bytesStr(int64(d.FreeBytes)), bytesStr(int64(d.TotalBytes)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.DiskID[:8], d.State, d.Serial, d.Path, free, d.Shards, d.Problem)
	}
	return tw.Flush()
}

// withArray opens the array of the given member directories, runs fn and
// closes it (waiting for background repairs).
func withArray(paths []string, fn func(a *raid.Array) error) error {
	if len(paths) == 0 {
		return errors.New("give the array's member directories")
	}
	a, err := raid.OpenArray(paths, raid.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}
