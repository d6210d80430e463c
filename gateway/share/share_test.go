package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/token"
	"github.com/shoebox/shoebox/internal/fakeclock"
)

// cheap is a key-derivation cost for tests only.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1}

type clock = fakeclock.Clock

func newTest(t *testing.T) (*Store, *bbolt.DB, *clock, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := fakeclock.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	s, err := NewStore(db, Options{Now: c.Now, Params: cheap})
	if err != nil {
		t.Fatal(err)
	}
	return s, db, c, path
}

func create(t *testing.T, s *Store, req CreateRequest) (string, Share) {
	t.Helper()
	if req.Owner == "" {
		req.Owner, req.OwnerID = "anna", "u-anna"
	}
	if req.OwnerID == "" {
		req.OwnerID = "u-" + req.Owner
	}
	if req.Target == (Target{}) {
		req.Target = Target{Snapshot: "5f3a9c", Path: "photos/2024", Kind: Folder}
	}
	tok, sh, err := s.Create(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok, sh
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func TestLifecycle(t *testing.T) {
	s, _, c, _ := newTest(t)
	tok, sh, err := s.Create(CreateRequest{
		OwnerID: "u-anna", Owner: "anna", Credential: Credential{Kind: "session", ID: "5e55"}, Space: "family",
		Target:   Target{Snapshot: "5f3a9c", Path: "photos/2024/", Kind: Folder},
		Password: "correct horse", Download: true, MaxUses: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if token.KindOf(tok) != token.Share || len(sh.ID) != 8 || strings.Contains(tok, sh.ID) {
		t.Fatalf("token %q, ID %q", tok, sh.ID)
	}
	want := Share{
		ID: sh.ID, OwnerID: "u-anna", Owner: "anna", Credential: Credential{Kind: "session", ID: "5e55"}, Space: "family",
		Target:   Target{Snapshot: "5f3a9c", Path: "/photos/2024", Kind: Folder},
		Password: true, Download: true, MaxUses: 2,
		Created: c.Now(), Expires: c.Now().Add(30 * 24 * time.Hour),
	}
	if diff := cmp.Diff(want, sh); diff != "" {
		t.Fatalf("created (-want +got):\n%s", diff)
	}

	_, err = s.Open(tok, "", "198.51.100.1", "view /")
	wantErr(t, err, ErrPasswordRequired)
	_, err = s.Open(tok, "wrong password", "198.51.100.1", "view /")
	wantErr(t, err, ErrWrongPassword)
	var wp *WrongPasswordError
	if !errors.As(err, &wp) || wp.ID != sh.ID || wp.Failures != 1 {
		t.Errorf("wrong password: %#v, want a WrongPasswordError naming %s", err, sh.ID)
	}
	got, err := s.Open(tok, "correct horse", "198.51.100.1", "view /")
	if err != nil {
		t.Fatal(err)
	}
	want.Uses = 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("opened (-want +got):\n%s", diff)
	}
	c.Add(time.Hour)
	if _, err := s.Open(tok, "correct horse", "198.51.100.2", "download /a.jpg"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(tok, "correct horse", "198.51.100.2", "view /")
	wantErr(t, err, ErrUsedUp)
	if g, _ := s.Get(sh.ID); g.Uses != 2 {
		t.Errorf("uses %d, want 2", g.Uses)
	}

	// Expiry, with the injected clock.
	tok2, sh2 := create(t, s, CreateRequest{TTL: 48 * time.Hour})
	if !sh2.Expires.Equal(c.Now().Add(48 * time.Hour)) {
		t.Errorf("expires %v", sh2.Expires)
	}
	if _, err := s.Open(tok2, "", "198.51.100.3", "view /"); err != nil {
		t.Fatal(err)
	}
	c.Add(48*time.Hour - time.Nanosecond)
	if _, err := s.Open(tok2, "", "198.51.100.3", "view /"); err != nil {
		t.Fatalf("a nanosecond before expiry: %v", err)
	}
	c.Add(time.Nanosecond)
	_, err = s.Open(tok2, "", "198.51.100.3", "view /")
	wantErr(t, err, ErrExpired)

	// Revoke: only by the owner, idempotent, and the holder is told.
	tok3, sh3 := create(t, s, CreateRequest{})
	wantErr(t, s.Revoke("u-ben", sh3.ID, "by ben"), ErrNotFound)
	wantErr(t, s.Revoke("anna", sh3.ID, "by name"), ErrNotFound) // owners are account IDs
	wantErr(t, s.Revoke("u-anna", "nosuchid", "by anna"), ErrNotFound)
	if err := s.Revoke("u-anna", sh3.ID, "by anna"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke("u-anna", sh3.ID, "again"); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	_, err = s.Open(tok3, "", "198.51.100.4", "view /")
	wantErr(t, err, ErrRevoked)
	if g, _ := s.Get(sh3.ID); !g.Revoked || !g.RevokedAt.Equal(c.Now()) || g.RevokedWhy != "by anna" {
		t.Errorf("after revoke: %+v", g)
	}

	// RevokeAll counts the links still on, and only the owner's.
	c.Add(time.Minute)
	tok4, _ := create(t, s, CreateRequest{})
	c.Add(time.Minute)
	tokBen, shBen := create(t, s, CreateRequest{Owner: "ben"})
	n, err := s.RevokeAll("u-anna", "all of anna's")
	if err != nil || n != 3 { // sh (used up), sh2 (expired) and tok4's; sh3 was revoked already
		t.Fatalf("RevokeAll = %d, %v; want 3", n, err)
	}
	_, err = s.Open(tok4, "", "198.51.100.5", "view /")
	wantErr(t, err, ErrRevoked)
	if _, err := s.Open(tokBen, "", "198.51.100.5", "view /"); err != nil {
		t.Errorf("ben's link after anna's RevokeAll: %v", err)
	}
	if n, _ := s.RevokeAll("u-anna", "again"); n != 0 {
		t.Errorf("second RevokeAll = %d, want 0", n)
	}

	// Lists, newest first.
	mine, err := s.List("u-anna")
	if err != nil || len(mine) != 4 {
		t.Fatalf("List(anna) = %d links, %v", len(mine), err)
	}
	for i := 1; i < len(mine); i++ {
		if mine[i].Created.After(mine[i-1].Created) {
			t.Errorf("List not newest first: %v after %v", mine[i].Created, mine[i-1].Created)
		}
	}
	all, _ := s.ListAll()
	if len(all) != 5 || all[0].ID != shBen.ID {
		t.Errorf("ListAll = %d links, first %s; want 5, first %s", len(all), all[0].ID, shBen.ID)
	}
	if l, _ := s.List("anna"); len(l) != 0 { // by ID, not by name
		t.Errorf("List(anna) = %v", l)
	}
	if l, _ := s.List("nobody"); len(l) != 0 {
		t.Errorf("List(nobody) = %v", l)
	}
	_, err = s.Get("nosuchid")
	wantErr(t, err, ErrNotFound)
}

func TestCreateChecks(t *testing.T) {
	s, _, _, _ := newTest(t)
	snap := Target{Snapshot: "5f3a9c", Kind: Snapshot}
	for _, tc := range []struct {
		name string
		req  CreateRequest
		why  string
	}{
		{"no owner", CreateRequest{Target: snap}, "no owner"},
		{"no owner ID", CreateRequest{Owner: "anna", Target: snap}, "no owner"},
		{"no snapshot", CreateRequest{Owner: "anna", Target: Target{Kind: Snapshot}}, "no snapshot"},
		{"bad kind", CreateRequest{Owner: "anna", Target: Target{Snapshot: "s", Kind: "disk"}}, "kind"},
		{"dot dot", CreateRequest{Owner: "anna", Target: Target{Snapshot: "s", Path: "a/../../etc", Kind: Folder}}, "leaves the snapshot"},
		{"nul", CreateRequest{Owner: "anna", Target: Target{Snapshot: "s", Path: "a\x00b", Kind: File}}, "NUL"},
		{"file without path", CreateRequest{Owner: "anna", Target: Target{Snapshot: "s", Path: "/", Kind: File}}, "no file"},
		{"snapshot with path", CreateRequest{Owner: "anna", Target: Target{Snapshot: "s", Path: "a", Kind: Snapshot}}, "whole snapshot"},
		{"too long", CreateRequest{Owner: "anna", Target: snap, TTL: MaxTTL + time.Second}, "at most one year"},
		{"negative ttl", CreateRequest{Owner: "anna", Target: snap, TTL: -time.Hour}, "past"},
		{"negative uses", CreateRequest{Owner: "anna", Target: snap, MaxUses: -1}, "negative"},
		{"huge password", CreateRequest{Owner: "anna", Target: snap, Password: strings.Repeat("x", 2000)}, "longer"},
		{"one-character password", CreateRequest{Owner: "anna", Target: snap, Password: "1"}, "at least 8"},
		{"seven-character password", CreateRequest{Owner: "anna", Target: snap, Password: "ééééééé"}, "has 7 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Owner != "" && tc.name != "no owner ID" {
				tc.req.OwnerID = "u-" + tc.req.Owner
			}
			_, _, err := s.Create(tc.req)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("got %v, want ErrInvalid saying %q", err, tc.why)
			}
		})
	}
	if all, _ := s.ListAll(); len(all) != 0 {
		t.Errorf("refused requests stored %d links", len(all))
	}

	_, sh, err := s.Create(CreateRequest{OwnerID: "u-anna", Owner: "anna", Target: snap, TTL: MaxTTL})
	if err != nil || sh.Target.Path != "/" || sh.Expires.Sub(sh.Created) != MaxTTL {
		t.Errorf("a year-long snapshot link: %+v, %v", sh, err)
	}
	_, sh, err = s.Create(CreateRequest{OwnerID: "u-anna", Owner: "anna", Target: Target{Snapshot: "s", Path: "/docs//tax.pdf", Kind: File}})
	if err != nil || sh.Target.Path != "/docs/tax.pdf" {
		t.Errorf("file link: %+v, %v", sh, err)
	}
}

func TestTokensNotStored(t *testing.T) {
	s, db, _, path := newTest(t)
	var secrets []string
	for i := range 5 {
		pw := fmt.Sprintf("pass-phrase-%d", i)
		tok, _ := create(t, s, CreateRequest{Password: pw})
		if _, err := s.Open(tok, pw, "198.51.100.1", "view /"); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tok, tok[len(token.Share):], pw)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the database file holds the secret %q", secret)
		}
	}
	if !bytes.Contains(data, []byte(token.Hash(secrets[0]))) {
		t.Error("the database does not hold the token's hash: the scan is looking at the wrong file")
	}
}

func TestAccessLog(t *testing.T) {
	s, _, c, _ := newTest(t)
	tok, sh := create(t, s, CreateRequest{})
	got, err := s.AccessLog(sh.ID)
	if err != nil || len(got) != 0 {
		t.Fatalf("fresh link's access log = %v, %v", got, err)
	}
	var want []Access
	for i, what := range []string{"view /", "preview /a.jpg", "download /a.jpg"} {
		c.Add(time.Minute)
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		if _, err := s.Open(tok, "", ip, what); err != nil {
			t.Fatal(err)
		}
		want = append([]Access{{Time: c.Now(), IP: ip, What: what, Event: EventUsed}}, want...)
	}
	// Failures are not uses.
	_, err = s.Open(token.New(token.Share), "", "203.0.113.9", "view /")
	wantErr(t, err, ErrNotFound)
	got, err = s.AccessLog(sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
	if _, err := s.Open(tok, "", "198.51.100.9", strings.Repeat("é", 400)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.AccessLog(sh.ID)
	if len(got[0].What) > maxWhat+len("…") || !strings.HasSuffix(got[0].What, "…") {
		t.Errorf("long what kept as %d bytes", len(got[0].What))
	}
	_, err = s.AccessLog("nosuchid")
	wantErr(t, err, ErrNotFound)
}

func TestAccessLogBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 transactions")
	}
	s, _, _, _ := newTest(t)
	tok, sh := create(t, s, CreateRequest{})
	for i := range maxAccess + 5 {
		if _, err := s.Open(tok, "", "198.51.100.1", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.AccessLog(sh.ID)
	if len(got) != maxAccess || got[0].What != fmt.Sprint(maxAccess+4) || got[len(got)-1].What != "5" {
		t.Errorf("kept %d entries, newest %q, oldest %q", len(got), got[0].What, got[len(got)-1].What)
	}
}

func TestMalformedTokenNoLookup(t *testing.T) {
	s, db, _, _ := newTest(t)
	tok, _ := create(t, s, CreateRequest{})
	other := token.New(token.Share)
	// With the database closed, any lookup would fail with bbolt's
	// error: ErrNotFound means the token was refused before one.
	db.Close()
	for name, bad := range map[string]string{
		"empty":     "",
		"truncated": tok[:len(tok)-1],
		"typo":      tok[:10] + map[bool]string{true: "b", false: "a"}[tok[10] == 'a'] + tok[11:],
		"session":   token.New(token.Session),
		"upper":     strings.ToUpper(tok),
		"with path": tok + "/photo.jpg",
	} {
		if _, err := s.Open(bad, "", "203.0.113.9", "view /"); err != ErrNotFound {
			t.Errorf("%s: got %v, want ErrNotFound without a lookup", name, err)
		}
	}
	if _, err := s.Open(other, "", "203.0.113.9", "view /"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("well-formed token with the database closed: got %v, want a database error (the lookup was tried)", err)
	}
}

func TestPasswordLockout(t *testing.T) {
	s, _, c, _ := newTest(t)
	tok, sh := create(t, s, CreateRequest{Password: "open sesame"})
	for i := range 4 {
		_, err := s.Open(tok, fmt.Sprint("guess", i), "203.0.113.9", "view /")
		wantErr(t, err, ErrWrongPassword)
	}
	_, err := s.Open(tok, "guess4", "203.0.113.9", "view /")
	wantErr(t, err, ErrTooManyAttempts)
	var le *LockedError
	if !errors.As(err, &le) || le.RetryAfter() != 15*60 || !le.Until.Equal(c.Now().Add(15*time.Minute)) ||
		!le.New || le.ID != sh.ID || le.Failures != 5 {
		t.Fatalf("got %#v, want a new 15-minute LockedError after 5 failures", err)
	}
	if !strings.Contains(err.Error(), "15m0s") {
		t.Errorf("message %q does not say how long", err)
	}

	// Locked: even the right password waits, and a missing one too; no
	// password is checked, and nothing more is counted.
	c.Add(10 * time.Minute)
	_, err = s.Open(tok, "open sesame", "198.51.100.1", "view /")
	if !errors.As(err, &le) || le.RetryAfter() != 5*60 || le.New {
		t.Fatalf("right password while locked: got %#v, want 5 minutes to wait on the old lock", err)
	}
	if g, _ := s.Get(sh.ID); g.Uses != 0 || !g.LockedUntil.After(c.Now()) || g.Failures != 5 {
		t.Errorf("while locked: %+v", g)
	}

	// After the lock, each wrong password locks at once, twice as long
	// as the one before, up to a day; waiting does not forgive.
	c.Add(5 * time.Minute)
	for i, want := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
		16 * time.Hour, 24 * time.Hour, 24 * time.Hour} {
		c.Add(25 * time.Hour) // past any lock
		_, err = s.Open(tok, "nope", "203.0.113.9", "view /")
		if !errors.As(err, &le) || le.Wait != want || !le.New || le.Failures != 6+i {
			t.Fatalf("wrong password %d: got %v, want a new lock of %s", 6+i, err, want)
		}
	}
	c.Add(24 * time.Hour)
	if _, err := s.Open(tok, "open sesame", "198.51.100.1", "view /"); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// A right password clears the count: four more wrong ones do not lock.
	for range 4 {
		_, err := s.Open(tok, "nope", "203.0.113.9", "view /")
		wantErr(t, err, ErrWrongPassword)
	}
	if _, err := s.Open(tok, "open sesame", "198.51.100.1", "view /"); err != nil {
		t.Fatalf("right password after 4 wrong: %v", err)
	}
	// The access log has every failure and lock, with the address.
	log, _ := s.AccessLog(sh.ID)
	events := map[string]int{}
	for _, a := range log {
		events[a.Event]++
		if a.Event != EventUsed && a.IP != "203.0.113.9" {
			t.Errorf("access log entry %+v: want the guesser's address", a)
		}
	}
	if want := map[string]int{EventPasswordFailed: 17, EventLocked: 9, EventUsed: 2}; !cmp.Equal(events, want) {
		t.Errorf("access log events %v, want %v", events, want)
	}
	// Other links are not affected by one link's lock.
	tok2, _ := create(t, s, CreateRequest{Password: "other password"})
	for range 5 {
		s.Open(tok, "nope", "203.0.113.9", "view /")
	}
	if _, err := s.Open(tok2, "other password", "198.51.100.1", "view /"); err != nil {
		t.Errorf("another link while the first is locked: %v", err)
	}
}

// TestAccessLogOldNumbering: an access log written when entries were
// numbered by use goes on after its last entry.
func TestAccessLogOldNumbering(t *testing.T) {
	s, db, c, _ := newTest(t)
	tok, sh := create(t, s, CreateRequest{})
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(accessBucket).CreateBucket([]byte(sh.ID))
		if err != nil {
			return err
		}
		for i := uint64(1); i <= 3; i++ {
			if err := b.Put(u64(i), []byte(fmt.Sprintf(`{"time":"2025-01-01T00:00:00Z","ip":"198.51.100.1","what":"old %d"}`, i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	if _, err := s.Open(tok, "", "198.51.100.2", "new"); err != nil {
		t.Fatal(err)
	}
	log, _ := s.AccessLog(sh.ID)
	var whats []string
	for _, a := range log {
		whats = append(whats, a.What)
	}
	if want := []string{"new", "old 3", "old 2", "old 1"}; !cmp.Equal(whats, want) {
		t.Errorf("access log %q, want %q", whats, want)
	}
}

func TestParallelGuessesLimited(t *testing.T) {
	s, _, _, _ := newTest(t)
	tok, _ := create(t, s, CreateRequest{Password: "open sesame"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for i := range 20 {
		wg.Go(func() {
			_, err := s.Open(tok, fmt.Sprint("guess", i), "203.0.113.9", "view /")
			if errors.Is(err, ErrWrongPassword) {
				mu.Lock()
				wrong++
				mu.Unlock()
			} else if !errors.Is(err, ErrTooManyAttempts) {
				t.Errorf("got %v", err)
			}
		})
	}
	wg.Wait()
	if wrong != 4 {
		t.Errorf("%d guesses got ErrWrongPassword, want 4 (the fifth locks, the rest wait)", wrong)
	}
	_, err := s.Open(tok, "open sesame", "198.51.100.1", "view /")
	wantErr(t, err, ErrTooManyAttempts)
}

func TestConcurrentUsesLimited(t *testing.T) {
	s, _, _, _ := newTest(t)
	tok, sh := create(t, s, CreateRequest{MaxUses: 3, Password: "password"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 12 {
		wg.Go(func() {
			_, err := s.Open(tok, "password", "198.51.100.1", "view /")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrUsedUp):
				t.Errorf("got %v, want nil or ErrUsedUp", err)
			}
		})
	}
	wg.Wait()
	if ok != 3 {
		t.Errorf("%d opens succeeded, want 3", ok)
	}
	if log, _ := s.AccessLog(sh.ID); len(log) != 3 {
		t.Errorf("access log has %d entries, want 3", len(log))
	}
}

func TestRehashOnOpen(t *testing.T) {
	s, db, c, _ := newTest(t)
	tok, sh := create(t, s, CreateRequest{Password: "password"})
	stronger := password.Params{Memory: 128, Time: 2, Threads: 1}
	s2, err := NewStore(db, Options{Now: c.Now, Params: stronger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Open(tok, "password", "198.51.100.1", "view /"); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bbolt.Tx) error {
		r, _ := load(tx, sh.ID)
		if !strings.Contains(r.PasswordHash, "m=128,t=2") {
			t.Errorf("password hash not upgraded: %s", r.PasswordHash)
		}
		return nil
	})
	if _, err := s2.Open(tok, "password", "198.51.100.1", "view /"); err != nil {
		t.Errorf("after rehash: %v", err)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	for _, err := range []error{ErrNotFound, ErrExpired, ErrRevoked, ErrUsedUp, ErrPasswordRequired, ErrWrongPassword,
		&LockedError{Wait: time.Minute}} {
		msg := err.Error()
		_, next, ok := strings.Cut(msg, ": ")
		if !ok || !strings.ContainsFunc(next, func(rune) bool { return true }) ||
			!(strings.Contains(next, "ask") || strings.Contains(next, "enter") || strings.Contains(next, "try")) {
			t.Errorf("%q does not say what to do", msg)
		}
	}
}

func TestRevokeCredential(t *testing.T) {
	s, _, _, _ := newTest(t)
	sess := Credential{Kind: "session", ID: "aaaa11112222"}
	key := Credential{Kind: "apikey", ID: "bbbb33334444"}
	tok1, sh1 := create(t, s, CreateRequest{Credential: sess})
	_, sh2 := create(t, s, CreateRequest{Credential: sess})
	tok3, sh3 := create(t, s, CreateRequest{Credential: key})
	tok4, _ := create(t, s, CreateRequest{Credential: Credential{Kind: "local"}})

	// The kind must match: a key with a session's ID is another credential.
	if ids, err := s.RevokeCredential("apikey", sess.ID, "x"); err != nil || len(ids) != 0 {
		t.Fatalf("wrong kind: %v, %v", ids, err)
	}
	ids, err := s.RevokeCredential("session", sess.ID, "made with session aaaa11112222, which was revoked")
	if err != nil || !cmp.Equal(ids, sortedIDs(sh1.ID, sh2.ID)) {
		t.Fatalf("RevokeCredential(session) = %v, %v; want %v", ids, err, sortedIDs(sh1.ID, sh2.ID))
	}
	_, err = s.Open(tok1, "", "198.51.100.1", "view /")
	wantErr(t, err, ErrRevoked)
	if g, _ := s.Get(sh1.ID); !strings.Contains(g.RevokedWhy, "aaaa11112222") {
		t.Errorf("revoked why %q", g.RevokedWhy)
	}
	// Kind "" (a credential exposed in the clear) matches any kind.
	if ids, _ := s.RevokeCredential("", key.ID, "exposed"); !cmp.Equal(ids, []string{sh3.ID}) {
		t.Errorf("RevokeCredential(\"\") = %v", ids)
	}
	_, err = s.Open(tok3, "", "198.51.100.1", "view /")
	wantErr(t, err, ErrRevoked)
	// No ID revokes nothing (the local token's links have none).
	if ids, _ := s.RevokeCredential("", "", "?"); len(ids) != 0 {
		t.Errorf("empty ID revoked %v", ids)
	}
	if _, err := s.Open(tok4, "", "198.51.100.1", "view /"); err != nil {
		t.Errorf("the local token's link: %v", err)
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestRevokeOrphans(t *testing.T) {
	s, _, _, _ := newTest(t)
	tokA, _ := create(t, s, CreateRequest{})
	_, shB := create(t, s, CreateRequest{Owner: "ben"})
	ids, err := s.RevokeOrphans(func(id string) bool { return id == "u-anna" }, "its owner's account was deleted")
	if err != nil || !cmp.Equal(ids, []string{shB.ID}) {
		t.Fatalf("RevokeOrphans = %v, %v; want [%s]", ids, err, shB.ID)
	}
	if _, err := s.Open(tokA, "", "198.51.100.1", "view /"); err != nil {
		t.Errorf("a live owner's link: %v", err)
	}
	if ids, _ := s.RevokeOrphans(func(string) bool { return false }, "x"); len(ids) != 1 {
		t.Errorf("second pass revoked %v, want only anna's link (ben's was revoked already)", ids)
	}
}

// TestMigrate: links stored before owner IDs get their owner's account
// ID; a deleted owner's, or one whose name was since taken by a newer
// account, are revoked.
func TestMigrate(t *testing.T) {
	s, db, c, _ := newTest(t)
	made := c.Now()
	var toks []string
	var ids []string
	for _, owner := range []string{"anna", "ben", "carl", "root@box"} {
		tok, sh := create(t, s, CreateRequest{Owner: owner})
		toks, ids = append(toks, tok), append(ids, sh.ID)
	}
	// Make them look as an older store wrote them: no owner_id.
	err := db.Update(func(tx *bbolt.Tx) error {
		return forEach(tx, func(r *record) error {
			raw, _ := json.Marshal(r)
			var m map[string]any
			json.Unmarshal(raw, &m)
			delete(m, "owner_id")
			delete(m, "credential")
			raw, _ = json.Marshal(m)
			return tx.Bucket(linksBucket).Put([]byte(r.ID), raw)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string]Account{
		"anna":     {ID: "u-anna-1", Created: made.Add(-time.Hour)},
		"carl":     {ID: "u-carl-2", Created: made.Add(time.Hour)}, // a newer carl
		"root@box": {ID: "root@box"},
	}
	n, err := s.Migrate(func(owner string) (Account, bool) { a, ok := accounts[owner]; return a, ok })
	if err != nil || n != 4 {
		t.Fatalf("Migrate = %d, %v; want 4", n, err)
	}
	for i, want := range []struct {
		owner   string
		revoked bool
	}{{"u-anna-1", false}, {"deleted:ben", true}, {"deleted:carl", true}, {"root@box", false}} {
		g, _ := s.Get(ids[i])
		if g.OwnerID != want.owner || g.Revoked != want.revoked {
			t.Errorf("link of %s: owner ID %q, revoked %v; want %q, %v", g.Owner, g.OwnerID, g.Revoked, want.owner, want.revoked)
		}
		_, err := s.Open(toks[i], "", "198.51.100.1", "view /")
		if want.revoked != errors.Is(err, ErrRevoked) {
			t.Errorf("link of %s after migration: %v", g.Owner, err)
		}
	}
	if n, _ := s.Migrate(func(string) (Account, bool) { return Account{}, false }); n != 0 {
		t.Errorf("second Migrate changed %d links", n)
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		pw := NewPassword()
		if len(pw) != 24 || strings.Count(pw, "-") != 4 || strings.ContainsAny(pw, "lo01") {
			t.Fatalf("NewPassword() = %q", pw)
		}
		if seen[pw] {
			t.Fatalf("NewPassword repeated %q", pw)
		}
		seen[pw] = true
	}
	s, _, _, _ := newTest(t)
	pw := NewPassword()
	tok, _ := create(t, s, CreateRequest{Password: pw})
	if _, err := s.Open(tok, pw, "198.51.100.1", "view /"); err != nil {
		t.Fatal(err)
	}
}
