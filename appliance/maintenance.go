package appliance

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/smart"
)

// addMaintenance starts disk health polling (with evacuation of failing
// array members) and the array watch.
func (d *Daemon) addMaintenance(ctx context.Context) {
	if !d.Config.SMART.Disabled {
		dir := filepath.Join(d.Config.StateDir, "smart")
		hist, err := smart.OpenHistory(dir)
		if err != nil {
			// Without its history the poller cannot tell a disk going
			// bad from one always so: say so instead of polling nothing.
			msg := fmt.Sprintf("disk health (SMART) is not watched: its history folder %s cannot be used: %v; make it a writable folder (or set smart.disabled) and restart shoeboxd", dir, err)
			d.Logger.Error(msg)
			d.Bus.Raise("disk", "smart-history", Warning, "Disk health is not watched", msg)
		} else {
			p := &smart.Poller{History: hist, Interval: time.Duration(d.Config.SMART.Every), Logger: d.Logger, Discover: d.discoverDisks}
			d.poller = p
			if d.Array != nil {
				p.ArrayErrors = ArrayErrorsOf(d.Array)
			}
			events := p.Subscribe(16)
			d.sup.Add(ctx, "smart", p)
			d.sup.Add(ctx, "smart-alerts", ServiceFunc(func(ctx context.Context) error { return d.diskAlerts(ctx, events) }))
			if d.Array != nil && (d.Config.SMART.Evacuate == nil || *d.Config.SMART.Evacuate) {
				evac := &Evacuator{Array: d.Array, Events: p.Subscribe(16), Logger: d.Logger,
					Track: func(disk string) *Op { return d.StartOperation(OpEvacuate, "", disk) }}
				d.sup.Add(ctx, "evacuate", evac)
			}
		}
	}
	if d.Array != nil {
		d.sup.Add(ctx, "array-watch", ServiceFunc(d.watchArray))
	}
}

func (d *Daemon) diskAlerts(ctx context.Context, events <-chan smart.Event) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-events:
			key := "disk/" + ev.Key
			// The facts and the one thing to do.
			why := ev.Verdict.Text()
			name := fmt.Sprintf("%s %s (%s)", ev.Model, ev.Serial, ev.Path)
			switch ev.To {
			case smart.Failing:
				d.Bus.Raise("disk", key, Critical, "Disk failing: "+name, why)
			case smart.Warning:
				d.Bus.Raise("disk", key, Warning, "Disk needs attention: "+name, why)
			case smart.OK:
				d.Bus.Resolve(key, "the disk is healthy again")
			}
		}
	}
}

// watchArray raises "array-degraded" while a disk is missing or objects
// lack redundancy.
func (d *Daemon) watchArray(ctx context.Context) error {
	t := time.NewTicker(arrayWatchEvery)
	defer t.Stop()
	for {
		st := d.Array.Status()
		if st.State != raid.ArrayHealthy {
			missing := 0
			for _, disk := range st.Disks {
				if !disk.Present {
					missing++
				}
			}
			d.Bus.Raise("array-degraded", "array-degraded", Critical, "The disk array is degraded",
				fmt.Sprintf("%d disks missing, %d objects short of redundancy; see `shoebox raid status` for which disk to check or replace", missing, st.Degraded))
		} else {
			d.Bus.Resolve("array-degraded", "the array is healthy again")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// arrayWatchEvery is how often the array's state is checked.
var arrayWatchEvery = time.Minute
