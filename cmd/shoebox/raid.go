package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/internal/units"
	"github.com/shoebox/shoebox/raid"
)

func cmdRaid(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "raid",
		Short: "Manage the disk array (erasure-coded storage over the box's disks)",
		Long: `An array spreads every object over its member disks as data and parity
shards, so losing up to --parity disks (or bit rot anywhere) loses nothing.
Members are given as directories (the disks' mount points) in any order; a
repository lives on an array with --repo raid:DIR1,DIR2,...`,
	}
	progress := func(what string) func(done, total int) {
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
	var data, parity int
	var mirror, sameDrive bool
	create := &cobra.Command{
		Use:   "create [--data K --parity M | --mirror] DIR...",
		Short: "Create an array on empty disks",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			layout := raid.Layout{Data: data, Parity: parity}
			if mirror {
				layout = raid.Mirror(len(args))
			}
			a, err := raid.Create(args, layout, raid.Options{AllowSameDrive: sameDrive})
			if err != nil {
				return err
			}
			defer a.Close()
			return printRaidStatus(g, a.Status())
		},
	}
	create.Flags().IntVar(&data, "data", 2, "data shards per object (K)")
	create.Flags().IntVar(&parity, "parity", 1, "parity shards per object (M): disks that may fail")
	create.Flags().BoolVar(&mirror, "mirror", false, "keep a full copy of every object on every disk")
	create.Flags().BoolVar(&sameDrive, "allow-same-drive", false, "allow members on one physical drive (demos and tests only: no protection against that drive failing)")

	status := &cobra.Command{
		Use:   "status DIR...",
		Short: "Show the array's disks, their state and redundancy",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withArray(args, func(a *raid.Array) error {
				return printRaidStatus(g, a.Status())
			})
		},
	}
	var repair bool
	var rate float64
	scrub := &cobra.Command{
		Use:   "scrub [--repair] DIR...",
		Short: "Read and verify every shard; with --repair rewrite bad ones from parity",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withArray(args, func(a *raid.Array) error {
				rep, err := a.Scrub(cmd.Context(), raid.ScrubOptions{Repair: repair, RateLimit: int64(rate * (1 << 20)), Progress: progress("scrub")})
				if err != nil {
					return err
				}
				return printReport(g, "scrub", rep)
			})
		},
	}
	scrub.Flags().BoolVar(&repair, "repair", false, "rewrite bad or missing shards")
	scrub.Flags().Float64Var(&rate, "rate", 0, "read at most this many MiB/s (0: no limit)")
	add := &cobra.Command{
		Use:   "add NEWDIR DIR...",
		Short: "Add an empty disk (NEWDIR) to the array of DIR... and rebalance onto it",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withArray(args[1:], func(a *raid.Array) error {
				if err := a.Add(args[0]); err != nil {
					return err
				}
				// The daemon rebalances in the background; the CLI does it now
				// (interrupting it is safe: every move is copy, verify, delete).
				n, err := a.Rebalance(cmd.Context())
				if err != nil {
					return err
				}
				g.out("moved %d shards onto %s\n", n, args[0])
				return printRaidStatus(g, a.Status())
			})
		},
	}
	replace := &cobra.Command{
		Use:   "replace OLD NEWDIR DIR...",
		Short: "Replace disk OLD (path, disk ID or serial) by the empty NEWDIR and rebuild",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withArray(args[2:], func(a *raid.Array) error {
				rep, err := a.Replace(cmd.Context(), args[0], args[1], progress("rebuild"))
				if err != nil {
					return err
				}
				return printReport(g, "rebuild", rep)
			})
		},
	}
	rebuild := &cobra.Command{
		Use:   "rebuild DIR...",
		Short: "Restore full redundancy of objects missing shards (resumes an interrupted rebuild)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withArray(args, func(a *raid.Array) error {
				rep, err := a.Rebuild(cmd.Context(), progress("rebuild"))
				if err != nil {
					return err
				}
				return printReport(g, "rebuild", rep)
			})
		},
	}
	evacuate := func(remove bool) *cobra.Command {
		use, short := "evacuate DISK DIR...", "Move every shard off DISK (when SMART says it is failing)"
		if remove {
			use, short = "remove DISK DIR...", "Move every shard off DISK, then take it out of the array"
		}
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withArray(args[1:], func(a *raid.Array) error {
					rep, err := a.Evacuate(cmd.Context(), args[0], remove, progress("evacuate"))
					if rep != nil {
						printReport(g, "evacuate", rep)
					}
					return err
				})
			},
		}
	}
	capacity := &cobra.Command{
		Use:   "capacity --data K --parity M SIZE...",
		Short: "Usable capacity of disks of the given sizes (e.g. 4T 4T 8T; T is 10^12 as disk makers count, TiB 2^40: docs/UNITS.md) in a layout",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sizes []int64
			for _, a := range args {
				n, err := units.ParseSize(a)
				if err != nil {
					return fmt.Errorf("disk size: %w", err)
				}
				if n == 0 {
					return fmt.Errorf("disk size %q: a disk holds more than 0 bytes", a)
				}
				sizes = append(sizes, n)
			}
			k, m := data, parity
			if mirror {
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
					fmt.Fprintf(g.stdout, "disk %d (%s): %s can never be used in this layout\n", i+1, args[i], bytesStr(w))
				}
			}
			return nil
		},
	}
	capacity.Flags().IntVar(&data, "data", 2, "data shards per object (K)")
	capacity.Flags().IntVar(&parity, "parity", 1, "parity shards per object (M)")
	capacity.Flags().BoolVar(&mirror, "mirror", false, "mirror over all the disks")
	c.AddCommand(create, status, scrub, add, replace, rebuild, evacuate(false), evacuate(true), capacity)
	return c
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
