package auth

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/token"
)

// Session describes a signed-in device (no token).
type Session struct {
	ID       string // public ID, for listing and revoking
	User     string
	Device   string
	IP       string // last seen from
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time // the earlier of the idle and absolute limits
}

type sessionRec struct {
	ID       string    `json:"id"`
	User     string    `json:"user"`
	Device   string    `json:"device,omitempty"`
	IP       string    `json:"ip,omitempty"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
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
		Created: r.Created, LastSeen: r.LastSeen, Expires: r.expires(idle, maxAge)}
}

// touchEvery is how stale last-seen may get before Authenticate writes
// it: one write a minute per credential rather than one per request.
const touchEvery = time.Minute

// Authenticate resolves a bearer token (session token or API key) to a
// Principal. ip is the client's address, recorded as the session's last
// address. A malformed token is refused before any lookup; an unknown,
// expired or revoked one, or one whose user is gone, gives an error
// matching ErrUnauthenticated.
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
		role  Role
		uid   string
		stale bool // needs a write: expired, or last-seen/IP to update
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := getJSON(tx.Bucket(bucketSessions), key, &rec); err != nil {
			return err
		}
		if !now.Before(rec.expires(s.o.SessionIdle, s.o.SessionMax)) {
			stale = true
			return nil
		}
		u, err := getUser(tx, rec.User)
		if err != nil {
			return err
		}
		role, uid = u.Role, u.ID
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
	return Principal{User: rec.User, UserID: uid, Role: role, CredentialID: rec.ID, Kind: KindSession}, nil
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
		if _, err := getUser(tx, name); err != nil {
			return err
		}
		return forEachSession(tx, func(_ []byte, r *sessionRec) error {
			if r.User == name && now.Before(r.expires(s.o.SessionIdle, s.o.SessionMax)) {
				out = append(out, r.public(s.o.SessionIdle, s.o.SessionMax))
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, err
}

// RevokeSession ends name's session with public ID id.
func (s *Store) RevokeSession(name, id string) error {
	name = canonName(name)
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		var key []byte
		err := forEachSession(tx, func(k []byte, r *sessionRec) error {
			if r.User == name && r.ID == id {
				key = append([]byte(nil), k...)
				emit(Event{Kind: EventSessionRevoked, User: name, IP: r.IP, Device: r.Device, CredentialID: r.ID})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if key == nil {
			return fmt.Errorf("session %q of %q: %w: list the sessions to see their IDs", id, name, ErrNotFound)
		}
		return tx.Bucket(bucketSessions).Delete(key)
	})
}

// RevokeCredential ends the session or API key whose token is bearer,
// whatever its state, and reports a credential_exposed event. The gateway
// calls it when a credential arrives over plain HTTP. It returns
// ErrNotFound when no credential has that token.
func (s *Store) RevokeCredential(bearer string) error {
	var bucket []byte
	switch token.KindOf(bearer) {
	case token.Session:
		bucket = bucketSessions
	case token.APIKey:
		bucket = bucketAPIKeys
	default:
		return fmt.Errorf("revoke credential: not a session token or API key: %w", ErrNotFound)
	}
	key := token.Hash(bearer)
	return s.update(func(tx *bbolt.Tx, emit func(Event)) error {
		b := tx.Bucket(bucket)
		var rec struct {
			ID   string `json:"id"`
			User string `json:"user"`
		}
		if err := getJSON(b, key, &rec); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("revoke credential %s: %w", token.Redact(bearer), ErrNotFound)
			}
			return err
		}
		emit(Event{Kind: EventCredentialExposed, User: rec.User, CredentialID: rec.ID,
			Detail: string(kindOfBucket(bucket)) + " sent without TLS; revoked"})
		return b.Delete([]byte(key))
	})
}

func kindOfBucket(b []byte) CredentialKind {
	if string(b) == string(bucketAPIKeys) {
		return KindAPIKey
	}
	return KindSession
}

func forEachSession(tx *bbolt.Tx, fn func(k []byte, r *sessionRec) error) error {
	return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
		var r sessionRec
		if err := decode(v, &r); err != nil {
			return err
		}
		return fn(k, &r)
	})
}

// deleteSessions ends name's sessions except the one with public ID keep.
func deleteSessions(tx *bbolt.Tx, name, keep string, emit func(Event)) error {
	var keys [][]byte
	err := forEachSession(tx, func(k []byte, r *sessionRec) error {
		if r.User == name && (keep == "" || r.ID != keep) {
			keys = append(keys, k)
			emit(Event{Kind: EventSessionRevoked, User: name, IP: r.IP, Device: r.Device, CredentialID: r.ID, Detail: "password changed"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return deleteKeys(tx.Bucket(bucketSessions), keys)
}

// pruneSessions deletes every expired session.
func pruneSessions(tx *bbolt.Tx, now time.Time, idle, maxAge time.Duration) error {
	var keys [][]byte
	err := forEachSession(tx, func(k []byte, r *sessionRec) error {
		if !now.Before(r.expires(idle, maxAge)) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return deleteKeys(tx.Bucket(bucketSessions), keys)
}

// deleteCredentials deletes all of name's sessions and API keys.
func deleteCredentials(tx *bbolt.Tx, name string) error {
	for _, bn := range [][]byte{bucketSessions, bucketAPIKeys} {
		b := tx.Bucket(bn)
		var keys [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var r struct {
				User string `json:"user"`
			}
			if err := decode(v, &r); err != nil {
				return err
			}
			if r.User == name {
				keys = append(keys, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := deleteKeys(b, keys); err != nil {
			return err
		}
	}
	return nil
}

// deleteKeys deletes keys collected during a ForEach (bbolt forbids
// changing a bucket while iterating it). The keys are copied first: they
// point into the memory map, which a delete may remap.
func deleteKeys(b *bbolt.Bucket, keys [][]byte) error {
	owned := make([][]byte, len(keys))
	for i, k := range keys {
		owned[i] = append([]byte(nil), k...)
	}
	for _, k := range owned {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
