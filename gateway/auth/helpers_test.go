package auth_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/auth"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/internal/fakeclock"
)

// tiny argon2id parameters: tests only.
var tinyParams = password.Params{Memory: 64, Time: 1, Threads: 1}

var t0 = time.Date(2030, 1, 1, 12, 0, 10, 0, time.UTC) // 10 s into a TOTP step

const (
	ownerPW = "correct horse battery"
	userPW  = "members-password-1"
)

type clock = fakeclock.Clock

type recorder struct {
	mu  sync.Mutex
	evs []auth.Event
}

func (r *recorder) add(e auth.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e)
}

func (r *recorder) all() []auth.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]auth.Event(nil), r.evs...)
}

func (r *recorder) count(k auth.EventKind) int {
	n := 0
	for _, e := range r.all() {
		if e.Kind == k {
			n++
		}
	}
	return n
}

type env struct {
	s    *auth.Store
	clk  *clock
	ev   *recorder
	db   *bbolt.DB
	path string
}

// newEnv opens a Store on a real bbolt file with an owner "olivia". The
// per-IP limit is lifted unless a mod sets it.
func newEnv(t testing.TB, mods ...func(*auth.Options)) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "box.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{clk: fakeclock.New(t0), ev: &recorder{}, db: db, path: path}
	o := auth.Options{
		BoxKey:     bytes.Repeat([]byte{7}, 32),
		Now:        e.clk.Now,
		Params:     tinyParams,
		LoginBurst: 1 << 20,
		OnEvent:    e.ev.add,
	}
	for _, m := range mods {
		m(&o)
	}
	e.s, err = auth.New(db, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser("olivia", ownerPW, auth.Owner); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) login(t testing.TB, req auth.LoginRequest) string {
	t.Helper()
	tok, _, err := e.s.Login(req)
	if err != nil {
		t.Fatalf("Login(%s): %v", req.User, err)
	}
	return tok
}

func (e *env) mustAuth(t testing.TB, bearer string) auth.Principal {
	t.Helper()
	p, err := e.s.Authenticate(bearer, "10.0.0.1")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return p
}

// olivia is the owner olivia as a caller (for what records its maker).
func (e *env) olivia(t testing.TB) auth.Principal {
	t.Helper()
	u, err := e.s.GetUser("olivia")
	if err != nil {
		t.Fatal(err)
	}
	return auth.Principal{User: u.Name, UserID: u.ID, Role: u.Role, Kind: auth.KindSession, CredentialID: "000000000000"}
}

func (e *env) mustNotAuth(t testing.TB, bearer string) {
	t.Helper()
	p, err := e.s.Authenticate(bearer, "10.0.0.1")
	if !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", p, err)
	}
}

func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enableTOTP turns TOTP on for user and moves the clock two steps on, so
// that every step in the ±1 window is unused.
func (e *env) enableTOTP(t testing.TB, user string) (secret string, recovery []string) {
	t.Helper()
	setup, err := e.s.BeginTOTP(user)
	if err != nil {
		t.Fatal(err)
	}
	recovery, err = e.s.ConfirmTOTP(user, code(t, setup.Secret, e.clk.Now()), "")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(60 * time.Second)
	return setup.Secret, recovery
}
