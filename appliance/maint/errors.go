package maint

import "errors"

// ErrNoSnapshots is returned by a drill on a repository without
// snapshots: there is nothing to restore yet.
var ErrNoSnapshots = errors.New("no snapshots to drill on")
