package gateway

import (
	"context"
	"os"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/cluster"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// Box is what the gateway calls on the box: exactly the daemon's methods
// its services use, grouped by the part of the box they reach. The
// daemon (*appliance.Daemon) is the one implementation the binary uses;
// handler tests run the gateway on an in-memory box (no daemon, no
// background work) that implements the same interface. Every method must
// be safe for concurrent use: each API call runs on its own goroutine.
type Box interface {
	Backups
	Uploads
	Disks
	Health
	Site
	Cluster
}

// Backups are the repository, the sources that feed it and the long
// operations on it.
type Backups interface {
	// Repository is the open repository (nil before it is open: the
	// gateway of a box that is not ready still signs people in).
	Repository() *vault.Repository
	Sources() []appliance.SourceInfo
	AddSource(appliance.SourceConfig) (appliance.SourceInfo, error)
	UpdateSource(appliance.SourceConfig) (appliance.SourceInfo, error)
	RemoveSource(name string) error
	// RunSource starts a backup of the source now and returns; the
	// source's info shows it running, then its snapshot.
	RunSource(name string) error
	// Operations are those in progress and those finished within the
	// last minute, oldest first; StartOperation registers one (a
	// restore the gateway runs).
	Operations() []appliance.Operation
	StartOperation(kind, space, subject string) *appliance.Op
	// OpenRestoreRoot is the folder restores write into.
	OpenRestoreRoot() (*os.Root, error)
	Forget(context.Context, vault.ForgetOptions) (*vault.ForgetReport, error)
	Prune(ctx context.Context, dryRun bool) (*vault.PruneResult, error)
}

// Uploads are where phone uploads go and what the box already holds.
type Uploads interface {
	// SourceInbox is the folder of the source that takes uploads for
	// space.
	SourceInbox(space string) (string, error)
	// HoldsFile says whether the box's card library holds a file with
	// this SHA-256.
	HoldsFile(sum [32]byte) bool
}

// Disks are the disk array, each disk's health and the disk operations;
// the operations run in the background and return once started.
type Disks interface {
	// DiskArray is nil when the repository is a plain folder.
	DiskArray() *raid.Array
	// Capacity is the usable space; ok is false without an array.
	Capacity() (c appliance.Capacity, ok bool)
	DiskHealth(raid.DiskStatus) appliance.DiskHealth
	DiskHistory(ref string) ([]appliance.HealthSample, error)
	StartScrub() error
	StartReplace(ref, newPath string) error
	StartEvacuate(ref string) error
}

// Health is the box's alerts and what checks it: readiness, problems,
// restore drills, memory cards.
type Health interface {
	Alerts() *appliance.Bus
	// NotReady says why the box is not ready, or "".
	NotReady() string
	// SetProblem records what is wrong with a component, or (msg "")
	// that it is resolved.
	SetProblem(component, msg string)
	Drills(context.Context) ([]maint.DrillResult, error)
	Cards(context.Context) ([]cards.Verdict, error)
	CardLedger(ctx context.Context, id string) (*cards.Ledger, cards.Verdict, error)
}

// Site is where the box is and what it shows of itself.
type Site interface {
	// Configuration is the daemon's configuration; the gateway only
	// reads it.
	Configuration() *appliance.Config
	// PublicURL is how phones reach the box; ListenAddr is the HTTPS
	// listener's address once listening.
	PublicURL() string
	ListenAddr() string
	// HidePaths replaces the box's own paths in msg by their names
	// (STATE, "array disk N"): for people who may not see them.
	HidePaths(msg string) string
}

// Cluster is the unit's side of a pair (docs/CLUSTER.md, "Pairing").
type Cluster interface {
	ClusterStatus() appliance.ClusterStatus
	// OfferPairing opens a pairing offer (offsite unit only).
	OfferPairing(replace bool) (cluster.Offer, error)
	// PairWith pairs with the offsite unit at addr (home unit only).
	PairWith(ctx context.Context, addr, deviceID, code string) (cluster.Peer, error)
	Unpair() error
}

var _ Box = (*appliance.Daemon)(nil)
