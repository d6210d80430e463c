package auth

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/token"
)

// Phone enrolment: a one-time code for an account, traded once, by the
// phone, for a session. The code stands in for the password, not for the
// second factor: a session from a code for a person with two-step
// sign-in must still prove it (ProveSecondFactor). Codes are stored
// hashed, belong to the account's ID (not its name), live 10 minutes by
// default, and have a public ID to list and cancel them.
//
// Who may have a code made for whom is decided here, from the request:
// a person for themselves, anyone who manages accounts for an account
// made without a password that nobody has signed in to yet, and the
// box's local token (someone at the box) for any account; never an API
// key, which would trade a script's key for a person's session.
// Resetting another person's sign-in is ResetCredentials. A code
// records who asked (name, account ID) and the credential that asked
// (Maker): it ends with that credential (endMadeBy), with any change of
// its account's role, and a code made for someone else is refused at
// Enrol once its maker may no longer manage the account.

var bucketEnrol = []byte("auth.enrol")

// Why an enrolment code could be made (Enrolment.Purpose).
const (
	EnrolSelf  = "self"        // by the person, for another device
	EnrolNew   = "new account" // for an account nobody has signed in to yet
	EnrolOnBox = "on the box"  // by the box's local token: physical presence
	EnrolReset = "reset"       // by ResetCredentials
)

type enrolRec struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	UserID  string    `json:"uid"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	By      string    `json:"by"`
	Purpose string    `json:"purpose"`
	// ByID is the account ID of who asked (root@box for the box's local
	// token); MadeBy the credential they asked with.
	ByID   string `json:"by_id,omitempty"`
	MadeBy Maker  `json:"made_by,omitzero"`
}

func (r *enrolRec) public() Enrolment {
	return Enrolment{ID: r.ID, User: r.User, Created: r.Created, Expires: r.Expires, By: r.By, Purpose: r.Purpose}
}

// Enrolment describes an outstanding enrolment code (never the code).
type Enrolment struct {
	ID      string // public ID, for listing and cancelling
	User    string
	Created time.Time
	Expires time.Time
	By      string // who asked for it
	Purpose string // EnrolSelf, EnrolNew, EnrolOnBox or EnrolReset
}

// EnrolmentRequest asks for an enrolment code.
type EnrolmentRequest struct {
	User string        // the account the phone will sign in as
	TTL  time.Duration // how long the code works
	By   Principal     // who asks
	// OnBox: the request came with the box's local token (someone at
	// the box), who may pair any account.
	OnBox bool
}

// MaxEnrolTTL is the longest an enrolment code may live.
const MaxEnrolTTL = 24 * time.Hour

// CreateEnrolment makes a one-time enrolment code (sbe_…) for r.User,
// valid for r.TTL, if r.By may have one for that account (see above);
// ErrForbidden otherwise. Whether By may manage the account at all is the
// caller's (CheckManage).
func (s *Store) CreateEnrolment(r EnrolmentRequest) (string, Enrolment, error) {
	if err := validTTL(r.TTL); err != nil {
		return "", Enrolment{}, err
	}
	name := canonName(r.User)
	if r.By.Kind == KindAPIKey && !r.OnBox {
		return "", Enrolment{}, fmt.Errorf("enrolment code for %q: %w: an API key cannot ask for a pairing code, which signs a phone in as a person: sign in as the person", name, ErrForbidden)
	}
	var (
		code string
		rec  enrolRec
	)
	err := s.update(func(tx *bbolt.Tx, _ func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		var purpose string
		switch {
		case r.OnBox:
			purpose = EnrolOnBox
		case r.By.UserID == u.ID:
			purpose = EnrolSelf
		case u.Fresh && u.NoPassword:
			purpose = EnrolNew
		case u.Fresh:
			return fmt.Errorf("%q was made with a password, so they sign in with it and pair their phone themselves; a pairing code for someone else is only for an account made without a password that nobody has signed in to yet: %w", name, ErrForbidden)
		default:
			return fmt.Errorf("enrolment codes are for a new account or for yourself, and %q has signed in before: they can pair a phone themselves, or the owner can reset their sign-in: %w", name, ErrForbidden)
		}
		code, rec, err = s.putEnrolment(tx, u, r.TTL, r.By, purpose)
		return err
	})
	if err != nil {
		return "", Enrolment{}, fmt.Errorf("enrolment code for %q: %w", name, err)
	}
	return code, rec.public(), nil
}

func validTTL(ttl time.Duration) error {
	if ttl < time.Minute || ttl > MaxEnrolTTL {
		return fmt.Errorf("enrolment code valid for %s: %w: codes live between a minute and %s", ttl, ErrInvalid, MaxEnrolTTL)
	}
	return nil
}

// putEnrolment stores a new enrolment code for u, asked for by by,
// dropping expired ones while there.
func (s *Store) putEnrolment(tx *bbolt.Tx, u *userRec, ttl time.Duration, by Principal, purpose string) (string, enrolRec, error) {
	now := s.now()
	if _, err := deleteWhere(tx, bucketEnrol, func(r *enrolRec) bool { return !now.Before(r.Expires) }, nil); err != nil {
		return "", enrolRec{}, err
	}
	code := token.New(token.Enrol)
	rec := enrolRec{ID: newID(), User: u.Name, UserID: u.ID, Created: now, Expires: now.Add(ttl), By: by.User, ByID: by.UserID,
		Purpose: purpose, MadeBy: by.Maker()}
	if purpose == EnrolOnBox {
		rec.MadeBy = Maker{Kind: KindLocal}
	}
	return code, rec, putJSON(tx.Bucket(bucketEnrol), token.Hash(code), &rec)
}

// stillMayPair says why rec, a code made by someone else for u (a new
// account, or a reset), may no longer be used: its maker's account is
// gone, or may no longer manage u's (the maker was made admin or
// member, or u owner). Other codes pass, as do those the box's local
// token asked for (a reset from the CLI on the box).
func stillMayPair(tx *bbolt.Tx, rec *enrolRec, u *userRec) error {
	if rec.Purpose != EnrolNew && rec.Purpose != EnrolReset || rec.MadeBy.Kind == KindLocal {
		return nil
	}
	by, err := userByID(tx, rec.ByID)
	if err != nil {
		return fmt.Errorf("refused: %s, who asked for it, no longer has an account", rec.By)
	}
	if err := mayManage(by.Role, u.Name, u.Role, ""); err != nil {
		return fmt.Errorf("refused: %s, who asked for it, is now %s and may no longer manage %q, now %s", by.Name, by.Role, u.Name, u.Role)
	}
	return nil
}

// Enrol trades an enrolment code for a session on the device, once.
// Attempts count against the IP's sign-in rate limit. A code whose
// account is gone, even if another now has its name, is refused, as is
// one made for someone else whose maker may no longer manage the
// account (stillMayPair).
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
	refused := false
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
		if err := stillMayPair(tx, &rec, u); err != nil {
			emit(Event{Kind: EventEnrolmentCancelled, User: u.Name, CredentialID: rec.ID, Detail: err.Error()})
			refused = true
			return nil // the code is gone for good
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
	if refused {
		err = ErrBadCredentials
	}
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			s.emit(Event{Kind: EventLoginFailed, IP: ip, Device: device, Detail: "bad or used enrolment code"})
			return "", Session{}, ErrBadCredentials
		}
		return "", Session{}, err
	}
	return tok, sess, nil
}

// ListEnrolments returns the outstanding (unexpired) enrolment codes of
// every account, newest first.
func (s *Store) ListEnrolments() ([]Enrolment, error) {
	now := s.now()
	var out []Enrolment
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forEach(tx, bucketEnrol, func(_ []byte, r *enrolRec) error {
			if now.Before(r.Expires) {
				out = append(out, r.public())
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// GetEnrolment returns the outstanding enrolment code with public ID id.
func (s *Store) GetEnrolment(id string) (Enrolment, error) {
	list, err := s.ListEnrolments()
	for _, e := range list {
		if e.ID == id {
			return e, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("enrolment code %q: %w: it was used, cancelled or has expired; list the outstanding codes to see their IDs", id, ErrNotFound)
	}
	return Enrolment{}, err
}

// CancelEnrolment deletes the enrolment code with public ID id; by is
// who cancels it, for the event.
func (s *Store) CancelEnrolment(id, by string) error {
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		n, err := deleteWhere(tx, bucketEnrol, func(r *enrolRec) bool { return r.ID == id },
			func(r *enrolRec) {
				emit(Event{Kind: EventEnrolmentCancelled, User: r.User, CredentialID: r.ID, Detail: "cancelled by " + by})
			})
		if err == nil && n == 0 {
			err = fmt.Errorf("enrolment code %q: %w: it was used, cancelled or has expired; list the outstanding codes to see their IDs", id, ErrNotFound)
		}
		return err
	})
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
