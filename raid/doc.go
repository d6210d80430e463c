// Package raid stores named objects. It defines ObjectStore, the one
// storage interface of Shoebox, and its two implementations: Dir, the
// store in a plain directory on one disk, and Array, the erasure-coded
// array over the box's disks. Both pass the same conformance suite
// (raid/storetest).
//
// Every write is atomic and durable: a temporary file, fsync, rename,
// fsync of the directory. Writers that do not know an object's name until
// its last byte (packs are named by their hash) stream it through
// CreatePending, which costs no memory on stores with that capability.
// Errors a user can act on (full disk, read-only file system, permission)
// say what to do next.
//
// Which physical drive holds a member (its serial, WWN and model, so that
// two shards of an object never share a drive) and whether its directory
// is still a mount point are read by internal/blockdev, the one place
// that reads disk identity for raid and smart.
package raid
