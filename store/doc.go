// Package store keeps named objects. It defines ObjectStore, the one
// storage interface of Shoebox: put, open (random-access reads), stat,
// list and delete of objects named by slash-separated relative paths. The
// vault runs on any ObjectStore and knows no other storage type.
//
// # Implementations
//
//   - Dir (this package): a plain directory on one disk, a USB drive or a
//     folder in a test; the reference implementation.
//   - raid.Array: the erasure-coded array over the box's disks (its
//     members are Dir stores).
//   - Later: the paired offsite unit, and an S3 bucket.
//
// Every implementation passes the same conformance suite,
// store/storetest. Wrappers (retry, rate limit, metrics) implement
// ObjectStore around another and expose Unwrap.
//
// # Writes
//
// Every write is atomic and durable: readers see the old object or the
// whole new one, never a part, and a Put that returned nil survives a
// power cut (Dir: a temporary file under .tmp, fsync, rename, fsync of
// the directory). Writers that know an object's name only after its last
// byte (packs are named by their hash) stream it through CreatePending:
// stores with the optional PendingCreator capability (found by type
// assertion) write it to their medium at once; for the others it is
// buffered in memory and handed to Put at Commit.
//
// # Errors
//
// A missing object is ErrNotFound, a name that is not a clean relative
// path ErrInvalidName, a write to a store another process owns
// ErrReadOnly; implementations wrap them (errors.Is), and may add their
// own (the array's ErrDegraded, ErrCorruptObject …). Errors a user can act
// on (full disk, read-only file system, permission) say what to do next.
//
// The package imports nothing of the rest of Shoebox but internal/, and
// builds on every GOOS the vault does (Linux, macOS, Windows), so the
// command line can restore from a directory repository on a laptop.
package store
