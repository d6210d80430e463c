package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/vault"
)

// checkOptions are check's flags.
type checkOptions struct {
	ReadData bool
}

func cmdCheck(g *globals) *cobra.Command {
	var opts checkOptions
	c := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository (--read-data: every byte)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), g, opts)
		},
	}
	c.Flags().BoolVar(&opts.ReadData, "read-data", false, "read, decrypt and verify every pack")
	return c
}

// runCheck verifies the repository and fails when it found damage.
func runCheck(ctx context.Context, g *globals, opts checkOptions) error {
	return g.withRepo(ctx, "check", shared, func(r *vault.Repository) error {
		opt := vault.CheckOptions{ReadData: opts.ReadData}
		var done func()
		opt.Progress, done = g.progressBar("read data")
		res, err := r.Check(ctx, opt)
		done()
		if err != nil {
			return err
		}
		if g.json {
			if err := g.printJSON(res); err != nil {
				return err
			}
		} else {
			for _, w := range res.Warnings {
				fmt.Fprintf(g.stderr, "warning: %s\n", w)
			}
			for _, e := range res.Errors {
				fmt.Fprintf(g.stdout, "error: %s\n", e)
			}
			if len(res.Affected) > 0 {
				fmt.Fprintf(g.stdout, "\nFiles affected by the damage:\n")
				for _, d := range res.Affected {
					fmt.Fprintf(g.stdout, "  snapshot %s  %s  (pack %s)\n", d.Snapshot, d.Path, d.Pack)
				}
			}
			what := "structure"
			if opt.ReadData {
				what = fmt.Sprintf("structure and all data (%s read)", bytesStr(res.BytesRead))
			}
			if res.OK() {
				g.out("no errors: %d snapshots, %d packs, %d blobs; checked %s\n", res.Snapshots, res.Packs, res.Blobs, what)
			}
		}
		if !res.OK() {
			return fmt.Errorf("check found %d errors in %d packs affecting %d files; restore affected files from another copy (the offsite unit) or back them up again, then run `shoebox prune`", len(res.Errors), len(res.DamagedPacks), len(res.Affected))
		}
		return nil
	})
}
