package appliance

import (
	"context"
	"time"

	"github.com/shoebox/shoebox/vault"
)

// Forget forgets snapshots and, with opt.Prune, prunes, under an
// exclusive repository lock: how the API and `shoebox forget` do it
// while the daemon runs, so the owner never has to stop the box. It is
// listed among the operations while it runs. A backup in progress holds
// a shared lock: the call then fails with vault.ErrLocked, naming it
// (try again once it is done); retention after backups takes the same
// lock, so they never overlap.
func (d *Daemon) Forget(ctx context.Context, opt vault.ForgetOptions) (rep *vault.ForgetReport, err error) {
	kind := OpForget
	if opt.Prune && !opt.DryRun {
		kind = OpPrune
	}
	err = d.exclusive(ctx, kind, func() error {
		var err error
		rep, err = d.Repo.ForgetAndPrune(ctx, opt)
		return err
	})
	if err != nil {
		return rep, err
	}
	removed := 0
	for _, dc := range rep.Decisions {
		if !dc.Keep {
			removed++
		}
	}
	d.Logger.Info("forget", "removed", removed, "kept", len(rep.Decisions)-removed, "dry_run", opt.DryRun)
	if rep.Prune != nil {
		d.logPrune(rep.Prune)
	}
	return rep, nil
}

// Prune removes the data no snapshot references, as Forget does.
func (d *Daemon) Prune(ctx context.Context, dryRun bool) (res *vault.PruneResult, err error) {
	err = d.exclusive(ctx, OpPrune, func() error {
		var err error
		res, err = d.Repo.Prune(ctx, dryRun)
		return err
	})
	if err == nil {
		d.logPrune(res)
	}
	return res, err
}

// exclusive runs fn as an operation of the given kind under an exclusive
// repository lock.
func (d *Daemon) exclusive(ctx context.Context, kind string, fn func() error) (err error) {
	if err := d.needsKey(); err != nil {
		return err
	}
	start := time.Now()
	op := d.StartOperation(kind, "", "repository")
	defer func() {
		op.Done(err)
		if err != nil {
			d.Logger.Error(kind+" failed", "err", err, "duration", time.Since(start).Round(time.Millisecond))
		}
	}()
	l, err := d.Repo.Lock(ctx, true, kind+" (shoeboxd)")
	if err != nil {
		return err
	}
	defer l.Release()
	return fn()
}

func (d *Daemon) logPrune(res *vault.PruneResult) {
	d.Logger.Info("prune", "packs_deleted", res.PacksDeleted, "packs_repacked", res.PacksRepacked, "packs_kept", res.PacksKept,
		"bytes_freed", res.BytesFreed, "dry_run", res.DryRun)
}
