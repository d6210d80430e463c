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

// ErrDegraded is wrapped by errors of operations that could not keep the
// layout's redundancy.
var ErrDegraded = errors.New("array degraded")

// ErrCorruptObject means an object could not be read back intact.
var ErrCorruptObject = errors.New("object damaged beyond repair")

// ErrArrayBusy means another process has the array open for writing.
var ErrArrayBusy = errors.New("array in use by another process")

// ErrReadOnly is returned by writes to an array opened read-only.
var ErrReadOnly = errors.New("array opened read-only")

// ErrReadersBusy is returned by ExcludeReaders while another process
// reads the array.
var ErrReadersBusy = errors.New("another process is reading the array")

// errShardChecksum marks a shard whose bytes do not match its header.
var errShardChecksum = errors.New("shard checksum mismatch (bit rot)")

// errShardHeader marks a shard file whose header does not parse.
var errShardHeader = errors.New("bad shard header")
