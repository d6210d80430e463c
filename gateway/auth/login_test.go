package auth_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/auth"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/token"
)

func TestLoginPassword(t *testing.T) {
	e := newEnv(t)
	tok, sess, err := e.s.Login(auth.LoginRequest{User: "Olivia", Password: ownerPW, IP: "192.0.2.7", Device: "Olivia's phone\x00\n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := token.Parse(token.Session, tok); err != nil {
		t.Fatalf("token %s: %v", token.Redact(tok), err)
	}
	if sess.User != "olivia" || sess.Device != "Olivia's phone" || sess.IP != "192.0.2.7" || len(sess.ID) != 12 ||
		!sess.Created.Equal(t0) || !sess.Expires.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("session: got %+v", sess)
	}
	p := e.mustAuth(t, tok)
	want := auth.Principal{User: "olivia", Role: auth.Owner, CredentialID: sess.ID, Kind: auth.KindSession}
	if p.User != want.User || p.Role != want.Role || p.CredentialID != want.CredentialID || p.Kind != want.Kind || p.Scopes != nil {
		t.Fatalf("principal: got %+v, want %+v", p, want)
	}
	if n := e.ev.count(auth.EventLogin); n != 1 {
		t.Fatalf("login events: got %d, want 1", n)
	}
}

func TestUnknownUserAndWrongPasswordLookAlike(t *testing.T) {
	e := newEnv(t)
	_, _, errUnknown := e.s.Login(auth.LoginRequest{User: "mallory", Password: ownerPW})
	_, _, errWrong := e.s.Login(auth.LoginRequest{User: "olivia", Password: "not the password"})
	if !errors.Is(errUnknown, auth.ErrBadCredentials) || !errors.Is(errWrong, auth.ErrBadCredentials) {
		t.Fatalf("got %v and %v, want ErrBadCredentials for both", errUnknown, errWrong)
	}
	if errUnknown.Error() != errWrong.Error() {
		t.Fatalf("messages differ: %q vs %q", errUnknown, errWrong)
	}
	if n := e.ev.count(auth.EventLoginFailed); n != 2 {
		t.Fatalf("login_failed events: got %d, want 2", n)
	}
}

func TestTOTPWindow(t *testing.T) {
	for _, tt := range []struct {
		steps int
		ok    bool
	}{
		{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false},
	} {
		t.Run(fmt.Sprint(tt.steps), func(t *testing.T) {
			e := newEnv(t)
			secret, _ := e.enableTOTP(t, "olivia")
			now := e.clk.Now()
			c := code(t, secret, now.Add(time.Duration(tt.steps)*30*time.Second))
			if !tt.ok {
				for s := -1; s <= 1; s++ {
					if c == code(t, secret, now.Add(time.Duration(s)*30*time.Second)) {
						t.Skipf("code at %d steps collides with step %d (1 in 10⁶)", tt.steps, s)
					}
				}
			}
			_, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, Code: c})
			if tt.ok && err != nil {
				t.Fatalf("code at %+d steps: got %v, want success", tt.steps, err)
			}
			if !tt.ok && !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("code at %+d steps: got %v, want ErrBadCredentials", tt.steps, err)
			}
		})
	}
}

func TestTOTPReplay(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enableTOTP(t, "olivia")
	now := e.clk.Now()
	c := code(t, secret, now)
	e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Code: c})
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, Code: c}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("replayed code: got %v, want ErrBadCredentials", err)
	}
	// An earlier step, still inside the window, is spent too.
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, Code: code(t, secret, now.Add(-30*time.Second))}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("code from an earlier step: got %v, want ErrBadCredentials", err)
	}
	e.clk.Add(30 * time.Second)
	e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Code: " " + code(t, secret, e.clk.Now())[:3] + " " + code(t, secret, e.clk.Now())[3:]})
}

func TestTOTPRequired(t *testing.T) {
	e := newEnv(t)
	e.enableTOTP(t, "olivia")
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW}); !errors.Is(err, auth.ErrTOTPRequired) {
		t.Fatalf("right password, no code: got %v, want ErrTOTPRequired", err)
	}
	// A wrong password does not reveal that the account uses TOTP.
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: "wrong password!"}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password, no code: got %v, want ErrBadCredentials", err)
	}
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, Code: "000000x"}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("garbage code: got %v, want ErrBadCredentials", err)
	}
}

func TestTOTPSetup(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.ConfirmTOTP("olivia", "123456", ""); !errors.Is(err, auth.ErrTOTPDisabled) {
		t.Fatalf("confirm before begin: got %v, want ErrTOTPDisabled", err)
	}
	setup, err := e.s.BeginTOTP("olivia")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(setup.URL, "otpauth://totp/Shoebox:olivia?") || !strings.Contains(setup.URL, "secret="+setup.Secret) {
		t.Fatalf("URL: got %q", setup.URL)
	}
	if _, err := e.s.ConfirmTOTP("olivia", "12345", ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("bad confirm code: got %v, want ErrBadCredentials", err)
	}
	if u, _ := e.s.GetUser("olivia"); u.TOTP {
		t.Fatal("TOTP on before confirmation")
	}
	codes, err := e.s.ConfirmTOTP("olivia", code(t, setup.Secret, e.clk.Now()), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("recovery codes: got %d, want 10", len(codes))
	}
	re := regexp.MustCompile(`^[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !re.MatchString(c) || seen[c] {
			t.Fatalf("recovery code %q: bad form or repeated", c)
		}
		seen[c] = true
	}
	if u, _ := e.s.GetUser("olivia"); !u.TOTP || u.RecoveryCodes != 10 {
		t.Fatalf("user: got %+v", u)
	}
	if _, err := e.s.BeginTOTP("olivia"); !errors.Is(err, auth.ErrTOTPEnabled) {
		t.Fatalf("begin while on: got %v, want ErrTOTPEnabled", err)
	}
	// The confirmation code cannot be replayed to sign in.
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, Code: code(t, setup.Secret, e.clk.Now())}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("confirmation code replayed: got %v, want ErrBadCredentials", err)
	}
}

func TestRecoveryCodeSingleUse(t *testing.T) {
	e := newEnv(t)
	_, codes := e.enableTOTP(t, "olivia")
	e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Code: codes[3]})
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, Code: codes[3]}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("recovery code reused: got %v, want ErrBadCredentials", err)
	}
	// Case, spaces and dashes do not matter.
	loose := strings.ToUpper(strings.ReplaceAll(codes[4], "-", " "))
	e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Code: loose})
	if u, _ := e.s.GetUser("olivia"); u.RecoveryCodes != 8 {
		t.Fatalf("recovery codes left: got %d, want 8", u.RecoveryCodes)
	}
	// Codes belong to their account.
	if _, err := e.s.CreateUser("anna", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	e.enableTOTP(t, "anna")
	if _, _, err := e.s.Login(auth.LoginRequest{User: "anna", Password: userPW, Code: codes[5]}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("another account's recovery code: got %v, want ErrBadCredentials", err)
	}
}

func TestDisableTOTP(t *testing.T) {
	for _, tt := range []struct {
		name  string
		proof func(t *testing.T, e *env, secret string, recovery []string) (pw, code string)
	}{
		{"password", func(*testing.T, *env, string, []string) (string, string) { return ownerPW, "" }},
		{"totp code", func(t *testing.T, e *env, secret string, _ []string) (string, string) {
			return "", code(t, secret, e.clk.Now())
		}},
		{"recovery code", func(_ *testing.T, _ *env, _ string, r []string) (string, string) { return "", r[0] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			secret, rec := e.enableTOTP(t, "olivia")
			if err := e.s.DisableTOTP("olivia", "wrong password!", "", "", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("wrong password: got %v, want ErrBadCredentials", err)
			}
			if code(t, secret, e.clk.Now()) != "000000" {
				// A wrong code fails even alongside the right password.
				if err := e.s.DisableTOTP("olivia", ownerPW, "000000", "", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
					t.Fatalf("wrong code: got %v, want ErrBadCredentials", err)
				}
			}
			pw, c := tt.proof(t, e, secret, rec)
			if err := e.s.DisableTOTP("olivia", pw, c, "", "10.0.0.1"); err != nil {
				t.Fatal(err)
			}
			if u, _ := e.s.GetUser("olivia"); u.TOTP || u.RecoveryCodes != 0 {
				t.Fatalf("user: got %+v", u)
			}
			e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW})
			if err := e.s.DisableTOTP("olivia", ownerPW, "", "", "10.0.0.1"); !errors.Is(err, auth.ErrTOTPDisabled) {
				t.Fatalf("disable twice: got %v, want ErrTOTPDisabled", err)
			}
			if e.ev.count(auth.EventTOTPEnabled) != 1 || e.ev.count(auth.EventTOTPDisabled) != 1 {
				t.Fatalf("events: %+v", e.ev.all())
			}
		})
	}
}

// TestNoAccountLockout: wrong passwords from one address slow down that
// address on that account, doubling up to 15 minutes; they never stop
// the right password from another address, nor that address on another
// account. A success clears the address's count.
func TestNoAccountLockout(t *testing.T) {
	e := newEnv(t)
	const attacker, owner = "198.51.100.1", "192.0.2.7"
	fail := func(ip string) error {
		_, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: "not the password", IP: ip})
		return err
	}
	wantWait := func(ip string, want time.Duration) {
		t.Helper()
		_, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, IP: ip})
		var rl *auth.RateLimitError
		if !errors.As(err, &rl) || !errors.Is(err, auth.ErrRateLimited) || !rl.Account || rl.Wait != want {
			t.Fatalf("right password from %s while backed off: got %v, want a %s *RateLimitError on the account", ip, err, want)
		}
		if !strings.Contains(err.Error(), "this account from this address") {
			t.Errorf("%q does not say what is slowed down", err)
		}
	}
	for i := 1; i <= 5; i++ {
		if err := fail(attacker); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("failure %d: got %v, want ErrBadCredentials", i, err)
		}
	}
	if n := e.ev.count(auth.EventThrottled); n != 0 {
		t.Fatalf("throttled events within the free failures: %d", n)
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900} {
		want *= time.Second
		if err := fail(attacker); !errors.Is(err, auth.ErrBadCredentials) { // checked, and wrong
			t.Fatalf("failure %d: got %v, want ErrBadCredentials", 6+i, err)
		}
		wantWait(attacker, want)
		// The person, from their own address, signs in at once.
		e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, IP: owner})
		e.clk.Add(want)
	}
	if n := e.ev.count(auth.EventThrottled); n != 12 {
		t.Fatalf("throttled events: got %d, want 12", n)
	}
	if u, err := e.s.GetUser("olivia"); err != nil || u.Name != "olivia" {
		t.Fatal(u, err)
	}
	// The attacker's address may still sign in to another account.
	if _, err := e.s.CreateUser("anna", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	fail(attacker)
	e.login(t, auth.LoginRequest{User: "anna", Password: userPW, IP: attacker})
	// A success from the address clears its count on the account.
	e.clk.Add(15 * time.Minute)
	e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, IP: attacker})
	for i := 1; i <= 5; i++ {
		if err := fail(attacker); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("after a success, failure %d: got %v, want ErrBadCredentials", i, err)
		}
	}
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, IP: attacker}); err != nil {
		t.Fatalf("five failures after a success: %v, want no wait", err)
	}
}

// TestUnknownNamesBackOffAlike: an unknown name is slowed down exactly
// like a known one, step by step, with the same errors and events.
func TestUnknownNamesBackOffAlike(t *testing.T) {
	e := newEnv(t)
	try := func(user, ip string) error {
		_, _, err := e.s.Login(auth.LoginRequest{User: user, Password: "not the password", IP: ip})
		return err
	}
	for i := range 20 {
		k, u := try("olivia", "198.51.100.1"), try("mallory", "198.51.100.2")
		if k.Error() != u.Error() {
			t.Fatalf("attempt %d: known %q, unknown %q", i+1, k, u)
		}
		var rk, ru *auth.RateLimitError
		if errors.As(k, &rk) != errors.As(u, &ru) || rk != nil && *rk != *ru {
			t.Fatalf("attempt %d: known %#v, unknown %#v", i+1, rk, ru)
		}
		e.clk.Add(3 * time.Second)
	}
	var known, unknown int
	for _, ev := range e.ev.all() {
		if ev.Kind == auth.EventThrottled {
			if ev.User == "olivia" {
				known++
			} else if ev.User == "" {
				unknown++
			}
		}
	}
	if known == 0 || known != unknown {
		t.Fatalf("throttled events: %d for olivia, %d for the unknown name; want the same, some", known, unknown)
	}
}

// TestPasswordChangeBacksOff: wrong old passwords and wrong codes given
// to SetPassword and DisableTOTP count like failed sign-ins from the
// caller's address.
func TestPasswordChangeBacksOff(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enableTOTP(t, "olivia")
	const ip = "198.51.100.9"
	for i := range 3 {
		if err := e.s.SetPassword("olivia", "not the password", "a new password!", "", false, ip); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("SetPassword %d: got %v, want ErrBadCredentials", i+1, err)
		}
	}
	for i := range 2 {
		if err := e.s.DisableTOTP("olivia", "", "000000", "", ip); !errors.Is(err, auth.ErrBadCredentials) && code(t, secret, e.clk.Now()) != "000000" {
			t.Fatalf("DisableTOTP %d: got %v, want ErrBadCredentials", i+1, err)
		}
	}
	if err := e.s.DisableTOTP("olivia", "not the password", "", "", ip); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("sixth failure: got %v, want ErrBadCredentials", err)
	}
	for _, call := range []func() error{
		func() error { return e.s.SetPassword("olivia", ownerPW, "a new password!", "", false, ip) },
		func() error { return e.s.DisableTOTP("olivia", ownerPW, "", "", ip) },
		func() error {
			_, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, IP: ip})
			return err
		},
	} {
		if err := call(); !errors.Is(err, auth.ErrRateLimited) {
			t.Fatalf("right password while backed off: got %v, want ErrRateLimited", err)
		}
	}
	// Another address is not held up.
	if err := e.s.SetPassword("olivia", ownerPW, "a new password!", "", false, "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	e := newEnv(t, func(o *auth.Options) { o.LoginBurst = 0 }) // defaults: burst 10, one per 6 s
	n := 0
	try := func(ip, pw string) error { // a new name each time: no back-off on one account
		n++
		_, _, err := e.s.Login(auth.LoginRequest{User: fmt.Sprintf("nobody-%d", n), Password: pw, IP: ip})
		return err
	}
	for i := range 10 {
		if err := try("203.0.113.5", "whatever-pw"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("attempt %d: got %v, want ErrBadCredentials", i+1, err)
		}
	}
	err := try("203.0.113.5", "whatever-pw")
	var rl *auth.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, auth.ErrRateLimited) || rl.RetryAfter() != 6 {
		t.Fatalf("attempt 11: got %v, want *RateLimitError retry after 6 s", err)
	}
	// Right credentials are refused too while the IP is limited.
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, IP: "203.0.113.5"}); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("limited IP, right password: got %v, want ErrRateLimited", err)
	}
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, IP: "203.0.113.6"}); err != nil {
		t.Fatalf("another IP: %v", err)
	}
	e.clk.Add(6 * time.Second)
	if err := try("203.0.113.5", "whatever-pw"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("after 6 s: got %v, want ErrBadCredentials", err)
	}
	if err := try("203.0.113.5", "whatever-pw"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("right after: got %v, want ErrRateLimited", err)
	}

	// An IPv6 address counts by its /64: one home or phone network.
	for i := range 10 {
		if err := try(fmt.Sprintf("2001:db8:1:2::%x", i+1), "whatever-pw"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("IPv6 attempt %d: got %v, want ErrBadCredentials", i+1, err)
		}
	}
	if err := try("2001:db8:1:2:ffff:ffff:ffff:ffff", "whatever-pw"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("another address in the same /64: got %v, want ErrRateLimited", err)
	}
	if err := try("2001:db8:1:3::1", "whatever-pw"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("the next /64: got %v, want ErrBadCredentials", err)
	}
	// So does the back-off on an account.
	e.clk.Add(time.Hour)
	for i := range 6 {
		if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: "not the password", IP: fmt.Sprintf("2001:db8:9:9::%x", i+1)}); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("IPv6 failure %d: got %v, want ErrBadCredentials", i+1, err)
		}
	}
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, IP: "2001:db8:9:9:abcd::1"}); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("the right password from the same /64 after 6 failures: got %v, want ErrRateLimited", err)
	}
	e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, IP: "2001:db8:9:a::1"})
}

// TestLoginWhenKDFBusy: with the password-hashing budget full, sign-ins
// for known and unknown names alike answer ErrBusy with a retry delay,
// count no failure, and work again once there is room.
func TestLoginWhenKDFBusy(t *testing.T) {
	e := newEnv(t)
	password.SetLimits(password.Limits{Memory: 1, Waiters: 1, Wait: 10 * time.Millisecond})
	t.Cleanup(func() { password.SetLimits(password.Limits{}) })
	release, err := password.Acquire(tinyParams)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		for _, user := range []string{"olivia", "mallory"} {
			_, _, err := e.s.Login(auth.LoginRequest{User: user, Password: "whatever", IP: "198.51.100.1"})
			var be *password.BusyError
			if !errors.As(err, &be) || !errors.Is(err, password.ErrBusy) || be.RetryAfter() < 1 {
				t.Fatalf("%s while the budget is full: got %v, want a *password.BusyError", user, err)
			}
		}
	}
	if n := e.ev.count(auth.EventLoginFailed); n != 0 {
		t.Fatalf("%d failures recorded for sign-ins that were not checked", n)
	}
	release()
	e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, IP: "198.51.100.1"})
}

func TestSessionExpiry(t *testing.T) {
	const day = 24 * time.Hour
	t.Run("idle", func(t *testing.T) {
		e := newEnv(t)
		tok := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW})
		e.clk.Add(29 * day)
		e.mustAuth(t, tok)
		e.clk.Add(29 * day) // last use refreshed the idle limit
		e.mustAuth(t, tok)
		e.clk.Add(30 * day)
		e.mustNotAuth(t, tok)
		e.mustNotAuth(t, tok)
	})
	t.Run("absolute", func(t *testing.T) {
		e := newEnv(t)
		tok := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW})
		for range 8 {
			e.clk.Add(20 * day)
			e.mustAuth(t, tok)
		}
		e.clk.Add(20*day - time.Second) // 180 days minus 1 s
		e.mustAuth(t, tok)
		e.clk.Add(time.Second)
		e.mustNotAuth(t, tok)
	})
	t.Run("configured", func(t *testing.T) {
		e := newEnv(t, func(o *auth.Options) { o.SessionIdle, o.SessionMax = time.Hour, 2*time.Hour })
		tok, sess, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW})
		if err != nil {
			t.Fatal(err)
		}
		if !sess.Expires.Equal(t0.Add(time.Hour)) {
			t.Fatalf("Expires: got %v, want %v", sess.Expires, t0.Add(time.Hour))
		}
		e.clk.Add(time.Hour)
		e.mustNotAuth(t, tok)
		if l, _ := e.s.ListSessions("olivia"); len(l) != 0 {
			t.Fatalf("expired session listed: %+v", l)
		}
	})
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	phone := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Device: "phone", IP: "192.0.2.1"})
	e.clk.Add(time.Minute)
	tablet := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Device: "tablet", IP: "192.0.2.2"})
	if _, err := e.s.CreateUser("anna", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	anna := e.login(t, auth.LoginRequest{User: "anna", Password: userPW})

	e.clk.Add(time.Minute)
	e.mustAuth(t, phone) // now the most recently used, from 10.0.0.1
	list, err := e.s.ListSessions("olivia")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Device != "phone" || list[0].IP != "10.0.0.1" || !list[0].LastSeen.Equal(e.clk.Now()) || list[1].Device != "tablet" {
		t.Fatalf("ListSessions: got %+v", list)
	}
	if err := e.s.RevokeSession("anna", list[1].ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoke someone else's session: got %v, want ErrNotFound", err)
	}
	if err := e.s.RevokeSession("olivia", list[1].ID); err != nil {
		t.Fatal(err)
	}
	e.mustNotAuth(t, tablet)
	e.mustAuth(t, phone)
	if err := e.s.Logout(phone); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Logout(phone); err != nil {
		t.Fatalf("second logout: %v", err)
	}
	if err := e.s.Logout("not-a-token"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("logout with garbage: got %v, want ErrUnauthenticated", err)
	}
	e.mustNotAuth(t, phone)
	e.mustAuth(t, anna)
	if e.ev.count(auth.EventLogout) != 1 || e.ev.count(auth.EventSessionRevoked) != 1 {
		t.Fatalf("events: %+v", e.ev.all())
	}
}

func TestRevokeCredential(t *testing.T) {
	e := newEnv(t)
	sess := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW})
	key, info, err := e.s.CreateAPIKey("olivia", "", "backup script", []auth.Action{auth.BackupsWrite}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := e.s.CreateAPIKey("olivia", "", "old", []auth.Action{auth.StatusRead}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	enrol, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "olivia", TTL: time.Hour, OnBox: true})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(2 * time.Minute)
	for _, tok := range []string{sess, key, expired, enrol} {
		if user, err := e.s.RevokeCredential(tok); err != nil || user != "olivia" {
			t.Fatalf("RevokeCredential(%s): %q, %v; want olivia", token.Redact(tok), user, err)
		}
		if tok != enrol {
			e.mustNotAuth(t, tok)
		}
		if _, err := e.s.RevokeCredential(tok); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("revoke twice: got %v, want ErrNotFound", err)
		}
	}
	if _, _, err := e.s.Enrol(enrol, "10.0.0.1", "phone"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("a revoked enrolment code: got %v, want ErrBadCredentials", err)
	}
	for _, bad := range []string{"", "hello", token.New(token.Share), token.New(token.Session), token.New(token.Enrol)} {
		if _, err := e.s.RevokeCredential(bad); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("RevokeCredential(%q): got %v, want ErrNotFound", bad, err)
		}
	}
	var exposed []auth.Event
	for _, ev := range e.ev.all() {
		if ev.Kind == auth.EventCredentialExposed {
			exposed = append(exposed, ev)
		}
	}
	if len(exposed) != 4 || exposed[1].CredentialID != info.ID || exposed[1].User != "olivia" {
		t.Fatalf("credential_exposed events: got %+v", exposed)
	}
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"anna", auth.Member}, {"vic", auth.Viewer}, {"adam", auth.Admin}} {
		if _, err := e.s.CreateUser(u.name, userPW, u.role); err != nil {
			t.Fatal(err)
		}
	}
	never := time.Time{}
	tests := []struct {
		user    string
		scopes  []auth.Action
		expires time.Time
		want    error
	}{
		{"olivia", []auth.Action{auth.UsersManage, auth.Settings}, never, nil},
		{"adam", []auth.Action{auth.DisksManage}, never, nil},
		{"anna", []auth.Action{auth.BackupsRead, auth.BackupsWrite, auth.LocksSet, auth.StatusRead}, t0.Add(time.Hour), nil},
		{"anna", []auth.Action{auth.BackupsRead, auth.UsersManage}, never, auth.ErrForbidden},
		{"anna", []auth.Action{auth.DisksManage}, never, auth.ErrForbidden},
		{"vic", []auth.Action{auth.BackupsRead, auth.Download, auth.StatusRead}, never, nil},
		{"vic", []auth.Action{auth.Upload}, never, auth.ErrForbidden},
		{"vic", []auth.Action{auth.CardsRead}, never, auth.ErrForbidden},
		{"olivia", []auth.Action{"everything"}, never, auth.ErrInvalid},
		{"olivia", nil, never, auth.ErrInvalid},
		{"olivia", []auth.Action{auth.StatusRead}, t0, auth.ErrInvalid}, // already expired
		{"nobody", []auth.Action{auth.StatusRead}, never, auth.ErrNotFound},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.user), func(t *testing.T) {
			tok, info, err := e.s.CreateAPIKey(tt.user, "", "key", tt.scopes, tt.expires)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if token.Parse(token.APIKey, tok) != nil || info.User != tt.user || len(info.Scopes) != len(tt.scopes) {
				t.Fatalf("got %s, %+v", token.Redact(tok), info)
			}
			p := e.mustAuth(t, tok)
			if p.Kind != auth.KindAPIKey || p.CredentialID != info.ID || len(p.Scopes) != len(tt.scopes) {
				t.Fatalf("principal: got %+v", p)
			}
		})
	}

	// Scopes narrow the role; grants still apply.
	if err := e.s.Grant("anna", "family", auth.PermWrite); err != nil {
		t.Fatal(err)
	}
	tok, info, err := e.s.CreateAPIKey("anna", "", "uploader", []auth.Action{auth.Upload, auth.Restore}, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := e.mustAuth(t, tok)
	for _, c := range []struct {
		a     auth.Action
		space string
		want  bool
	}{
		{auth.Upload, "family", true},
		{auth.Upload, "work", false},        // no grant
		{auth.Restore, "family", false},     // write permission only
		{auth.BackupsRead, "family", false}, // not in scope
		{auth.StatusRead, "", false},        // not in scope
		{auth.Upload, "", false},            // members have no box-wide upload
	} {
		if got := e.s.Allowed(p, c.a, c.space); got != c.want {
			t.Errorf("Allowed(key, %s, %q): got %v, want %v", c.a, c.space, got, c.want)
		}
	}

	// Expiry.
	e.clk.Add(24*time.Hour - time.Second)
	e.mustAuth(t, tok)
	e.clk.Add(time.Second)
	e.mustNotAuth(t, tok)

	// List and revoke.
	keys, err := e.s.ListAPIKeys("anna")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("ListAPIKeys: got %+v", keys)
	}
	if err := e.s.RevokeAPIKey("olivia", info.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoke someone else's key: got %v, want ErrNotFound", err)
	}
	if err := e.s.RevokeAPIKey("anna", info.ID); err != nil {
		t.Fatal(err)
	}
	if keys, _ := e.s.ListAPIKeys("anna"); len(keys) != 1 {
		t.Fatalf("after revoke: got %+v", keys)
	}
	if e.ev.count(auth.EventAPIKeyCreated) != 5 || e.ev.count(auth.EventAPIKeyRevoked) != 1 {
		t.Fatalf("events: %+v", e.ev.all())
	}

	// A demoted user's key shrinks with the role.
	tok, _, err = e.s.CreateAPIKey("adam", "", "ops", []auth.Action{auth.DisksManage}, never)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetRole("adam", auth.Member); err != nil {
		t.Fatal(err)
	}
	if p := e.mustAuth(t, tok); e.s.Allowed(p, auth.DisksManage, "") {
		t.Fatal("demoted user's key still manages disks")
	}
}

func TestAuthenticateMalformedBeforeLookup(t *testing.T) {
	e := newEnv(t)
	tok := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW})
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	// With the database closed, any lookup would fail with a database
	// error; malformed tokens must be refused before that.
	for _, bad := range []string{"", "Bearer x", tok[:len(tok)-1], tok + "a", strings.ToUpper(tok), token.New(token.Share), token.New(token.Enrol)} {
		if _, err := e.s.Authenticate(bad, ""); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("Authenticate(%q): got %v, want ErrUnauthenticated", bad, err)
		}
	}
	if _, err := e.s.Authenticate(tok, ""); err == nil || errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("well-formed token on closed database: got %v, want a database error", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	tok := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if i%2 == 0 {
					if _, err := e.s.Authenticate(tok, fmt.Sprintf("10.0.%d.%d", i, j)); err != nil {
						t.Error(err)
					}
					e.clk.Add(time.Minute)
				} else if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW, IP: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if l, _ := e.s.ListSessions("olivia"); len(l) != 81 {
		t.Fatalf("sessions: got %d, want 81", len(l))
	}
}
