package appliance

import (
	"context"
	"log/slog"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/smart"
)

// The evacuation policy joins SMART verdicts to the disk array: smart
// judges disks and knows nothing of the array, raid moves shards and
// knows nothing of SMART. The daemon (Evacuator) and `shoebox disks
// --evacuate` both decide with FailingMember which member to empty.

// ArrayErrorsOf returns a smart.Poller ArrayErrors function reading the
// array's own per-disk error counts, matching disks by serial or WWN.
func ArrayErrorsOf(a *raid.Array) func(r *smart.Record) smart.ArrayErrors {
	return func(r *smart.Record) smart.ArrayErrors {
		for _, d := range a.Status().Disks {
			if sameDrive(d, r.Serial, r.WWN) {
				return smart.ArrayErrors{IOErrors: d.IOErrors, ChecksumErrors: d.ChecksumErrors}
			}
		}
		return smart.ArrayErrors{}
	}
}

// sameDrive reports whether the member d is on the drive SMART names by
// serial and wwn. A member's label holds the WWN as its serial when the
// drive had no serial.
func sameDrive(d raid.DiskStatus, serial, wwn string) bool {
	return (serial != "" && d.Serial == serial) || (wwn != "" && (d.WWN == wwn || d.Serial == wwn))
}

// FailingMember returns the member to evacuate for ev: the present,
// active member on the disk that ev turns FAILING. ok is false for any
// other event, and for a disk that is no member (the system disk), is
// missing or is already draining.
func FailingMember(a *raid.Array, ev smart.Event) (member raid.DiskStatus, ok bool) {
	if ev.To != smart.Failing {
		return raid.DiskStatus{}, false
	}
	for _, d := range a.Status().Disks {
		if sameDrive(d, ev.Serial, ev.WWN) && d.Present && d.State == raid.StateActive {
			member, ok = d, true
		}
	}
	return member, ok
}

// Evacuator moves the data off disks that turn FAILING: for every Event
// to FAILING whose disk is a member of the array (FailingMember), it
// evacuates the member (its shards are rebuilt on the other disks,
// keeping redundancy) and reports the outcome. Run it as a service: it
// returns when ctx ends.
type Evacuator struct {
	Array  *raid.Array
	Events <-chan smart.Event
	Logger *slog.Logger
	// Done, when set, is called after each evacuation (tests, alerts).
	Done func(ev smart.Event, rep *raid.ScrubReport, err error)
	// Track, when set, is called as each evacuation starts, with the
	// member's path; the evacuation reports its objects to the returned
	// Op (the daemon's list of operations in progress).
	Track func(subject string) *Op
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
			member, ok := FailingMember(e.Array, ev)
			if !ok {
				continue
			}
			log.Warn("smart: disk is failing; moving its data to the other disks", "disk", ev.Path, "serial", ev.Serial, "member", member.Path)
			var progress func(done, total int)
			var op *Op
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
