package auth_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/auth"
	"github.com/shoebox/shoebox/gateway/token"
)

// Tests of what a credential proved and how long it lives: factors,
// revocation when the person's credentials change, enrolment codes and
// resets.

// onBox asks for an enrolment code as the box's local token would.
func (e *env) onBox(t testing.TB, user string) string {
	t.Helper()
	c, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: user, TTL: time.Hour, OnBox: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) enrol(t testing.TB, code string) string {
	t.Helper()
	tok, _, err := e.s.Enrol(code, "10.0.0.2", "phone")
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	return tok
}

func TestSessionFactors(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("anna", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	_, sess, err := e.s.Login(auth.LoginRequest{User: "anna", Password: userPW})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sess.Factors, []auth.Factor{auth.FactorPassword}) || sess.SecondFactor {
		t.Errorf("password sign-in: factors %v, second factor %v", sess.Factors, sess.SecondFactor)
	}
	secret, recovery := e.enableTOTP(t, "anna")
	tests := []struct {
		name  string
		tok   func() string
		want  []auth.Factor
		proof bool
	}{
		{"password and TOTP", func() string {
			return e.login(t, auth.LoginRequest{User: "anna", Password: userPW, Code: code(t, secret, e.clk.Now())})
		}, []auth.Factor{auth.FactorPassword, auth.FactorTOTP}, true},
		{"password and recovery code", func() string {
			return e.login(t, auth.LoginRequest{User: "anna", Password: userPW, Code: recovery[0]})
		}, []auth.Factor{auth.FactorPassword, auth.FactorRecovery}, true},
		{"enrolment code", func() string { return e.enrol(t, e.onBox(t, "anna")) }, []auth.Factor{auth.FactorEnrolment}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.mustAuth(t, tt.tok())
			if !p.TOTP || p.SecondFactor != tt.proof {
				t.Errorf("principal: TOTP %v, second factor %v; want true, %v", p.TOTP, p.SecondFactor, tt.proof)
			}
			list, err := e.s.ListSessions("anna")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range list {
				if s.ID == p.CredentialID && !slices.Equal(s.Factors, tt.want) {
					t.Errorf("factors %v, want %v", s.Factors, tt.want)
				}
			}
		})
	}
}

// TestTOTPChangesEndOtherCredentials: turning two-step sign-in on or off
// keeps the session that did it and ends every other session, API key
// and enrolment code of the person, one event each.
func TestTOTPChangesEndOtherCredentials(t *testing.T) {
	e := newEnv(t)
	mine := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Device: "phone"})
	other := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Device: "laptop"})
	p := e.mustAuth(t, mine)
	key, _, err := e.s.CreateAPIKey("olivia", p.CredentialID, "k", []auth.Action{auth.StatusRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	enrol := e.onBox(t, "olivia")

	setup, err := e.s.BeginTOTP("olivia")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ConfirmTOTP("olivia", code(t, setup.Secret, e.clk.Now()), p.CredentialID); err != nil {
		t.Fatal(err)
	}
	if p := e.mustAuth(t, mine); !p.TOTP || !p.SecondFactor {
		t.Errorf("the session that turned TOTP on: %+v, want it to count as having proved it", p)
	}
	e.mustNotAuth(t, other)
	e.mustNotAuth(t, key)
	if _, _, err := e.s.Enrol(enrol, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("enrolment code after TOTP was turned on: %v, want ErrBadCredentials", err)
	}
	for _, k := range []auth.EventKind{auth.EventSessionRevoked, auth.EventAPIKeyRevoked, auth.EventEnrolmentCancelled} {
		if n := e.ev.count(k); n != 1 {
			t.Errorf("%d %s events, want 1", n, k)
		}
	}

	e.clk.Add(time.Minute)
	other = e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Code: code(t, setup.Secret, e.clk.Now())})
	key, _, err = e.s.CreateAPIKey("olivia", p.CredentialID, "k", []auth.Action{auth.StatusRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if p := e.mustAuth(t, key); !p.SecondFactor {
		t.Error("an API key made by a session that proved TOTP does not count as having it")
	}
	e.clk.Add(time.Minute)
	if err := e.s.DisableTOTP("olivia", "", code(t, setup.Secret, e.clk.Now()), p.CredentialID, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.mustAuth(t, mine)
	e.mustNotAuth(t, other)
	e.mustNotAuth(t, key)
}

func TestProveSecondFactor(t *testing.T) {
	e := newEnv(t)
	if err := e.s.ProveSecondFactor("olivia", "abc", "123456"); !errors.Is(err, auth.ErrTOTPDisabled) {
		t.Errorf("without TOTP: got %v, want ErrTOTPDisabled", err)
	}
	secret, recovery := e.enableTOTP(t, "olivia")
	phone := e.enrol(t, e.onBox(t, "olivia"))
	p := e.mustAuth(t, phone)
	if p.SecondFactor {
		t.Fatal("a session from an enrolment code has the second factor")
	}
	if _, _, err := e.s.CreateAPIKey("olivia", p.CredentialID, "k", []auth.Action{auth.StatusRead}, time.Time{}); !errors.Is(err, auth.ErrSecondFactor) {
		t.Errorf("API key from a session without the second factor: got %v, want ErrSecondFactor", err)
	}
	for range auth.MaxMisses - 1 {
		if err := e.s.ProveSecondFactor("olivia", p.CredentialID, "000000"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("wrong code: got %v, want ErrBadCredentials", err)
		}
	}
	c := code(t, secret, e.clk.Now())
	if err := e.s.ProveSecondFactor("olivia", p.CredentialID, c); err != nil {
		t.Fatal(err)
	}
	if p := e.mustAuth(t, phone); !p.SecondFactor {
		t.Error("after a right code the session has no second factor")
	}
	if _, _, err := e.s.CreateAPIKey("olivia", p.CredentialID, "k", []auth.Action{auth.StatusRead}, time.Time{}); err != nil {
		t.Errorf("API key after the proof: %v", err)
	}

	// The code is spent; a recovery code works once; misses end a session.
	other := e.mustAuth(t, e.enrol(t, e.onBox(t, "olivia")))
	if err := e.s.ProveSecondFactor("olivia", other.CredentialID, c); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("a spent TOTP code: got %v, want ErrBadCredentials", err)
	}
	if err := e.s.ProveSecondFactor("olivia", other.CredentialID, recovery[0]); err != nil {
		t.Errorf("recovery code: %v", err)
	}
	guess := e.enrol(t, e.onBox(t, "olivia"))
	gp := e.mustAuth(t, guess)
	for range auth.MaxMisses {
		if err := e.s.ProveSecondFactor("olivia", gp.CredentialID, "000000"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("wrong code: got %v, want ErrBadCredentials", err)
		}
	}
	e.mustNotAuth(t, guess)
	if err := e.s.ProveSecondFactor("olivia", gp.CredentialID, recovery[1]); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("proof on an ended session: got %v, want ErrNotFound", err)
	}
	if e.ev.count(auth.EventSecondFactor) != 2 {
		t.Errorf("%d second_factor events, want 2", e.ev.count(auth.EventSecondFactor))
	}
}

// TestEnrolmentRules: a code for oneself, for an account nobody has
// signed in to, or from the box; not for someone else's account.
func TestEnrolmentRules(t *testing.T) {
	e := newEnv(t)
	for u, role := range map[string]auth.Role{"ada": auth.Admin, "mia": auth.Member} {
		if _, err := e.s.CreateUser(u, userPW, role); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.CreateUser("nina", "", auth.Member); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser("pat", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	ada := e.mustAuth(t, e.login(t, auth.LoginRequest{User: "ada", Password: userPW}))
	e.login(t, auth.LoginRequest{User: "mia", Password: userPW})
	ask := func(user string, onBox bool) (string, auth.Enrolment, error) {
		return e.s.CreateEnrolment(auth.EnrolmentRequest{User: user, TTL: 10 * time.Minute, By: ada, OnBox: onBox})
	}
	tests := []struct {
		user    string
		onBox   bool
		purpose string
		err     error
	}{
		{"ada", false, auth.EnrolSelf, nil},
		{"nina", false, auth.EnrolNew, nil},
		{"mia", true, auth.EnrolOnBox, nil},
		{"mia", false, "", auth.ErrForbidden},
		{"pat", false, "", auth.ErrForbidden}, // new, but made with a password: pat signs in with it
		{"MIA", false, "", auth.ErrForbidden},
		{"nobody", false, "", auth.ErrNotFound},
	}
	for _, tt := range tests {
		_, got, err := ask(tt.user, tt.onBox)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("code for %s (on box %v): got %v, want %v", tt.user, tt.onBox, err, tt.err)
			continue
		}
		if err == nil && (got.Purpose != tt.purpose || got.By != "ada" || got.ID == "") {
			t.Errorf("code for %s: %+v, want purpose %q by ada", tt.user, got, tt.purpose)
		}
	}
	// An API key may not ask for a code, not even for its own person: it
	// would trade a script's key for the person's session.
	key, _, err := e.s.CreateAPIKey("ada", ada.CredentialID, "sync", []auth.Action{auth.UsersManage}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "ada", TTL: time.Minute, By: e.mustAuth(t, key)}); !errors.Is(err, auth.ErrForbidden) || !strings.Contains(err.Error(), "sign in as the person") {
		t.Errorf("code asked for with an API key: got %v, want ErrForbidden saying to sign in as the person", err)
	}
	if _, _, err := e.s.ResetCredentials("mia", e.mustAuth(t, key), time.Minute); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("reset asked for with an API key: got %v, want ErrForbidden", err)
	}
	for _, ttl := range []time.Duration{0, -time.Minute, auth.MaxEnrolTTL + time.Second} {
		if _, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "ada", TTL: ttl, By: ada}); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("TTL %s: got %v, want ErrInvalid", ttl, err)
		}
	}

	// Once someone signs in to the new account, it is no longer new: the
	// other codes made for it as a new account end, and no more are made.
	first, _, _ := ask("nina", false)
	second, _, _ := ask("nina", false)
	onBox, _, _ := ask("nina", true)
	e.enrol(t, first)
	if _, _, err := e.s.Enrol(second, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("the second new-account code after the first was used: got %v, want ErrBadCredentials", err)
	}
	e.enrol(t, onBox)
	if _, _, err := ask("nina", false); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("code for nina after her first sign-in: got %v, want ErrForbidden", err)
	}
}

func TestEnrolmentsListCancelAndBind(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("vic", "", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	code, info, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "vic", TTL: time.Minute, By: e.olivia(t)})
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.s.ListEnrolments()
	if err != nil || len(list) != 1 || list[0] != info || info.User != "vic" || info.Purpose != auth.EnrolNew {
		t.Fatalf("ListEnrolments: %+v, %v; want [%+v]", list, err, info)
	}
	if got, err := e.s.GetEnrolment(info.ID); err != nil || got != info {
		t.Errorf("GetEnrolment: %+v, %v", got, err)
	}

	// The account goes; a new one takes its name: the code is dead.
	if err := e.s.DeleteUser("vic"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser("vic", userPW, auth.Admin); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.Enrol(code, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("the deleted account's code: got %v, want ErrBadCredentials", err)
	}

	// Cancel; expiry.
	code, info, _ = e.s.CreateEnrolment(auth.EnrolmentRequest{User: "vic", TTL: time.Minute, OnBox: true})
	if err := e.s.CancelEnrolment(info.ID, "olivia"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CancelEnrolment(info.ID, "olivia"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("cancel twice: got %v, want ErrNotFound", err)
	}
	if _, _, err := e.s.Enrol(code, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("a cancelled code: got %v, want ErrBadCredentials", err)
	}
	code, info, _ = e.s.CreateEnrolment(auth.EnrolmentRequest{User: "vic", TTL: time.Minute, OnBox: true})
	e.clk.Add(time.Minute)
	if list, _ := e.s.ListEnrolments(); len(list) != 0 {
		t.Errorf("expired codes listed: %+v", list)
	}
	if _, err := e.s.GetEnrolment(info.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("GetEnrolment of an expired code: got %v, want ErrNotFound", err)
	}
	if _, _, err := e.s.Enrol(code, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("an expired code: got %v, want ErrBadCredentials", err)
	}

	// A password change ends the person's codes.
	p := e.mustAuth(t, e.login(t, auth.LoginRequest{User: "vic", Password: userPW}))
	code, _, _ = e.s.CreateEnrolment(auth.EnrolmentRequest{User: "vic", TTL: time.Minute, By: p})
	if err := e.s.SetPassword("vic", userPW, "vics-new-password", p.CredentialID, false, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.Enrol(code, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("a code after a password change: got %v, want ErrBadCredentials", err)
	}
}

func TestAccountWithoutPassword(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("nina", "", auth.Member); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "anything-at-all"} {
		if _, _, err := e.s.Login(auth.LoginRequest{User: "nina", Password: pw}); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("sign-in with %q: got %v, want ErrBadCredentials", pw, err)
		}
	}
	p := e.mustAuth(t, e.enrol(t, e.onBox(t, "nina")))
	if err := e.s.SetPassword("nina", "", "short", p.CredentialID, false, "10.0.0.1"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a short first password: got %v, want ErrInvalid", err)
	}
	if err := e.s.SetPassword("nina", "", "ninas-own-password", p.CredentialID, false, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.login(t, auth.LoginRequest{User: "nina", Password: "ninas-own-password"})
	if err := e.s.SetPassword("nina", "", "another-password", p.CredentialID, false, "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("a second change without the old password: got %v, want ErrBadCredentials", err)
	}
}

func TestResetCredentials(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("mia", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	secret, _ := e.enableTOTP(t, "mia")
	sess := e.login(t, auth.LoginRequest{User: "mia", Password: userPW, Code: code(t, secret, e.clk.Now())})
	p := e.mustAuth(t, sess)
	key, _, err := e.s.CreateAPIKey("mia", p.CredentialID, "k", []auth.Action{auth.StatusRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	old, _, _ := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "mia", TTL: time.Hour, By: p})

	code, info, err := e.s.ResetCredentials("mia", e.olivia(t), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if info.Purpose != auth.EnrolReset || info.By != "olivia" || info.User != "mia" {
		t.Errorf("reset code: %+v", info)
	}
	e.mustNotAuth(t, sess)
	e.mustNotAuth(t, key)
	if _, _, err := e.s.Enrol(old, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("an older code after the reset: got %v, want ErrBadCredentials", err)
	}
	if _, _, err := e.s.Login(auth.LoginRequest{User: "mia", Password: userPW, Code: code2(t, e, secret)}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("the old password after the reset: got %v, want ErrBadCredentials", err)
	}
	if u, _ := e.s.GetUser("mia"); u.TOTP {
		t.Error("two-step sign-in still on after the reset")
	}
	var reset *auth.Event
	for _, ev := range e.ev.all() {
		if ev.Kind == auth.EventCredentialsReset {
			reset = &ev
		}
	}
	if reset == nil || reset.User != "mia" || !strings.Contains(reset.Detail, "olivia") || reset.CredentialID != info.ID {
		t.Errorf("credentials_reset event: %+v", reset)
	}

	phone := e.mustAuth(t, e.enrol(t, code))
	if phone.TOTP || phone.SecondFactor {
		t.Errorf("after the reset: %+v", phone)
	}
	notes, err := e.s.TakeNotices("mia")
	if err != nil || len(notes) != 1 || notes[0].Kind != auth.NoticeReset || !strings.Contains(notes[0].Text, "olivia reset your sign-in") {
		t.Errorf("notices: %+v, %v", notes, err)
	}
	if notes, _ := e.s.TakeNotices("mia"); len(notes) != 0 {
		t.Errorf("notices shown twice: %+v", notes)
	}
	if err := e.s.SetPassword("mia", "", "mias-new-password", phone.CredentialID, false, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.ResetCredentials("nobody", e.olivia(t), time.Minute); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("reset of an unknown account: got %v, want ErrNotFound", err)
	}
}

// code2 is a fresh code for secret, a step later.
func code2(t *testing.T, e *env, secret string) string {
	e.clk.Add(30 * time.Second)
	return code(t, secret, e.clk.Now())
}

func TestNotify(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		if err := e.s.Notify("Olivia", auth.NoticePasswordExposed, "exposed "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Notify("nobody", auth.NoticePasswordExposed, "x"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("notice for an unknown account: got %v, want ErrNotFound", err)
	}
	notes, err := e.s.TakeNotices("olivia")
	if err != nil || len(notes) != 1 || notes[0].Text != "exposed e" {
		t.Errorf("notices: %+v, %v; want the last one only", notes, err)
	}
}

// TestCredentialsFromBeforeFactors: records written before sessions had
// factors and account IDs keep working as password-only credentials of
// the account that has their name; old enrolment codes are dropped.
func TestCredentialsFromBeforeFactors(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enableTOTP(t, "olivia")
	u, _ := e.s.GetUser("olivia")
	now := e.clk.Now()
	sess, key, enrol, orphan := token.New(token.Session), token.New(token.APIKey), token.New(token.Enrol), token.New(token.Session)
	put := func(tx *bbolt.Tx, bucket, tok string, rec any) {
		raw, _ := json.Marshal(rec)
		if err := tx.Bucket([]byte(bucket)).Put([]byte(token.Hash(tok)), raw); err != nil {
			t.Fatal(err)
		}
	}
	err := e.db.Update(func(tx *bbolt.Tx) error {
		put(tx, "auth.sessions", sess, map[string]any{"id": "aaaaaaaaaaaa", "user": "olivia", "created": now, "last_seen": now})
		put(tx, "auth.sessions", orphan, map[string]any{"id": "bbbbbbbbbbbb", "user": "gone", "created": now, "last_seen": now})
		put(tx, "auth.apikeys", key, map[string]any{"id": "cccccccccccc", "user": "olivia", "name": "old", "scopes": []string{"status.read"}, "created": now})
		put(tx, "auth.enrol", enrol, map[string]any{"user": "olivia", "expires": now.Add(time.Hour)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := auth.New(e.db, auth.Options{BoxKey: make([]byte, 32), Now: e.clk.Now, Params: tinyParams, LoginBurst: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s2.Authenticate(sess, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != u.ID || !p.TOTP || p.SecondFactor {
		t.Errorf("an old session: %+v, want olivia's, TOTP on, no second factor", p)
	}
	if _, err := s2.Authenticate(orphan, "10.0.0.1"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("an old session of a deleted account: got %v", err)
	}
	if p, err := s2.Authenticate(key, ""); err != nil || p.UserID != u.ID || p.SecondFactor {
		t.Errorf("an old API key: %+v, %v; want olivia's, without the second factor", p, err)
	}
	if _, _, err := s2.Enrol(enrol, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("an old enrolment code: got %v, want ErrBadCredentials", err)
	}
	// The old session proves the factor as a paired one does. (s2 has
	// another box key, so it uses e.s, which has the right one.)
	e.clk.Add(time.Minute)
	if err := e.s.ProveSecondFactor("olivia", p.CredentialID, code(t, secret, e.clk.Now())); err != nil {
		t.Fatal(err)
	}
	if p := e.mustAuth(t, sess); !p.SecondFactor {
		t.Error("the old session after proving the factor has none")
	}
}

// TestWhatACredentialMadeEndsWithIt: API keys and enrolment codes record
// the credential that made them, and end when it is revoked (by the
// person, by too many wrong codes, or because it was sent in the clear),
// in turn ending what they made; a sign-out ends nothing else.
func TestWhatACredentialMadeEndsWithIt(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("ada", userPW, auth.Admin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser("nina", "", auth.Member); err != nil {
		t.Fatal(err)
	}
	// mk signs ada in and makes with that session an API key, a code for
	// herself and one for the new account nina.
	type madeBy struct{ sess, key, self, forNina string }
	mk := func() madeBy {
		t.Helper()
		sess := e.login(t, auth.LoginRequest{User: "ada", Password: userPW})
		p := e.mustAuth(t, sess)
		key, info, err := e.s.CreateAPIKey("ada", p.CredentialID, "script", []auth.Action{auth.StatusRead}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if info.MadeBy != (auth.Maker{Kind: auth.KindSession, ID: p.CredentialID}) {
			t.Errorf("the key's maker: %+v, want session %s", info.MadeBy, p.CredentialID)
		}
		self, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "ada", TTL: time.Hour, By: p})
		if err != nil {
			t.Fatal(err)
		}
		forNina, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "nina", TTL: time.Hour, By: p})
		if err != nil {
			t.Fatal(err)
		}
		return madeBy{sess, key, self, forNina}
	}
	ended := func(what string, m madeBy) {
		t.Helper()
		e.mustNotAuth(t, m.key)
		for _, c := range []string{m.self, m.forNina} {
			if _, _, err := e.s.Enrol(c, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
				t.Errorf("%s: a code its session made: got %v, want ErrBadCredentials", what, err)
			}
		}
	}

	// Revoked by the person from another device.
	m := mk()
	other := e.mustAuth(t, e.login(t, auth.LoginRequest{User: "ada", Password: userPW}))
	sessID := e.mustAuth(t, m.sess).CredentialID
	if err := e.s.RevokeSession("ada", sessID); err != nil {
		t.Fatal(err)
	}
	ended("revoked session", m)
	var via []auth.Event
	for _, ev := range e.ev.all() {
		if ev.Via != "" {
			via = append(via, ev)
		}
	}
	if len(via) != 3 {
		t.Errorf("events of what the revoked session made: %+v, want 3 (a key, two codes) naming ada as Via", via)
	}
	for _, ev := range via {
		if ev.Via != "ada" || !strings.Contains(ev.Detail, sessID) {
			t.Errorf("event %+v: want Via ada and a detail naming session %s", ev, sessID)
		}
	}

	// Sent over plain HTTP: the session and, with it, what it made.
	m = mk()
	if _, err := e.s.RevokeCredential(m.sess); err != nil {
		t.Fatal(err)
	}
	ended("exposed session", m)

	// A sign-out ends the session alone.
	m = mk()
	if err := e.s.Logout(m.sess); err != nil {
		t.Fatal(err)
	}
	e.mustAuth(t, m.key)
	if _, _, err := e.s.Enrol(m.self, "", "phone"); err != nil {
		t.Errorf("a code of a session that signed out: %v, want it to work", err)
	}

	// A password change with keep_api_keys keeps the keys, whoever made
	// them; without, ends them. Either way codes for others made by the
	// sessions it ends go too.
	m = mk()
	if err := e.s.SetPassword("ada", userPW, "adas-new-password", other.CredentialID, true, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.mustNotAuth(t, m.sess)
	e.mustAuth(t, m.key)
	if _, _, err := e.s.Enrol(m.forNina, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("a code for nina made by a session a password change ended: got %v, want ErrBadCredentials", err)
	}
}

// TestPairingCodeForSomeoneElse: a code an admin asked for for a new
// account ends when the account's role changes, and is refused once the
// admin may no longer manage the account.
func TestPairingCodeForSomeoneElse(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("ada", userPW, auth.Admin); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "cat"} {
		if _, err := e.s.CreateUser(u, "", auth.Member); err != nil {
			t.Fatal(err)
		}
	}
	ada := e.mustAuth(t, e.login(t, auth.LoginRequest{User: "ada", Password: userPW}))
	ask := func(user string) string {
		t.Helper()
		c, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: user, TTL: time.Hour, By: ada})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	forBob, onBox := ask("bob"), e.onBox(t, "bob")
	if err := e.s.SetRole("bob", auth.Owner); err != nil {
		t.Fatal(err)
	}
	for what, c := range map[string]string{"the admin's code": forBob, "a code from the box": onBox} {
		if _, _, err := e.s.Enrol(c, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("%s for bob after bob was made owner: got %v, want ErrBadCredentials", what, err)
		}
	}
	if n := e.ev.count(auth.EventEnrolmentCancelled); n != 2 {
		t.Errorf("%d enrolment_cancelled events after the role change, want 2", n)
	}

	// ada's code for cat, then ada is made a member: she may no longer
	// manage accounts, and her code is refused and gone.
	forCat := ask("cat")
	if err := e.s.SetRole("ada", auth.Member); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.Enrol(forCat, "", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("ada's code for cat after ada became a member: got %v, want ErrBadCredentials", err)
	}
	if list, _ := e.s.ListEnrolments(); len(list) != 0 {
		t.Errorf("outstanding codes: %+v, want none (the refused one is gone)", list)
	}
	// A reset from the CLI on the box (its local token, no account).
	box := auth.Principal{User: "root@box", UserID: "root@box", Role: auth.Owner, Kind: auth.KindLocal}
	reset, _, err := e.s.ResetCredentials("cat", box, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.enrol(t, reset)
	var refused bool
	for _, ev := range e.ev.all() {
		refused = refused || ev.Kind == auth.EventEnrolmentCancelled && ev.User == "cat" && strings.Contains(ev.Detail, "may no longer manage")
	}
	if !refused {
		t.Errorf("no enrolment_cancelled event saying ada may no longer manage cat: %+v", e.ev.all())
	}
}
