package cluster

import "errors"

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
