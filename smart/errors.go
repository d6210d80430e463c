package smart

import "errors"

// ErrNoSMART is returned by Open for a disk that has no SMART interface
// smart.go or smartctl can use (virtual disks, some USB bridges).
var ErrNoSMART = errors.New("no SMART interface")

// ErrCorrupt means SMART data could not be decoded: a page of the wrong
// size, a checksum mismatch, or smartctl output that is not JSON.
var ErrCorrupt = errors.New("SMART data corrupt")

// errNoRegisters: an ATA pass-through command answered without the
// registers its result is read from.
var errNoRegisters = errors.New("ATA registers not returned (no ATA pass-through status in the sense data)")
