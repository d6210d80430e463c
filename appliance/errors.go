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
