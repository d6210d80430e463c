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

// APIKey describes an API key (no token).
type APIKey struct {
	ID       string // public ID, for listing and revoking
	User     string
	Name     string
	Scopes   []Action
	Created  time.Time
	Expires  time.Time // zero: never
	LastUsed time.Time // zero: never used
	MadeBy   Maker     // the session that made it
}

type apiKeyRec struct {
	ID       string    `json:"id"`
	User     string    `json:"user"`
	UserID   string    `json:"uid,omitempty"` // the account's ID, as for sessions
	Name     string    `json:"name"`
	Scopes   []Action  `json:"scopes"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
	// SecondFactor: made by a session that proved the second factor.
	SecondFactor bool `json:"second_factor,omitempty"`
	// MadeBy is the session that made the key: the key ends when that
	// session is revoked (not when it signs out or expires).
	MadeBy Maker `json:"made_by,omitzero"`
}

func (r *apiKeyRec) public() APIKey {
	return APIKey{ID: r.ID, User: r.User, Name: r.Name, Scopes: slices.Clone(r.Scopes),
		Created: r.Created, Expires: r.Expires, LastUsed: r.LastUsed, MadeBy: r.MadeBy}
}

func (r *apiKeyRec) expired(now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}

// CreateAPIKey makes an API key for name, limited to scopes, which must
// be actions name's role can be allowed (see the package documentation);
// its grants are checked when the key is used. expires is when the key
// stops working; zero means never. session is the public ID of name's
// session asking for it: a person with two-step sign-in gets a key only
// from a session that proved it (ErrSecondFactor otherwise), and the key
// counts as having proved it too. The key records session as its maker:
// when that session is revoked, the key ends (see RevokeSession). The
// token is returned once; only its hash is kept.
func (s *Store) CreateAPIKey(name, session, keyName string, scopes []Action, expires time.Time) (string, APIKey, error) {
	name = canonName(name)
	keyName = clean(keyName)
	now := s.now()
	if keyName == "" {
		return "", APIKey{}, fmt.Errorf("API key name: %w: give the key a name that says what uses it", ErrInvalid)
	}
	if len(scopes) == 0 {
		return "", APIKey{}, fmt.Errorf("API key %q: %w: give it at least one scope, e.g. %s", keyName, ErrInvalid, StatusRead)
	}
	if !expires.IsZero() && !expires.After(now) {
		return "", APIKey{}, fmt.Errorf("API key %q: %w: its expiry %s is in the past", keyName, ErrInvalid, expires.UTC().Format(time.RFC3339))
	}
	sc := slices.Clone(scopes)
	slices.Sort(sc)
	sc = slices.Compact(sc)
	for _, a := range sc {
		if !a.Valid() {
			return "", APIKey{}, fmt.Errorf("API key %q: scope %q: %w: use one of the actions in the API documentation", keyName, a, ErrInvalid)
		}
	}
	var (
		tok string
		rec apiKeyRec
	)
	err := s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		for _, a := range sc {
			if !canEver(u.Role, a) {
				return fmt.Errorf("API key %q: a %s may not do %s: %w", keyName, u.Role, a, ErrForbidden)
			}
		}
		proved := false
		if session != "" {
			_, sess, err := findSession(tx, u, session)
			if err != nil {
				return err
			}
			proved = secondFactor(sess.Factors)
		}
		if u.TOTP != nil && !proved {
			return fmt.Errorf("API key %q: %w", keyName, ErrSecondFactor)
		}
		tok = token.New(token.APIKey)
		rec = apiKeyRec{ID: newID(), User: name, UserID: u.ID, Name: keyName, Scopes: sc, Created: now, Expires: expires, SecondFactor: proved}
		if session != "" {
			rec.MadeBy = Maker{Kind: KindSession, ID: session}
		}
		emit(Event{Kind: EventAPIKeyCreated, User: name, CredentialID: rec.ID, Detail: fmt.Sprintf("%q scopes %v", keyName, sc)})
		return putJSON(tx.Bucket(bucketAPIKeys), token.Hash(tok), &rec)
	})
	if err != nil {
		return "", APIKey{}, err
	}
	return tok, rec.public(), nil
}

// ListAPIKeys returns name's API keys, expired ones included, newest
// first.
func (s *Store) ListAPIKeys(name string) ([]APIKey, error) {
	name = canonName(name)
	var out []APIKey
	err := s.db.View(func(tx *bbolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		return forEach(tx, bucketAPIKeys, func(_ []byte, r *apiKeyRec) error {
			if r.UserID == u.ID {
				out = append(out, r.public())
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// RevokeAPIKey deletes name's API key with public ID id, and what it
// made (endMadeBy).
func (s *Store) RevokeAPIKey(name, id string) error {
	name = canonName(name)
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		n, err := deleteWhere(tx, bucketAPIKeys, func(r *apiKeyRec) bool { return r.UserID == u.ID && r.ID == id },
			func(r *apiKeyRec) {
				emit(Event{Kind: EventAPIKeyRevoked, User: name, CredentialID: id, Detail: fmt.Sprintf("%q", r.Name)})
			})
		if err == nil && n == 0 {
			err = fmt.Errorf("API key %q of %q: %w: list the API keys to see their IDs", id, name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return endMadeBy(tx, []made{{Maker{KindAPIKey, id}, name}}, nil, "revoked", emit)
	})
}

func (s *Store) authAPIKey(tok string) (Principal, error) {
	now := s.now()
	key := token.Hash(tok)
	var (
		rec apiKeyRec
		u   *userRec
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketAPIKeys), key, &rec); err != nil {
			return err
		}
		var err error
		u, err = ownerOf(tx, rec.User, rec.UserID)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Principal{}, fmt.Errorf("unknown or revoked API key: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, err
	}
	if rec.expired(now) {
		return Principal{}, fmt.Errorf("API key %q expired on %s: make a new one: %w", rec.Name, rec.Expires.UTC().Format(time.RFC3339), ErrUnauthenticated)
	}
	if now.Sub(rec.LastUsed) >= touchEvery {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketAPIKeys)
			var cur apiKeyRec
			if err := getJSON(b, key, &cur); err != nil {
				return err
			}
			cur.LastUsed = now
			return putJSON(b, key, &cur)
		})
		if errors.Is(err, ErrNotFound) {
			return Principal{}, fmt.Errorf("API key revoked: %w", ErrUnauthenticated)
		}
		if err != nil {
			return Principal{}, err
		}
	}
	if rec.Scopes == nil {
		rec.Scopes = []Action{} // never nil: nil means "all rights"
	}
	return Principal{User: rec.User, UserID: u.ID, Role: u.Role, Scopes: rec.Scopes, CredentialID: rec.ID, Kind: KindAPIKey,
		TOTP: u.TOTP != nil, SecondFactor: rec.SecondFactor}, nil
}
