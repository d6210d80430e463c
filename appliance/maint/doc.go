// Package maint keeps a Shoebox honest while nobody watches it: restore
// drills prove that backups come back, scheduled scrubs find and repair
// silent corruption on the disks, and a capacity forecast warns weeks
// before the array fills up.
//
// # Drills
//
// A [Drill] picks a random snapshot and a random sample of its regular
// files (reservoir sampling over the snapshot tree, so memory stays
// bounded by the sample size), restores exactly those files into a fresh
// scratch directory with the ordinary restore code, and checks every
// restored file twice: its size against the snapshot, and its SHA-256
// against the SHA-256 of the stored content read blob by blob (every blob
// is verified by vault against its keyed ID on the way). The result —
// files, bytes, time to restore, and the paths that failed — is appended
// to a JSON-lines history, with the space (source) of the snapshot when
// [Drill.SpaceOf] tells it: who may see a drill depends on it.
// [DrillService] runs drills on a schedule and raises a critical alert
// (in that space) when one fails.
//
// # Scrubs
//
// [ScrubService] scrubs the disk array with repair on a schedule (monthly
// by default). The time of the last scrub is kept in a state file, so a
// restart neither scrubs again at once nor forgets that a scrub is due.
// Repaired errors raise a warning; objects that could not be recovered
// raise a critical alert that names them.
//
// # Capacity
//
// [CapacityService] samples used and free space into a [UsageLog]
// (downsampled to one sample a day after a week) and [Forecast] fits a
// least-squares line through the last 30 days to tell how many days are
// left until the array is full. Low space raises a "low-space" alert.
//
// # Progress
//
// A scrub and a drill's restore report their progress to an [Op] from the
// optional Track hook, which the daemon points at its one registry of
// long operations (what GET /v1/status lists under "operations").
//
// # Alerts
//
// The package does not import the appliance package (which imports it);
// services report through two plain functions, [AlertFunc] and
// [ResolveFunc], which the daemon adapts to its alert bus. Alert keys are
// stable ("drill", "scrub", "low-space"), so raising the same condition
// again refreshes one alert rather than opening a new one.
package maint
