package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/internal/units"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// forgetOptions are forget's arguments and flags.
type forgetOptions struct {
	IDs    []string     // snapshots to remove, or none
	Policy vault.Policy // the --keep-… rules but --keep-within
	Within string       // --keep-within, a retention period (docs/UNITS.md)
	Prune  bool
	DryRun bool
}

func cmdForget(g *globals) *cobra.Command {
	var opts forgetOptions
	c := &cobra.Command{
		Use:   "forget [SNAPSHOT...] [--keep-… N] [--prune]",
		Short: "Remove snapshots by ID or by a retention policy",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IDs = args
			return runForget(cmd.Context(), g, opts)
		},
	}
	f := c.Flags()
	p := &opts.Policy
	f.IntVar(&p.Last, "keep-last", 0, "keep the last `n` snapshots")
	f.IntVar(&p.Hourly, "keep-hourly", 0, "keep the last snapshot of each of the last `n` hours")
	f.IntVar(&p.Daily, "keep-daily", 0, "keep the last snapshot of each of the last `n` days")
	f.IntVar(&p.Weekly, "keep-weekly", 0, "keep the last snapshot of each of the last `n` weeks")
	f.IntVar(&p.Monthly, "keep-monthly", 0, "keep the last snapshot of each of the last `n` months")
	f.IntVar(&p.Yearly, "keep-yearly", 0, "keep the last snapshot of each of the last `n` years")
	f.StringSliceVar(&p.Tags, "keep-tag", nil, "keep snapshots with this `tag`")
	f.StringVar(&opts.Within, "keep-within", "", "keep snapshots younger than `duration`, at least 1h (e.g. 30d, 6mo, 1y; m is minutes; docs/UNITS.md)")
	f.BoolVar(&opts.Prune, "prune", false, "prune unreferenced data afterwards")
	f.BoolVarP(&opts.DryRun, "dry-run", "n", false, "only show what would be removed")
	return c
}

// runForget removes snapshots by ID or by the retention policy (and
// prunes with opts.Prune): here, or through shoeboxd when it holds the
// repository.
func runForget(ctx context.Context, g *globals, opts forgetOptions) error {
	p := opts.Policy
	if opts.Within != "" {
		d, err := units.ParseRetention(opts.Within)
		if err != nil {
			return fmt.Errorf("keep-within: %w", err)
		}
		p.Within = d
	}
	if len(opts.IDs) > 0 && !p.Empty() {
		return errors.New("forget: give snapshot IDs or --keep-… rules, not both")
	}
	rep, err := g.forget(ctx, vault.ForgetOptions{IDs: opts.IDs, Policy: p, Prune: opts.Prune, DryRun: opts.DryRun})
	if err != nil {
		return err
	}
	decisions, pr := rep.Decisions, rep.Prune
	if g.json {
		return g.printJSON(map[string]any{"decisions": decisions, "prune": pr, "dry_run": opts.DryRun})
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
	if opts.DryRun {
		g.out("dry run: %d snapshots would be removed\n", removed)
	} else {
		g.out("%d snapshots removed\n", removed)
	}
	if pr != nil {
		printPrune(g, pr)
	}
	return nil
}

func printPrune(g *globals, pr *vault.PruneResult) {
	g.out("prune: %d packs deleted, %d repacked, %d kept; %d blobs removed, %s freed\n",
		pr.PacksDeleted, pr.PacksRepacked, pr.PacksKept, pr.BlobsRemoved, bytesStr(pr.BytesFreed))
}

// pruneOptions are prune's flags.
type pruneOptions struct {
	DryRun bool
}

func cmdPrune(g *globals) *cobra.Command {
	var opts pruneOptions
	c := &cobra.Command{
		Use:   "prune",
		Short: "Remove data that no snapshot references",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), g, opts)
		},
	}
	c.Flags().BoolVarP(&opts.DryRun, "dry-run", "n", false, "only show what would be removed")
	return c
}

// runPrune removes the data no snapshot references: here, or through
// shoeboxd when it holds the repository.
func runPrune(ctx context.Context, g *globals, opts pruneOptions) error {
	pr, err := g.prune(ctx, opts.DryRun)
	if err != nil {
		return err
	}
	if g.json {
		return g.printJSON(pr)
	}
	printPrune(g, pr)
	return nil
}

// viaDaemon reports whether forget and prune go through the running
// shoeboxd instead of opening the repository: when the repository is the
// disk array the daemon holds (its members are locked by another
// process), or when no repository is given and a daemon's state
// directory is found. A folder repository is always opened directly.
func (g *globals) viaDaemon() bool {
	if g.repo == "" {
		_, err := os.Stat(filepath.Join(stateDir(), "api-token"))
		return err == nil
	}
	members, ok := strings.CutPrefix(g.repo, "raid:")
	if !ok {
		return false
	}
	a, err := raid.OpenArray(strings.Split(members, ","), raid.Options{})
	if err == nil {
		a.Close()
	}
	return errors.Is(err, raid.ErrArrayBusy)
}

// daemonClientLong is a daemon client without a deadline: forget with
// prune and prune take as long as the repository needs (Ctrl-C stops
// waiting).
func (g *globals) daemonClientLong() (*daemonClient, error) {
	c, err := g.daemonClient()
	if err != nil {
		return nil, fmt.Errorf("the repository is in use by shoeboxd, and %w", err)
	}
	c.timeout = 0
	return c, nil
}

// forget runs forget (and prune) here, or through the daemon when it
// holds the repository.
func (g *globals) forget(ctx context.Context, opt vault.ForgetOptions) (*vault.ForgetReport, error) {
	if !g.viaDaemon() {
		var rep *vault.ForgetReport
		err := g.withRepo(ctx, "forget", exclusive, func(r *vault.Repository) (err error) {
			rep, err = r.ForgetAndPrune(ctx, opt)
			return err
		})
		return rep, err
	}
	c, err := g.daemonClientLong()
	if err != nil {
		return nil, err
	}
	req := &pb.ForgetRequest{Snapshots: opt.IDs, Prune: opt.Prune, DryRun: opt.DryRun}
	if p := opt.Policy; !p.Empty() {
		req.Policy = &pb.KeepPolicy{Last: int32(p.Last), Hourly: int32(p.Hourly), Daily: int32(p.Daily), Weekly: int32(p.Weekly),
			Monthly: int32(p.Monthly), Yearly: int32(p.Yearly), Tags: p.Tags}
		if p.Within > 0 {
			req.Policy.Within = p.Within.String()
		}
	}
	var resp pb.ForgetResponse
	if err := c.protoCall(ctx, http.MethodPost, "/v1/snapshots/forget", req, &resp); err != nil {
		return nil, err
	}
	fmt.Fprintln(g.stderr, "note: the repository is in use by shoeboxd; forget ran through it")
	rep := &vault.ForgetReport{DryRun: resp.DryRun, Prune: pruneResult(resp.Prune)}
	for _, d := range resp.Decisions {
		rep.Decisions = append(rep.Decisions, vault.Decision{ID: d.Id, Time: d.Time.AsTime(), Keep: d.Keep, Reasons: d.Reasons})
	}
	return rep, nil
}

// prune runs prune here, or through the daemon when it holds the
// repository.
func (g *globals) prune(ctx context.Context, dryRun bool) (*vault.PruneResult, error) {
	if !g.viaDaemon() {
		var pr *vault.PruneResult
		err := g.withRepo(ctx, "prune", exclusive, func(r *vault.Repository) (err error) {
			pr, err = r.Prune(ctx, dryRun)
			return err
		})
		return pr, err
	}
	c, err := g.daemonClientLong()
	if err != nil {
		return nil, err
	}
	var resp pb.PruneResult
	if err := c.protoCall(ctx, http.MethodPost, "/v1/repository/prune", &pb.PruneRequest{DryRun: dryRun}, &resp); err != nil {
		return nil, err
	}
	fmt.Fprintln(g.stderr, "note: the repository is in use by shoeboxd; prune ran through it")
	return pruneResult(&resp), nil
}

func pruneResult(p *pb.PruneResult) *vault.PruneResult {
	if p == nil {
		return nil
	}
	return &vault.PruneResult{PacksDeleted: int(p.PacksDeleted), PacksRepacked: int(p.PacksRepacked), PacksKept: int(p.PacksKept),
		BlobsRemoved: int(p.BlobsRemoved), BytesFreed: p.BytesFreed, IndexesRemoved: int(p.IndexesRemoved), DryRun: p.DryRun}
}
