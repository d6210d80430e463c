package cluster

import "errors"

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
