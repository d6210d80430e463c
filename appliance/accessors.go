package appliance

import (
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// The daemon's parts are fields (Repo, Bus, Array, Config) for the code
// that builds and runs it; these methods give them to consumers that
// hold the daemon behind an interface (the gateway's Box), which cannot
// name a field.

// Repository is Repo: the open repository once the daemon runs.
func (d *Daemon) Repository() *vault.Repository { return d.Repo }

// Alerts is Bus: the box's alerts.
func (d *Daemon) Alerts() *Bus { return d.Bus }

// DiskArray is Array: the disk array, nil when the repository is a plain
// folder.
func (d *Daemon) DiskArray() *raid.Array { return d.Array }

// Configuration is Config: the daemon's configuration, not to be changed.
func (d *Daemon) Configuration() *Config { return d.Config }
