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
	"unicode/utf8"

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
	ID string `json:"id"`
	// OwnerID is the owning account's immutable ID (auth.User.ID), by
	// which everything is decided; Owner its name, for people to read.
	OwnerID string `json:"owner_id"`
	Owner   string `json:"owner"`
	// Credential is the session or API key the link was made with: when
	// it is revoked, so is the link (RevokeCredential).
	Credential  Credential `json:"credential,omitzero"`
	Space       string     `json:"space"`
	Target      Target     `json:"target"`
	Password    bool       `json:"password"` // a password is needed
	Download    bool       `json:"download"` // false: previews only
	MaxUses     int        `json:"max_uses"` // 0: no limit
	Uses        int        `json:"uses"`
	Created     time.Time  `json:"created"`
	Expires     time.Time  `json:"expires"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   time.Time  `json:"revoked_at,omitzero"`
	RevokedWhy  string     `json:"revoked_why,omitempty"`
	LockedUntil time.Time  `json:"locked_until,omitzero"` // after too many wrong passwords
	// Failures counts wrong passwords since the last right one; time
	// alone does not clear it.
	Failures int `json:"failures,omitempty"`
}

// Credential names the credential a link was made with: Kind is
// "session", "apikey" or "local" (the box's own token, which cannot be
// revoked); ID is the session's or key's public ID.
type Credential struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

// Access is one entry of a link's access log: a use (an Open that let
// the holder in), a wrong password, or a lock.
type Access struct {
	Time  time.Time `json:"time"`
	IP    string    `json:"ip"`
	What  string    `json:"what"`            // what was opened, as the gateway describes it, or what went wrong
	Event string    `json:"event,omitempty"` // EventUsed (also when empty: older entries), EventPasswordFailed, EventLocked
}

// The events of the access log.
const (
	EventUsed           = "used"
	EventPasswordFailed = "password_failed"
	EventLocked         = "locked"
)

// record is a link as stored.
type record struct {
	Share
	TokenHash    string `json:"token_hash"`
	PasswordHash string `json:"password_hash,omitempty"` // PHC string
}

// Expiry limits.
const (
	DefaultTTL = 30 * 24 * time.Hour
	MaxTTL     = 365 * 24 * time.Hour
)

// MinPassword is the fewest characters a link password may have.
const MinPassword = 8

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
	MaxAttempts int              // wrong passwords in a row that lock the link: 5
	LockFor     time.Duration    // the first lock: 15 minutes, doubling with each further wrong password
	MaxLock     time.Duration    // the longest lock: 24 hours
}

// Store keeps share links in a bbolt database. It is safe for
// concurrent use.
type Store struct {
	db          *bbolt.DB
	now         func() time.Time
	params      password.Params
	maxAttempts int
	lockFor     time.Duration
	maxLock     time.Duration
	stripes     [64]sync.Mutex
}

// NewStore returns a Store keeping its links in db, creating its buckets
// if needed. The caller keeps ownership of db.
func NewStore(db *bbolt.DB, o Options) (*Store, error) {
	s := &Store{db: db, now: o.Now, params: o.Params, maxAttempts: o.MaxAttempts, lockFor: o.LockFor, maxLock: o.MaxLock}
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
	if s.maxLock <= 0 {
		s.maxLock = 24 * time.Hour
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
	OwnerID    string // the account's immutable ID
	Owner      string // its name
	Credential Credential
	Space      string
	Target     Target
	Password   string        // "" for none
	TTL        time.Duration // 0 for DefaultTTL; at most MaxTTL
	Download   bool          // false: previews only
	MaxUses    int           // 0 for no limit
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
			OwnerID: req.OwnerID, Owner: req.Owner, Credential: req.Credential, Space: req.Space,
			Target:   Target{Snapshot: req.Target.Snapshot, Path: p, Kind: req.Target.Kind},
			Password: req.Password != "", Download: req.Download, MaxUses: req.MaxUses,
			Created: now, Expires: now.Add(ttl),
		},
	}
	if req.Password != "" {
		if r.PasswordHash, err = password.Hash(req.Password, s.params); err != nil {
			return "", Share{}, err
		}
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
	case req.OwnerID == "" || req.Owner == "":
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
	case req.Password != "" && utf8.RuneCountInString(req.Password) < MinPassword:
		return bad("the password has %d characters: use at least %d (a few words), or let the box generate one",
			utf8.RuneCountInString(req.Password), MinPassword)
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

// NewPassword returns a strong link password for people to type: 20
// characters (100 random bits) from an alphabet without look-alikes, in
// groups of four ("k3vq-…").
func NewPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789" // 32: no l, o, 0, 1
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("share: no randomness: " + err.Error())
	}
	var out strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			out.WriteByte('-')
		}
		out.WriteByte(alphabet[c%32])
	}
	return out.String()
}

// Open lets the holder of a token in: it checks the token, the link's
// state and the password (see "Opening a link" in the package
// documentation), then counts a use and logs the access by ip to what.
// It returns the link, whose Target and Download say what the holder may
// see. A wrong password is a *WrongPasswordError, a locked link a
// *LockedError; both are logged in the link's access log.
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
		return Share{}, lockedError(r, now, false)
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
			phc, _ = password.Hash(pw, s.params) // busy: the next visit rehashes
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
			return s.failed(tx, &r, now, ip, &result)
		}
		if err := r.usable(now); err != nil { // revoked meanwhile
			return err
		}
		r.Failures, r.LockedUntil = 0, time.Time{}
		if phc != "" {
			r.PasswordHash = phc
		}
		r.Uses++
		if err := put(tx, &r); err != nil {
			return err
		}
		return logAccess(tx, r.ID, Access{Time: now, IP: ip, What: what, Event: EventUsed})
	})
	switch {
	case err != nil:
		return Share{}, s.wrap(err)
	case result != nil:
		return Share{}, result
	}
	return r.Share, nil
}

// failed counts a wrong password against r, locks it from the
// MaxAttempts-th in a row on (LockFor, doubling with each further one, up
// to MaxLock), logs both, and sets *result to what Open returns.
func (s *Store) failed(tx *bbolt.Tx, r *record, now time.Time, ip string, result *error) error {
	r.Failures++
	*result = &WrongPasswordError{ID: r.ID, Failures: r.Failures}
	if err := logAccess(tx, r.ID, Access{Time: now, IP: ip, Event: EventPasswordFailed,
		What: fmt.Sprintf("wrong password (%d in a row)", r.Failures)}); err != nil {
		return err
	}
	if r.Failures >= s.maxAttempts {
		d := s.lockFor
		for i := s.maxAttempts; i < r.Failures && d < s.maxLock; i++ {
			d *= 2
		}
		r.LockedUntil = now.Add(min(d, s.maxLock))
		*result = lockedError(*r, now, true)
		if err := logAccess(tx, r.ID, Access{Time: now, IP: ip, Event: EventLocked,
			What: fmt.Sprintf("locked for %s after %d wrong passwords", min(d, s.maxLock), r.Failures)}); err != nil {
			return err
		}
	}
	return put(tx, r)
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

func lockedError(r record, now time.Time, fresh bool) error {
	return &LockedError{ID: r.ID, Until: r.LockedUntil, Wait: r.LockedUntil.Sub(now), Failures: r.Failures, New: fresh}
}

// logAccess appends a to link id's access log, keeping the latest
// maxAccess entries. Entries are numbered by the link's bucket sequence
// (older stores numbered them by use; the sequence starts past those).
func logAccess(tx *bbolt.Tx, id string, a Access) error {
	b, err := tx.Bucket(accessBucket).CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	if k, _ := b.Cursor().Last(); k != nil && binary.BigEndian.Uint64(k) > b.Sequence() {
		if err := b.SetSequence(binary.BigEndian.Uint64(k)); err != nil {
			return err
		}
	}
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	if len(a.What) > maxWhat {
		a.What = strings.ToValidUTF8(a.What[:maxWhat], "") + "…"
	}
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := b.Put(u64(n), v); err != nil {
		return err
	}
	if n > maxAccess {
		return b.Delete(u64(n - maxAccess))
	}
	return nil
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

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

// List returns the links of the account ownerID, newest first, revoked
// and expired ones included.
func (s *Store) List(ownerID string) ([]Share, error) {
	return s.list(func(r *record) bool { return r.OwnerID == ownerID })
}

// ListAll returns every owner's links, newest first.
func (s *Store) ListAll() ([]Share, error) {
	return s.list(func(*record) bool { return true })
}

func (s *Store) list(keep func(*record) bool) ([]Share, error) {
	var out []Share
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forEach(tx, func(r *record) error {
			if keep(r) {
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

// forEach calls fn with every stored link.
func forEach(tx *bbolt.Tx, fn func(*record) error) error {
	return tx.Bucket(linksBucket).ForEach(func(k, v []byte) error {
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("share link %s: damaged record: %w", k, err)
		}
		return fn(&r)
	})
}

// Revoke turns off link id of the account ownerID for good, saying why
// (shown to the owner). Revoking a revoked link is not an error; another
// owner's link is ErrNotFound.
func (s *Store) Revoke(ownerID, id, why string) error {
	now := s.now().UTC()
	return s.db.Update(func(tx *bbolt.Tx) error {
		r, err := load(tx, id)
		if err != nil {
			return err
		}
		if r.OwnerID != ownerID {
			return ErrNotFound
		}
		if r.Revoked {
			return nil
		}
		r.Revoked, r.RevokedAt, r.RevokedWhy = true, now, why
		return put(tx, &r)
	})
}

// RevokeAll turns off all of the account ownerID's links (when a phone is
// lost, or a person leaves) and returns how many were still on.
func (s *Store) RevokeAll(ownerID, why string) (int, error) {
	ids, err := s.revokeWhere(why, func(r *record) bool { return r.OwnerID == ownerID })
	if err != nil {
		return 0, fmt.Errorf("revoke the share links of account %s: %w", ownerID, err)
	}
	return len(ids), nil
}

// RevokeCredential turns off the links made with the credential of kind
// and public ID id (kind "" matches any kind), when that credential has
// been revoked, and returns their IDs.
func (s *Store) RevokeCredential(kind, id, why string) ([]string, error) {
	if id == "" {
		return nil, nil
	}
	ids, err := s.revokeWhere(why, func(r *record) bool {
		return r.Credential.ID == id && (kind == "" || r.Credential.Kind == kind)
	})
	if err != nil {
		return nil, fmt.Errorf("revoke the share links made with %s %s: %w", cmp.Or(kind, "credential"), id, err)
	}
	return ids, nil
}

// RevokeOwnedExcept turns off the links of the account ownerID but those
// made with a credential live reports as alive, and returns their IDs:
// when a person changes how they sign in, what was shared with a
// credential that has ended (a thief's session that signed out) ends.
func (s *Store) RevokeOwnedExcept(ownerID string, live func(Credential) bool, why string) ([]string, error) {
	ids, err := s.revokeWhere(why, func(r *record) bool { return r.OwnerID == ownerID && !live(r.Credential) })
	if err != nil {
		return nil, fmt.Errorf("revoke the share links of account %s: %w", ownerID, err)
	}
	return ids, nil
}

// RevokeOrphans turns off the links whose owner is no longer an account
// (live reports whether an account ID exists) and returns their IDs.
func (s *Store) RevokeOrphans(live func(ownerID string) bool, why string) ([]string, error) {
	ids, err := s.revokeWhere(why, func(r *record) bool { return !live(r.OwnerID) })
	if err != nil {
		return nil, fmt.Errorf("revoke the share links of deleted accounts: %w", err)
	}
	return ids, nil
}

// revokeWhere turns off every link still on that match selects, in one
// transaction, and returns their IDs.
func (s *Store) revokeWhere(why string, match func(*record) bool) ([]string, error) {
	now := s.now().UTC()
	var ids []string
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var on []record
		err := forEach(tx, func(r *record) error {
			if !r.Revoked && match(r) {
				on = append(on, *r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range on {
			on[i].Revoked, on[i].RevokedAt, on[i].RevokedWhy = true, now, why
			if err := put(tx, &on[i]); err != nil {
				return err
			}
			ids = append(ids, on[i].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// Account is what Migrate needs to know of an account.
type Account struct {
	ID      string
	Created time.Time
}

// Migrate gives links stored before owner IDs existed the ID of their
// owner's account (resolve looks an account up by name). A link whose
// owner no longer exists, or whose owner's name now belongs to an account
// made after the link (someone new took the name), is revoked. It returns
// how many links it changed.
func (s *Store) Migrate(resolve func(owner string) (Account, bool)) (int, error) {
	now := s.now().UTC()
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var old []record
		if err := forEach(tx, func(r *record) error {
			if r.OwnerID == "" {
				old = append(old, *r)
			}
			return nil
		}); err != nil {
			return err
		}
		for i := range old {
			r := &old[i]
			a, ok := resolve(r.Owner)
			switch {
			case ok && !a.Created.After(r.Created):
				r.OwnerID = a.ID
			default:
				// Keep it revoked under an ID no account has, so that no
				// one can manage it but owners and admins.
				r.OwnerID = "deleted:" + r.Owner
				if !r.Revoked {
					r.Revoked, r.RevokedAt, r.RevokedWhy = true, now, "its owner's account no longer exists"
				}
			}
			if err := put(tx, r); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("share links: give each its owner's account ID: %w", err)
	}
	return n, nil
}

// AccessLog returns the latest entries of link id's access log (uses,
// wrong passwords, locks), newest first (the store keeps 1000 per link).
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
	const why = "its link was sent over plain HTTP, where anyone on the network could read it"
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
		r.Revoked, r.RevokedAt, r.RevokedWhy = true, now, why
		return put(tx, &r)
	})
	return id, err
}
