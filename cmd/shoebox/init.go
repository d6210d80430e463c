package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/vault"
)

// initOptions are init's flags.
type initOptions struct {
	PostQuantum bool
	ScryptLogN  int // hidden: lower only for tests
	PackSize    int // hidden: 0 is the default, 16 MiB
}

func cmdInit(g *globals) *cobra.Command {
	var opts initOptions
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository and print its recovery identity",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInit(cmd.Context(), g, opts)
		},
	}
	c.Flags().BoolVar(&opts.PostQuantum, "post-quantum", false, "use hybrid ML-KEM-768+X25519 (age1pq…) keys for long-term archives")
	c.Flags().IntVar(&opts.ScryptLogN, "scrypt-logn", vault.DefaultScryptLogN, "scrypt work factor for the passphrase (2^N); lower only for tests")
	c.Flags().MarkHidden("scrypt-logn")
	c.Flags().IntVar(&opts.PackSize, "pack-size", 0, "target pack size in bytes (default 16 MiB); small packs only for tests")
	c.Flags().MarkHidden("pack-size")
	return c
}

// runInit creates the repository at --repo and prints its recovery
// identity.
func runInit(ctx context.Context, g *globals, opts initOptions) error {
	st, err := g.store("init", true)
	if err != nil {
		return err
	}
	if opts.PackSize != 0 && (opts.PackSize < 1<<20 || opts.PackSize > 1<<30) {
		return fmt.Errorf("init: --pack-size %d out of range (1 MiB to 1 GiB)", opts.PackSize)
	}
	pass, err := g.passphrase("New repository passphrase: ", true)
	if err != nil {
		return err
	}
	r, recovery, err := vault.Init(ctx, st, vault.InitOptions{Passphrase: pass, PostQuantum: opts.PostQuantum, ScryptLogN: opts.ScryptLogN, PackSize: opts.PackSize})
	if err != nil {
		return err
	}
	defer r.Close()
	cfg := r.Config()
	if g.json {
		return g.printJSON(map[string]any{"id": cfg.ID, "repository": g.repo, "recipient": cfg.Recipient,
			"post_quantum": opts.PostQuantum, "recovery_identity": recovery})
	}
	fmt.Fprintf(g.stdout, "created repository %s at %s\n\n", cfg.ID[:8], g.repo)
	fmt.Fprintf(g.stdout, "RECOVERY IDENTITY — print this and keep it somewhere safe, away from the box.\n")
	fmt.Fprintf(g.stdout, "It opens the repository if the passphrase is lost. It is shown only now.\n\n")
	fmt.Fprintf(g.stdout, "    %s\n\n", recovery)
	fmt.Fprintf(g.stdout, "Use it with: shoebox --identity-file FILE ... (FILE holding the line above)\n")
	return nil
}
