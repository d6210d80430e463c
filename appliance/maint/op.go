package maint

import (
	"log/slog"
	"time"
)

// LogDone writes the one INFO line a finished operation gets in the
// daemon's log: message "KIND finished", op=KIND, then attrs, then how
// long it took. Every kind uses it (backup, scrub, restore-drill,
// prune), so that one filter (op=…) finds them all. No serial numbers
// or secrets in attrs: INFO lines are what owners paste into forums.
func LogDone(log *slog.Logger, kind string, took time.Duration, attrs ...any) {
	if log == nil {
		log = slog.Default()
	}
	args := append([]any{"op", kind}, attrs...)
	log.Info(kind+" finished", append(args, "duration", took.Round(time.Millisecond))...)
}

// Op follows one long operation (a scrub, a restore drill) for the
// daemon's list of operations in progress. Update is called from the
// operation's goroutine as it goes (a total of 0: unknown), Done exactly
// once at its end.
type Op interface {
	Update(filesDone, filesTotal, bytesDone, bytesTotal int64)
	Done(err error)
}

// track starts following an operation with start, when set.
func track(start func(subject string) Op, subject string) Op {
	if start == nil {
		return noOp{}
	}
	return start(subject)
}

type noOp struct{}

func (noOp) Update(filesDone, filesTotal, bytesDone, bytesTotal int64) {}
func (noOp) Done(err error)                                            {}
