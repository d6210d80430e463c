package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/text/cases"

	"github.com/shoebox/shoebox/vault"
)

// snapshotsOptions are the snapshots filters.
type snapshotsOptions struct {
	Host string
	Tags []string
}

func cmdSnapshots(g *globals) *cobra.Command {
	var opts snapshotsOptions
	c := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshots(cmd.Context(), g, opts)
		},
	}
	c.Flags().StringVar(&opts.Host, "host", "", "only snapshots of this host")
	c.Flags().StringSliceVar(&opts.Tags, "tag", nil, "only snapshots with this tag")
	return c
}

// snapshotRow is a snapshot as snapshots --json prints it.
type snapshotRow struct {
	ID        string         `json:"id"`
	ShortID   string         `json:"short_id"`
	Time      time.Time      `json:"time"`
	Host      string         `json:"hostname"`
	Paths     []string       `json:"paths"`
	Tags      []string       `json:"tags,omitempty"`
	Immutable *time.Time     `json:"immutable_until,omitempty"`
	Summary   *vault.Summary `json:"summary,omitempty"`
}

// runSnapshots lists the snapshots that match opts.
func runSnapshots(ctx context.Context, g *globals, opts snapshotsOptions) error {
	return g.withRepo(ctx, "snapshots", noLock, func(r *vault.Repository) error {
		snaps, err := r.Snapshots(ctx)
		if err != nil {
			return err
		}
		holds, err := r.Holds(ctx)
		if err != nil {
			return err
		}
		var rows []snapshotRow
		for _, s := range snaps {
			if !(vault.SnapshotFilter{Host: opts.Host, Tags: opts.Tags}).Match(s) {
				continue
			}
			rw := snapshotRow{ID: s.ID().String(), ShortID: s.ID().Short(), Time: s.Time, Host: s.Hostname, Paths: s.Paths, Tags: s.Tags, Summary: s.Summary}
			if u, ok := holds[s.ID()]; ok {
				rw.Immutable = &u
			}
			rows = append(rows, rw)
		}
		if g.json {
			if rows == nil {
				rows = []snapshotRow{}
			}
			return g.printJSON(rows)
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTime\tHost\tTags\tPaths\tImmutable until")
		for _, rw := range rows {
			imm := ""
			if rw.Immutable != nil {
				imm = rw.Immutable.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rw.ShortID, rw.Time.Local().Format("2006-01-02 15:04:05"), rw.Host, strings.Join(rw.Tags, ","), strings.Join(rw.Paths, " "), imm)
		}
		tw.Flush()
		fmt.Fprintf(g.stdout, "%d snapshots\n", len(rows))
		return nil
	})
}

// nodeRow is the JSON form of a node in ls and find.
type nodeRow struct {
	Snapshot string    `json:"snapshot,omitempty"`
	Path     string    `json:"path"`
	Type     string    `json:"type"`
	Size     uint64    `json:"size"`
	Mode     string    `json:"mode"`
	ModTime  time.Time `json:"mtime"`
	User     string    `json:"user,omitempty"`
	Group    string    `json:"group,omitempty"`
}

func toRow(snap, p string, n *vault.Node) nodeRow {
	return nodeRow{Snapshot: snap, Path: p, Type: n.Type, Size: n.Size, Mode: modeString(n), ModTime: n.ModTime, User: n.User, Group: n.Group}
}

func modeString(n *vault.Node) string {
	m := os.FileMode(n.Mode & 0777)
	switch n.Type {
	case vault.NodeDir:
		m |= os.ModeDir
	case vault.NodeSymlink:
		m |= os.ModeSymlink
	case vault.NodeFIFO:
		m |= os.ModeNamedPipe
	case vault.NodeDev:
		m |= os.ModeDevice
	case vault.NodeCharDev:
		m |= os.ModeCharDevice | os.ModeDevice
	case vault.NodeSocket:
		m |= os.ModeSocket
	}
	return m.String()
}

// lsOptions are ls's arguments and flags.
type lsOptions struct {
	Snapshot  string
	Path      string // "" is the root
	Long      bool
	Recursive bool
}

func cmdLs(g *globals) *cobra.Command {
	var opts lsOptions
	c := &cobra.Command{
		Use:   "ls SNAPSHOT [PATH]",
		Short: "List files in a snapshot",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Snapshot = args[0]
			if len(args) == 2 {
				opts.Path = args[1]
			}
			return runLs(cmd.Context(), g, opts)
		},
	}
	c.Flags().BoolVarP(&opts.Long, "long", "l", false, "show mode, owner, size and time")
	c.Flags().BoolVarP(&opts.Recursive, "recursive", "R", false, "list subdirectories too")
	return c
}

// runLs lists a folder of a snapshot (or names the file given).
func runLs(ctx context.Context, g *globals, opts lsOptions) error {
	return g.withRepo(ctx, "ls", noLock, func(r *vault.Repository) error {
		snap, err := r.FindSnapshot(ctx, opts.Snapshot, vault.SnapshotFilter{})
		if err != nil {
			return err
		}
		dir := "/"
		if opts.Path != "" {
			dir = path.Clean("/" + opts.Path)
		}
		n, err := r.Lookup(ctx, snap.Tree, dir)
		if err != nil {
			return err
		}
		var rows []nodeRow
		emit := func(p string, n *vault.Node) {
			rows = append(rows, toRow("", p, n))
		}
		if n.Type != vault.NodeDir {
			emit(dir, n)
		} else {
			err = r.Walk(ctx, *n.Subtree, func(p string, c *vault.Node) error {
				emit(path.Join(dir, p), c)
				if c.Type == vault.NodeDir && !opts.Recursive {
					return vault.ErrSkipDir
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if g.json {
			if rows == nil {
				rows = []nodeRow{}
			}
			return g.printJSON(rows)
		}
		for _, rw := range rows {
			name := rw.Path
			if rw.Type == vault.NodeDir {
				name += "/"
			}
			if opts.Long {
				fmt.Fprintf(g.stdout, "%s %8s %8s %12d %s %s\n", rw.Mode, rw.User, rw.Group, rw.Size, rw.ModTime.Local().Format("2006-01-02 15:04:05"), name)
			} else {
				fmt.Fprintln(g.stdout, name)
			}
		}
		return nil
	})
}

// findOptions are find's argument and flags.
type findOptions struct {
	Pattern       string
	Snapshots     []string // none: all
	CaseSensitive bool
}

func cmdFind(g *globals) *cobra.Command {
	var opts findOptions
	c := &cobra.Command{
		Use:   "find PATTERN",
		Short: "Find files by name or path glob in all snapshots",
		Long: "PATTERN is a shell glob matched against base names (\"*.cr3\") or, when it starts with /, against full paths.\n" +
			"Names match regardless of case (Unicode case folding: \"*.jpg\" finds DSC_0001.JPG), as in Finder,\n" +
			"Windows Explorer and Synology's search; --case-sensitive matches letter for letter.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Pattern = args[0]
			return runFind(cmd.Context(), g, opts)
		},
	}
	c.Flags().StringSliceVarP(&opts.Snapshots, "snapshot", "s", nil, "search only this snapshot (repeatable)")
	c.Flags().BoolVar(&opts.CaseSensitive, "case-sensitive", false, "match letter case exactly (default: names match regardless of case)")
	return c
}

// runFind lists the files whose name (or path) matches opts.Pattern.
func runFind(ctx context.Context, g *globals, opts findOptions) error {
	return g.withRepo(ctx, "find", noLock, func(r *vault.Repository) error {
		pat := opts.Pattern
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("bad pattern %q: %w (a shell glob: * ? [abc] [a-z], \\ quotes the next character)", pat, err)
		}
		fold := func(s string) string { return s }
		if !opts.CaseSensitive {
			// Full Unicode case folding, not ToLower: "STRASSE" finds
			// straße, and the glob's own characters fold to themselves.
			caser := cases.Fold()
			fold = caser.String
			pat = fold(pat)
		}
		var snaps []*vault.Snapshot
		var err error
		if len(opts.Snapshots) > 0 {
			for _, ref := range opts.Snapshots {
				s, err := r.FindSnapshot(ctx, ref, vault.SnapshotFilter{})
				if err != nil {
					return err
				}
				snaps = append(snaps, s)
			}
		} else if snaps, err = r.Snapshots(ctx); err != nil {
			return err
		}
		rows := []nodeRow{}
		for _, s := range snaps {
			err := r.Walk(ctx, s.Tree, func(p string, n *vault.Node) error {
				subject := path.Base(p)
				if strings.HasPrefix(pat, "/") {
					subject = p
				}
				if ok, _ := path.Match(pat, fold(subject)); ok {
					rows = append(rows, toRow(s.ID().Short(), p, n))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if g.json {
			return g.printJSON(rows)
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		for _, rw := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", rw.Snapshot, rw.ModTime.Local().Format("2006-01-02 15:04:05"), rw.Size, rw.Path)
		}
		tw.Flush()
		g.out("%d matches\n", len(rows))
		return nil
	})
}

// diffOptions are diff's arguments.
type diffOptions struct {
	From, To string
}

func cmdDiff(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff SNAPSHOT1 SNAPSHOT2",
		Short: "Show what changed between two snapshots",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), g, diffOptions{From: args[0], To: args[1]})
		},
	}
}

// runDiff lists what changed from one snapshot to the other.
func runDiff(ctx context.Context, g *globals, opts diffOptions) error {
	return g.withRepo(ctx, "diff", noLock, func(r *vault.Repository) error {
		a, err := r.FindSnapshot(ctx, opts.From, vault.SnapshotFilter{})
		if err != nil {
			return err
		}
		b, err := r.FindSnapshot(ctx, opts.To, vault.SnapshotFilter{})
		if err != nil {
			return err
		}
		changes := []vault.Change{}
		err = r.Diff(ctx, a.Tree, b.Tree, func(c vault.Change) error {
			changes = append(changes, c)
			return nil
		})
		if err != nil {
			return err
		}
		if g.json {
			return g.printJSON(changes)
		}
		counts := map[string]int{}
		for _, c := range changes {
			fmt.Fprintf(g.stdout, "%-2s %s\n", c.Kind, c.Path)
			counts[c.Kind]++
		}
		g.out("\n%d added, %d removed, %d modified, %d metadata only, %d type changed\n", counts["+"], counts["-"], counts["M"], counts["U"], counts["T"])
		return nil
	})
}
