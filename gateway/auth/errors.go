package auth

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by the Store. Test for them with errors.Is; most are
// wrapped with the user, session or key they concern.
var (
	// ErrUnauthenticated: the bearer token is malformed, unknown, expired
	// or revoked, or its user is gone.
	ErrUnauthenticated = errors.New("not signed in, or the sign-in has ended: sign in again")

	// ErrBadCredentials: unknown user, wrong password or wrong code. One
	// error for all three, so that a guesser learns nothing.
	ErrBadCredentials = errors.New("wrong user name, password or code: check them and try again")

	// ErrTOTPRequired: the password was right but the account uses a
	// second factor and no code was given.
	ErrTOTPRequired = errors.New("this account uses two-step sign-in: enter the 6-digit code from your authenticator app, or a recovery code")

	// ErrRateLimited: too many attempts from one address, or too many
	// failures from it on one account. The error is a *RateLimitError
	// saying how long to wait.
	ErrRateLimited = errors.New("too many sign-in attempts from this address")

	// ErrNotFound: no such user, session or API key.
	ErrNotFound = errors.New("not found")

	// ErrExists: a user of that name exists.
	ErrExists = errors.New("already exists")

	// ErrInvalid: a name, password, role, access, scope or expiry that
	// cannot be accepted; the wrapping message says which and why.
	ErrInvalid = errors.New("invalid")

	// ErrLastOwner: the change would leave the box without an owner.
	ErrLastOwner = errors.New("the box must keep an owner: make another user owner first")

	// ErrForbidden: the caller's role does not allow the change.
	ErrForbidden = errors.New("your role does not allow this: ask the box's owner")

	// ErrTOTPEnabled: two-step sign-in is already on.
	ErrTOTPEnabled = errors.New("two-step sign-in is already on: turn it off first to move to a new authenticator")

	// ErrTOTPDisabled: two-step sign-in is off (or its set-up was not
	// started).
	ErrTOTPDisabled = errors.New("two-step sign-in is not on: start its set-up first")

	// ErrSecondFactor: the person has two-step sign-in and the session
	// (from an enrolment code, or older than recorded factors) has not
	// proved it.
	ErrSecondFactor = errors.New("this session has not proved two-step sign-in: enter a code from your authenticator app, or a recovery code, first")
)

// RateLimitError is ErrRateLimited with the wait before the next attempt.
type RateLimitError struct {
	Wait time.Duration
	// Account is set when the wait comes from failures on the account
	// named (the back-off), not from the address's pace overall. The
	// same holds for a name that does not exist.
	Account bool
}

func (e *RateLimitError) Error() string {
	if e.Account {
		return fmt.Sprintf("too many failed attempts on this account from this address: wait %d s and try again (other devices and networks are not held up)", e.RetryAfter())
	}
	return fmt.Sprintf("%v: wait %d s and try again", ErrRateLimited, e.RetryAfter())
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RetryAfter is the wait in whole seconds, rounded up.
func (e *RateLimitError) RetryAfter() int { return ceilSeconds(e.Wait) }

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
