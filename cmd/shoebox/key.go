package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/vault"
)

// keyOptions are the flags of the key commands that make a key.
type keyOptions struct {
	Label      string // add, add-recovery: a note on the key
	ScryptLogN int    // add, passwd (hidden): lower only for tests
}

func cmdKey(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Manage passphrases and recovery identities"}
	var opts keyOptions
	list := &cobra.Command{
		Use:   "list",
		Short: "List key files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeyList(cmd.Context(), g)
		},
	}
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a passphrase (from SHOEBOX_NEW_PASSWORD[_FILE] or a prompt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeyAdd(cmd.Context(), g, opts)
		},
	}
	addRecovery := &cobra.Command{
		Use:   "add-recovery",
		Short: "Create a new recovery identity (printed once) and add it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeyAddRecovery(cmd.Context(), g, opts)
		},
	}
	remove := &cobra.Command{
		Use:   "remove KEY-ID",
		Short: "Remove a key file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeyRemove(cmd.Context(), g, args[0])
		},
	}
	passwd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the passphrase used to open the repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeyPasswd(cmd.Context(), g, opts)
		},
	}
	export := &cobra.Command{
		Use:   "export-identity",
		Short: "Print the repository's age identity (decrypts any file with `age -d -i`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeyExportIdentity(cmd.Context(), g)
		},
	}
	for _, sub := range []*cobra.Command{add, passwd} {
		sub.Flags().IntVar(&opts.ScryptLogN, "scrypt-logn", vault.DefaultScryptLogN, "scrypt work factor (2^N); lower only for tests")
		sub.Flags().MarkHidden("scrypt-logn")
	}
	add.Flags().StringVar(&opts.Label, "label", "", "a note on who or what the key is for")
	addRecovery.Flags().StringVar(&opts.Label, "label", "", "a note on where the paper copy is kept")
	c.AddCommand(list, add, addRecovery, remove, passwd, export)
	return c
}

// runKeyList lists the key files.
func runKeyList(ctx context.Context, g *globals) error {
	return g.withRepo(ctx, "key list", noLock, func(r *vault.Repository) error {
		keys, err := r.Keys(ctx)
		if err != nil {
			return err
		}
		if g.json {
			return g.printJSON(keys)
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, " \tID\tKind\tCreated")
		for _, k := range keys {
			cur := " "
			if k.Current {
				cur = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cur, k.ID[:8], k.Kind, k.Created.Local().Format("2006-01-02 15:04:05"))
		}
		return tw.Flush()
	})
}

// newPassphrase reads a new passphrase: from SHOEBOX_NEW_PASSWORD,
// SHOEBOX_NEW_PASSWORD_FILE or, twice, the terminal (never from the
// current passphrase's file or variable).
func (g *globals) newPassphrase() (string, error) {
	if p := os.Getenv("SHOEBOX_NEW_PASSWORD"); p != "" {
		return p, nil
	}
	if f := os.Getenv("SHOEBOX_NEW_PASSWORD_FILE"); f != "" {
		return secretFile(f)
	}
	ng := *g
	ng.passwordFile = ""
	os.Unsetenv("SHOEBOX_PASSWORD")
	return ng.passphrase("New passphrase: ", true)
}

// runKeyAdd adds a passphrase.
func runKeyAdd(ctx context.Context, g *globals, opts keyOptions) error {
	return g.withRepo(ctx, "key add", noLock, func(r *vault.Repository) error {
		p, err := g.newPassphrase()
		if err != nil {
			return err
		}
		id, err := r.AddPassphrase(ctx, p, opts.Label, opts.ScryptLogN)
		if err != nil {
			return err
		}
		if g.json {
			return g.printJSON(map[string]string{"id": id})
		}
		g.out("added key %s\n", id[:8])
		return nil
	})
}

// runKeyAddRecovery makes a recovery identity, adds it and prints it
// (the only time it is shown).
func runKeyAddRecovery(ctx context.Context, g *globals, opts keyOptions) error {
	return g.withRepo(ctx, "key add-recovery", noLock, func(r *vault.Repository) error {
		id, identity, err := r.AddRecovery(ctx, opts.Label)
		if err != nil {
			return err
		}
		if g.json {
			return g.printJSON(map[string]string{"id": id, "recovery_identity": identity})
		}
		fmt.Fprintf(g.stdout, "added recovery key %s; print and keep this identity:\n\n    %s\n", id[:8], identity)
		return nil
	})
}

// runKeyRemove removes the key file id.
func runKeyRemove(ctx context.Context, g *globals, id string) error {
	return g.withRepo(ctx, "key remove", noLock, func(r *vault.Repository) error {
		if err := r.RemoveKey(ctx, id); err != nil {
			return err
		}
		if g.json {
			return g.printJSON(map[string]string{"removed": id})
		}
		g.out("removed key %s\n", id)
		return nil
	})
}

// runKeyPasswd changes the passphrase that opened the repository.
func runKeyPasswd(ctx context.Context, g *globals, opts keyOptions) error {
	return g.withRepo(ctx, "key passwd", noLock, func(r *vault.Repository) error {
		p, err := g.newPassphrase()
		if err != nil {
			return err
		}
		id, err := r.ChangePassphrase(ctx, p, opts.ScryptLogN)
		if err != nil {
			return err
		}
		if g.json {
			return g.printJSON(map[string]string{"id": id})
		}
		g.out("passphrase changed (key %s)\n", id[:8])
		return nil
	})
}

// runKeyExportIdentity prints the repository's age identity.
func runKeyExportIdentity(ctx context.Context, g *globals) error {
	return g.withRepo(ctx, "key export-identity", noLock, func(r *vault.Repository) error {
		if g.json {
			return g.printJSON(map[string]string{"identity": r.MasterKey().Identity(), "recipient": r.MasterKey().Recipient()})
		}
		fmt.Fprintf(g.stdout, "# Shoebox repository %s\n# public key: %s\n%s\n", r.Config().ID[:8], r.MasterKey().Recipient(), r.MasterKey().Identity())
		return nil
	})
}
