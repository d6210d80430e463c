package cluster

import "errors"

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
