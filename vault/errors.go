package vault

import "errors"

var (
	// ErrWrongPassphrase means no key file opens with the given passphrase.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrNotRepository means the location holds no Shoebox repository.
	ErrNotRepository = errors.New("not a Shoebox repository")
	// ErrExists means init found a repository already there.
	ErrExists = errors.New("repository already exists")
	// ErrCorrupt means stored bytes failed verification.
	ErrCorrupt = errors.New("corrupt data")
	// ErrLocked means another process holds a conflicting repository lock.
	ErrLocked = errors.New("repository is locked")
	// ErrImmutable means an operation would remove a snapshot, or data it
	// references, that is under an immutability hold.
	ErrImmutable = errors.New("snapshot is immutable")
	// ErrNoSnapshot means a snapshot reference matched nothing.
	ErrNoSnapshot = errors.New("no matching snapshot")
	// ErrBadRef means a snapshot reference is neither "latest" nor an ID
	// prefix of at least four hex digits.
	ErrBadRef = errors.New("not a snapshot reference")
	// ErrAmbiguous means a short snapshot ID matched more than one snapshot.
	ErrAmbiguous = errors.New("ambiguous snapshot ID")
	// ErrBlobMissing means the index has no pack for a needed blob.
	ErrBlobMissing = errors.New("blob not in index")
)

// ErrSkipDir, returned by a WalkFunc for a directory, skips its contents.
var ErrSkipDir = errors.New("skip this directory")

// errChanged stops a Diff at its first change.
var errChanged = errors.New("changed")
