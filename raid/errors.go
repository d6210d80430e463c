package raid

import (
	"errors"

	"github.com/shoebox/shoebox/store"
)

// The array's errors. A missing object is the store's: Open, Stat and
// Delete wrap store.ErrNotFound, and writes to an array opened read-only
// wrap store.ErrReadOnly.

// ErrNotMounted means a disk's mount point holds no mounted file system,
// so writing to it would fill the system disk instead.
var ErrNotMounted = errors.New("disk not mounted")

// ErrDegraded is wrapped by errors of operations that could not keep the
// layout's redundancy.
var ErrDegraded = errors.New("array degraded")

// ErrCorruptObject means an object could not be read back intact.
var ErrCorruptObject = errors.New("object damaged beyond repair")

// ErrArrayBusy means another process has the array open for writing.
var ErrArrayBusy = errors.New("array in use by another process")

// ErrReadOnly is returned by writes to an array opened read-only. It is
// the array's store.ErrReadOnly: errors.Is(err, store.ErrReadOnly) holds
// for it too, so the vault tells it apart without knowing the array.
var ErrReadOnly error = readOnlyError{}

type readOnlyError struct{}

func (readOnlyError) Error() string        { return "array opened read-only" }
func (readOnlyError) Is(target error) bool { return target == store.ErrReadOnly }

// ErrReadersBusy is returned by ExcludeReaders while another process
// reads the array.
var ErrReadersBusy = errors.New("another process is reading the array")

// errShardChecksum marks a shard whose bytes do not match its header.
var errShardChecksum = errors.New("shard checksum mismatch (bit rot)")

// errShardHeader marks a shard file whose header does not parse.
var errShardHeader = errors.New("bad shard header")
