package share

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by the Store. Test for them with errors.Is. The
// messages are shown to whoever followed the link, so they say what to
// do next.
var (
	// ErrNotFound: no link has this token or ID (or it is another
	// owner's), or the token is mistyped.
	ErrNotFound = errors.New("this share link does not exist: check that you copied all of it, or ask the owner for a new link")

	// ErrExpired: the link's expiry has passed.
	ErrExpired = errors.New("this share link has expired: ask the owner for a new link")

	// ErrRevoked: the owner turned the link off.
	ErrRevoked = errors.New("this share link was turned off by its owner: ask the owner for a new link")

	// ErrUsedUp: the link was opened as many times as its owner allowed.
	ErrUsedUp = errors.New("this share link has been used as many times as its owner allowed: ask the owner for a new link")

	// ErrPasswordRequired: the link has a password and none was given.
	ErrPasswordRequired = errors.New("this share link needs a password: enter the password the owner gave you")

	// ErrWrongPassword: the password does not match.
	ErrWrongPassword = errors.New("wrong password for this share link: check it with the owner and try again")

	// ErrTooManyAttempts: too many wrong passwords; the link is locked
	// for a while. The error is a *LockedError.
	ErrTooManyAttempts = errors.New("too many wrong passwords for this share link")

	// ErrInvalid: a request that cannot be accepted; the wrapping message
	// says which field and why.
	ErrInvalid = errors.New("invalid share link request")
)

// WrongPasswordError is ErrWrongPassword with the link it was tried on
// (for the gateway's audit log; the holder sees only the message).
type WrongPasswordError struct {
	ID       string // the link's public ID
	Failures int    // wrong passwords in a row, this one included
}

func (e *WrongPasswordError) Error() string { return ErrWrongPassword.Error() }

// Unwrap makes errors.Is(err, ErrWrongPassword) true.
func (e *WrongPasswordError) Unwrap() error { return ErrWrongPassword }

// LockedError is ErrTooManyAttempts with the time the lock ends.
type LockedError struct {
	ID       string // the link's public ID
	Until    time.Time
	Wait     time.Duration // from the time of the attempt
	Failures int           // wrong passwords in a row
	// New is true when this attempt's wrong password set the lock (it is
	// then also a failed attempt); false when the link was locked already
	// and no password was checked.
	New bool
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v: it is locked for %s; try again then, or ask the owner for the password",
		ErrTooManyAttempts, e.Wait.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrTooManyAttempts) true.
func (e *LockedError) Unwrap() error { return ErrTooManyAttempts }

// RetryAfter is the wait in whole seconds, rounded up (the gateway's
// Retry-After header).
func (e *LockedError) RetryAfter() int {
	return int((e.Wait + time.Second - 1) / time.Second)
}
