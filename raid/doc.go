// Package raid is the erasure-coded disk array: Array spreads every object
// over the box's disks (mirrors, or k data + m parity shards) so that a
// lost disk or bit rot loses nothing. It is one implementation of
// store.ObjectStore (the interface, the plain-directory store and the
// conformance suite live in package store) and passes store/storetest;
// each member disk holds its shards in a store.Dir. docs/RAID.md
// describes the layouts, the on-disk format and disk replacement.
//
// The errors here are the array's own (ErrDegraded, ErrCorruptObject,
// ErrArrayBusy, ErrReadOnly, ErrReadersBusy, ErrNotMounted); a missing
// object is store.ErrNotFound, and ErrReadOnly is also a
// store.ErrReadOnly. Errors a user can act on (full disk, read-only file
// system, a disk that is no longer mounted) say what to do next.
//
// Which physical drive holds a member (its serial, WWN and model, so that
// two shards of an object never share a drive) and whether its directory
// is still a mount point are read by internal/blockdev, the one place
// that reads disk identity for raid and smart.
package raid
