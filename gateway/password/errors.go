package password

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrMismatch is returned when a password does not match its hash.
	ErrMismatch = errors.New("wrong password")

	// ErrBusy: too many passwords are being checked at once. The error
	// is a *BusyError saying when to try again.
	ErrBusy = errors.New("the box is busy checking other passwords")
)

// BusyError is ErrBusy with the wait before trying again.
type BusyError struct {
	Wait time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%v: wait %d s and try again", ErrBusy, e.RetryAfter())
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// RetryAfter is the wait in whole seconds, rounded up, at least 1.
func (e *BusyError) RetryAfter() int {
	return max(int((e.Wait+time.Second-1)/time.Second), 1)
}
