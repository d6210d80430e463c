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
	// Track, when set, is called as each evacuation starts, with the
	// member's path; the evacuation reports its objects to the returned
	// Op (the daemon's list of operations in progress).
	Track func(subject string) Op
}

// Op follows one long operation: Update is called from the operation's
// goroutine as it goes (a total of 0: unknown), Done once at its end.
type Op interface {
	Update(filesDone, filesTotal, bytesDone, bytesTotal int64)
	Done(err error)
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
			var progress func(done, total int)
			var op Op
			if e.Track != nil {
				op = e.Track(member.Path)
				progress = func(done, total int) { op.Update(int64(done), int64(total), 0, 0) }
			}
			rep, err := e.Array.Evacuate(ctx, member.DiskID, false, progress)
			if op != nil {
				op.Done(err)
			}
			if err != nil {
				log.Error("smart: evacuation incomplete", "disk", ev.Path, "err", err)
			}
			if e.Done != nil {
				e.Done(ev, rep, err)
			}
		}
	}
}
