// Package appliance is shoeboxd, the box's daemon: it owns the disk
// array and the repository, protects the configured folders (sources)
// continuously or on a schedule, ingests memory cards, runs the
// maintenance jobs (drills, scrubs, capacity, disk health), raises
// alerts on one bus, and serves HTTPS (/healthz, /metrics, and the
// gateway's API). Every part is a [Service] run by a [Supervisor] that
// restarts what fails; docs/DAEMON.md documents the configuration and
// the state directory.
//
// # Sources
//
// A source is a folder and a name (its space, in the API). What a source
// may read is checked in one place, [Config.CheckSourcePath]: a source
// must lie under one of the allowed roots (source_roots; by default the
// folders holding the config file's sources and the card library) and
// must neither be, nor hold, nor lie in one of the folders the box
// protects: the state directory (box.key, the gateway database, the API
// token), the array's disks, the repository, the passphrase and
// configuration files, /, /proc, /sys, /dev, /etc, /root and /run. Links
// are resolved first, dangling ones included. The check runs for the
// config file's sources when the file is read, for the API's when they
// are added or changed, and again before every backup, so that a folder
// swapped for a link after it was added never leads a backup into the
// box's secrets.
//
// # Disk health and evacuation
//
// smart judges disks and raid moves shards; neither knows the other. The
// policy that joins them lives here (evacuate.go): [ArrayErrorsOf] feeds
// the array's own per-disk error counts to the SMART poller, and
// [FailingMember] picks the present, active member on a disk that turns
// FAILING, matched by serial or WWN. The daemon's [Evacuator] empties it
// as soon as the event comes (config smart.evacuate), and `shoebox disks
// --evacuate` decides with the same function; a FAILING disk that is no
// member (the system disk) is reported, not evacuated.
//
// # Alerts and spaces
//
// An [Alert] about a source carries the source's name as its Space
// ([Bus.RaiseIn]); box-wide alerts carry none. The gateway shows a
// person only the alerts of the spaces they may read (some kinds, such
// as a locked share link's, only to those who may do more there), and
// box-wide ones by kind (docs/GATEWAY.md). Restore drills likewise record the space
// of the snapshot they restored ([SpaceOf]).
package appliance
