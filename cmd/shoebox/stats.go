package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/vault"
)

func cmdStats(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show repository size, deduplication and compression",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), g)
		},
	}
}

// runStats prints the repository's size, deduplication and compression.
func runStats(ctx context.Context, g *globals) error {
	return g.withRepo(ctx, "stats", noLock, func(r *vault.Repository) error {
		st, err := r.Stats(ctx)
		if err != nil {
			return err
		}
		if g.json {
			return g.printJSON(st)
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintf(tw, "snapshots\t%d\n", st.Snapshots)
		fmt.Fprintf(tw, "files in all snapshots\t%d (%s)\n", st.Files, bytesStr(st.RestoreSize))
		fmt.Fprintf(tw, "unique blobs\t%d (%s before compression)\n", st.Blobs, bytesStr(st.RawSize))
		fmt.Fprintf(tw, "stored in packs\t%d packs, %s\n", st.Packs, bytesStr(st.PackSize))
		fmt.Fprintf(tw, "deduplication ratio\t%.2f\n", st.DedupRatio)
		fmt.Fprintf(tw, "compression ratio\t%.2f\n", st.CompressionRatio)
		return tw.Flush()
	})
}
