package share

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
		req.Owner = "anna"
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
		Owner: "anna", Space: "family",
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
		ID: sh.ID, Owner: "anna", Space: "family",
		Target:   Target{Snapshot: "5f3a9c", Path: "/photos/2024", Kind: Folder},
		Password: true, Download: true, MaxUses: 2,
		Created: c.Now(), Expires: c.Now().Add(30 * 24 * time.Hour),
	}
	if diff := cmp.Diff(want, sh); diff != "" {
		t.Fatalf("created (-want +got):\n%s", diff)
	}

	_, err = s.Open(tok, "", "198.51.100.1", "view /")
	wantErr(t, err, ErrPasswordRequired)
	_, err = s.Open(tok, "wrong", "198.51.100.1", "view /")
	wantErr(t, err, ErrWrongPassword)
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
	wantErr(t, s.Revoke("ben", sh3.ID), ErrNotFound)
	wantErr(t, s.Revoke("anna", "nosuchid"), ErrNotFound)
	if err := s.Revoke("anna", sh3.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke("anna", sh3.ID); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	_, err = s.Open(tok3, "", "198.51.100.4", "view /")
	wantErr(t, err, ErrRevoked)
	if g, _ := s.Get(sh3.ID); !g.Revoked || !g.RevokedAt.Equal(c.Now()) {
		t.Errorf("after revoke: %+v", g)
	}

	// RevokeAll counts the links still on, and only the owner's.
	c.Add(time.Minute)
	tok4, _ := create(t, s, CreateRequest{})
	c.Add(time.Minute)
	tokBen, shBen := create(t, s, CreateRequest{Owner: "ben"})
	n, err := s.RevokeAll("anna")
	if err != nil || n != 3 { // sh (used up), sh2 (expired) and tok4's; sh3 was revoked already
		t.Fatalf("RevokeAll = %d, %v; want 3", n, err)
	}
	_, err = s.Open(tok4, "", "198.51.100.5", "view /")
	wantErr(t, err, ErrRevoked)
	if _, err := s.Open(tokBen, "", "198.51.100.5", "view /"); err != nil {
		t.Errorf("ben's link after anna's RevokeAll: %v", err)
	}
	if n, _ := s.RevokeAll("anna"); n != 0 {
		t.Errorf("second RevokeAll = %d, want 0", n)
	}

	// Lists, newest first.
	mine, err := s.List("anna")
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.Create(tc.req)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("got %v, want ErrInvalid saying %q", err, tc.why)
			}
		})
	}
	if all, _ := s.ListAll(); len(all) != 0 {
		t.Errorf("refused requests stored %d links", len(all))
	}

	_, sh, err := s.Create(CreateRequest{Owner: "anna", Target: snap, TTL: MaxTTL})
	if err != nil || sh.Target.Path != "/" || sh.Expires.Sub(sh.Created) != MaxTTL {
		t.Errorf("a year-long snapshot link: %+v, %v", sh, err)
	}
	_, sh, err = s.Create(CreateRequest{Owner: "anna", Target: Target{Snapshot: "s", Path: "/docs//tax.pdf", Kind: File}})
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
		want = append([]Access{{Time: c.Now(), IP: ip, What: what}}, want...)
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
	if !errors.As(err, &le) || le.RetryAfter() != 15*60 || !le.Until.Equal(c.Now().Add(15*time.Minute)) {
		t.Fatalf("got %#v, want a 15-minute LockedError", err)
	}
	if !strings.Contains(err.Error(), "15m0s") {
		t.Errorf("message %q does not say how long", err)
	}

	// Locked: even the right password waits, and a missing one too.
	c.Add(10 * time.Minute)
	_, err = s.Open(tok, "open sesame", "198.51.100.1", "view /")
	if !errors.As(err, &le) || le.RetryAfter() != 5*60 {
		t.Fatalf("right password while locked: got %v, want 5 minutes to wait", err)
	}
	if g, _ := s.Get(sh.ID); g.Uses != 0 || !g.LockedUntil.After(c.Now()) {
		t.Errorf("while locked: %+v", g)
	}

	c.Add(5 * time.Minute)
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
	// Other links are not affected by one link's lock.
	tok2, _ := create(t, s, CreateRequest{Password: "other"})
	for range 5 {
		s.Open(tok, "nope", "203.0.113.9", "view /")
	}
	if _, err := s.Open(tok2, "other", "198.51.100.1", "view /"); err != nil {
		t.Errorf("another link while the first is locked: %v", err)
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
	tok, sh := create(t, s, CreateRequest{MaxUses: 3, Password: "pw"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 12 {
		wg.Go(func() {
			_, err := s.Open(tok, "pw", "198.51.100.1", "view /")
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
	tok, sh := create(t, s, CreateRequest{Password: "pw"})
	stronger := password.Params{Memory: 128, Time: 2, Threads: 1}
	s2, err := NewStore(db, Options{Now: c.Now, Params: stronger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Open(tok, "pw", "198.51.100.1", "view /"); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bbolt.Tx) error {
		r, _ := load(tx, sh.ID)
		if !strings.Contains(r.PasswordHash, "m=128,t=2") {
			t.Errorf("password hash not upgraded: %s", r.PasswordHash)
		}
		return nil
	})
	if _, err := s2.Open(tok, "pw", "198.51.100.1", "view /"); err != nil {
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
