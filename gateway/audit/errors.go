package audit

import "errors"

// Errors returned by Open, Append and List. Test for them with errors.Is;
// they come wrapped with the directory concerned and the reason.
var (
	// ErrTampered: the log fails verification in a way a crash cannot
	// explain (an entry was edited, deleted, reordered or cut off, or the
	// head was rewritten).
	ErrTampered = errors.New("the audit log fails verification: keep its files as evidence and move the directory aside to start a new log")

	// ErrLocked: another process has the log open for writing.
	ErrLocked = errors.New("the audit log is open in another process: stop the other shoeboxd")

	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("the audit log is closed")

	// ErrFailed: an earlier write failed in a way that left the file in
	// doubt; the Log refuses further entries until the repair succeeds
	// (each Append tries it first) or it is reopened, which repairs it.
	ErrFailed = errors.New("the audit log stopped after a failed write: it is retried with the next entry; free space or fix the disk")

	// ErrInvalid: an entry without an action.
	ErrInvalid = errors.New("invalid audit entry")
)

// Why decode refuses a line.
var (
	errNotJSON      = errors.New("not a JSON entry")
	errNotCanonical = errors.New("not in the form the log writes")
)
