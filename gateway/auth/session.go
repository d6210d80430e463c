package auth

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/token"
)

// Factor is a proof of identity a session was opened with, or added to
// it later (ProveSecondFactor).
type Factor string

// The factors.
const (
	FactorPassword  Factor = "password"
	FactorTOTP      Factor = "totp"
	FactorRecovery  Factor = "recovery_code"
	FactorEnrolment Factor = "enrolment_code"
)

// secondFactor reports whether fs hold a second factor.
func secondFactor(fs []Factor) bool {
	return slices.Contains(fs, FactorTOTP) || slices.Contains(fs, FactorRecovery)
}

// codeFactor is the factor a code accepted by checkCode proves.
func codeFactor(code string) Factor {
	if isDigits(normCode(code)) {
		return FactorTOTP
	}
	return FactorRecovery
}

// loginFactors are what a successful Login proved: the password and,
// when u has two-step sign-in, the code.
func loginFactors(u *userRec, code string) []Factor {
	if u.TOTP == nil {
		return []Factor{FactorPassword}
	}
	return []Factor{FactorPassword, codeFactor(code)}
}

// Session describes a signed-in device (no token).
type Session struct {
	ID       string // public ID, for listing and revoking
	User     string
	Device   string
	IP       string // last seen from
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time // the earlier of the idle and absolute limits
	Factors  []Factor  // what it proved
	// SecondFactor: it proved a TOTP or recovery code.
	SecondFactor bool
}

type sessionRec struct {
	ID string `json:"id"`
	// User is the account's name; UserID its ID: the session dies with
	// the account, and a later account of the same name does not get it.
	User     string    `json:"user"`
	UserID   string    `json:"uid,omitempty"`
	Device   string    `json:"device,omitempty"`
	IP       string    `json:"ip,omitempty"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	// Factors it proved. None recorded (a session from before factors
	// were): the password alone.
	Factors []Factor `json:"factors,omitempty"`
	// Misses counts wrong codes given to ProveSecondFactor.
	Misses int `json:"misses,omitempty"`
}

func (r *sessionRec) factors() []Factor {
	if len(r.Factors) == 0 {
		return []Factor{FactorPassword}
	}
	return r.Factors
}

func (r *sessionRec) expires(idle, maxAge time.Duration) time.Time {
	e := r.LastSeen.Add(idle)
	if m := r.Created.Add(maxAge); m.Before(e) {
		e = m
	}
	return e
}

func (r *sessionRec) public(idle, maxAge time.Duration) Session {
	return Session{ID: r.ID, User: r.User, Device: r.Device, IP: r.IP,
		Created: r.Created, LastSeen: r.LastSeen, Expires: r.expires(idle, maxAge),
		Factors: slices.Clone(r.factors()), SecondFactor: secondFactor(r.Factors)}
}

// startSession stores a new session for u that proved factors, and
// returns its token. It marks u as signed in, which ends the enrolment
// codes made for it as a new account; the caller saves u.
func (s *Store) startSession(tx *bbolt.Tx, u *userRec, ip, device string, factors []Factor, now time.Time, emit func(Event)) (string, sessionRec, error) {
	if u.Fresh {
		u.Fresh = false
		err := deleteEnrolments(tx, u, func(r *enrolRec) bool { return r.Purpose == EnrolNew }, "the account has been signed in to", emit)
		if err != nil {
			return "", sessionRec{}, err
		}
	}
	tok := token.New(token.Session)
	rec := sessionRec{ID: newID(), User: u.Name, UserID: u.ID, Device: device, IP: ip, Created: now, LastSeen: now, Factors: factors}
	return tok, rec, putJSON(tx.Bucket(bucketSessions), token.Hash(tok), &rec)
}

// touchEvery is how stale last-seen may get before Authenticate writes
// it: one write a minute per credential rather than one per request.
const touchEvery = time.Minute

// Authenticate resolves a bearer token (session token or API key) to a
// Principal. ip is the client's address, recorded as the session's last
// address. A malformed token is refused before any lookup; an unknown,
// expired or revoked one, or one whose account is gone (a later account
// of the same name included), gives an error matching
// ErrUnauthenticated.
func (s *Store) Authenticate(bearer, ip string) (Principal, error) {
	switch token.KindOf(bearer) {
	case token.Session:
		return s.authSession(bearer, clean(ip))
	case token.APIKey:
		return s.authAPIKey(bearer)
	}
	return Principal{}, fmt.Errorf("the credential is not a session token or API key: %w", ErrUnauthenticated)
}

func (s *Store) authSession(tok, ip string) (Principal, error) {
	now := s.now()
	key := token.Hash(tok)
	var (
		rec   sessionRec
		u     *userRec
		stale bool // needs a write: expired, orphaned, or last-seen/IP to update
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketSessions), key, &rec); err != nil {
			return err
		}
		if !now.Before(rec.expires(s.o.SessionIdle, s.o.SessionMax)) {
			stale = true
			return nil
		}
		var err error
		if u, err = ownerOf(tx, rec.User, rec.UserID); err != nil {
			return err
		}
		stale = now.Sub(rec.LastSeen) >= touchEvery || rec.IP != ip
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Principal{}, fmt.Errorf("unknown or ended session: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, err
	}
	if stale {
		var expired bool
		err := s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketSessions)
			if err := getJSON(b, key, &rec); err != nil {
				return err
			}
			if !now.Before(rec.expires(s.o.SessionIdle, s.o.SessionMax)) {
				expired = true
				return b.Delete([]byte(key))
			}
			var err error
			if u, err = ownerOf(tx, rec.User, rec.UserID); errors.Is(err, ErrNotFound) {
				expired = true
				return b.Delete([]byte(key))
			} else if err != nil {
				return err
			}
			if now.After(rec.LastSeen) {
				rec.LastSeen = now
			}
			rec.IP = ip
			return putJSON(b, key, &rec)
		})
		if errors.Is(err, ErrNotFound) || expired {
			return Principal{}, fmt.Errorf("session expired or ended: %w", ErrUnauthenticated)
		}
		if err != nil {
			return Principal{}, err
		}
	}
	return Principal{User: rec.User, UserID: u.ID, Role: u.Role, CredentialID: rec.ID, Kind: KindSession,
		TOTP: u.TOTP != nil, SecondFactor: secondFactor(rec.Factors)}, nil
}

// ownerOf returns the account a credential of user name and account ID
// uid belongs to, or ErrNotFound when that account is gone (even if
// another now has the name).
func ownerOf(tx *bbolt.Tx, name, uid string) (*userRec, error) {
	u, err := getUser(tx, name)
	if err != nil {
		return nil, err
	}
	if u.ID != uid {
		return nil, fmt.Errorf("the account %q this credential belonged to was deleted: %w", name, ErrNotFound)
	}
	return u, nil
}

// Logout ends the session with token tok. Ending a session that has
// already ended is not an error.
func (s *Store) Logout(tok string) error {
	if token.Parse(token.Session, tok) != nil {
		return fmt.Errorf("log out: not a session token: %w", ErrUnauthenticated)
	}
	key := token.Hash(tok)
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		b := tx.Bucket(bucketSessions)
		var rec sessionRec
		if err := getJSON(b, key, &rec); errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		emit(Event{Kind: EventLogout, User: rec.User, IP: rec.IP, Device: rec.Device, CredentialID: rec.ID})
		return b.Delete([]byte(key))
	})
}

// ListSessions returns name's live sessions, most recently used first.
func (s *Store) ListSessions(name string) ([]Session, error) {
	name = canonName(name)
	now := s.now()
	var out []Session
	err := s.db.View(func(tx *bbolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		return forEach(tx, bucketSessions, func(_ []byte, r *sessionRec) error {
			if r.UserID == u.ID && now.Before(r.expires(s.o.SessionIdle, s.o.SessionMax)) {
				out = append(out, r.public(s.o.SessionIdle, s.o.SessionMax))
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, err
}

// RevokeSession ends name's session with public ID id, and what it
// made (endMadeBy): a session "signed out" from another device may be a
// thief's, and must not leave an API key or pairing code behind.
func (s *Store) RevokeSession(name, id string) error {
	name = canonName(name)
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		key, r, err := findSession(tx, u, id)
		if err != nil {
			return err
		}
		emit(Event{Kind: EventSessionRevoked, User: name, IP: r.IP, Device: r.Device, CredentialID: r.ID})
		if err := tx.Bucket(bucketSessions).Delete(key); err != nil {
			return err
		}
		return endMadeBy(tx, []made{{Maker{KindSession, r.ID}, name}}, nil, "revoked", emit)
	})
}

// findSession returns the key and record of u's session with public ID
// id.
func findSession(tx *bbolt.Tx, u *userRec, id string) ([]byte, *sessionRec, error) {
	var (
		key   []byte
		found sessionRec
	)
	err := forEach(tx, bucketSessions, func(k []byte, r *sessionRec) error {
		if r.UserID == u.ID && r.ID == id {
			key, found = append([]byte(nil), k...), *r
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if key == nil {
		return nil, nil, fmt.Errorf("session %q of %q: %w: list the sessions to see their IDs", id, u.Name, ErrNotFound)
	}
	return key, &found, nil
}

// RevokeCredential ends the session, API key or enrolment code whose
// token is tok, whatever its state, and what a session or key made
// (endMadeBy), reports a credential_exposed event, and returns the name
// of the account it belonged to. The gateway calls it when a credential
// arrives over plain HTTP. It returns ErrNotFound when no credential has
// that token.
func (s *Store) RevokeCredential(tok string) (string, error) {
	var bucket []byte
	var what string
	switch token.KindOf(tok) {
	case token.Session:
		bucket, what = bucketSessions, "session token"
	case token.APIKey:
		bucket, what = bucketAPIKeys, "API key"
	case token.Enrol:
		bucket, what = bucketEnrol, "enrolment code"
	default:
		return "", fmt.Errorf("revoke credential: not a session token, API key or enrolment code: %w", ErrNotFound)
	}
	key := token.Hash(tok)
	var rec credHead
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		b := tx.Bucket(bucket)
		if err := getJSON(b, key, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("revoke credential %s: %w", token.Redact(tok), ErrNotFound)
			}
			return err
		}
		emit(Event{Kind: EventCredentialExposed, User: rec.User, CredentialID: rec.ID, Detail: what + " sent without TLS; revoked"})
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		if kind := token.KindOf(tok); kind == token.Session || kind == token.APIKey {
			return endMadeBy(tx, []made{{Maker{credentialKind(kind), rec.ID}, rec.User}}, nil, "sent without TLS", emit)
		}
		return nil
	})
	return rec.User, err
}

// credHead is what every stored credential (session, API key, enrolment
// code) has.
type credHead struct {
	ID     string `json:"id"`
	User   string `json:"user"`
	UserID string `json:"uid"`
}

// pruneSessions deletes every expired session.
func pruneSessions(tx *bbolt.Tx, now time.Time, idle, maxAge time.Duration) error {
	_, err := deleteWhere(tx, bucketSessions, func(r *sessionRec) bool { return !now.Before(r.expires(idle, maxAge)) }, nil)
	return err
}

// endCredentials ends u's sessions but the one with public ID
// keepSession, its API keys unless keepKeys, its enrolment codes, and
// what the credentials ended made (endMadeBy; with keepKeys, u's keys
// are kept whoever made them), emitting one event per credential ended,
// with why as its detail.
func endCredentials(tx *bbolt.Tx, u *userRec, keepSession string, keepKeys bool, why string, emit func(Event)) error {
	var ended []made
	_, err := deleteWhere(tx, bucketSessions,
		func(r *sessionRec) bool { return r.UserID == u.ID && (keepSession == "" || r.ID != keepSession) },
		func(r *sessionRec) {
			emit(Event{Kind: EventSessionRevoked, User: u.Name, IP: r.IP, Device: r.Device, CredentialID: r.ID, Detail: why})
			ended = append(ended, made{Maker{KindSession, r.ID}, u.Name})
		})
	if err == nil && !keepKeys {
		_, err = deleteWhere(tx, bucketAPIKeys, func(r *apiKeyRec) bool { return r.UserID == u.ID },
			func(r *apiKeyRec) {
				emit(Event{Kind: EventAPIKeyRevoked, User: u.Name, CredentialID: r.ID, Detail: fmt.Sprintf("%q: %s", r.Name, why)})
				ended = append(ended, made{Maker{KindAPIKey, r.ID}, u.Name})
			})
	}
	if err == nil {
		err = deleteEnrolments(tx, u, func(*enrolRec) bool { return true }, why, emit)
	}
	if err == nil {
		err = endMadeBy(tx, ended, func(r *apiKeyRec) bool { return keepKeys && r.UserID == u.ID }, why, emit)
	}
	return err
}

// bindCredentials ties the sessions and API keys stored before they
// carried an account ID to the account that now has their user name
// (deleting an account always deleted its sessions and keys by name, so
// that account is theirs), and drops such enrolment codes: they live a
// day at most, and one made for a deleted account must not sign in a
// later account of the same name.
func bindCredentials(tx *bbolt.Tx) error {
	if err := bindBucket[sessionRec](tx, bucketSessions, func(r *sessionRec) *string { return &r.UserID }, func(r *sessionRec) string { return r.User }); err != nil {
		return err
	}
	if err := bindBucket[apiKeyRec](tx, bucketAPIKeys, func(r *apiKeyRec) *string { return &r.UserID }, func(r *apiKeyRec) string { return r.User }); err != nil {
		return err
	}
	_, err := deleteWhere(tx, bucketEnrol, func(r *credHead) bool { return r.UserID == "" }, nil)
	return err
}

// bindBucket gives the records of bucket without an account ID the ID of
// the account that has their user name, and deletes those whose account
// is gone.
func bindBucket[R any](tx *bbolt.Tx, bucket []byte, uid func(*R) *string, user func(*R) string) error {
	b := tx.Bucket(bucket)
	type fix struct {
		key []byte
		rec *R
	}
	var fixes []fix
	var gone [][]byte
	err := forEach(tx, bucket, func(k []byte, r *R) error {
		if *uid(r) != "" {
			return nil
		}
		u, err := getUser(tx, user(r))
		if errors.Is(err, ErrNotFound) {
			gone = append(gone, k)
			return nil
		} else if err != nil {
			return err
		}
		*uid(r) = u.ID
		fixes = append(fixes, fix{append([]byte(nil), k...), r})
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range fixes {
		if err := putJSON(b, string(f.key), f.rec); err != nil {
			return err
		}
	}
	return deleteKeys(b, gone)
}
