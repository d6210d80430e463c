package appliance

import "errors"

// ErrNoSource means no source has the given name.
var ErrNoSource = errors.New("no such source")

// ErrBadSource means a source's settings were refused (the message says
// which and why).
var ErrBadSource = errors.New("invalid source")

// ErrNoDisk means no array member and no disk in the health history
// matches a reference.
var ErrNoDisk = errors.New("no such disk")

// ErrBadDiskPath means a new disk's path was refused (the message says
// why).
var ErrBadDiskPath = errors.New("invalid disk path")

// errNoArray is returned by array maintenance on a box without an array.
var errNoArray = errors.New("this box keeps its repository in a folder, not on a disk array")

// ErrOffsite means the call needs the repository's keys, which an
// offsite unit never holds (docs/CLUSTER.md, "Roles"): reading,
// restoring, backing up into or forgetting snapshots, sources, drills.
var ErrOffsite = errors.New("this is the offsite unit: it holds no key and cannot read or make snapshots; use the home unit")

// needsKey returns ErrOffsite on an offsite unit: for what only a unit
// holding the repository's keys does.
func (d *Daemon) needsKey() error {
	if d.Config.Offsite() {
		return ErrOffsite
	}
	return nil
}

// ErrHomeOnly means the call is the home unit's part of pairing (it
// dials the offsite unit with its device ID and code): on the other
// unit of the pair it is refused (docs/CLUSTER.md, "Pairing").
var ErrHomeOnly = errors.New("this unit is the pair's offsite side: it offers a code (`shoebox cluster offer`), and the home unit pairs with it")

// ErrOffsiteOnly means the call is the offsite unit's part of pairing
// (it offers a code and listens): a home unit refuses it.
var ErrOffsiteOnly = errors.New("this is the home unit: it pairs with an offsite unit (`shoebox cluster pair ADDR --device-id ID --code CODE`); codes are offered on the offsite unit")

// ErrBadPeerAddr means the offsite unit's address given to pair is not
// HOST:PORT.
var ErrBadPeerAddr = errors.New("not an address to dial")
