package share

import (
	"cmp"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/token"
)

// Kind is what a link shares.
type Kind string

// The kinds of link.
const (
	File     Kind = "file"     // one file
	Folder   Kind = "folder"   // a folder and everything under it
	Snapshot Kind = "snapshot" // a whole snapshot
)

// Target is what a link points at.
type Target struct {
	Snapshot string `json:"snapshot"` // snapshot ID
	Path     string `json:"path"`     // within the snapshot, "/"-rooted and clean; "/" for a whole snapshot
	Kind     Kind   `json:"kind"`
}

// Share is a link as its owner and the gateway see it. It holds no
// secret: not the token, not the password.
type Share struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"`
	Space       string    `json:"space"`
	Target      Target    `json:"target"`
	Password    bool      `json:"password"` // a password is needed
	Download    bool      `json:"download"` // false: previews only
	MaxUses     int       `json:"max_uses"` // 0: no limit
	Uses        int       `json:"uses"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Revoked     bool      `json:"revoked"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	LockedUntil time.Time `json:"locked_until,omitzero"` // after too many wrong passwords
}

// Access is one successful Open of a link.
type Access struct {
	Time time.Time `json:"time"`
	IP   string    `json:"ip"`
	What string    `json:"what"` // what was opened, as the gateway describes it
}

// record is a link as stored.
type record struct {
	Share
	TokenHash    string `json:"token_hash"`
	PasswordHash string `json:"password_hash,omitempty"` // PHC string
	Failures     int    `json:"failures,omitempty"`      // wrong passwords in a row
}

// Expiry limits.
const (
	DefaultTTL = 30 * 24 * time.Hour
	MaxTTL     = 365 * 24 * time.Hour
)

const (
	maxAccess   = 1000 // access log entries kept per link
	maxWhat     = 512  // bytes of Access.What kept
	maxPassword = 1024 // bytes
)

var (
	linksBucket  = []byte("share.links")
	tokensBucket = []byte("share.tokens")
	accessBucket = []byte("share.access")
)

// Options configure a Store. Zero fields take the defaults.
type Options struct {
	Now         func() time.Time // time.Now
	Params      password.Params  // password.Default
	MaxAttempts int              // wrong passwords before a lock: 5
	LockFor     time.Duration    // 15 minutes
}

// Store keeps share links in a bbolt database. It is safe for
// concurrent use.
type Store struct {
	db          *bbolt.DB
	now         func() time.Time
	params      password.Params
	maxAttempts int
	lockFor     time.Duration
	stripes     [64]sync.Mutex
}

// NewStore returns a Store keeping its links in db, creating its buckets
// if needed. The caller keeps ownership of db.
func NewStore(db *bbolt.DB, o Options) (*Store, error) {
	s := &Store{db: db, now: o.Now, params: o.Params, maxAttempts: o.MaxAttempts, lockFor: o.LockFor}
	if s.now == nil {
		s.now = time.Now
	}
	if s.params == (password.Params{}) {
		s.params = password.Default
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = 5
	}
	if s.lockFor <= 0 {
		s.lockFor = 15 * time.Minute
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{linksBucket, tokensBucket, accessBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("share store: %w", err)
	}
	return s, nil
}

// CreateRequest is what an owner asks for.
type CreateRequest struct {
	Owner    string
	Space    string
	Target   Target
	Password string        // "" for none
	TTL      time.Duration // 0 for DefaultTTL; at most MaxTTL
	Download bool          // false: previews only
	MaxUses  int           // 0 for no limit
}

// Create makes a link and returns its token — the secret to put in the
// URL, which the store does not keep and cannot show again — and the
// link. A request that cannot be met is an error wrapping ErrInvalid.
func (s *Store) Create(req CreateRequest) (string, Share, error) {
	p, err := req.check()
	if err != nil {
		return "", Share{}, err
	}
	now := s.now().UTC()
	ttl := cmp.Or(req.TTL, DefaultTTL)
	r := record{
		Share: Share{
			Owner: req.Owner, Space: req.Space,
			Target:   Target{Snapshot: req.Target.Snapshot, Path: p, Kind: req.Target.Kind},
			Password: req.Password != "", Download: req.Download, MaxUses: req.MaxUses,
			Created: now, Expires: now.Add(ttl),
		},
	}
	if req.Password != "" {
		r.PasswordHash = password.Hash(req.Password, s.params)
	}
	tok := token.New(token.Share)
	r.TokenHash = token.Hash(tok)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		links := tx.Bucket(linksBucket)
		for {
			r.ID = newID()
			if links.Get([]byte(r.ID)) == nil {
				break
			}
		}
		if err := tx.Bucket(tokensBucket).Put([]byte(r.TokenHash), []byte(r.ID)); err != nil {
			return err
		}
		return put(tx, &r)
	})
	if err != nil {
		return "", Share{}, fmt.Errorf("create share link: %w", err)
	}
	return tok, r.Share, nil
}

// check validates req and returns the target's clean path.
func (req CreateRequest) check() (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	t := req.Target
	switch {
	case req.Owner == "":
		return bad("no owner")
	case t.Snapshot == "":
		return bad("no snapshot: choose the snapshot to share from")
	case t.Kind != File && t.Kind != Folder && t.Kind != Snapshot:
		return bad("kind %q: a link shares a file, a folder or a snapshot", t.Kind)
	case strings.ContainsRune(t.Path, 0):
		return bad("the path contains a NUL byte")
	case slices.Contains(strings.Split(t.Path, "/"), ".."):
		return bad("path %q leaves the snapshot: remove the \"..\"", t.Path)
	case req.TTL < 0:
		return bad("the expiry is in the past")
	case req.TTL > MaxTTL:
		return bad("a link can last at most one year: choose an earlier expiry")
	case req.MaxUses < 0:
		return bad("the maximum number of uses is negative: use 0 for no limit")
	case len(req.Password) > maxPassword:
		return bad("the password is longer than %d bytes", maxPassword)
	}
	p := path.Clean("/" + t.Path)
	switch {
	case t.Kind == Snapshot && p != "/":
		return bad("a snapshot link shares the whole snapshot: leave the path empty, or share a folder")
	case t.Kind == File && p == "/":
		return bad("no file: give the file's path within the snapshot")
	}
	return p, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a public link ID: 40 random bits, 8 characters.
func newID() string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("share: no randomness: " + err.Error())
	}
	return idEncoding.EncodeToString(b[:])
}

// Open lets the holder of a token in: it checks the token, the link's
// state and the password (see "Opening a link" in the package
// documentation), then counts a use and logs the access by ip to what.
// It returns the link, whose Target and Download say what the holder may
// see.
func (s *Store) Open(tok, pw, ip, what string) (Share, error) {
	if token.Parse(token.Share, tok) != nil {
		return Share{}, ErrNotFound // no lookup for a mistyped link
	}
	th := []byte(token.Hash(tok))
	var id string
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(tokensBucket).Get(th)
		if v == nil {
			return ErrNotFound
		}
		id = string(v)
		return nil
	})
	if err != nil {
		return Share{}, s.wrap(err)
	}

	// From here on, attempts on this link run one at a time: each sees
	// the failures before it, so parallel guesses cannot pass the limit.
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()

	var r record
	if err := s.db.View(func(tx *bbolt.Tx) error {
		r, err = load(tx, id)
		return err
	}); err != nil {
		return Share{}, s.wrap(err)
	}
	now := s.now().UTC()
	if err := r.usable(now); err != nil {
		return Share{}, err
	}
	if now.Before(r.LockedUntil) {
		return Share{}, lockedError(r, now)
	}
	var perr error // the password's verdict
	var phc string // a stronger hash of it, when due
	if r.PasswordHash != "" {
		if pw == "" {
			return Share{}, ErrPasswordRequired
		}
		// Outside any transaction: argon2 takes tens of milliseconds
		// and bbolt has one writer.
		var rehash bool
		rehash, perr = password.Check(pw, r.PasswordHash, s.params)
		if perr != nil && !errors.Is(perr, password.ErrMismatch) {
			return Share{}, fmt.Errorf("share link %s: check password: %w", id, perr)
		}
		if perr == nil && rehash {
			phc = password.Hash(pw, s.params)
		}
	}

	var result error // returned after the transaction commits
	now = s.now().UTC()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		if r, err = load(tx, id); err != nil {
			return err
		}
		if perr != nil {
			r.Failures++
			result = ErrWrongPassword
			if r.Failures >= s.maxAttempts {
				r.LockedUntil, r.Failures = now.Add(s.lockFor), 0
				result = lockedError(r, now)
			}
			return put(tx, &r)
		}
		if err := r.usable(now); err != nil { // revoked meanwhile
			return err
		}
		r.Failures = 0
		if phc != "" {
			r.PasswordHash = phc
		}
		return s.use(tx, &r, now, ip, what)
	})
	switch {
	case err != nil:
		return Share{}, s.wrap(err)
	case result != nil:
		return Share{}, result
	}
	return r.Share, nil
}

// stripe returns the mutex that serializes Opens of link id.
func (s *Store) stripe(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &s.stripes[h.Sum32()%uint32(len(s.stripes))]
}

// wrap adds context to database errors and leaves the package's own
// errors as they are: they are shown to the link's holder.
func (s *Store) wrap(err error) error {
	for _, e := range []error{ErrNotFound, ErrExpired, ErrRevoked, ErrUsedUp} {
		if err == e {
			return err
		}
	}
	return fmt.Errorf("open share link: %w", err)
}

// usable reports why r cannot be opened at now, if it cannot.
func (r *record) usable(now time.Time) error {
	switch {
	case r.Revoked:
		return ErrRevoked
	case !now.Before(r.Expires):
		return ErrExpired
	case r.MaxUses > 0 && r.Uses >= r.MaxUses:
		return ErrUsedUp
	}
	return nil
}

func lockedError(r record, now time.Time) error {
	return &LockedError{Until: r.LockedUntil, Wait: r.LockedUntil.Sub(now)}
}

// use counts a use of r and logs it.
func (s *Store) use(tx *bbolt.Tx, r *record, now time.Time, ip, what string) error {
	r.Uses++
	if err := put(tx, r); err != nil {
		return err
	}
	b, err := tx.Bucket(accessBucket).CreateBucketIfNotExists([]byte(r.ID))
	if err != nil {
		return err
	}
	if len(what) > maxWhat {
		what = strings.ToValidUTF8(what[:maxWhat], "") + "…"
	}
	v, err := json.Marshal(Access{Time: now, IP: ip, What: what})
	if err != nil {
		return err
	}
	if err := b.Put(u64(r.Uses), v); err != nil {
		return err
	}
	if r.Uses > maxAccess {
		return b.Delete(u64(r.Uses - maxAccess))
	}
	return nil
}

func u64(n int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func load(tx *bbolt.Tx, id string) (record, error) {
	v := tx.Bucket(linksBucket).Get([]byte(id))
	if v == nil {
		return record{}, ErrNotFound
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return record{}, fmt.Errorf("share link %s: damaged record: %w", id, err)
	}
	return r, nil
}

func put(tx *bbolt.Tx, r *record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(linksBucket).Put([]byte(r.ID), v)
}

// Get returns the link with public ID id, or ErrNotFound.
func (s *Store) Get(id string) (Share, error) {
	var r record
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		r, err = load(tx, id)
		return err
	})
	return r.Share, err
}

// List returns owner's links, newest first, revoked and expired ones
// included.
func (s *Store) List(owner string) ([]Share, error) {
	return s.list(func(r *record) bool { return r.Owner == owner })
}

// ListAll returns every owner's links, newest first.
func (s *Store) ListAll() ([]Share, error) {
	return s.list(func(*record) bool { return true })
}

func (s *Store) list(keep func(*record) bool) ([]Share, error) {
	var out []Share
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(linksBucket).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("share link %s: damaged record: %w", k, err)
			}
			if keep(&r) {
				out = append(out, r.Share)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list share links: %w", err)
	}
	slices.SortFunc(out, func(a, b Share) int {
		return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Revoke turns off owner's link id for good. Revoking a revoked link is
// not an error; another owner's link is ErrNotFound.
func (s *Store) Revoke(owner, id string) error {
	now := s.now().UTC()
	return s.db.Update(func(tx *bbolt.Tx) error {
		r, err := load(tx, id)
		if err != nil {
			return err
		}
		if r.Owner != owner {
			return ErrNotFound
		}
		if r.Revoked {
			return nil
		}
		r.Revoked, r.RevokedAt = true, now
		return put(tx, &r)
	})
}

// RevokeAll turns off all of owner's links (when a phone is lost, or a
// user leaves) and returns how many were still on.
func (s *Store) RevokeAll(owner string) (int, error) {
	now := s.now().UTC()
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var on []record
		err := tx.Bucket(linksBucket).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("share link %s: damaged record: %w", k, err)
			}
			if r.Owner == owner && !r.Revoked {
				on = append(on, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range on {
			on[i].Revoked, on[i].RevokedAt = true, now
			if err := put(tx, &on[i]); err != nil {
				return err
			}
		}
		n = len(on)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("revoke %s's share links: %w", owner, err)
	}
	return n, nil
}

// AccessLog returns the latest uses of link id, newest first (the store
// keeps 1000 per link).
func (s *Store) AccessLog(id string) ([]Access, error) {
	var out []Access
	err := s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(linksBucket).Get([]byte(id)) == nil {
			return ErrNotFound
		}
		b := tx.Bucket(accessBucket).Bucket([]byte(id))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var a Access
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("share link %s: damaged access record: %w", id, err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// RevokeToken turns off the link whose token is tok, whoever owns it,
// and returns its ID: for a token that was seen in the clear (sent over
// plain HTTP).
func (s *Store) RevokeToken(tok string) (string, error) {
	if token.Parse(token.Share, tok) != nil {
		return "", ErrNotFound
	}
	now := s.now().UTC()
	var id string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		v := tx.Bucket(tokensBucket).Get([]byte(token.Hash(tok)))
		if v == nil {
			return ErrNotFound
		}
		id = string(v)
		r, err := load(tx, id)
		if err != nil {
			return err
		}
		if r.Revoked {
			return nil
		}
		r.Revoked, r.RevokedAt = true, now
		return put(tx, &r)
	})
	return id, err
}
