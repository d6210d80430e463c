package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/throttle"
)

// LoginRequest is a sign-in attempt.
type LoginRequest struct {
	User     string
	Password string
	Code     string // TOTP code or recovery code; needed when TOTP is on
	IP       string // the client's address, for the brakes and records
	Device   string // a name for the session, e.g. "Anna's iPhone"
}

// Login checks a sign-in attempt and, if it succeeds, starts a session.
// It returns the session token (shown to the client once; only its hash
// is kept) and the session's details.
//
// Before any password hashing it checks the address's pace and the
// address's back-off on the account named; a known and an unknown name
// go through the same steps, at the same cost, with the same answers.
//
// Errors: *RateLimitError (ErrRateLimited) when the address has tried
// too often, overall or on this account; *password.BusyError
// (password.ErrBusy) when too many passwords are being checked at once;
// ErrTOTPRequired when the password was right but a code is needed; and
// ErrBadCredentials for an unknown user, a wrong password or a wrong
// code, all alike.
func (s *Store) Login(req LoginRequest) (string, Session, error) {
	now := s.now()
	if err := s.limitIP(req.IP, now); err != nil {
		return "", Session{}, err
	}
	ip, device := clean(req.IP), clean(req.Device)
	name := canonName(req.User)
	u, err := s.loadUser(name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", Session{}, err
	}
	known := err == nil
	pair := pairKey(req.IP, u, name)
	if err := s.backedOff(pair, now); err != nil {
		return "", Session{}, err
	}
	if !known {
		// Spend what a wrong password costs: the argon2id work and a
		// committed write (bbolt syncs even an empty one).
		if err := password.Dummy(s.o.Params); err != nil {
			return "", Session{}, err
		}
		_ = s.db.Update(func(*bbolt.Tx) error { return nil })
		return "", Session{}, s.fail(pair, now, Event{Kind: EventLoginFailed, IP: ip, Device: device, Detail: "unknown user"}, s.emit)
	}
	rehash, perr := password.Check(req.Password, u.Hash, s.o.Params)
	if errors.Is(perr, password.ErrBusy) {
		return "", Session{}, perr
	}
	if perr != nil && !errors.Is(perr, password.ErrMismatch) {
		return "", Session{}, fmt.Errorf("check password of %q: %w", name, perr)
	}
	newHash := ""
	if perr == nil && rehash {
		newHash, _ = password.Hash(req.Password, s.o.Params) // busy: the next sign-in rehashes
	}

	var (
		tok    string
		sess   Session
		result error
	)
	err = s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if errors.Is(err, ErrNotFound) { // deleted meanwhile
			result = ErrBadCredentials
			return nil
		}
		if err != nil {
			return err
		}
		detail := "password"
		switch {
		case perr != nil:
			result = s.fail(pair, now, Event{Kind: EventLoginFailed, User: name, IP: ip, Device: device, Detail: "wrong password"}, emit)
			return nil
		case u.TOTP != nil && strings.TrimSpace(req.Code) == "":
			result = ErrTOTPRequired
			return nil
		case u.TOTP != nil:
			how, err := s.checkCode(u, req.Code, now)
			if err != nil {
				return err
			}
			if how == "" {
				result = s.fail(pair, now, Event{Kind: EventLoginFailed, User: name, IP: ip, Device: device, Detail: "wrong code"}, emit)
				return nil
			}
			detail += " and " + how
		}
		if newHash != "" {
			u.Hash = newHash
		}
		if err := pruneSessions(tx, now, s.o.SessionIdle, s.o.SessionMax); err != nil {
			return err
		}
		var rec sessionRec
		if tok, rec, err = s.startSession(tx, u, ip, device, loginFactors(u, req.Code), now, emit); err != nil {
			return err
		}
		sess = rec.public(s.o.SessionIdle, s.o.SessionMax)
		emit(Event{Kind: EventLogin, User: name, IP: ip, Device: device, CredentialID: rec.ID, Detail: detail})
		return putUser(tx, u)
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("sign in %q: %w", name, err)
	}
	if result != nil {
		return "", Session{}, result
	}
	s.pairs.Reset(pair)
	return tok, sess, nil
}

// pairKey names the back-off of one address (an IPv6 address by its
// /64) on one account: by the account's ID when it exists, else by a
// digest of the name typed, so that unknown names are slowed down just
// like known ones. Not by the name itself: it may be as long as a
// request body, and the table keeps its keys for a day.
func pairKey(ip string, u *userRec, name string) string {
	if u != nil {
		return throttle.Key(ip) + " id:" + u.ID
	}
	sum := sha256.Sum256([]byte(name))
	return throttle.Key(ip) + " name:" + hex.EncodeToString(sum[:16])
}

// backedOff refuses an attempt while the pair's back-off lasts.
func (s *Store) backedOff(pair string, now time.Time) error {
	if d := s.pairs.Wait(pair, now); d > 0 {
		return &RateLimitError{Wait: d, Account: true}
	}
	return nil
}

// fail records a failed proof of identity for pair and sends e (a
// login_failed event) through emit, with a throttled event when the
// failure makes the address wait before its next try on the account. It
// returns ErrBadCredentials, always: this attempt was checked, and was
// wrong; the wait applies from the next one.
func (s *Store) fail(pair string, now time.Time, e Event, emit func(Event)) error {
	emit(e)
	if d := s.pairs.Fail(pair, now); d > 0 {
		emit(Event{Kind: EventThrottled, User: e.User, IP: e.IP, Device: e.Device,
			Detail: fmt.Sprintf("%d failures in a row from this address; its next try on this account waits %s",
				s.pairs.Failures(pair, now), d)})
	}
	return ErrBadCredentials
}

func (s *Store) limitIP(ip string, now time.Time) error {
	if d := s.ips.Allow(throttle.Key(ip), now); d > 0 {
		return &RateLimitError{Wait: d}
	}
	return nil
}

// clean makes a client-supplied label (device name, IP) safe to store
// and show: no control characters, at most maxLabel runes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > maxLabel {
		s = string(r[:maxLabel])
	}
	return s
}
