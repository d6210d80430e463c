package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/smart"
)

// disksOptions are the flags and arguments of disks and its
// subcommands.
type disksOptions struct {
	StateDir string   // where health history is kept
	Recorded []string // recorded smartctl --json files instead of the disks
	Array    string   // raid:DIR1,DIR2,...: its errors per disk count too
	Evacuate bool     // with Array: move data off FAILING members
	Disk     string   // history, ack: serial, WWN or device path
	Note     string   // ack: why
}

// history opens the disk health history in the state directory.
func (o disksOptions) history() (*smart.History, error) {
	return smart.OpenHistory(filepath.Join(o.StateDir, "smart"))
}

// findDisk resolves o.Disk (serial, WWN or path) in the history.
func (o disksOptions) findDisk() (*smart.History, *smart.DiskHistory, error) {
	h, err := o.history()
	if err != nil {
		return nil, nil, err
	}
	d, err := h.Find(o.Disk)
	return h, d, err
}

func cmdDisks(g *globals) *cobra.Command {
	var opts disksOptions
	c := &cobra.Command{
		Use:   "disks",
		Short: "Show each disk's health: model, serial, temperature, hours and a verdict",
		Long: `disks reads every disk's SMART data (never waking a sleeping disk), judges it
against its history and the acknowledged baseline, and records the reading.
Verdicts: OK, WARNING (watch it; plan a replacement), FAILING (replace it now;
with --evacuate its data is moved to the other disks of the array first),
UNKNOWN (no health could be read, and why).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDisks(cmd.Context(), g, opts)
		},
	}
	pf := c.PersistentFlags()
	pf.StringVar(&opts.StateDir, "state-dir", stateDir(), "where health history is kept (env SHOEBOX_STATE_DIR)")
	c.Flags().StringSliceVar(&opts.Recorded, "from-smartctl", nil, "read recorded `smartctl --json` files instead of the machine's disks (repeatable)")
	c.Flags().StringVar(&opts.Array, "array", "", "the disk array (raid:DIR1,DIR2,...): its own I/O and checksum errors per disk count too")
	c.Flags().BoolVar(&opts.Evacuate, "evacuate", false, "with --array: move the data off any FAILING member disk now")

	hist := &cobra.Command{
		Use:   "history DISK",
		Short: "Show a disk's recorded readings (DISK: serial, WWN or device path)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Disk = args[0]
			return runDisksHistory(cmd.Context(), g, opts)
		},
	}
	ack := &cobra.Command{
		Use:   "ack DISK",
		Short: "Acknowledge a disk's current condition: only growth beyond it raises the verdict again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Disk = args[0]
			return runDisksAck(cmd.Context(), g, opts)
		},
	}
	ack.Flags().StringVar(&opts.Note, "note", "", "why (kept with the baseline)")
	c.AddCommand(hist, ack)
	return c
}

// runDisks reads every disk's health (or the recorded files), judges and
// records it, and prints the verdicts.
func runDisks(ctx context.Context, g *globals, opts disksOptions) error {
	h, err := opts.history()
	if err != nil {
		return err
	}
	p := &smart.Poller{History: h}
	// Check every file before reading any, so that a bad one
	// changes nothing (no history is written).
	for _, f := range opts.Recorded {
		if err := checkSmartctlFile(f); err != nil {
			return err
		}
	}
	if len(opts.Recorded) > 0 {
		p.Discover = func() ([]smart.Disk, error) {
			var ds []smart.Disk
			for _, f := range opts.Recorded {
				ds = append(ds, smart.Disk{Path: f, Reader: smart.Recorded{File: f}})
			}
			return ds, nil
		}
	}
	var arr *raid.Array
	if opts.Array != "" {
		arr, err = raid.OpenArray(strings.Split(strings.TrimPrefix(opts.Array, "raid:"), ","), raid.Options{})
		if err != nil {
			return err
		}
		defer arr.Close()
		p.ArrayErrors = appliance.ArrayErrorsOf(arr)
	}
	events := p.Subscribe(64)
	sts, err := p.Poll(ctx)
	if err != nil {
		return err
	}
	if opts.Evacuate && arr != nil {
		if err := evacuateFailing(ctx, g, arr, events); err != nil {
			return err
		}
	}
	if g.json {
		if sts == nil {
			sts = []smart.Status{}
		}
		return g.printJSON(sts)
	}
	printDisks(g, sts)
	return nil
}

// runDisksHistory prints a disk's recorded readings.
func runDisksHistory(ctx context.Context, g *globals, opts disksOptions) error {
	_, d, err := opts.findDisk()
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(d)
	}
	fmt.Fprintf(g.stdout, "%s %s (%s)\n", d.Model, d.Serial, d.Path)
	if d.Baseline != nil {
		fmt.Fprintf(g.stdout, "acknowledged %s: %v %s\n", d.Baseline.Time.Local().Format("2006-01-02 15:04"), d.Baseline.Counters, d.Baseline.Note)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tVERDICT\tTEMP\tHOURS\tCOUNTERS")
	for _, s := range d.Samples {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", s.Time.Local().Format("2006-01-02 15:04"), s.State, s.Temperature, s.PowerOnHours, countersStr(s.Counters))
	}
	return tw.Flush()
}

// runDisksAck acknowledges a disk's current condition as its baseline.
func runDisksAck(ctx context.Context, g *globals, opts disksOptions) error {
	h, d, err := opts.findDisk()
	if err != nil {
		return err
	}
	b, err := h.Ack(d.Key, opts.Note)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(b)
	}
	g.out("acknowledged %s %s: %s; any growth beyond this is reported again\n", d.Model, d.Serial, countersStr(b.Counters))
	return nil
}

// Exit codes of `disks --from-smartctl` for a file it cannot use.
const (
	// ExitFileUnreadable: the file cannot be read (missing, a folder, no
	// permission, an I/O error).
	ExitFileUnreadable = 2
	// ExitFileUnparseable: the file is read but is not smartctl --json
	// output.
	ExitFileUnparseable = 3
)

// checkSmartctlFile reads and parses a recorded smartctl file, and tells
// a file it cannot read (exit 2) from one that is not smartctl JSON
// (exit 3), naming the file and what to do.
func checkSmartctlFile(f string) error {
	b, err := os.ReadFile(f)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &exitError{code: ExitFileUnreadable, err: fmt.Errorf("cannot read %s: %v; give a file that `smartctl --json -a DISK > FILE` wrote", f, err)}
	}
	if _, err := smart.ParseSmartctlJSON(b); err != nil {
		return &exitError{code: ExitFileUnparseable, err: fmt.Errorf("%s %v; save it again with `smartctl --json -a DISK > FILE`", f, err)}
	}
	return nil
}

func countersStr(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func printDisks(g *globals, sts []smart.Status) {
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "DISK\tMODEL\tSERIAL\tSIZE\tTEMP\tHOURS\tVERDICT\tWHY")
	for _, s := range sts {
		r := s.Record
		temp := "-"
		if r.HasTemperature {
			temp = fmt.Sprintf("%d°C", r.Temperature)
		}
		why := s.Verdict.Text()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Path, r.Model, r.Serial, bytesStr(int64(r.Capacity)), temp, r.PowerOnHours, s.Verdict.State, why)
	}
	tw.Flush()
	if len(sts) == 0 {
		g.out("no disks found\n")
	}
}

// evacuateFailing moves data off member disks that turned FAILING in
// this poll (appliance.FailingMember, the daemon's policy).
func evacuateFailing(ctx context.Context, g *globals, arr *raid.Array, events <-chan smart.Event) error {
	for {
		select {
		case ev := <-events:
			member, ok := appliance.FailingMember(arr, ev)
			if !ok {
				continue
			}
			ref := ev.Serial
			if ref == "" {
				ref = ev.WWN
			}
			g.out("%s (%s) is FAILING: moving its data to the other disks\n", ev.Path, ref)
			c, cancel := context.WithTimeout(ctx, 24*time.Hour)
			rep, err := arr.Evacuate(c, member.DiskID, false, nil)
			cancel()
			if err != nil {
				return fmt.Errorf("evacuate %s: %w", ev.Path, err)
			}
			// The member's serial (its WWN when the drive has none) is
			// what raid replace finds it by.
			g.out("moved %d shards off %s; replace the disk with `shoebox raid replace %s NEWDIR ...`\n", rep.Repaired, ev.Path, member.Serial)
		default:
			return nil
		}
	}
}
