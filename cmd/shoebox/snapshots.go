package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/spf13/cobra"
	"golang.org/x/text/cases"

	"github.com/shoebox/shoebox/internal/units"
	"github.com/shoebox/shoebox/vault"
)

func cmdInit(g *globals) *cobra.Command {
	var pq bool
	var logN, packSize int
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository and print its recovery identity",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.store(true)
			if err != nil {
				return err
			}
			if packSize != 0 && (packSize < 1<<20 || packSize > 1<<30) {
				return fmt.Errorf("init: --pack-size %d out of range (1 MiB to 1 GiB)", packSize)
			}
			pass, err := g.passphrase("New repository passphrase: ", true)
			if err != nil {
				return err
			}
			r, recovery, err := vault.Init(cmd.Context(), st, vault.InitOptions{Passphrase: pass, PostQuantum: pq, ScryptLogN: logN, PackSize: packSize})
			if err != nil {
				return err
			}
			defer r.Close()
			cfg := r.Config()
			if g.json {
				return g.printJSON(map[string]any{"id": cfg.ID, "repository": g.repo, "recipient": cfg.Recipient,
					"post_quantum": pq, "recovery_identity": recovery})
			}
			fmt.Fprintf(g.stdout, "created repository %s at %s\n\n", cfg.ID[:8], g.repo)
			fmt.Fprintf(g.stdout, "RECOVERY IDENTITY — print this and keep it somewhere safe, away from the box.\n")
			fmt.Fprintf(g.stdout, "It opens the repository if the passphrase is lost. It is shown only now.\n\n")
			fmt.Fprintf(g.stdout, "    %s\n\n", recovery)
			fmt.Fprintf(g.stdout, "Use it with: shoebox --identity-file FILE ... (FILE holding the line above)\n")
			return nil
		},
	}
	c.Flags().BoolVar(&pq, "post-quantum", false, "use hybrid ML-KEM-768+X25519 (age1pq…) keys for long-term archives")
	c.Flags().IntVar(&logN, "scrypt-logn", vault.DefaultScryptLogN, "scrypt work factor for the passphrase (2^N); lower only for tests")
	c.Flags().MarkHidden("scrypt-logn")
	c.Flags().IntVar(&packSize, "pack-size", 0, "target pack size in bytes (default 16 MiB); small packs only for tests")
	c.Flags().MarkHidden("pack-size")
	return c
}

func cmdBackup(g *globals) *cobra.Command {
	var opt vault.BackupOptions
	var parent string
	var force bool
	c := &cobra.Command{
		Use:   "backup [flags] PATH...",
		Short: "Back up files and folders as a new snapshot",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, l, err := g.openLocked(ctx, false, "backup")
			if err != nil {
				return err
			}
			defer r.Close()
			defer l.Release()
			opt.Paths = args
			opt.NoParent = force
			if parent != "" {
				p, err := r.FindSnapshot(ctx, parent, vault.SnapshotFilter{})
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
		},
	}
	f := c.Flags()
	f.StringSliceVar(&opt.Tags, "tag", nil, "add a `tag` to the snapshot (repeatable)")
	f.StringVar(&opt.Host, "host", "", "record this host name")
	f.StringSliceVar(&opt.Excludes, "exclude", nil, "skip names matching `glob` (repeatable)")
	f.StringVar(&parent, "parent", "", "compare with this snapshot instead of the latest one of the same paths")
	f.BoolVar(&force, "force", false, "read every file again, ignoring the parent snapshot")
	return c
}

func cmdSnapshots(g *globals) *cobra.Command {
	var filter vault.SnapshotFilter
	c := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			snaps, err := r.Snapshots(cmd.Context())
			if err != nil {
				return err
			}
			holds, err := r.Holds(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				ID        string         `json:"id"`
				ShortID   string         `json:"short_id"`
				Time      time.Time      `json:"time"`
				Host      string         `json:"hostname"`
				Paths     []string       `json:"paths"`
				Tags      []string       `json:"tags,omitempty"`
				Immutable *time.Time     `json:"immutable_until,omitempty"`
				Summary   *vault.Summary `json:"summary,omitempty"`
			}
			var rows []row
			for _, s := range snaps {
				if !(vault.SnapshotFilter{Host: filter.Host, Tags: filter.Tags}).Match(s) {
					continue
				}
				rw := row{ID: s.ID().String(), ShortID: s.ID().Short(), Time: s.Time, Host: s.Hostname, Paths: s.Paths, Tags: s.Tags, Summary: s.Summary}
				if u, ok := holds[s.ID()]; ok {
					rw.Immutable = &u
				}
				rows = append(rows, rw)
			}
			if g.json {
				if rows == nil {
					rows = []row{}
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
		},
	}
	c.Flags().StringVar(&filter.Host, "host", "", "only snapshots of this host")
	c.Flags().StringSliceVar(&filter.Tags, "tag", nil, "only snapshots with this tag")
	return c
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

func cmdLs(g *globals) *cobra.Command {
	var long, recursive bool
	c := &cobra.Command{
		Use:   "ls SNAPSHOT [PATH]",
		Short: "List files in a snapshot",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			snap, err := r.FindSnapshot(ctx, args[0], vault.SnapshotFilter{})
			if err != nil {
				return err
			}
			dir := "/"
			if len(args) == 2 {
				dir = path.Clean("/" + args[1])
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
					if c.Type == vault.NodeDir && !recursive {
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
				if long {
					fmt.Fprintf(g.stdout, "%s %8s %8s %12d %s %s\n", rw.Mode, rw.User, rw.Group, rw.Size, rw.ModTime.Local().Format("2006-01-02 15:04:05"), name)
				} else {
					fmt.Fprintln(g.stdout, name)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&long, "long", "l", false, "show mode, owner, size and time")
	c.Flags().BoolVarP(&recursive, "recursive", "R", false, "list subdirectories too")
	return c
}

func cmdFind(g *globals) *cobra.Command {
	var snapRefs []string
	var caseSensitive bool
	c := &cobra.Command{
		Use:   "find PATTERN",
		Short: "Find files by name or path glob in all snapshots",
		Long: "PATTERN is a shell glob matched against base names (\"*.cr3\") or, when it starts with /, against full paths.\n" +
			"Names match regardless of case (Unicode case folding: \"*.jpg\" finds DSC_0001.JPG), as in Finder,\n" +
			"Windows Explorer and Synology's search; --case-sensitive matches letter for letter.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			pat := args[0]
			if _, err := path.Match(pat, ""); err != nil {
				return fmt.Errorf("bad pattern %q: %w (a shell glob: * ? [abc] [a-z], \\ quotes the next character)", pat, err)
			}
			fold := func(s string) string { return s }
			if !caseSensitive {
				// Full Unicode case folding, not ToLower: "STRASSE" finds
				// straße, and the glob's own characters fold to themselves.
				caser := cases.Fold()
				fold = caser.String
				pat = fold(pat)
			}
			var snaps []*vault.Snapshot
			if len(snapRefs) > 0 {
				for _, ref := range snapRefs {
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
		},
	}
	c.Flags().StringSliceVarP(&snapRefs, "snapshot", "s", nil, "search only this snapshot (repeatable)")
	c.Flags().BoolVar(&caseSensitive, "case-sensitive", false, "match letter case exactly (default: names match regardless of case)")
	return c
}

func cmdDiff(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff SNAPSHOT1 SNAPSHOT2",
		Short: "Show what changed between two snapshots",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			a, err := r.FindSnapshot(ctx, args[0], vault.SnapshotFilter{})
			if err != nil {
				return err
			}
			b, err := r.FindSnapshot(ctx, args[1], vault.SnapshotFilter{})
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
		},
	}
}

func cmdRestore(g *globals) *cobra.Command {
	var opt vault.RestoreOptions
	var overwrite, skip, verify bool
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
			ctx := cmd.Context()
			if opt.Target == "" {
				return errors.New("restore: --target DIR is required")
			}
			var chosen []string
			for _, f := range []struct {
				set  bool
				flag string
				e    vault.Existing
			}{{overwrite, "--overwrite", vault.ExistingOverwrite}, {skip, "--skip-existing", vault.ExistingSkip}, {verify, "--verify", vault.ExistingVerify}} {
				if f.set {
					chosen = append(chosen, f.flag)
					opt.Existing = f.e
				}
			}
			if len(chosen) > 1 {
				return fmt.Errorf("restore: %s: choose one", strings.Join(chosen, " and "))
			}
			if opt.NoKeep && !overwrite && !verify {
				return errors.New("restore: --no-keep goes with --overwrite or --verify (it says not to keep the files they replace)")
			}
			r, l, err := g.openLocked(ctx, false, "restore")
			if err != nil {
				return err
			}
			defer r.Close()
			defer l.Release()
			snap, err := r.FindSnapshot(ctx, args[0], vault.SnapshotFilter{})
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
		},
	}
	c.Flags().StringVarP(&opt.Target, "target", "t", "", "restore into this `directory`")
	c.Flags().StringSliceVarP(&opt.Include, "include", "i", nil, "restore only paths matching `pattern` (repeatable)")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace files already in the target (kept as NAME.shoebox-old)")
	c.Flags().BoolVar(&skip, "skip-existing", false, "leave files already in the target as they are")
	c.Flags().BoolVar(&verify, "verify", false, "compare files already in the target and replace only those that differ")
	c.Flags().BoolVar(&opt.NoKeep, "no-keep", false, "with --overwrite or --verify: delete replaced files instead of keeping NAME.shoebox-old")
	return c
}

func cmdDump(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dump SNAPSHOT PATH",
		Short: "Write a file to standard output (a folder as a tar stream)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			snap, err := r.FindSnapshot(ctx, args[0], vault.SnapshotFilter{})
			if err != nil {
				return err
			}
			p := path.Clean("/" + args[1])
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
		},
	}
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

func cmdCheck(g *globals) *cobra.Command {
	var opt vault.CheckOptions
	c := &cobra.Command{
		Use:   "check",
		Short: "Verify the repository (--read-data: every byte)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, l, err := g.openLocked(ctx, false, "check")
			if err != nil {
				return err
			}
			defer r.Close()
			defer l.Release()
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
		},
	}
	c.Flags().BoolVar(&opt.ReadData, "read-data", false, "read, decrypt and verify every pack")
	return c
}

func cmdForget(g *globals) *cobra.Command {
	var p vault.Policy
	var within string
	var prune, dryRun bool
	c := &cobra.Command{
		Use:   "forget [SNAPSHOT...] [--keep-… N] [--prune]",
		Short: "Remove snapshots by ID or by a retention policy",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if within != "" {
				d, err := units.ParseRetention(within)
				if err != nil {
					return fmt.Errorf("keep-within: %w", err)
				}
				p.Within = d
			}
			if len(args) > 0 && !p.Empty() {
				return errors.New("forget: give snapshot IDs or --keep-… rules, not both")
			}
			opt := vault.ForgetOptions{IDs: args, Policy: p, Prune: prune, DryRun: dryRun}
			rep, err := g.forget(ctx, opt)
			if err != nil {
				return err
			}
			decisions, pr := rep.Decisions, rep.Prune
			if g.json {
				return g.printJSON(map[string]any{"decisions": decisions, "prune": pr, "dry_run": dryRun})
			}
			removed := 0
			for _, d := range decisions {
				verb := "remove"
				if d.Keep {
					verb = "keep  "
				} else {
					removed++
				}
				fmt.Fprintf(g.stdout, "%s %s %s %s\n", verb, d.ID, d.Time.Local().Format("2006-01-02 15:04:05"), strings.Join(d.Reasons, ", "))
			}
			if dryRun {
				g.out("dry run: %d snapshots would be removed\n", removed)
			} else {
				g.out("%d snapshots removed\n", removed)
			}
			if pr != nil {
				printPrune(g, pr)
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&p.Last, "keep-last", 0, "keep the last `n` snapshots")
	f.IntVar(&p.Hourly, "keep-hourly", 0, "keep the last snapshot of each of the last `n` hours")
	f.IntVar(&p.Daily, "keep-daily", 0, "keep the last snapshot of each of the last `n` days")
	f.IntVar(&p.Weekly, "keep-weekly", 0, "keep the last snapshot of each of the last `n` weeks")
	f.IntVar(&p.Monthly, "keep-monthly", 0, "keep the last snapshot of each of the last `n` months")
	f.IntVar(&p.Yearly, "keep-yearly", 0, "keep the last snapshot of each of the last `n` years")
	f.StringSliceVar(&p.Tags, "keep-tag", nil, "keep snapshots with this `tag`")
	f.StringVar(&within, "keep-within", "", "keep snapshots younger than `duration`, at least 1h (e.g. 30d, 6mo, 1y; m is minutes; docs/UNITS.md)")
	f.BoolVar(&prune, "prune", false, "prune unreferenced data afterwards")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "only show what would be removed")
	return c
}

func printPrune(g *globals, pr *vault.PruneResult) {
	g.out("prune: %d packs deleted, %d repacked, %d kept; %d blobs removed, %s freed\n",
		pr.PacksDeleted, pr.PacksRepacked, pr.PacksKept, pr.BlobsRemoved, bytesStr(pr.BytesFreed))
}

func cmdPrune(g *globals) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "prune",
		Short: "Remove data that no snapshot references",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pr, err := g.prune(cmd.Context(), dryRun)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(pr)
			}
			printPrune(g, pr)
			return nil
		},
	}
	c.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "only show what would be removed")
	return c
}

func cmdLock(g *globals) *cobra.Command {
	var until string
	c := &cobra.Command{
		Use:   "lock SNAPSHOT --until DATE",
		Short: "Make a snapshot immutable until a date (cannot be undone)",
		Long:  "DATE is 2006-01-02 (until the end of that day, 23:59:59.999 in this machine's time zone), an RFC 3339 time (exactly then), or a duration from now of at least an hour such as 90d, 6mo or 1y (m is minutes, mo months: docs/UNITS.md). The output says the instant and its zone. Until then forget refuses to remove the snapshot and prune keeps all it references. A lock can be extended, never shortened.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := parseUntil(until)
			if err != nil {
				return err
			}
			r, l, err := g.openLocked(ctx, false, "lock")
			if err != nil {
				return err
			}
			defer r.Close()
			defer l.Release()
			snap, err := r.FindSnapshot(ctx, args[0], vault.SnapshotFilter{})
			if err != nil {
				return err
			}
			if err := r.Hold(ctx, snap.ID(), t); err != nil {
				return err
			}
			// A hold is never shortened: report the one in force.
			if holds, err := r.Holds(ctx); err == nil && holds[snap.ID()].After(t) {
				t = holds[snap.ID()]
			}
			if g.json {
				return g.printJSON(map[string]any{"snapshot": snap.ID().String(), "immutable_until": t})
			}
			g.out("snapshot %s is immutable until %s\n", snap.ID().Short(), t.Local().Format(untilLayout))
			return nil
		},
	}
	c.Flags().StringVar(&until, "until", "", "immutable until this `date`")
	c.MarkFlagRequired("until")
	return c
}

func cmdUnlock(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Remove stale repository locks (of processes that are gone)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			removed, err := r.RemoveStaleLocks(cmd.Context())
			if err != nil {
				return err
			}
			locks, err := r.Locks(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				rm, live := []string{}, []string{}
				for _, l := range removed {
					rm = append(rm, l.String())
				}
				for _, l := range locks {
					live = append(live, l.String())
				}
				return g.printJSON(map[string]any{"removed": rm, "active": live})
			}
			for _, l := range removed {
				g.out("removed stale %s\n", l)
			}
			for _, l := range locks {
				g.out("still active: %s (not removed)\n", l)
			}
			if len(removed) == 0 && len(locks) == 0 {
				g.out("no locks\n")
			}
			return nil
		},
	}
}

func cmdStats(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show repository size, deduplication and compression",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
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
		},
	}
}

func cmdKey(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Manage passphrases and recovery identities"}
	var logN int
	var label string
	list := &cobra.Command{
		Use:   "list",
		Short: "List key files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			keys, err := r.Keys(cmd.Context())
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
		},
	}
	newPass := func() (string, error) {
		if p := os.Getenv("SHOEBOX_NEW_PASSWORD"); p != "" {
			return p, nil
		}
		if f := os.Getenv("SHOEBOX_NEW_PASSWORD_FILE"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		ng := *g
		ng.passwordFile = ""
		os.Unsetenv("SHOEBOX_PASSWORD")
		return ng.passphrase("New passphrase: ", true)
	}
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a passphrase (from SHOEBOX_NEW_PASSWORD[_FILE] or a prompt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			p, err := newPass()
			if err != nil {
				return err
			}
			id, err := r.AddPassphrase(cmd.Context(), p, label, logN)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"id": id})
			}
			g.out("added key %s\n", id[:8])
			return nil
		},
	}
	addRecovery := &cobra.Command{
		Use:   "add-recovery",
		Short: "Create a new recovery identity (printed once) and add it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			id, identity, err := r.AddRecovery(cmd.Context(), label)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"id": id, "recovery_identity": identity})
			}
			fmt.Fprintf(g.stdout, "added recovery key %s; print and keep this identity:\n\n    %s\n", id[:8], identity)
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove KEY-ID",
		Short: "Remove a key file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			if err := r.RemoveKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"removed": args[0]})
			}
			g.out("removed key %s\n", args[0])
			return nil
		},
	}
	passwd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the passphrase used to open the repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			p, err := newPass()
			if err != nil {
				return err
			}
			id, err := r.ChangePassphrase(cmd.Context(), p, logN)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]string{"id": id})
			}
			g.out("passphrase changed (key %s)\n", id[:8])
			return nil
		},
	}
	export := &cobra.Command{
		Use:   "export-identity",
		Short: "Print the repository's age identity (decrypts any file with `age -d -i`)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			if g.json {
				return g.printJSON(map[string]string{"identity": r.MasterKey().Identity(), "recipient": r.MasterKey().Recipient()})
			}
			fmt.Fprintf(g.stdout, "# Shoebox repository %s\n# public key: %s\n%s\n", r.Config().ID[:8], r.MasterKey().Recipient(), r.MasterKey().Identity())
			return nil
		},
	}
	for _, sub := range []*cobra.Command{add, passwd} {
		sub.Flags().IntVar(&logN, "scrypt-logn", vault.DefaultScryptLogN, "scrypt work factor (2^N); lower only for tests")
		sub.Flags().MarkHidden("scrypt-logn")
	}
	add.Flags().StringVar(&label, "label", "", "a note on who or what the key is for")
	addRecovery.Flags().StringVar(&label, "label", "", "a note on where the paper copy is kept")
	c.AddCommand(list, add, addRecovery, remove, passwd, export)
	return c
}

// parseUntil accepts a date, an RFC 3339 time or a duration from now.
// untilLayout prints a lock's end with its zone: "2026-12-31 23:59:59.999
// CET (+01:00)".
const untilLayout = "2006-01-02 15:04:05.000 MST (-07:00)"

// parseUntil reads lock --until: a date means the end of that day in the
// box's local time zone (23:59:59.999), as a backup tool's "until the
// 31st" does; an RFC 3339 time is exact; a duration counts from now.
func parseUntil(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t.AddDate(0, 0, 1).Add(-time.Millisecond), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	switch d, err := units.ParseRetention(strings.TrimPrefix(s, "+")); {
	case err == nil:
		return time.Now().Add(d), nil
	case errors.Is(err, units.ErrTooShort):
		return time.Time{}, fmt.Errorf("until: %w", err)
	}
	return time.Time{}, fmt.Errorf("bad date %q: use 2027-06-30, an RFC 3339 time, or a duration such as 90d or 6mo (docs/UNITS.md)", s)
}

// bytesStr is a size for people: "1.5 GiB".
func bytesStr(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }
