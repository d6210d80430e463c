// Package smart watches disk health so that a disk is replaced before it
// dies, and its data moved off in time.
//
// # Reading
//
// A Reader produces a normalized Record: identity (model, serial, WWN,
// firmware, capacity), temperature, hours, power cycles, and per protocol
// the ATA attributes (current/worst/threshold/raw, with vendor-packed raw
// values reduced to counts), the NVMe health log or the SCSI error
// counters. Open reads a block device through github.com/anatol/smart.go
// plus our own ATA pass-through calls (overall status, power mode) and
// falls back to smartctl --json; ParseSmartctlJSON and ParseATAPages read
// recorded data; Recorded replays a file. A disk in standby is never woken.
//
// # Judging
//
// Evaluate is a pure function of a Record, the disk's history, the
// owner's acknowledged Baseline and the array's own error counts, giving
// OK, WARNING, FAILING or UNKNOWN with reasons in plain words
// (docs/SMART.md lists every rule and its source).
//
// # Watching
//
// A Poller reads every disk on an interval, keeps a downsampled History
// per disk, and publishes an Event when a verdict changes. What to do
// about a verdict is not decided here: smart imports nothing of the disk
// array, and the policy that turns a FAILING member of the array into an
// evacuation of its shards (and feeds the array's own error counts back
// as ArrayErrors) lives in appliance (appliance.Evacuator,
// appliance.FailingMember). Disk identity from sysfs (serial, WWN, model)
// is read by internal/blockdev, as raid reads its members'.
package smart
