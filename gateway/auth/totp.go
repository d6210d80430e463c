package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/password"
)

// TOTP parameters: what every authenticator app speaks.
const (
	totpPeriod = 30 // seconds
	totpSkew   = 1  // steps accepted either side of now
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPSetup is what the user enters into an authenticator app: the URL as
// a QR code, or the secret typed in.
type TOTPSetup struct {
	Secret string // base32
	URL    string // otpauth://totp/…
}

// BeginTOTP starts setting up two-step sign-in for name: it makes a new
// secret, keeps it (sealed) until ConfirmTOTP, and returns it for the
// authenticator app. Calling it again replaces the pending secret.
func (s *Store) BeginTOTP(name string) (TOTPSetup, error) {
	name = canonName(name)
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.o.Issuer, AccountName: name, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("make TOTP secret for %q: %w", name, err)
	}
	err = s.update(func(tx *bbolt.Tx, _ func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if u.TOTP != nil {
			return fmt.Errorf("user %q: %w", name, ErrTOTPEnabled)
		}
		u.TOTPPending = s.seal(name, key.Secret())
		return putUser(tx, u)
	})
	if err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: key.Secret(), URL: key.URL()}, nil
}

// ConfirmTOTP turns two-step sign-in on for name once the user proves the
// authenticator works with a current code. It returns ten one-time
// recovery codes, to be shown once: only their MACs are kept.
//
// The session with public ID session (the one making the change) counts
// as having proved the new factor; every other session of the person,
// their API keys and enrolment codes end: they were opened without it.
func (s *Store) ConfirmTOTP(name, code, session string) ([]string, error) {
	name = canonName(name)
	now := s.now()
	codes := make([]string, 10)
	macs := make([]string, len(codes))
	for i := range codes {
		codes[i] = newRecoveryCode()
		macs[i] = s.recoveryMAC(codes[i])
	}
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if u.TOTP != nil {
			return fmt.Errorf("user %q: %w", name, ErrTOTPEnabled)
		}
		if u.TOTPPending == nil {
			return fmt.Errorf("user %q: %w", name, ErrTOTPDisabled)
		}
		secret, err := s.open(name, u.TOTPPending)
		if err != nil {
			return err
		}
		step, ok := matchTOTP(secret, normCode(code), now, 0)
		if !ok {
			return fmt.Errorf("confirm two-step sign-in: %w: check the phone's clock and enter the code now shown", ErrBadCredentials)
		}
		u.TOTP, u.TOTPPending, u.TOTPStep, u.Recovery = u.TOTPPending, nil, step, macs
		emit(Event{Kind: EventTOTPEnabled, User: name})
		if session != "" {
			key, rec, err := findSession(tx, u, session)
			if err != nil {
				return err
			}
			rec.Factors = append(rec.factors(), FactorTOTP)
			if err := putJSON(tx.Bucket(bucketSessions), string(key), rec); err != nil {
				return err
			}
		}
		if err := endCredentials(tx, u, session, false, "two-step sign-in turned on", emit); err != nil {
			return err
		}
		return putUser(tx, u)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns two-step sign-in off for name. It needs proof: a
// valid code (TOTP or recovery) or, if code is empty, the password.
// Every session of the person but the one with public ID session, their
// API keys and enrolment codes end. ip is the caller's address: a wrong
// proof counts towards that address's back-off on the account, as a
// failed sign-in does, and while the back-off lasts the call fails with
// a *RateLimitError before any check.
func (s *Store) DisableTOTP(name, pw, code, session, ip string) error {
	name = canonName(name)
	now := s.now()
	u, err := s.loadUser(name)
	if err != nil {
		return err
	}
	pair := pairKey(ip, u, name)
	if err := s.backedOff(pair, now); err != nil {
		return err
	}
	var perr error
	if code == "" {
		_, perr = password.Check(pw, u.Hash, s.o.Params)
		if errors.Is(perr, password.ErrBusy) {
			return perr
		}
		if perr != nil && !errors.Is(perr, password.ErrMismatch) {
			return fmt.Errorf("check password of %q: %w", name, perr)
		}
	}
	ip = clean(ip)
	var result error
	err = s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if u.TOTP == nil {
			return fmt.Errorf("user %q: %w", name, ErrTOTPDisabled)
		}
		if code == "" && perr != nil {
			result = s.fail(pair, now, Event{Kind: EventLoginFailed, User: name, IP: ip, Detail: "wrong password (turning off two-step sign-in)"}, emit)
			return nil
		}
		if code != "" {
			how, err := s.checkCode(u, code, now)
			if err != nil {
				return err
			}
			if how == "" {
				result = s.fail(pair, now, Event{Kind: EventLoginFailed, User: name, IP: ip, Detail: "wrong code (turning off two-step sign-in)"}, emit)
				return nil
			}
		}
		u.TOTP, u.TOTPPending, u.TOTPStep, u.Recovery = nil, nil, 0, nil
		emit(Event{Kind: EventTOTPDisabled, User: name})
		if err := endCredentials(tx, u, session, false, "two-step sign-in turned off", emit); err != nil {
			return err
		}
		return putUser(tx, u)
	})
	if err != nil {
		return err
	}
	if result == nil {
		s.pairs.Reset(pair)
	}
	return result
}

// MaxMisses is how many wrong codes ProveSecondFactor takes on one
// session before it ends the session.
const MaxMisses = 5

// ProveSecondFactor adds the second factor to name's session with public
// ID session, once the person gives a valid code: TOTP or recovery (which
// is spent). A wrong code gives ErrBadCredentials; the MaxMisses-th ends
// the session, and what it made. A session only needs this when it
// began without the factor: from an enrolment code, or before sessions
// recorded factors.
func (s *Store) ProveSecondFactor(name, session, code string) error {
	name = canonName(name)
	now := s.now()
	var result error
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if u.TOTP == nil {
			return fmt.Errorf("user %q: %w", name, ErrTOTPDisabled)
		}
		key, rec, err := findSession(tx, u, session)
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketSessions)
		how, err := s.checkCode(u, code, now)
		if err != nil {
			return err
		}
		if how == "" {
			rec.Misses++
			emit(Event{Kind: EventLoginFailed, User: name, IP: rec.IP, Device: rec.Device, CredentialID: rec.ID,
				Detail: fmt.Sprintf("wrong code proving two-step sign-in (%d of %d)", rec.Misses, MaxMisses)})
			result = ErrBadCredentials
			if rec.Misses >= MaxMisses {
				emit(Event{Kind: EventSessionRevoked, User: name, IP: rec.IP, Device: rec.Device, CredentialID: rec.ID,
					Detail: fmt.Sprintf("%d wrong codes proving two-step sign-in", MaxMisses)})
				if err := b.Delete(key); err != nil {
					return err
				}
				return endMadeBy(tx, []made{{Maker{KindSession, rec.ID}, name}}, nil, "too many wrong codes", emit)
			}
			return putJSON(b, string(key), rec)
		}
		rec.Factors, rec.Misses = append(rec.factors(), codeFactor(code)), 0
		if err := putJSON(b, string(key), rec); err != nil {
			return err
		}
		emit(Event{Kind: EventSecondFactor, User: name, IP: rec.IP, Device: rec.Device, CredentialID: rec.ID, Detail: how})
		return putUser(tx, u) // the code is spent
	})
	if err != nil {
		return err
	}
	return result
}

// checkCode checks code, a TOTP code or a recovery code, against u and
// spends it (updating u, which the caller saves). It returns how the
// user proved themselves, or "" for a wrong code.
func (s *Store) checkCode(u *userRec, code string, now time.Time) (string, error) {
	c := normCode(code)
	if isDigits(c) {
		secret, err := s.open(u.Name, u.TOTP)
		if err != nil {
			return "", err
		}
		step, ok := matchTOTP(secret, c, now, u.TOTPStep)
		if !ok {
			return "", nil
		}
		u.TOTPStep = step
		return "TOTP code", nil
	}
	mac := s.recoveryMAC(c)
	i := slices.IndexFunc(u.Recovery, func(m string) bool { return hmac.Equal([]byte(m), []byte(mac)) })
	if i < 0 {
		return "", nil
	}
	u.Recovery = slices.Delete(u.Recovery, i, i+1)
	return fmt.Sprintf("recovery code (%d left)", len(u.Recovery)), nil
}

// matchTOTP looks for code among the steps within totpSkew of now and
// after lastStep (a step once used is spent), returning the step.
func matchTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	if len(code) != 6 || !isDigits(code) {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var found int64
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > lastStep && found == 0 {
			found = step
		}
	}
	return found, found != 0
}

// normCode drops spaces and dashes and folds case: "1234 56" and
// "ABCD-efgh-2345" are accepted.
func normCode(c string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, c)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// recoveryAlphabet has no 0/o, 1/l/i: easy to read off paper.
const recoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// newRecoveryCode returns "xxxx-xxxx-xxxx" (about 59 bits).
func newRecoveryCode() string {
	var out []byte
	var b [1]byte
	for len(out) < 14 {
		if len(out) == 4 || len(out) == 9 {
			out = append(out, '-')
			continue
		}
		if _, err := rand.Read(b[:]); err != nil {
			panic("auth: no randomness: " + err.Error())
		}
		if int(b[0]) < 256/len(recoveryAlphabet)*len(recoveryAlphabet) {
			out = append(out, recoveryAlphabet[int(b[0])%len(recoveryAlphabet)])
		}
	}
	return string(out)
}

func (s *Store) recoveryMAC(code string) string {
	m := hmac.New(sha256.New, s.recKey)
	m.Write([]byte(normCode(code)))
	return hex.EncodeToString(m.Sum(nil))
}

func totpAD(name string) []byte { return []byte("shoebox/auth/totp\x00" + name) }

// seal encrypts a TOTP secret for user name: nonce ‖ ciphertext.
func (s *Store) seal(name, secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), totpAD(name))
}

func (s *Store) open(name string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", fmt.Errorf("TOTP secret of %q is damaged: turn two-step sign-in off with the password and set it up again", name)
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], totpAD(name))
	if err != nil {
		return "", fmt.Errorf("TOTP secret of %q does not open with this box key (was the key file replaced?): turn two-step sign-in off with the password and set it up again", name)
	}
	return string(pt), nil
}
