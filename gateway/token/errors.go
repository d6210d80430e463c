package token

import "errors"

// ErrMalformed is returned for a string that is not a well-formed token of
// the expected kind.
var ErrMalformed = errors.New("malformed token")
