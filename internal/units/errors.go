package units

import "errors"

// Errors that come back wrapped, with the value and the accepted forms;
// test with errors.Is.
var (
	// ErrDuration: the text is not a duration of this grammar.
	ErrDuration = errors.New("not a duration")
	// ErrSize: the text is not an amount of bytes.
	ErrSize = errors.New("not a size")
	// ErrTooShort: a retention period below MinRetention.
	ErrTooShort = errors.New("retention period too short")
)
