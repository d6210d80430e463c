package devid

import "errors"

// Errors that come back wrapped, with the text or file concerned and what
// to do; test with errors.Is.
var (
	// ErrSyntax: the text is not a device ID (length or characters).
	ErrSyntax = errors.New("not a device ID")
	// ErrCheck: a check character does not match (a typing error).
	ErrCheck = errors.New("device ID mistyped")
	// ErrDamaged: an identity file cannot be read as what it should hold.
	ErrDamaged = errors.New("identity file damaged")
)
