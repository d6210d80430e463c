package raid

import "errors"

var (
	// ErrNotFound means the named object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidName means an object name is not a clean relative path.
	ErrInvalidName = errors.New("invalid object name")
	// ErrNotMounted means a disk's mount point holds no mounted file system,
	// so writing to it would fill the system disk instead.
	ErrNotMounted = errors.New("disk not mounted")
)
