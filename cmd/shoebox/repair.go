package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/shoebox/shoebox/vault"
	"github.com/spf13/cobra"
)

func cmdRepair(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "repair",
		Short: "Repair the repository's bookkeeping",
	}
	c.AddCommand(&cobra.Command{
		Use:   "index",
		Short: "Index the packs no index file lists (interrupted backups, a lost index) from their own headers",
		Long: `Reads the header of every pack that no index file lists — the packs a
killed backup finished, or all of them when index files were lost — and
writes an index file for them, so that backups reuse their data and
snapshots that refer to them can be read again. A pack whose header cannot
be read is named and left alone: ` + "`shoebox check`" + ` reports it and
` + "`shoebox prune`" + ` removes it. Each backup does the same for up to 1024
such packs when it starts; while shoeboxd runs, its next backup does it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRepairIndex(cmd.Context(), g)
		},
	})
	return c
}

// runRepairIndex indexes the packs no index file lists from their own
// headers.
func runRepairIndex(ctx context.Context, g *globals) error {
	return g.withRepo(ctx, "repair index", exclusive, func(r *vault.Repository) error {
		rep, err := r.RepairIndex(ctx)
		if err != nil {
			return err
		}
		if g.json {
			return g.printJSON(rep)
		}
		g.out("%d packs indexed from their headers (%d blobs)\n", len(rep.Indexed), rep.Blobs)
		var bad []string
		for name := range rep.Unreadable {
			bad = append(bad, name)
		}
		sort.Strings(bad)
		for _, name := range bad {
			fmt.Fprintf(g.stdout, "unreadable, left alone: %s\n", rep.Unreadable[name])
		}
		if len(bad) > 0 {
			return fmt.Errorf("%d packs could not be read (listed above); run `shoebox check --read-data` to see what they affect, and `shoebox prune` to remove them", len(bad))
		}
		return nil
	})
}
