package cards

import "errors"

// Errors returned by this package; test with errors.Is.
var (
	// ErrNoLedger: no ledger exists for the card (it was never ingested).
	ErrNoLedger = errors.New("no ledger for this card")
	// ErrBusy: another ingest of the same card is running.
	ErrBusy = errors.New("card is being ingested")
	// ErrBadCardID: the card ID is empty or cannot name a ledger file.
	ErrBadCardID = errors.New("invalid card id")
	// ErrConfig: the configuration is invalid (the message names the key).
	ErrConfig = errors.New("invalid card ingest configuration")
	// ErrVerify: a copy read back from the library differs from the card.
	ErrVerify = errors.New("copy does not match the card")
	// ErrCardRemoved: the card was pulled, unmounted or its folder removed
	// during the ingest; inserting it again resumes.
	ErrCardRemoved = errors.New("the card was removed during the copy")
)

// errLibrary marks a failure to write the library (as opposed to reading
// the card): it stops the ingest.
var errLibrary = errors.New("library not writable")
