package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
)

// The offsite ledger's errors. Every refusal is an ErrRefused (a
// *RefusedError naming the object and wrapping one of the reasons below),
// an ErrFrozen (a *FrozenError) or an ErrQuota (a *QuotaError); test them
// with errors.Is and errors.As. A refused operation changes nothing.
var (
	// ErrRefused is wrapped by every request the ledger's rules refuse.
	ErrRefused = errors.New("refused by the offsite ledger")
	// ErrFrozen means deletions are frozen (see Ledger.RequestDelete).
	ErrFrozen = errors.New("deletions frozen on the offsite unit")
	// ErrQuota means an object would take the offsite unit over its quota.
	ErrQuota = errors.New("offsite quota exceeded")
)

// Reasons of a RefusedError; each is also an ErrRefused.
var (
	// ErrWriteOnce: the repository config exists with other bytes.
	ErrWriteOnce = errors.New("the repository config is written once and never replaced")
	// ErrHashMismatch: an object named by its hash has other bytes.
	ErrHashMismatch = errors.New("its bytes do not hash to its name")
	// ErrLockName: locks/ are local to the processes that hold them.
	ErrLockName = errors.New("repository locks are never replicated")
	// ErrUnknownName: not the name of a repository object (FORMAT.md).
	ErrUnknownName = errors.New("not the name of a repository object")
	// ErrLastKey: the object is the last key file of the replica.
	ErrLastKey = errors.New("it is the replica's last key file")
	// ErrKeepConfig: the repository config is never deleted.
	ErrKeepConfig = errors.New("the repository config is never deleted")
	// ErrNotPending: an undelete of an object no deletion was requested for.
	ErrNotPending = errors.New("no deletion of it is pending")
)

// nextStep says what to do about each reason.
var nextStep = map[error]string{
	ErrWriteOnce:    "the home unit is sending another repository than the one this unit holds: check the pairing; the offsite copy is kept as it is",
	ErrHashMismatch: "the bytes were damaged on the way or on the home unit: run `shoebox check --read-data` on the home unit; the copy is sent again when it reads back intact",
	ErrLockName:     "nothing to do: locks are not part of the replica (a replication bug if it recurs)",
	ErrUnknownName:  "only config, keys/, data/, index/, snapshots/, holds/ and anchors/ are replicated (docs/FORMAT.md); update the offsite unit if the home unit runs a newer version",
	ErrLastKey:      "add a key on the home unit (`shoebox key add`) and let it replicate before removing this one",
	ErrKeepConfig:   "nothing to do: the replica keeps its config for as long as it holds the repository",
	ErrNotPending:   "nothing to do: the object is not awaiting purge",
}

// RefusedError is a request the offsite ledger's rules refuse. It is an
// ErrRefused and unwraps to its Reason.
type RefusedError struct {
	Op     string // "put", "delete", "hold", "undelete"
	Name   string // the object
	Reason error  // ErrWriteOnce, ErrHashMismatch, store.ErrInvalidName, …
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("offsite ledger refused %s of %q: %v", e.Op, e.Name, e.Reason)
	if next, ok := nextStep[e.Reason]; ok {
		msg += "; " + next
	}
	return msg
}

// Is makes every RefusedError an ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Unwrap returns the reason.
func (e *RefusedError) Unwrap() error { return e.Reason }

func refused(op, name string, reason error) error {
	return &RefusedError{Op: op, Name: name, Reason: reason}
}

// FreezeInfo describes a freeze of deletions.
type FreezeInfo struct {
	Frozen bool      `json:"frozen"`
	Since  time.Time `json:"since"`
	// Name is the object whose deletion request tripped the freeze.
	Name string `json:"name"`
	// Requested deletions within the day, that request included, of
	// Objects stored; Above is the fraction that was exceeded.
	Requested int     `json:"requested"`
	Objects   int     `json:"objects"`
	Above     float64 `json:"above"`
}

// FrozenError is a deletion refused because deletions are frozen. It is
// an ErrFrozen.
type FrozenError struct {
	Op     string // "delete" or "purge"
	Name   string // the object; empty for a purge
	Freeze FreezeInfo
}

func (e *FrozenError) Error() string {
	f := e.Freeze
	what := e.Op
	if e.Name != "" {
		what = fmt.Sprintf("%s of %q", e.Op, e.Name)
	}
	return fmt.Sprintf("offsite ledger refused %s: deletions are frozen since %s, when a request to delete %q made %d of its %d objects (more than %.4g %%) requested for deletion within a day; "+
		"this looks like ransomware or a mistake on the home unit: check the home unit and its snapshots, then have the offsite unit's operator lift the freeze (nothing is deleted until then)",
		what, f.Since.UTC().Format(time.RFC3339), f.Name, f.Requested, f.Objects, f.Above*100)
}

// Is makes every FrozenError an ErrFrozen.
func (e *FrozenError) Is(target error) bool { return target == ErrFrozen }

// QuotaError is an object refused because it would take the offsite unit
// over its quota. It is an ErrQuota.
type QuotaError struct {
	Name  string
	Size  int64 // the object's size (at least this much when the transfer was cut short)
	Used  int64 // bytes stored before it, objects awaiting purge included
	Limit int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("offsite ledger refused put of %q: %s used + %s would exceed the quota of %s; raise the offsite unit's quota or give it more disk (objects awaiting purge count until they are purged)",
		e.Name, humanize.IBytes(uint64(e.Used)), humanize.IBytes(uint64(e.Size)), humanize.IBytes(uint64(e.Limit)))
}

// Is makes every QuotaError an ErrQuota.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// Errors of the Raft catalog (fsm*.go). A command the FSM refuses leaves
// the catalog as it was, on every unit.
var (
	// ErrCorruptCommand: a log entry is not a command this unit can read
	// (unknown version or type, cut short, out of range).
	ErrCorruptCommand = errors.New("cluster catalog: corrupt or unknown command")
	// ErrCorruptSnapshot: a catalog snapshot cannot be read.
	ErrCorruptSnapshot = errors.New("cluster catalog: corrupt snapshot")
	// ErrNotInitialized: a command came before Init.
	ErrNotInitialized = errors.New("cluster catalog: not initialised (no Init yet)")
	// ErrInitialized: a second Init.
	ErrInitialized = errors.New("cluster catalog: already initialised")
	// ErrInvalidMember: a member without an ID or pin, an offsite member
	// without a receipt key, or a pin another member has.
	ErrInvalidMember = errors.New("cluster catalog: invalid member")
	// ErrUnknownMember: no member has that ID.
	ErrUnknownMember = errors.New("cluster catalog: no such member")
	// ErrStaleEpoch: a new epoch not above the current one.
	ErrStaleEpoch = errors.New("cluster catalog: epoch does not advance")
	// ErrUnknownSigner: a receipt signed by no offsite member.
	ErrUnknownSigner = errors.New("cluster catalog: receipt signed by an unknown unit")
	// ErrBadSignature: a receipt whose signature does not verify.
	ErrBadSignature = errors.New("cluster catalog: receipt signature does not verify")
	// ErrBadReceipt: a receipt whose hash is not the object's ID.
	ErrBadReceipt = errors.New("cluster catalog: receipt hash does not match the object's name")
	// ErrInvalidObject: a name that is not a replicated repository object.
	ErrInvalidObject = errors.New("cluster catalog: not a repository object name")
)

// Pairing's errors. They come back wrapped, saying what to do next; test
// them with errors.Is. On the home unit PairWith's errors wrap them too:
// the offsite unit's refusal crosses the link as a gRPC status and is
// read back.
var (
	// ErrPaired: the unit is paired already; Offer and PairWith refuse
	// a second pairing (Reoffer and Unpair are the explicit ways).
	ErrPaired = errors.New("this unit is already paired")
	// ErrNoOffer: no pairing offer is open on the offsite unit (none was
	// made, or its code expired, was used or was voided).
	ErrNoOffer = errors.New("no pairing offer is open on the offsite unit")
	// ErrWrongCode: the code is not the open offer's.
	ErrWrongCode = errors.New("wrong pairing code")
	// ErrPeerDamaged: PeerFile cannot be read as a paired unit's record.
	ErrPeerDamaged = errors.New("paired unit's record damaged")
)

// remoteError is a refusal the other unit sent: its message, as it
// wrote it, and the sentinel it stands for.
type remoteError struct {
	msg    string
	reason error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.reason }

// Errors of the transfer (replicate_client.go, replicate_server.go); test
// them with errors.Is. Each comes wrapped with the object's name.
var (
	// ErrBadTransfer: the bytes that arrived do not hash to what the
	// sender declared, or are not as many; nothing is stored.
	ErrBadTransfer = errors.New("transfer damaged")
	// ErrReceiptMismatch: the offsite unit's receipt is not signed by the
	// paired offsite unit's key or does not state what was sent.
	ErrReceiptMismatch = errors.New("receipt does not match what was sent")
	// ErrChallengeFailed: the offsite unit's answer to a storage
	// challenge is not what the home unit's own copy gives, or it no
	// longer holds the object.
	ErrChallengeFailed = errors.New("storage challenge failed")
	// ErrTooLarge: an object over the offsite unit's size limit.
	ErrTooLarge = errors.New("object too large to replicate")
)
