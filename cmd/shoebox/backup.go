package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/vault"
)

// backupOptions are backup's flags and arguments.
type backupOptions struct {
	vault.BackupOptions        // Paths from the arguments; Tags, Host, Excludes
	Parent              string // compare with this snapshot
	Force               bool   // read every file again
}

func cmdBackup(g *globals) *cobra.Command {
	var opts backupOptions
	c := &cobra.Command{
		Use:   "backup [flags] PATH...",
		Short: "Back up files and folders as a new snapshot",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			return runBackup(cmd.Context(), g, opts)
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opts.Tags, "tag", nil, "add a `tag` to the snapshot (repeatable)")
	f.StringVar(&opts.Host, "host", "", "record this host name")
	f.StringSliceVar(&opts.Excludes, "exclude", nil, "skip names matching `glob` (repeatable)")
	f.StringVar(&opts.Parent, "parent", "", "compare with this snapshot instead of the latest one of the same paths")
	f.BoolVar(&opts.Force, "force", false, "read every file again, ignoring the parent snapshot")
	return c
}

// runBackup backs up opts.Paths as a new snapshot.
func runBackup(ctx context.Context, g *globals, opts backupOptions) error {
	return g.withRepo(ctx, "backup", shared, func(r *vault.Repository) error {
		opt := opts.BackupOptions
		opt.NoParent = opts.Force
		if opts.Parent != "" {
			p, err := r.FindSnapshot(ctx, opts.Parent, vault.SnapshotFilter{})
			if err != nil {
				return err
			}
			opt.Parent = p
		}
		var done func()
		opt.Progress, done = g.progressBar("backup")
		snap, err := r.Backup(ctx, opt)
		done()
		if err != nil {
			return err
		}
		s := snap.Summary
		if g.json {
			if err := g.printJSON(map[string]any{"snapshot": snap.ID().String(), "short_id": snap.ID().Short(), "summary": s}); err != nil {
				return err
			}
		} else {
			if !g.quiet {
				fmt.Fprintf(g.stdout, "files: %d new, %d changed, %d unchanged; %d dirs\n", s.FilesNew, s.FilesChanged, s.FilesUnchanged, s.DirsTotal)
				fmt.Fprintf(g.stdout, "added %s (%s stored) of %s processed in %s\n", bytesStr(s.BytesAdded), bytesStr(s.BytesStored), bytesStr(s.BytesTotal), s.End.Sub(s.Start).Round(time.Millisecond))
			}
			fmt.Fprintf(g.stdout, "snapshot %s saved\n", snap.ID().Short())
		}
		if len(s.Errors) > 0 {
			for _, e := range s.Errors {
				fmt.Fprintf(g.stderr, "warning: %s\n", e)
			}
			return &exitError{ExitIncomplete, fmt.Errorf("snapshot %s is incomplete: %d files could not be read completely (listed above); fix them and back up again", snap.ID().Short(), len(s.Errors))}
		}
		return nil
	})
}
