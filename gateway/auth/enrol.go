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
// terminal is the proof of presence that stands in for the password and
// second factor. Codes live 10 minutes by default and are stored hashed.

var bucketEnrol = []byte("auth.enrol")

type enrolRec struct {
	User    string    `json:"user"`
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
	rec := enrolRec{User: name, Expires: now.Add(ttl)}
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		if _, err := getUser(tx, name); err != nil {
			return err
		}
		b := tx.Bucket(bucketEnrol)
		// Drop expired codes while here.
		var old [][]byte
		b.ForEach(func(k, v []byte) error {
			var r enrolRec
			if decode(v, &r) != nil || !now.Before(r.Expires) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err := deleteKeys(b, old); err != nil {
			return err
		}
		return putJSON(b, token.Hash(code), &rec)
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("enrolment code for %q: %w", name, err)
	}
	return code, rec.Expires, nil
}

// Enrol trades an enrolment code for a session on the device, once.
// Attempts count against the IP's sign-in rate limit.
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
		if _, err := getUser(tx, rec.User); err != nil {
			return ErrBadCredentials
		}
		tok = token.New(token.Session)
		r := sessionRec{ID: newID(), User: rec.User, Device: device, IP: ip, Created: now, LastSeen: now}
		if err := putJSON(tx.Bucket(bucketSessions), token.Hash(tok), &r); err != nil {
			return err
		}
		sess = r.public(s.o.SessionIdle, s.o.SessionMax)
		emit(Event{Kind: EventLogin, User: rec.User, IP: ip, Device: device, CredentialID: r.ID, Detail: "phone enrolment code"})
		return nil
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
