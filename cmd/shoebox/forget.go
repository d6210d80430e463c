package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

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

// daemonClientLong is a daemon client without a time limit: forget with
// prune and prune take as long as the repository needs.
func daemonClientLong() (*daemonClient, error) {
	c, err := newDaemonClient()
	if err != nil {
		return nil, fmt.Errorf("the repository is in use by shoeboxd, and %w", err)
	}
	c.http.Timeout = 0
	return c, nil
}

// forget runs forget (and prune) here, or through the daemon when it
// holds the repository.
func (g *globals) forget(ctx context.Context, opt vault.ForgetOptions) (*vault.ForgetReport, error) {
	if !g.viaDaemon() {
		r, l, err := g.openLocked(ctx, true, "forget")
		if err != nil {
			return nil, err
		}
		defer r.Close()
		defer l.Release()
		return r.ForgetAndPrune(ctx, opt)
	}
	c, err := daemonClientLong()
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
	if err := c.protoCall(http.MethodPost, "/v1/snapshots/forget", req, &resp); err != nil {
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
		r, l, err := g.openLocked(ctx, true, "prune")
		if err != nil {
			return nil, err
		}
		defer r.Close()
		defer l.Release()
		return r.Prune(ctx, dryRun)
	}
	c, err := daemonClientLong()
	if err != nil {
		return nil, err
	}
	var resp pb.PruneResult
	if err := c.protoCall(http.MethodPost, "/v1/repository/prune", &pb.PruneRequest{DryRun: dryRun}, &resp); err != nil {
		return nil, err
	}
	fmt.Fprintln(g.stderr, "note: the repository is in use by shoeboxd; prune ran through it")
	return pruneResult(&resp), nil
}

// protoCall sends a request message as JSON and decodes the answer.
func (c *daemonClient) protoCall(method, path string, in, out proto.Message) error {
	body, err := protojson.Marshal(in)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.call(method, path, json.RawMessage(body), &raw); err != nil {
		return err
	}
	return (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, out)
}

func pruneResult(p *pb.PruneResult) *vault.PruneResult {
	if p == nil {
		return nil
	}
	return &vault.PruneResult{PacksDeleted: int(p.PacksDeleted), PacksRepacked: int(p.PacksRepacked), PacksKept: int(p.PacksKept),
		BlobsRemoved: int(p.BlobsRemoved), BytesFreed: p.BytesFreed, IndexesRemoved: int(p.IndexesRemoved), DryRun: p.DryRun}
}
