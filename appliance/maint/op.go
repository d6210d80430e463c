package maint

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
