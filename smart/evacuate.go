package smart

import (
	"context"
	"log/slog"

	"github.com/shoebox/shoebox/raid"
)

// ArrayErrorsOf returns an ArrayErrors function reading the array's own
// per-disk error counts, matching disks by serial or WWN.
func ArrayErrorsOf(a *raid.Array) func(r *Record) ArrayErrors {
	return func(r *Record) ArrayErrors {
		for _, d := range a.Status().Disks {
			if matches(d, r) {
				return ArrayErrors{IOErrors: d.IOErrors, ChecksumErrors: d.ChecksumErrors}
			}
		}
		return ArrayErrors{}
	}
}

func matches(d raid.DiskStatus, r *Record) bool {
	return (r.Serial != "" && d.Serial == r.Serial) || (r.WWN != "" && (d.WWN == r.WWN || d.Serial == r.WWN))
}

// Evacuator moves the data off disks that turn FAILING: for every Event
// to FAILING whose disk is a member of the array, it evacuates the member
// (its shards are rebuilt on the other disks, keeping redundancy) and
// reports the outcome. Run it as a service: it returns when ctx ends.
type Evacuator struct {
	Array  *raid.Array
	Events <-chan Event
	Logger *slog.Logger
	// Done, when set, is called after each evacuation (tests, alerts).
	Done func(ev Event, rep *raid.ScrubReport, err error)
}

// Serve handles events until ctx ends.
func (e *Evacuator) Serve(ctx context.Context) error {
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-e.Events:
			if ev.To != Failing {
				continue
			}
			var member *raid.DiskStatus
			for _, d := range e.Array.Status().Disks {
				if matches(d, &Record{Serial: ev.Serial, WWN: ev.WWN}) && d.Present && d.State == raid.StateActive {
					d := d
					member = &d
				}
			}
			if member == nil {
				continue
			}
			log.Warn("smart: disk is failing; moving its data to the other disks", "disk", ev.Path, "serial", ev.Serial, "member", member.Path)
			rep, err := e.Array.Evacuate(ctx, member.DiskID, false, nil)
			if err != nil {
				log.Error("smart: evacuation incomplete", "disk", ev.Path, "err", err)
			}
			if e.Done != nil {
				e.Done(ev, rep, err)
			}
		}
	}
}
