package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"go.etcd.io/bbolt"
	"golang.org/x/time/rate"

	"github.com/shoebox/shoebox/gateway/password"
)

// LoginRequest is a sign-in attempt.
type LoginRequest struct {
	User     string
	Password string
	Code     string // TOTP code or recovery code; needed when TOTP is on
	IP       string // the client's address, for the rate limit and records
	Device   string // a name for the session, e.g. "Anna's iPhone"
}

// Login checks a sign-in attempt and, if it succeeds, starts a session.
// It returns the session token (shown to the client once; only its hash
// is kept) and the session's details.
//
// Errors: *RateLimitError (ErrRateLimited) when the IP has tried too
// often, *LockedError (ErrLockedOut) when the account is locked,
// ErrTOTPRequired when the password was right but a code is needed, and
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
	if errors.Is(err, ErrNotFound) {
		// Spend what a wrong password costs: the argon2id work and a
		// committed write (bbolt syncs even an empty one).
		password.Dummy(s.o.Params)
		_ = s.db.Update(func(*bbolt.Tx) error { return nil })
		s.emit(Event{Kind: EventLoginFailed, IP: ip, Device: device, Detail: "unknown user"})
		return "", Session{}, ErrBadCredentials
	}
	if err != nil {
		return "", Session{}, err
	}
	if now.Before(u.LockedUntil) {
		s.emit(Event{Kind: EventLoginFailed, User: name, IP: ip, Device: device, Detail: "account locked"})
		return "", Session{}, s.lockedErr(u, now)
	}
	rehash, perr := password.Check(req.Password, u.Hash, s.o.Params)
	if perr != nil && !errors.Is(perr, password.ErrMismatch) {
		return "", Session{}, fmt.Errorf("check password of %q: %w", name, perr)
	}
	newHash := ""
	if perr == nil && rehash {
		newHash = password.Hash(req.Password, s.o.Params)
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
		if now.Before(u.LockedUntil) {
			result = s.lockedErr(u, now)
			return nil
		}
		detail := "password"
		switch {
		case perr != nil:
			result = s.fail(u, now, ip, device, "wrong password", emit)
			return putUser(tx, u)
		case u.TOTP != nil && strings.TrimSpace(req.Code) == "":
			result = ErrTOTPRequired
			return nil
		case u.TOTP != nil:
			how, err := s.checkCode(u, req.Code, now)
			if err != nil {
				return err
			}
			if how == "" {
				result = s.fail(u, now, ip, device, "wrong code", emit)
				return putUser(tx, u)
			}
			detail += " and " + how
		}
		u.Failures, u.Lockouts, u.LockedUntil = 0, 0, time.Time{}
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
	return tok, sess, nil
}

// fail records a failed proof of identity on u (to be saved by the
// caller), locking the account after MaxFailures in a row, and returns
// the error for the caller: ErrBadCredentials, or a *LockedError when
// this failure locked the account.
func (s *Store) fail(u *userRec, now time.Time, ip, device, detail string, emit func(Event)) error {
	u.Failures++
	emit(Event{Kind: EventLoginFailed, User: u.Name, IP: ip, Device: device, Detail: detail})
	if u.Failures < s.o.MaxFailures {
		return ErrBadCredentials
	}
	u.Failures = 0
	u.Lockouts++
	d := s.o.LockFor
	for i := 1; i < u.Lockouts && d < s.o.LockMax; i++ {
		d *= 2
	}
	d = min(d, s.o.LockMax)
	u.LockedUntil = now.Add(d)
	emit(Event{Kind: EventLockout, User: u.Name, IP: ip, Device: device,
		Detail: fmt.Sprintf("%d failures in a row; locked for %s (lock-out %d)", s.o.MaxFailures, d, u.Lockouts)})
	return s.lockedErr(u, now)
}

func (s *Store) lockedErr(u *userRec, now time.Time) error {
	return &LockedError{User: u.Name, Until: u.LockedUntil, Wait: u.LockedUntil.Sub(now)}
}

// maxTrackedIPs bounds the limiter table: past it, limiters that have
// refilled (and so are the same as new ones) are dropped.
const maxTrackedIPs = 4096

func (s *Store) limitIP(ip string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.ips[ip]
	if l == nil {
		if len(s.ips) >= maxTrackedIPs {
			for k, v := range s.ips {
				if v.TokensAt(now) >= float64(v.Burst()) {
					delete(s.ips, k)
				}
			}
		}
		l = rate.NewLimiter(s.o.LoginRate, s.o.LoginBurst)
		s.ips[ip] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
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
