package auth

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/time/rate"

	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/throttle"
)

// Bucket names. The package owns every bucket starting with "auth.".
var (
	bucketUsers    = []byte("auth.users")
	bucketSessions = []byte("auth.sessions")
	bucketAPIKeys  = []byte("auth.apikeys")
)

// Options configure a Store. Only BoxKey is required; zero values take
// the defaults given.
type Options struct {
	// BoxKey is 32 secret bytes from outside the database (the box's key
	// file). TOTP secrets are sealed and recovery codes MACed under keys
	// derived from it; losing it disables every authenticator.
	BoxKey []byte

	// Now is the clock; time.Now by default.
	Now func() time.Time

	// Params is the argon2id cost of new password hashes;
	// password.Default by default. Tests use tiny values.
	Params password.Params

	// Issuer is the name shown in authenticator apps; "Shoebox" by default.
	Issuer string

	// SessionIdle ends a session unused for this long (30 days);
	// SessionMax ends any session this long after sign-in (180 days).
	SessionIdle, SessionMax time.Duration

	// LoginRate and LoginBurst limit sign-in attempts per address (an
	// IPv6 address per /64): one every 6 s after a burst of 10.
	LoginRate  rate.Limit
	LoginBurst int

	// After BackoffFree (5) failed proofs in a row from one address on
	// one account, that address waits BackoffBase (1 s) before its next
	// try on that account, twice as long after each further failure, up
	// to BackoffMax (15 min). Nobody else is held up: no account locks.
	BackoffFree             int
	BackoffBase, BackoffMax time.Duration

	// Logger takes the store's notes (grants migrated when it opens);
	// slog.Default() by default.
	Logger *slog.Logger

	// OnEvent, if set, receives every security event after it is
	// committed, synchronously, on the goroutine that caused it. It must
	// not block for long; it may call the Store.
	OnEvent func(Event)
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Params == (password.Params{}) {
		o.Params = password.Default
	}
	if o.Issuer == "" {
		o.Issuer = "Shoebox"
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 30 * 24 * time.Hour
	}
	if o.SessionMax <= 0 {
		o.SessionMax = 180 * 24 * time.Hour
	}
	if o.LoginRate <= 0 {
		o.LoginRate = rate.Every(6 * time.Second)
	}
	if o.LoginBurst <= 0 {
		o.LoginBurst = 10
	}
	if o.BackoffFree <= 0 {
		o.BackoffFree = 5
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 15 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Sizes of the in-memory brakes: addresses and (address, account) pairs
// tracked. Past them, entries that hold nothing back are dropped first.
const (
	maxTrackedIPs   = 4096
	maxTrackedPairs = 16384
)

// Store holds the accounts and credentials. It is safe for concurrent
// use.
type Store struct {
	db     *bbolt.DB
	o      Options
	aead   cipher.AEAD // seals TOTP secrets
	recKey []byte      // MACs recovery codes

	ips   *throttle.Limiter // attempts per address
	pairs *throttle.Backoff // failures per (address, account)
}

// New returns a Store keeping its data in db, creating its buckets if
// needed. The caller keeps ownership of db and closes it after use.
func New(db *bbolt.DB, opts Options) (*Store, error) {
	if len(opts.BoxKey) != 32 {
		return nil, fmt.Errorf("auth: box key is %d bytes, want 32: %w", len(opts.BoxKey), ErrInvalid)
	}
	opts.setDefaults()
	totpKey, err := hkdf.Key(sha256.New, opts.BoxKey, nil, "shoebox auth totp secret v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	recKey, err := hkdf.Key(sha256.New, opts.BoxKey, nil, "shoebox auth recovery code v1", 32)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(totpKey)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, o: opts, aead: aead, recKey: recKey,
		ips:   throttle.NewLimiter(opts.LoginRate, opts.LoginBurst, maxTrackedIPs),
		pairs: throttle.NewBackoff(opts.BackoffFree, opts.BackoffBase, opts.BackoffMax, maxTrackedPairs)}
	var migrated []Event
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketSessions, bucketAPIKeys, bucketEnrol} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		var err error
		if migrated, err = migrateGrants(tx); err != nil {
			return err
		}
		if err := giveIDs(tx); err != nil {
			return err
		}
		return bindCredentials(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("auth: open: %w", err)
	}
	if len(migrated) > 0 {
		opts.Logger.Warn("grants made before permissions were split now allow reading only; give back write, share or restore with `shoebox user grant NAME SPACE read,write,share,restore`",
			"accounts", len(migrated))
	}
	for _, e := range migrated {
		s.emit(e)
	}
	return s, nil
}

func (s *Store) now() time.Time { return s.o.Now() }

// userRec is a user as stored.
type userRec struct {
	// ID is the account's immutable identity ("u" + 16 hex), made when
	// the account is and never reused: state that belongs to a person
	// (links, uploads, enrolment codes) is tied to it, not to the name,
	// which a later account may take.
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Role    Role              `json:"role"`
	Hash    string            `json:"hash"` // argon2id PHC string
	Created time.Time         `json:"created"`
	Grants  map[string]Access `json:"grants,omitempty"` // space → permissions

	// Fresh: nobody has signed in to the account yet, so an admin may
	// give it an enrolment code. NoPassword: it was made (or reset)
	// without one; Hash then holds a random password nobody knows.
	Fresh      bool     `json:"fresh,omitempty"`
	NoPassword bool     `json:"no_password,omitempty"`
	Notices    []Notice `json:"notices,omitempty"` // for the next sign-in

	TOTP        []byte   `json:"totp,omitempty"`         // sealed secret, when on
	TOTPPending []byte   `json:"totp_pending,omitempty"` // sealed secret, during set-up
	TOTPStep    int64    `json:"totp_step,omitempty"`    // last step accepted
	Recovery    []string `json:"recovery,omitempty"`     // MACs of unused recovery codes
}

func getJSON(b *bbolt.Bucket, key string, v any) error {
	data := b.Get([]byte(key))
	if data == nil {
		return ErrNotFound
	}
	return decode(data, v)
}

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode stored auth record (the database is damaged; restore it from the config backup): %w", err)
	}
	return nil
}

func putJSON(b *bbolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

func getUser(tx *bbolt.Tx, name string) (*userRec, error) {
	var u userRec
	if err := getJSON(tx.Bucket(bucketUsers), name, &u); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("user %q: %w: list users to see the names", name, ErrNotFound)
		}
		return nil, err
	}
	return &u, nil
}

func putUser(tx *bbolt.Tx, u *userRec) error {
	return putJSON(tx.Bucket(bucketUsers), u.Name, u)
}

// userByID returns the account whose ID is id.
func userByID(tx *bbolt.Tx, id string) (*userRec, error) {
	var found *userRec
	err := tx.Bucket(bucketUsers).ForEach(func(k, _ []byte) error {
		u, err := getUser(tx, string(k))
		if err == nil && id != "" && u.ID == id {
			found = u
		}
		return err
	})
	if err == nil && found == nil {
		err = fmt.Errorf("account %q: %w", id, ErrNotFound)
	}
	return found, err
}

func (s *Store) loadUser(name string) (*userRec, error) {
	var u *userRec
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		u, err = getUser(tx, name)
		return err
	})
	return u, err
}

// update runs fn in a write transaction and, once it has committed, sends
// the events fn collected.
func (s *Store) update(fn func(tx *bbolt.Tx, emit func(Event)) error) error {
	var evs []Event
	emit := func(e Event) { evs = append(evs, e) }
	if err := s.db.Update(func(tx *bbolt.Tx) error { return fn(tx, emit) }); err != nil {
		return err
	}
	for _, e := range evs {
		s.emit(e)
	}
	return nil
}

func (s *Store) emit(e Event) {
	if s.o.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	s.o.OnEvent(e)
}

// newUserID returns a new account ID.
func newUserID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return "u" + hex.EncodeToString(b[:])
}

// giveIDs gives an ID to every account made before accounts had one.
func giveIDs(tx *bbolt.Tx) error {
	b := tx.Bucket(bucketUsers)
	var missing []*userRec
	err := b.ForEach(func(k, _ []byte) error {
		u, err := getUser(tx, string(k))
		if err == nil && u.ID == "" {
			missing = append(missing, u)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, u := range missing {
		u.ID = newUserID()
		if err := putUser(tx, u); err != nil {
			return err
		}
	}
	return nil
}

// newID returns a short public ID for a session or API key.
func newID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
