package auth

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/token"
)

// User is an account as shown to callers (no secrets).
type User struct {
	ID            string // immutable; never reused by a later account of the same name
	Name          string
	Role          Role
	Created       time.Time
	Grants        map[string]Access // space → permissions
	TOTP          bool              // two-step sign-in is on
	RecoveryCodes int               // unused recovery codes left
}

func (u *userRec) public(time.Time) User {
	return User{
		ID:            u.ID,
		Name:          u.Name,
		Role:          u.Role,
		Created:       u.Created,
		Grants:        maps.Clone(u.Grants),
		TOTP:          u.TOTP != nil,
		RecoveryCodes: len(u.Recovery),
	}
}

const (
	minPassword = 10   // runes
	maxPassword = 1024 // bytes
	maxName     = 32
	maxSpace    = 64
	maxLabel    = 64 // device and API key names
)

// canonName folds a user name to its stored form: names are not case
// sensitive (phone keyboards capitalise the first letter).
func canonName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validName(name string) error {
	ok := len(name) >= 1 && len(name) <= maxName && name[0] >= 'a' && name[0] <= 'z'
	for _, c := range name {
		ok = ok && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("user name %q: %w: use 1 to %d letters, digits, '.', '_' or '-', starting with a letter", name, ErrInvalid, maxName)
	}
	return nil
}

func validPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < minPassword {
		return fmt.Errorf("password: %w: it has %d characters, use at least %d (a few words make a good one)", ErrInvalid, n, minPassword)
	}
	if len(pw) > maxPassword {
		return fmt.Errorf("password: %w: use at most %d bytes", ErrInvalid, maxPassword)
	}
	return nil
}

func validSpace(space string) error {
	ok := len(space) >= 1 && len(space) <= maxSpace && space[0] != '.' && space[0] != '-'
	for _, c := range space {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("space %q: %w: a space is a backup source name: 1 to %d letters, digits, '.', '_' or '-'", space, ErrInvalid, maxSpace)
	}
	return nil
}

func validRole(r Role) error {
	if !r.Valid() {
		return fmt.Errorf("role %q: %w: use owner, admin, member or viewer", r, ErrInvalid)
	}
	return nil
}

// CreateUser adds an account. The first account must be an owner. The
// name is folded to lower case. With an empty pw the account has no
// password: the person pairs a phone with an enrolment code and sets it
// (SetPassword with an empty old one). The account is new (an admin may
// have enrolment codes made for it) until someone signs in to it.
func (s *Store) CreateUser(name, pw string, role Role) (User, error) {
	name = canonName(name)
	if err := validName(name); err != nil {
		return User{}, err
	}
	if err := validRole(role); err != nil {
		return User{}, err
	}
	if pw != "" {
		if err := validPassword(pw); err != nil {
			return User{}, err
		}
	}
	hash, herr := s.hashOrUnusable(pw)
	if herr != nil {
		return User{}, herr
	}
	now := s.now()
	u := &userRec{ID: newUserID(), Name: name, Role: role, Hash: hash, Created: now, Fresh: true, NoPassword: pw == ""}
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("user %q: %w: pick another name", name, ErrExists)
		}
		if first, _ := b.Cursor().First(); role != Owner && first == nil {
			return fmt.Errorf("user %q: %w: the first account must be the owner", name, ErrInvalid)
		}
		emit(Event{Kind: EventUserCreated, User: name, Detail: "role " + string(role)})
		return putUser(tx, u)
	})
	if err != nil {
		return User{}, err
	}
	return u.public(now), nil
}

// GetUser returns the account name.
func (s *Store) GetUser(name string) (User, error) {
	u, err := s.loadUser(canonName(name))
	if err != nil {
		return User{}, err
	}
	return u.public(s.now()), nil
}

// ListUsers returns every account, sorted by name.
func (s *Store) ListUsers() ([]User, error) {
	now := s.now()
	var users []User
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, _ []byte) error {
			u, err := getUser(tx, string(k))
			if err != nil {
				return err
			}
			users = append(users, u.public(now))
			return nil
		})
	})
	return users, err // bbolt iterates in key order
}

func countOwners(tx *bbolt.Tx) (int, error) {
	n := 0
	err := tx.Bucket(bucketUsers).ForEach(func(k, _ []byte) error {
		u, err := getUser(tx, string(k))
		if err == nil && u.Role == Owner {
			n++
		}
		return err
	})
	return n, err
}

// DeleteUser removes the account name with its sessions, API keys and
// enrolment codes. The last owner cannot be deleted.
func (s *Store) DeleteUser(name string) error {
	name = canonName(name)
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if u.Role == Owner {
			n, err := countOwners(tx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return fmt.Errorf("delete %q: %w", name, ErrLastOwner)
			}
		}
		if err := endCredentials(tx, u, "", false, "account deleted", emit); err != nil {
			return err
		}
		emit(Event{Kind: EventUserDeleted, User: name})
		return tx.Bucket(bucketUsers).Delete([]byte(name))
	})
}

// SetRole changes the role of name. The last owner cannot be demoted.
// Grants are kept (they matter only to members and viewers). The
// account's outstanding enrolment codes end: one asked for by an admin
// for a new member must not sign anyone in as an owner.
func (s *Store) SetRole(name string, role Role) error {
	name = canonName(name)
	if err := validRole(role); err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if u.Role == role {
			return nil
		}
		if u.Role == Owner {
			n, err := countOwners(tx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return fmt.Errorf("make %q %s: %w", name, role, ErrLastOwner)
			}
		}
		change := string(u.Role) + " → " + string(role)
		emit(Event{Kind: EventRoleChanged, User: name, Detail: change})
		if err := deleteEnrolments(tx, u, func(*enrolRec) bool { return true }, "role changed: "+change, emit); err != nil {
			return err
		}
		u.Role = role
		return putUser(tx, u)
	})
}

// Grant gives name perms on space (with read, which every other
// permission implies), replacing what they held there. A viewer may hold
// read only; owners and admins need no grants, but may hold them (they
// count should the person become a member).
func (s *Store) Grant(name, space string, perms ...Perm) error {
	name = canonName(name)
	if err := validSpace(space); err != nil {
		return err
	}
	access, err := NewAccess(perms...)
	if err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx, _ func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if u.Role == Viewer && len(access) > 1 {
			return fmt.Errorf("give %q %s in %s: %w: a viewer may only read; make them a member first to let them write, share or restore", name, access, space, ErrInvalid)
		}
		if u.Grants == nil {
			u.Grants = make(map[string]Access)
		}
		u.Grants[space] = access
		return putUser(tx, u)
	})
}

// RevokeGrant removes name's grant on space, if any.
func (s *Store) RevokeGrant(name, space string) error {
	name = canonName(name)
	return s.update(func(tx *bbolt.Tx, _ func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if _, ok := u.Grants[space]; !ok {
			return nil
		}
		delete(u.Grants, space)
		return putUser(tx, u)
	})
}

// SetPassword changes name's password after checking the old one (an
// account without a password takes any old one, usually empty), and
// ends the person's sessions except keepSession (the public ID of the
// session making the change; "" ends them all), their enrolment codes
// and, unless keepKeys, their API keys. ip is the caller's address: a
// wrong old password counts towards that address's back-off on the
// account, as a failed sign-in does, and while the back-off lasts the
// call fails with a *RateLimitError before any check.
func (s *Store) SetPassword(name, oldPw, newPw, keepSession string, keepKeys bool, ip string) error {
	name = canonName(name)
	if err := validPassword(newPw); err != nil {
		return err
	}
	u, err := s.loadUser(name)
	if err != nil {
		return err
	}
	now := s.now()
	pair := pairKey(ip, u, name)
	if err := s.backedOff(pair, now); err != nil {
		return err
	}
	var cerr error
	if !u.NoPassword {
		_, cerr = password.Check(oldPw, u.Hash, s.o.Params)
		if errors.Is(cerr, password.ErrBusy) {
			return cerr
		}
		if cerr != nil && !errors.Is(cerr, password.ErrMismatch) {
			return fmt.Errorf("check password of %q: %w", name, cerr)
		}
	}
	hash := ""
	if cerr == nil {
		if hash, err = password.Hash(newPw, s.o.Params); err != nil {
			return err
		}
	}
	ip = clean(ip)
	var result error
	err = s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if cerr != nil {
			result = s.fail(pair, now, Event{Kind: EventLoginFailed, User: name, IP: ip, Detail: "wrong password (password change)"}, emit)
			return nil
		}
		detail := "API keys revoked"
		if keepKeys {
			detail = "API keys kept, as asked"
		}
		if u.NoPassword {
			detail = "first password set; " + detail
		}
		u.Hash, u.NoPassword = hash, false
		if err := endCredentials(tx, u, keepSession, keepKeys, "password changed", emit); err != nil {
			return err
		}
		emit(Event{Kind: EventPasswordChanged, User: name, Detail: detail})
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

// ResetCredentials is an owner's reset of another person's sign-in, for
// a forgotten password, a lost phone or a suspected break-in (check
// CheckManage first; only an owner may). It ends all of name's sessions,
// API keys and enrolment codes (the gateway ends their share links on
// the credentials_reset event), turns two-step sign-in off, clears the
// password, leaves a notice for the person's next sign-in, and returns a
// one-time enrolment code (valid for ttl) with which they pair a phone
// and set a new password. by is who resets: the code records them as
// its maker, and an API key may not (ErrForbidden).
func (s *Store) ResetCredentials(name string, by Principal, ttl time.Duration) (string, Enrolment, error) {
	name = canonName(name)
	if err := validTTL(ttl); err != nil {
		return "", Enrolment{}, err
	}
	if by.Kind == KindAPIKey {
		return "", Enrolment{}, fmt.Errorf("reset the sign-in of %q: %w: an API key cannot reset a sign-in, which answers a pairing code: sign in as the person", name, ErrForbidden)
	}
	hash, herr := s.hashOrUnusable("")
	if herr != nil {
		return "", Enrolment{}, herr
	}
	now := s.now()
	var (
		code string
		rec  enrolRec
	)
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		why := "sign-in reset by " + by.User
		if err := endCredentials(tx, u, "", false, why, emit); err != nil {
			return err
		}
		if u.TOTP != nil {
			emit(Event{Kind: EventTOTPDisabled, User: name, Detail: why})
		}
		u.TOTP, u.TOTPPending, u.TOTPStep, u.Recovery = nil, nil, 0, nil
		u.Hash, u.NoPassword = hash, true
		u.notify(NoticeReset, fmt.Sprintf("On %s %s reset your sign-in: your password, two-step sign-in, signed-in devices, API keys, pairing codes and share links were removed. Set a new password and turn two-step sign-in on again now. If you did not ask for this, talk to %s.",
			now.UTC().Format("2006-01-02 15:04 MST"), by.User, by.User), now)
		code, rec, err = s.putEnrolment(tx, u, ttl, by, EnrolReset)
		if err != nil {
			return err
		}
		emit(Event{Kind: EventCredentialsReset, User: name, CredentialID: rec.ID, Detail: why})
		return putUser(tx, u)
	})
	if err != nil {
		return "", Enrolment{}, fmt.Errorf("reset the sign-in of %q: %w", name, err)
	}
	return code, rec.public(), nil
}

// hashOrUnusable hashes pw, or, for "", a random password nobody knows:
// an account without a password then fails sign-in exactly as a wrong
// password does, at the same cost.
func (s *Store) hashOrUnusable(pw string) (string, error) {
	if pw == "" {
		pw = token.New(token.Session)
	}
	return password.Hash(pw, s.o.Params)
}

// Kinds of notice; a newer notice of a kind replaces the older.
const (
	NoticeReset           = "reset"
	NoticePasswordExposed = "password_exposed"
)

// Notice is something to tell a person at their next sign-in.
type Notice struct {
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// notify keeps a notice of kind for u's next sign-in (the caller saves
// u). One per kind: whoever can cause a notice cannot pile them up.
func (u *userRec) notify(kind, text string, now time.Time) {
	u.Notices = slices.DeleteFunc(u.Notices, func(n Notice) bool { return n.Kind == kind })
	u.Notices = append(u.Notices, Notice{Kind: kind, Time: now, Text: text})
}

// Notify keeps a notice of kind for name's next sign-in, replacing an
// earlier one of that kind.
func (s *Store) Notify(name, kind, text string) error {
	name = canonName(name)
	return s.update(func(tx *bbolt.Tx, _ func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		u.notify(kind, text, s.now())
		return putUser(tx, u)
	})
}

// TakeNotices returns name's notices, oldest first, and forgets them:
// the gateway shows them once, in the answer to a sign-in.
func (s *Store) TakeNotices(name string) ([]Notice, error) {
	name = canonName(name)
	var out []Notice
	err := s.update(func(tx *bbolt.Tx, _ func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil || len(u.Notices) == 0 {
			return err
		}
		out, u.Notices = u.Notices, nil
		return putUser(tx, u)
	})
	return out, err
}
