package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox/shoebox/vault"
)

// restoreOptions are restore's argument and flags.
type restoreOptions struct {
	Snapshot string
	// Restore holds --target, --include and --no-keep; Existing is
	// chosen by the flags below.
	Restore vault.RestoreOptions
	// What to do with what is already in the target: at most one.
	Overwrite, SkipExisting, Verify bool
}

func cmdRestore(g *globals) *cobra.Command {
	var opts restoreOptions
	c := &cobra.Command{
		Use:   "restore SNAPSHOT --target DIR",
		Short: "Restore a snapshot (or part of it) into a folder",
		Long: `Restore a snapshot (or part of it) into a folder.

Nothing already in the folder is overwritten unless asked: if any path the
restore writes is taken, it restores nothing and names the first one. Then
choose one of
  --overwrite      replace what is there, keeping each replaced file as
                   NAME.shoebox-old (NAME.shoebox-old.1, … if taken);
                   --no-keep deletes them instead
  --skip-existing  leave what is there, restore only what is missing
  --verify         compare what is there with the snapshot (the content,
                   not size and time) and replace only what differs, as
                   --overwrite does`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Snapshot = args[0]
			return runRestore(cmd.Context(), g, opts)
		},
	}
	c.Flags().StringVarP(&opts.Restore.Target, "target", "t", "", "restore into this `directory`")
	c.Flags().StringSliceVarP(&opts.Restore.Include, "include", "i", nil, "restore only paths matching `pattern` (repeatable)")
	c.Flags().BoolVar(&opts.Overwrite, "overwrite", false, "replace files already in the target (kept as NAME.shoebox-old)")
	c.Flags().BoolVar(&opts.SkipExisting, "skip-existing", false, "leave files already in the target as they are")
	c.Flags().BoolVar(&opts.Verify, "verify", false, "compare files already in the target and replace only those that differ")
	c.Flags().BoolVar(&opts.Restore.NoKeep, "no-keep", false, "with --overwrite or --verify: delete replaced files instead of keeping NAME.shoebox-old")
	return c
}

// runRestore restores a snapshot (or the parts opts.Restore.Include
// names) into opts.Restore.Target.
func runRestore(ctx context.Context, g *globals, opts restoreOptions) error {
	opt := opts.Restore
	if opt.Target == "" {
		return errors.New("restore: --target DIR is required")
	}
	var chosen []string
	for _, f := range []struct {
		set  bool
		flag string
		e    vault.Existing
	}{{opts.Overwrite, "--overwrite", vault.ExistingOverwrite}, {opts.SkipExisting, "--skip-existing", vault.ExistingSkip}, {opts.Verify, "--verify", vault.ExistingVerify}} {
		if f.set {
			chosen = append(chosen, f.flag)
			opt.Existing = f.e
		}
	}
	if len(chosen) > 1 {
		return fmt.Errorf("restore: %s: choose one", strings.Join(chosen, " and "))
	}
	if opt.NoKeep && !opts.Overwrite && !opts.Verify {
		return errors.New("restore: --no-keep goes with --overwrite or --verify (it says not to keep the files they replace)")
	}
	return g.withRepo(ctx, "restore", shared, func(r *vault.Repository) error {
		snap, err := r.FindSnapshot(ctx, opts.Snapshot, vault.SnapshotFilter{})
		if err != nil {
			return err
		}
		var done func()
		opt.Progress, done = g.progressBar("restore")
		sum, err := r.Restore(ctx, snap, opt)
		done()
		if ee := (*vault.ExistingError)(nil); errors.As(err, &ee) {
			return fmt.Errorf("restore: %w; to restore over what is there, add --overwrite (keeps each replaced file as NAME.shoebox-old), --skip-existing (restores only what is missing) or --verify (replaces only what differs from the snapshot)", ee)
		}
		if err != nil {
			return err
		}
		for _, e := range sum.Errors {
			fmt.Fprintf(g.stderr, "warning: %s\n", e)
		}
		if g.json {
			return g.printJSON(map[string]any{"snapshot": snap.ID().String(), "target": opt.Target, "files": sum.Files,
				"dirs": sum.Dirs, "hard_links": sum.Links, "bytes": sum.Bytes, "seconds": sum.Duration.Seconds(), "warnings": sum.Errors,
				"same": sum.Same, "skipped": sum.Skipped, "replaced": sum.Replaced})
		}
		g.out("restored snapshot %s to %s: %d files, %d dirs, %s in %s\n", snap.ID().Short(), opt.Target, sum.Files, sum.Dirs, bytesStr(sum.Bytes), sum.Duration.Round(time.Millisecond))
		if sum.Same+sum.Skipped+sum.Replaced > 0 {
			g.out("already there: %d the same as the snapshot, %d skipped, %d replaced\n", sum.Same, sum.Skipped, sum.Replaced)
		}
		return nil
	})
}

// dumpOptions are dump's arguments.
type dumpOptions struct {
	Snapshot, Path string
}

func cmdDump(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dump SNAPSHOT PATH",
		Short: "Write a file to standard output (a folder as a tar stream)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDump(cmd.Context(), g, dumpOptions{Snapshot: args[0], Path: args[1]})
		},
	}
}

// runDump writes a file of a snapshot to g.stdout, or a folder as a tar
// stream.
func runDump(ctx context.Context, g *globals, opts dumpOptions) error {
	return g.withRepo(ctx, "dump", noLock, func(r *vault.Repository) error {
		snap, err := r.FindSnapshot(ctx, opts.Snapshot, vault.SnapshotFilter{})
		if err != nil {
			return err
		}
		p := path.Clean("/" + opts.Path)
		n, err := r.Lookup(ctx, snap.Tree, p)
		if err != nil {
			return err
		}
		if n.Type == vault.NodeFile {
			return r.Dump(ctx, n, g.stdout)
		}
		if n.Type != vault.NodeDir {
			return fmt.Errorf("dump %s: a %s has no content", p, n.Type)
		}
		return dumpTar(ctx, r, n, p, g)
	})
}

func dumpTar(ctx context.Context, r *vault.Repository, dir *vault.Node, base string, g *globals) error {
	tw := tar.NewWriter(g.stdout)
	err := r.Walk(ctx, *dir.Subtree, func(p string, n *vault.Node) error {
		name := strings.TrimPrefix(path.Join(path.Base(base), p), "/")
		h := &tar.Header{Name: name, Mode: int64(n.Mode & 07777), ModTime: n.ModTime, Uid: int(n.UID), Gid: int(n.GID),
			Uname: n.User, Gname: n.Group, Format: tar.FormatPAX}
		switch n.Type {
		case vault.NodeDir:
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		case vault.NodeFile:
			h.Typeflag, h.Size = tar.TypeReg, int64(n.Size)
		case vault.NodeSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, n.Target()
		default:
			return nil
		}
		if len(n.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for _, x := range n.Xattrs {
				h.PAXRecords["SCHILY.xattr."+x.Name] = string(x.Value)
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if n.Type == vault.NodeFile {
			return r.Dump(ctx, n, tw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
