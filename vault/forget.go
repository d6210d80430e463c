package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy says which snapshots to keep. Within each group of snapshots
// (same host and paths), a snapshot is kept when any rule wants it; the
// period rules keep the newest snapshot of each of the last N hours, days,
// weeks, months or years that have one.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Tags                                         []string
	// Within keeps every snapshot younger than this.
	Within time.Duration
}

// Empty reports whether the policy has no rule (forget then refuses to
// remove everything).
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 &&
		p.Yearly == 0 && len(p.Tags) == 0 && p.Within == 0
}

// Decision explains what forget does with one snapshot.
type Decision struct {
	Snapshot *Snapshot `json:"-"`
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Keep     bool      `json:"keep"`
	Reasons  []string  `json:"reasons,omitempty"`
}

// ApplyPolicy decides, without changing anything, which snapshots the
// policy keeps. Snapshots under an immutability hold are always kept.
func ApplyPolicy(snaps []*Snapshot, p Policy, holds map[ID]time.Time, now time.Time) []Decision {
	groups := map[string][]*Snapshot{}
	var keys []string
	for _, s := range snaps {
		paths := append([]string(nil), s.Paths...)
		sort.Strings(paths)
		k := s.Hostname + "\x00" + strings.Join(paths, "\x00")
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	sort.Strings(keys)
	var out []Decision
	for _, k := range keys {
		g := groups[k]
		sort.Slice(g, func(i, j int) bool { return g[i].Time.After(g[j].Time) }) // newest first
		type rule struct {
			name   string
			n      int
			bucket func(time.Time) string
		}
		rules := []rule{
			{"last", p.Last, nil},
			{"hourly", p.Hourly, func(t time.Time) string { return t.Format("2006-01-02 15") }},
			{"daily", p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
			{"weekly", p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) }},
			{"monthly", p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
			{"yearly", p.Yearly, func(t time.Time) string { return t.Format("2006") }},
		}
		used := make([]int, len(rules))
		last := make([]string, len(rules))
		for _, s := range g {
			d := Decision{Snapshot: s, ID: s.id.Short(), Time: s.Time}
			lt := s.Time.Local()
			for i, r := range rules {
				if r.n == 0 || used[i] >= r.n {
					continue
				}
				if r.bucket == nil {
					used[i]++
					d.Reasons = append(d.Reasons, r.name)
					continue
				}
				if b := r.bucket(lt); b != last[i] {
					last[i] = b
					used[i]++
					d.Reasons = append(d.Reasons, r.name)
				}
			}
			for _, t := range p.Tags {
				if s.HasTag(t) {
					d.Reasons = append(d.Reasons, "tag "+t)
				}
			}
			if p.Within > 0 && now.Sub(s.Time) < p.Within {
				d.Reasons = append(d.Reasons, "within "+p.Within.String())
			}
			if until, ok := holds[s.id]; ok && until.After(now) {
				d.Reasons = append(d.Reasons, "immutable until "+until.Local().Format(time.RFC3339))
			}
			d.Keep = len(d.Reasons) > 0
			out = append(out, d)
		}
	}
	return out
}

// Forget removes the snapshots the policy does not keep (dry run when
// dryRun is set) and returns the decisions. Removing a snapshot only
// removes its snapshot file; prune frees the data.
func (r *Repository) Forget(ctx context.Context, p Policy, dryRun bool) ([]Decision, error) {
	return r.ForgetMatching(ctx, SnapshotFilter{}, p, dryRun)
}

// ForgetMatching is Forget restricted to the snapshots f matches (one
// source's snapshots, with the source's own policy).
func (r *Repository) ForgetMatching(ctx context.Context, f SnapshotFilter, p Policy, dryRun bool) ([]Decision, error) {
	if p.Empty() {
		return nil, errors.New("forget: no keep rule given; refusing to remove every snapshot (give --keep-… options or snapshot IDs)")
	}
	all, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var snaps []*Snapshot
	for _, s := range all {
		if f.Match(s) {
			snaps = append(snaps, s)
		}
	}
	holds, err := r.Holds(ctx)
	if err != nil {
		return nil, fmt.Errorf("forget: cannot read immutability holds, refusing to remove anything: %w", err)
	}
	ds := ApplyPolicy(snaps, p, holds, time.Now())
	if dryRun {
		return ds, nil
	}
	for _, d := range ds {
		if !d.Keep {
			if err := r.store.Delete(ctx, snapshotPrefix+d.Snapshot.id.String()); err != nil {
				return ds, fmt.Errorf("forget %s: %w", d.ID, err)
			}
		}
	}
	return ds, nil
}

// ForgetIDs removes the given snapshots, refusing any under a hold.
func (r *Repository) ForgetIDs(ctx context.Context, snaps []*Snapshot) error {
	holds, err := r.Holds(ctx)
	if err != nil {
		return fmt.Errorf("forget: cannot read immutability holds, refusing to remove anything: %w", err)
	}
	for _, s := range snaps {
		if until, ok := holds[s.id]; ok {
			return fmt.Errorf("forget %s: %w until %s; nothing was removed", s.id.Short(), ErrImmutable, until.Local().Format(time.RFC3339))
		}
	}
	for _, s := range snaps {
		if err := r.store.Delete(ctx, snapshotPrefix+s.id.String()); err != nil {
			return fmt.Errorf("forget %s: %w", s.id.Short(), err)
		}
		r.snaps.Delete(s.id)
	}
	return nil
}

// ForgetOptions say which snapshots to forget: the ones named by IDs
// (or ID prefixes, "latest"), or those Policy does not keep among the
// snapshots Filter matches. Prune then removes the data no snapshot
// references any more.
type ForgetOptions struct {
	IDs    []string
	Policy Policy
	Filter SnapshotFilter
	Prune  bool
	DryRun bool
}

// ForgetReport is what ForgetAndPrune did.
type ForgetReport struct {
	Decisions []Decision   `json:"decisions"`
	Prune     *PruneResult `json:"prune"`
	DryRun    bool         `json:"dry_run"`
}

// ForgetAndPrune forgets snapshots and, with Prune, prunes: `shoebox
// forget` and the daemon's API alike. It must run under an exclusive
// lock. Snapshots under a hold are never removed: named ones make it
// fail before anything is removed, a policy keeps them.
func (r *Repository) ForgetAndPrune(ctx context.Context, opt ForgetOptions) (*ForgetReport, error) {
	if len(opt.IDs) > 0 && !opt.Policy.Empty() {
		return nil, errors.New("forget: give snapshot IDs or keep rules, not both")
	}
	rep := &ForgetReport{DryRun: opt.DryRun}
	if len(opt.IDs) > 0 {
		var snaps []*Snapshot
		for _, a := range opt.IDs {
			s, err := r.FindSnapshot(ctx, a, opt.Filter)
			if err != nil {
				return nil, err
			}
			snaps = append(snaps, s)
			rep.Decisions = append(rep.Decisions, Decision{Snapshot: s, ID: s.ID().Short(), Time: s.Time})
		}
		if !opt.DryRun {
			if err := r.ForgetIDs(ctx, snaps); err != nil {
				return nil, err
			}
		}
	} else {
		ds, err := r.ForgetMatching(ctx, opt.Filter, opt.Policy, opt.DryRun)
		if err != nil {
			return nil, err
		}
		rep.Decisions = ds
	}
	if opt.Prune && !opt.DryRun {
		pr, err := r.Prune(ctx, false)
		if err != nil {
			return rep, err
		}
		rep.Prune = pr
	}
	return rep, nil
}
