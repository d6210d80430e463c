package upload

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Sentinel errors. Every error the Store returns wraps one of them (or a
// context error), so the gateway can map it to a status with errors.Is in
// one place.
var (
	// ErrNotFound: no such upload, or it expired. The phone starts a new
	// one with Create.
	ErrNotFound = errors.New("upload not found")
	// ErrForbidden: the upload belongs to another user.
	ErrForbidden = errors.New("upload belongs to another user")
	// ErrOffsetMismatch: a chunk was sent for an offset other than the
	// upload's committed one. The error is an *OffsetError carrying the
	// offset to resume from.
	ErrOffsetMismatch = errors.New("chunk is not at the upload's current offset")
	// ErrChecksumMismatch: the received file does not have the declared
	// SHA-256. The error is a *ChecksumError.
	ErrChecksumMismatch = errors.New("received data does not match the declared SHA-256")
	// ErrTooLarge: a file, a chunk or a batch over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrFull: the box ran out of space, or the upload would eat into the
	// space it keeps free for its own records (Options.Reserve).
	// Acknowledged data is kept.
	ErrFull = errors.New("the box is full")
	// ErrQuota: the account's unfinished uploads would be over its quota
	// (Options.Quota).
	ErrQuota = errors.New("over the upload quota")
	// ErrIncomplete: Complete was called before all bytes arrived.
	ErrIncomplete = errors.New("upload is not complete")
	// ErrCompleted: a chunk was sent to an upload that is already complete.
	ErrCompleted = errors.New("upload is already complete")
	// ErrBusy: another request is writing, completing or cancelling the
	// same upload (typically a connection the server has not yet noticed
	// is dead). Retry shortly.
	ErrBusy = errors.New("upload is busy with another request")
	// ErrTooMany: the user has too many unfinished uploads.
	ErrTooMany = errors.New("too many unfinished uploads")
	// ErrInvalid: a malformed request (missing user or device, negative
	// size, a chunk running past the end of the file, …).
	ErrInvalid = errors.New("invalid upload request")
)

// OffsetError is returned by Write for a chunk at the wrong offset, and
// when acknowledged data went missing from the box. The client resumes
// from Current.
type OffsetError struct {
	ID      string
	Offset  int64 // where the client wrote
	Current int64 // where the box is
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("upload %s: chunk sent for offset %d but the box has %d bytes: resume from offset %d",
		e.ID, e.Offset, e.Current, e.Current)
}

// Is makes errors.Is(err, ErrOffsetMismatch) true.
func (e *OffsetError) Is(target error) bool { return target == ErrOffsetMismatch }

// ChecksumError is returned by Complete when the received bytes do not
// hash to the declared SHA-256. The upload was reset to offset 0, or, after
// repeated failures, cancelled.
type ChecksumError struct {
	ID, Name, Device string
	Want, Got        Sum
	Cancelled        bool // too many attempts: the session is gone
}

func (e *ChecksumError) Error() string {
	msg := fmt.Sprintf("upload %s of %q from device %q: the received data has SHA-256 %s, but the phone declared %s",
		e.ID, e.Name, e.Device, short(e.Got), short(e.Want))
	if e.Cancelled {
		return msg + fmt.Sprintf("; after %d attempts the upload was cancelled: the file may be changing on the phone, start a new upload with its current checksum", maxAttempts)
	}
	return msg + "; nothing was stored and the upload was reset: send the file again from offset 0"
}

// Is makes errors.Is(err, ErrChecksumMismatch) true.
func (e *ChecksumError) Is(target error) bool { return target == ErrChecksumMismatch }

func short(s Sum) string { return hex.EncodeToString(s[:6]) + "…" }

// isFull reports whether err means the disk or the quota is full.
func isFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// fullErr adds ErrFull to an error that means a full disk.
func fullErr(err error) error {
	if isFull(err) && !errors.Is(err, ErrFull) {
		return fmt.Errorf("%w (%w)", ErrFull, err)
	}
	return err
}

// hidePaths rewords err so that it names no path of the box, which is
// not the phone's business: the space's folder becomes "<space>:" and
// the folder of part files "uploads:". errors.Is and errors.As still see
// the wrapped errors.
func (s *Store) hidePaths(sess *Session, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	hidden := msg
	for _, r := range [][2]string{{sess.Inbox, sess.Space + ":"}, {s.parts, "uploads:"}} {
		if r[0] != "" {
			hidden = strings.ReplaceAll(hidden, r[0], r[1])
		}
	}
	if hidden == msg {
		return err
	}
	return &pathsHidden{err: err, msg: hidden}
}

type pathsHidden struct {
	err error
	msg string
}

func (e *pathsHidden) Error() string { return e.msg }
func (e *pathsHidden) Unwrap() error { return e.err }

// errSkip rolls back the sweep's transaction for an upload it leaves
// alone (not expired, or already gone).
var errSkip = errors.New("skip")
