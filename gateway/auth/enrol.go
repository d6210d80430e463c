package auth

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/token"
)

// Phone enrolment: `shoebox pair-phone` (run by someone on the box, as
// owner or admin) asks for a one-time code for an account; the phone
// trades it, once, for a session. Showing the code on the box's own
// terminal is the proof of presence that stands in for the password (not
// for the second factor: a session from a code for a person with
// two-step sign-in must still prove it, ProveSecondFactor). Codes live 10
// minutes by default, are stored hashed and belong to the account's ID,
// not its name.

var bucketEnrol = []byte("auth.enrol")

type enrolRec struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	UserID  string    `json:"uid"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// MaxEnrolTTL is the longest an enrolment code may live.
const MaxEnrolTTL = 24 * time.Hour

// CreateEnrolment makes a one-time enrolment code (sbe_…) for the
// account name, valid for ttl.
func (s *Store) CreateEnrolment(name string, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 || ttl > MaxEnrolTTL {
		return "", time.Time{}, fmt.Errorf("enrolment codes live between a minute and %s: %w", MaxEnrolTTL, ErrInvalid)
	}
	name = canonName(name)
	now := s.now()
	code := token.New(token.Enrol)
	rec := enrolRec{ID: newID(), User: name, Created: now, Expires: now.Add(ttl)}
	err := s.update(func(tx *bbolt.Tx, _ func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		rec.UserID = u.ID
		// Drop expired codes while here.
		if _, err := deleteWhere(tx, bucketEnrol, func(r *enrolRec) bool { return !now.Before(r.Expires) }, nil); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketEnrol), token.Hash(code), &rec)
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("enrolment code for %q: %w", name, err)
	}
	return code, rec.Expires, nil
}

// Enrol trades an enrolment code for a session on the device, once.
// Attempts count against the IP's sign-in rate limit. A code whose
// account is gone, even if another now has its name, is refused.
func (s *Store) Enrol(code, ip, device string) (string, Session, error) {
	now := s.now()
	if err := s.limitIP(ip, now); err != nil {
		return "", Session{}, err
	}
	if token.Parse(token.Enrol, code) != nil {
		return "", Session{}, ErrBadCredentials
	}
	ip, device = clean(ip), clean(device)
	var tok string
	var sess Session
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		b := tx.Bucket(bucketEnrol)
		key := token.Hash(code)
		var rec enrolRec
		if err := getJSON(b, key, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return ErrBadCredentials
			}
			return err
		}
		if err := b.Delete([]byte(key)); err != nil { // once, whatever happens next
			return err
		}
		if !now.Before(rec.Expires) {
			return ErrBadCredentials
		}
		u, err := ownerOf(tx, rec.User, rec.UserID)
		if err != nil {
			return ErrBadCredentials
		}
		var r sessionRec
		tok, r, err = s.startSession(tx, u, ip, device, []Factor{FactorEnrolment}, now, emit)
		if err != nil {
			return err
		}
		sess = r.public(s.o.SessionIdle, s.o.SessionMax)
		emit(Event{Kind: EventLogin, User: u.Name, IP: ip, Device: device, CredentialID: r.ID, Detail: "phone enrolment code " + rec.ID})
		return putUser(tx, u)
	})
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			s.emit(Event{Kind: EventLoginFailed, IP: ip, Device: device, Detail: "bad or used enrolment code"})
			return "", Session{}, ErrBadCredentials
		}
		return "", Session{}, err
	}
	return tok, sess, nil
}

// deleteEnrolments deletes u's enrolment codes that match, emitting an
// event per code with why as its detail.
func deleteEnrolments(tx *bbolt.Tx, u *userRec, match func(*enrolRec) bool, why string, emit func(Event)) error {
	_, err := deleteWhere(tx, bucketEnrol, func(r *enrolRec) bool { return r.UserID == u.ID && match(r) },
		func(r *enrolRec) {
			emit(Event{Kind: EventEnrolmentCancelled, User: u.Name, CredentialID: r.ID, Detail: why})
		})
	return err
}
