package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Defaults for Options.
const (
	DefaultMaxFileSize  = 64 << 30 // 64 GiB: long 4K videos
	DefaultMaxChunkSize = 16 << 20
	DefaultSessionTTL   = 7 * 24 * time.Hour
	DefaultMaxOpen      = 100 // unfinished uploads per account
)

// MaxHaveBatch is the most hashes one Have call answers.
const MaxHaveBatch = 1000

// maxAttempts is how many checksum failures cancel a session.
const maxAttempts = 3

// Bucket names in the caller's database.
var (
	bSessions = []byte("upload.sessions")   // id → Session (JSON)
	bOpen     = []byte("upload.open.v2")    // owner 0 device 0 sha256 → id of the unfinished session
	bHave     = []byte("upload.have")       // HMAC(key, space 0 sha256) → Entry (JSON): files a space holds
	bHistory  = []byte("upload.history.v2") // owner 0 device 0 completed-ns(8, big endian) sha256 → Entry (JSON)
)

// Buckets of earlier versions, keyed by user name and box-wide hash:
// New moves what can be attributed safely into the buckets above and
// drops the rest (see "Migration" in the package documentation).
var (
	bOldOpen     = []byte("upload.open")
	bOldReceived = []byte("upload.received")
	bOldHistory  = []byte("upload.history")
)

// Options tune a Store. The zero value gives the defaults.
type Options struct {
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// MaxFileSize is the largest file Create accepts.
	MaxFileSize int64
	// MaxChunkSize is the largest n Write accepts.
	MaxChunkSize int64
	// SessionTTL is how long an upload may sit without a chunk before
	// Sweep removes it. Completed sessions are kept as long, so that a
	// phone that missed the answer to Complete can ask again.
	SessionTTL time.Duration
	// MaxOpen is the number of unfinished uploads one account may have.
	MaxOpen int
	// Key (32 bytes, required) keys the index of the files each space
	// holds: its entries are named by HMAC-SHA-256(Key, space, SHA-256),
	// so the index answers only for one space at a time and a copy of
	// the database does not list the hashes of the files.
	Key []byte
	// Space, if set, reports the free and total bytes of the file system
	// that holds the part files (the state disk). Without it Create and
	// Write check neither Reserve nor Quota.
	Space func() (free, total int64, err error)
	// Reserve is how many bytes uploads leave free on that disk, always:
	// a chunk that would eat into it is refused (ErrFull) before a byte
	// of it is written, and a file that could not fit is refused at
	// Create. (The gateway passes the disk's reserve for its own records
	// plus a margin above it.)
	Reserve int64
	// Quota, if set, returns the most of that disk one account's uploads
	// may take — its unfinished uploads at their full size and the files
	// it received onto that disk within QuotaWindow — given the room the
	// account has there: the free space now and what its uploads already
	// hold (Create refuses more with ErrQuota). The reserve applies
	// besides.
	Quota func(free int64) int64
	// Known, if set, reports whether space already holds a file with
	// this SHA-256 that did not come through an upload (the daemon plugs
	// in the card ingests filed in the space's folder). It is called from
	// Create and Have, concurrently, and must be fast and safe for
	// concurrent use. It must answer for that space only.
	Known func(space string, sha256 [32]byte) bool
}

// Sum is a SHA-256. It encodes as lowercase hex in JSON.
type Sum [32]byte

func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// MarshalText encodes s as hex.
func (s Sum) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes hex.
func (s *Sum) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(s) {
		return fmt.Errorf("sha256 %q: want %d hex digits", b, 2*len(s))
	}
	_, err := hex.Decode(s[:], b)
	return err
}

// State is a session's state.
type State string

// Session states.
const (
	StateUploading State = "uploading"
	StateComplete  State = "complete"
)

// CreateRequest describes a file a phone wants to send.
type CreateRequest struct {
	// Owner is the authenticated account's immutable ID (never its
	// name, which a later account may take): only this account may use
	// the session, and its history is kept under it.
	Owner  string
	Device string // device ID
	// DeviceName names the device's folder in the inbox ("Anna's
	// iPhone"); Device if empty. It is cleaned like a file name.
	DeviceName string
	Space      string // the target space, recorded in the history
	// Inbox is the absolute path of the source's inbox folder. The
	// gateway resolves it from the space; it never comes from the phone.
	Inbox string

	Name        string    // the file's name on the phone
	Size        int64     // bytes
	SHA256      Sum       // of the whole file
	ModTime     time.Time // picks the inbox's YYYY/MM folder, in ModTime's own zone
	ContentType string
}

// Session is an upload. It is stored as JSON in the upload.sessions
// bucket.
type Session struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"` // account ID
	Device      string    `json:"device"`
	DeviceName  string    `json:"device_name"`
	Space       string    `json:"space"`
	Inbox       string    `json:"inbox"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      Sum       `json:"sha256"`
	ModTime     time.Time `json:"mtime"`
	ContentType string    `json:"content_type,omitempty"`

	// Offset is the number of bytes received, made durable and
	// acknowledged: the next chunk goes there.
	Offset   int64     `json:"offset"`
	State    State     `json:"state"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"` // last chunk, or completion
	Attempts int       `json:"attempts,omitempty"`
	Result   *Result   `json:"result,omitempty"` // set when complete

	// Expires is when Sweep may remove the session (Updated+SessionTTL).
	Expires time.Time `json:"-"`
	// AlreadyHave is set by Create, instead of making a session, when the
	// box already holds a file with this SHA-256: the phone need not send
	// it. ID is then empty.
	AlreadyHave bool `json:"-"`
}

// Result says where a completed upload was stored.
type Result struct {
	// Path is where the file is, relative to the inbox (slash-separated,
	// "Anna's phone/2025/07/IMG_0042.JPG"): what a member may see. The
	// box's own paths are not theirs to know.
	Path      string    `json:"path"`
	Name      string    `json:"name"` // base name, after cleaning and clash suffix
	Size      int64     `json:"size"`
	SHA256    Sum       `json:"sha256"`
	Completed time.Time `json:"completed"`
	// Existing is set when an identical file already had the name: nothing
	// new was written.
	Existing bool `json:"existing,omitempty"`
}

// partFile is what Write and Complete need of a part file; a test hook
// swaps it to inject a full disk.
type partFile interface {
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Stat() (os.FileInfo, error)
	Close() error
}

// Store keeps upload sessions. It is safe for concurrent use; requests for
// different sessions run in parallel, a second concurrent request for the
// same session gets ErrBusy.
type Store struct {
	db    *bbolt.DB
	parts string // STATE/uploads
	opt   Options

	mu   sync.Mutex
	busy map[string]bool

	spaceMu sync.Mutex
	writing int64 // bytes of chunks being written now, not yet in free space

	placeMu sync.Mutex // check-then-rename on file systems without hard links

	openPart func(name string) (partFile, error)
	// beforeLink, a test hook, runs when Complete has made the file's
	// folders and is about to file it.
	beforeLink func()
}

// New opens the upload store kept in db (buckets "upload.*") and under
// dir/uploads (the part files). dir is the daemon's state directory.
func New(db *bbolt.DB, dir string, opt Options) (*Store, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxFileSize <= 0 {
		opt.MaxFileSize = DefaultMaxFileSize
	}
	if opt.MaxChunkSize <= 0 {
		opt.MaxChunkSize = DefaultMaxChunkSize
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = DefaultSessionTTL
	}
	if opt.MaxOpen <= 0 {
		opt.MaxOpen = DefaultMaxOpen
	}
	if len(opt.Key) < 32 {
		return nil, errors.New("upload store: Options.Key must hold at least 32 bytes")
	}
	parts := filepath.Join(dir, "uploads")
	if err := os.MkdirAll(parts, 0o700); err != nil {
		return nil, fmt.Errorf("upload store: %w", err)
	}
	s := &Store{
		db: db, parts: parts, opt: opt,
		busy: make(map[string]bool),
		openPart: func(name string) (partFile, error) {
			return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		},
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bSessions, bOpen, bHave, bHistory} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return s.migrate(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("upload store: create buckets: %w", err)
	}
	return s, nil
}

// Create starts an upload, or resumes the account's unfinished upload of
// the same file from the same device (an app that restarted and lost the
// session ID gets it back, with the offset to resume from). If the
// target space already holds a file with this SHA-256 (received by
// upload, or Options.Known), it returns a Session with AlreadyHave set
// and no ID. Files of other spaces never count: that would tell the
// caller what those spaces hold.
//
// Errors: ErrInvalid, ErrTooLarge (over MaxFileSize), ErrTooMany.
func (s *Store) Create(ctx context.Context, req CreateRequest) (Session, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, err
	}
	if err := s.validate(&req); err != nil {
		return Session{}, err
	}
	sess := Session{
		Owner: req.Owner, Device: req.Device, DeviceName: req.DeviceName,
		Space: req.Space, Inbox: req.Inbox,
		Name: req.Name, Size: req.Size, SHA256: req.SHA256,
		ModTime: req.ModTime, ContentType: req.ContentType,
	}
	have, err := s.Have(ctx, req.Space, [][32]byte{req.SHA256})
	if err != nil {
		return Session{}, err
	}
	if have[0] {
		sess.AlreadyHave = true
		return sess, nil
	}
	now := s.opt.Now()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bHave).Get(s.haveKey(req.Space, req.SHA256)) != nil { // arrived meanwhile
			sess.AlreadyHave = true
			return nil
		}
		open := tx.Bucket(bOpen)
		key := openKey(req.Owner, req.Device, req.SHA256)
		if id := open.Get(key); id != nil {
			old, err := getSession(tx, string(id))
			if err == nil && old.State == StateUploading && old.Size == req.Size && old.Space == req.Space && !s.expired(old, now) {
				sess = old
				return nil
			}
		}
		u := s.usage(tx, req.Owner, now)
		if u.open >= s.opt.MaxOpen {
			return fmt.Errorf("%d unfinished uploads: %w; finish or cancel some first", u.open, ErrTooMany)
		}
		if err := s.admit(req.Size, u); err != nil {
			return err
		}
		sess.ID = newID()
		sess.State = StateUploading
		sess.Created, sess.Updated = now, now
		if err := putSession(tx, &sess); err != nil {
			return err
		}
		return open.Put(key, []byte(sess.ID))
	})
	if err != nil {
		return Session{}, fmt.Errorf("create upload of %q: %w", req.Name, fullErr(err))
	}
	if !sess.AlreadyHave {
		s.setExpiry(&sess)
	}
	return sess, nil
}

func (s *Store) validate(req *CreateRequest) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("create upload of %q: %s: %w", req.Name, fmt.Sprintf(format, a...), ErrInvalid)
	}
	for _, f := range []struct{ what, v string }{{"owner", req.Owner}, {"device", req.Device}, {"space", req.Space}} {
		if f.v == "" || len(f.v) > 256 || strings.ContainsRune(f.v, 0) {
			return bad("%s must be 1 to 256 bytes without NUL", f.what)
		}
	}
	if req.DeviceName == "" {
		req.DeviceName = req.Device
	}
	if req.Name == "" {
		return bad("no file name")
	}
	if req.Size < 0 {
		return bad("negative size %d", req.Size)
	}
	if req.Size > s.opt.MaxFileSize {
		return fmt.Errorf("create upload of %q: %d bytes is over the limit of %d bytes per file: %w",
			req.Name, req.Size, s.opt.MaxFileSize, ErrTooLarge)
	}
	if y := req.ModTime.Year(); !req.ModTime.IsZero() && (y < 1 || y > 9999) {
		return bad("modification time %v out of range", req.ModTime)
	}
	// The inbox comes from the gateway, and its path is not the
	// phone's business: these errors name the space.
	if !filepath.IsAbs(req.Inbox) {
		return bad("the folder of space %q is not an absolute path; check the source's settings", req.Space)
	}
	if fi, err := os.Stat(req.Inbox); err != nil || !fi.IsDir() {
		return bad("the folder of space %q is missing on the box; check the source's settings", req.Space)
	}
	return nil
}

// Status returns the session: the phone asks after a reconnect where to
// resume (Offset), or, after a lost answer to Complete, where the file
// went (Result).
//
// Errors: ErrNotFound, ErrForbidden.
func (s *Store) Status(ctx context.Context, owner, id string) (Session, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, err
	}
	return s.get(owner, id)
}

// Cancel removes the session and its partial data. Cancelling a completed
// upload only forgets the session; the file stays in the inbox.
//
// Errors: ErrNotFound, ErrForbidden, ErrBusy.
func (s *Store) Cancel(ctx context.Context, owner, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.lock(id); err != nil {
		return err
	}
	defer s.unlock(id)
	sess, err := s.get(owner, id)
	if err != nil {
		return err
	}
	return s.remove(&sess)
}

// DeleteOwner removes everything the account owner has here: its
// sessions, unfinished (with their part files) and completed, and its
// devices' histories. The gateway calls it when the account is deleted,
// so that a later account — even one given the same name — starts with
// nothing. Files already filed in a space stay there, and the space
// still knows it holds them. It waits (up to ctx) for a request busy
// with one of the sessions, and returns how many sessions it removed.
func (s *Store) DeleteOwner(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, fmt.Errorf("delete uploads: no account ID: %w", ErrInvalid)
	}
	var ids []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bSessions).ForEach(func(k, v []byte) error {
			var sess Session
			if json.Unmarshal(v, &sess) == nil && sess.Owner == owner {
				ids = append(ids, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("delete uploads of account %s: %w", owner, err)
	}
	n := 0
	for _, id := range ids {
		if err := s.lockWait(ctx, id); err != nil {
			return n, fmt.Errorf("delete uploads of account %s: %w", owner, err)
		}
		var sess Session
		err := s.db.View(func(tx *bbolt.Tx) error {
			var err error
			sess, err = getSession(tx, id)
			return err
		})
		if err == nil && sess.Owner == owner { // expired ones too
			err = s.remove(&sess)
		}
		s.unlock(id)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, ErrNotFound):
			return n, fmt.Errorf("delete uploads of account %s: %w", owner, err)
		}
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bHistory)
		prefix := []byte(owner + "\x00")
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("delete upload history of account %s: %w", owner, err)
	}
	return n, nil
}

// lockWait is lock, waiting up to ctx for a busy session.
func (s *Store) lockWait(ctx context.Context, id string) error {
	for {
		err := s.lock(id)
		if !errors.Is(err, ErrBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// remove deletes a session and then its part file. The caller holds the
// session's lock.
func (s *Store) remove(sess *Session) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := deleteOpen(tx, sess); err != nil {
			return err
		}
		return tx.Bucket(bSessions).Delete([]byte(sess.ID))
	})
	if err != nil {
		return fmt.Errorf("remove upload %s: %w", sess.ID, err)
	}
	if err := os.Remove(s.partPath(sess.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove upload %s: %w", sess.ID, s.hidePaths(sess, err))
	}
	return nil
}

// get loads a session and checks its owner and expiry.
func (s *Store) get(owner, id string) (Session, error) {
	if !validID(id) {
		return Session{}, fmt.Errorf("upload %q: %w", id, ErrNotFound)
	}
	var sess Session
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		sess, err = getSession(tx, id)
		return err
	})
	if err != nil {
		return Session{}, err
	}
	if sess.Owner == "" || sess.Owner != owner {
		return Session{}, fmt.Errorf("upload %s: %w", id, ErrForbidden)
	}
	if s.expired(sess, s.opt.Now()) {
		return Session{}, fmt.Errorf("upload %s expired after %v without activity: %w; start it again", id, s.opt.SessionTTL, ErrNotFound)
	}
	s.setExpiry(&sess)
	return sess, nil
}

func (s *Store) put(sess *Session) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return putSession(tx, sess) })
}

func (s *Store) expired(sess Session, now time.Time) bool {
	return !now.Before(sess.Updated.Add(s.opt.SessionTTL))
}

func (s *Store) setExpiry(sess *Session) { sess.Expires = sess.Updated.Add(s.opt.SessionTTL) }

// lock claims a session for one request.
func (s *Store) lock(id string) error {
	if !validID(id) {
		return fmt.Errorf("upload %q: %w", id, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[id] {
		return fmt.Errorf("upload %s: %w; retry shortly", id, ErrBusy)
	}
	s.busy[id] = true
	return nil
}

func (s *Store) unlock(id string) {
	s.mu.Lock()
	delete(s.busy, id)
	s.mu.Unlock()
}

func (s *Store) partPath(id string) string { return filepath.Join(s.parts, id+".part") }

func getSession(tx *bbolt.Tx, id string) (Session, error) {
	v := tx.Bucket(bSessions).Get([]byte(id))
	if v == nil {
		return Session{}, fmt.Errorf("upload %s: %w", id, ErrNotFound)
	}
	var sess Session
	if err := json.Unmarshal(v, &sess); err != nil {
		return Session{}, fmt.Errorf("upload %s: decode session: %w", id, err)
	}
	return sess, nil
}

func putSession(tx *bbolt.Tx, sess *Session) error {
	v, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	return tx.Bucket(bSessions).Put([]byte(sess.ID), v)
}

// deleteOpen drops the session's entry in the open index, if it is still
// the session's.
func deleteOpen(tx *bbolt.Tx, sess *Session) error {
	b := tx.Bucket(bOpen)
	key := openKey(sess.Owner, sess.Device, sess.SHA256)
	if string(b.Get(key)) != sess.ID {
		return nil
	}
	return b.Delete(key)
}

func openKey(owner, device string, sum Sum) []byte {
	k := make([]byte, 0, len(owner)+len(device)+2+len(sum))
	k = append(k, owner...)
	k = append(k, 0)
	k = append(k, device...)
	k = append(k, 0)
	return append(k, sum[:]...)
}

// Session IDs: 128 random bits, lowercase base32 without padding.
var idEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const idLen = 26

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("upload: no randomness: " + err.Error())
	}
	return idEnc.EncodeToString(b[:])
}

// validID keeps anything but a well-formed ID out of file paths.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}
