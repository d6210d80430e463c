package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/token"
)

// Attacks on sessions, credentials and account recovery (issue 12,
// findings 2, 7, 14, 20, 24 and 25), each run against a real gateway
// over HTTPS on loopback.

// enrolled is the answer to POST /v1/auth/enrol and /v1/auth/login.
type enrolled struct {
	Token             string   `json:"token"`
	Username          string   `json:"username"`
	Role              string   `json:"role"`
	NeedsSecondFactor bool     `json:"needs_second_factor"`
	Notices           []string `json:"notices"`
}

// enrolment is an enrolment code as the API answers it.
type enrolment struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	User    string `json:"user"`
	By      string `json:"by"`
	Purpose string `json:"purpose"`
}

// pairCode asks for an enrolment code for user with tok, failing the
// test unless the box gives one.
func (b *testBox) pairCode(tok, user string) enrolment {
	b.t.Helper()
	var e enrolment
	b.must("POST", "/v1/enrolments", tok, map[string]string{"user": user}, &e)
	if !strings.HasPrefix(e.Code, "sbe_") {
		b.t.Fatalf("enrolment code for %s: %+v", user, e)
	}
	return e
}

// enrol trades an enrolment code for a session; the status and answer
// come back as they are.
func (b *testBox) enrol(code string) (int, enrolled) {
	b.t.Helper()
	st, raw := b.do("POST", "/v1/auth/enrol", "", map[string]string{"code": code, "device": "phone"})
	var e enrolled
	json.Unmarshal(raw, &e)
	return st, e
}

// plainDo sends a request to the plain-HTTP listener; body and authz
// (a whole Authorization header) are left out when empty.
func (b *testBox) plainDo(method, path, ctype, body, authz string) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.plain+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// audited returns the audit log as the owner (the local token) sees it.
func (b *testBox) audited() auditList {
	b.t.Helper()
	var au auditList
	b.must("GET", "/v1/audit?limit=1000", b.localToken(), nil, &au)
	return au
}

// TestSecurityPasswordSessionAfterTOTP (finding 2): a session opened with
// the password alone, before the person turned two-step sign-in on in
// another session, must end then, with any API key it made; turning the
// second factor off again ends the person's other sessions too.
func TestSecurityPasswordSessionAfterTOTP(t *testing.T) {
	t.Parallel()
	t.Run("box requires two-step sign-in", func(t *testing.T) {
		b := newMemBox(t, withTOTPRequired())
		stolen := b.user("mia", "member", map[string]string{"family": "read"})
		mine := b.login("mia", "password-of-mia", "")
		wantCode(t, b, http.StatusForbidden, "GET", "/v1/status", stolen, nil)

		secret, _ := b.enrolTOTP(mine)
		if st, raw := b.do("GET", "/v1/status", stolen, nil); st != http.StatusUnauthorized {
			t.Errorf("password-only session after TOTP was enrolled in another session: HTTP %d, want 401: %s", st, raw)
		}
		wantCode(t, b, http.StatusOK, "GET", "/v1/status", mine, nil)

		// Turning it off ends the other sessions as well.
		b.clock.Add(30 * time.Second)
		other := b.login("mia", "password-of-mia", b.totp(secret, 0))
		wantCode(t, b, http.StatusOK, "GET", "/v1/status", other, nil)
		b.clock.Add(30 * time.Second)
		b.must("POST", "/v1/auth/totp/disable", mine, map[string]string{"code": b.totp(secret, 0)}, nil)
		if st, raw := b.do("GET", "/v1/auth/sessions", other, nil); st != http.StatusUnauthorized {
			t.Errorf("another session after two-step sign-in was turned off: HTTP %d, want 401: %s", st, raw)
		}
		wantCode(t, b, http.StatusOK, "GET", "/v1/auth/sessions", mine, nil)
	})

	t.Run("box without the requirement", func(t *testing.T) {
		b := newMemBox(t)
		stolen := b.user("mia", "member", map[string]string{"family": "read"})
		var key struct{ Key string }
		b.must("POST", "/v1/auth/apikeys", stolen, map[string]any{"name": "sync", "scopes": []string{"backups.read", "download"}}, &key)
		mine := b.login("mia", "password-of-mia", "")
		b.enrolTOTP(mine)
		if st, raw := b.do("GET", "/v1/sources", stolen, nil); st != http.StatusUnauthorized {
			t.Errorf("password-only session after TOTP was enrolled in another session: HTTP %d, want 401: %s", st, raw)
		}
		if st, raw := b.do("GET", "/v1/sources", key.Key, nil); st != http.StatusUnauthorized {
			t.Errorf("API key made by a password-only session, after TOTP was enrolled: HTTP %d, want 401: %s", st, raw)
		}
		wantCode(t, b, http.StatusOK, "GET", "/v1/sources", mine, nil)
		// Each ended credential is audited with its public ID, in the
		// record of the call that ended it.
		revoked := map[string]int{}
		for _, e := range b.audited().Entries {
			if e.Actor == "mia" && e.Action == "auth.totp_enabled" {
				for _, ev := range strings.Split(e.Detail["events"], "; ") {
					if kind, cred, ok := strings.Cut(ev, ": "); ok && cred != "" {
						revoked[kind]++
					}
				}
			}
		}
		if revoked["auth.session_revoked"] != 1 || revoked["auth.apikey_revoked"] != 1 {
			t.Errorf("audit: revocations %v in the enrolment's record, want one session and one API key", revoked)
		}
	})
}

// TestSecurityEnrolmentImpersonation (finding 7): an admin must not get
// an enrolment code for another existing person and sign in as them.
// Codes are for new accounts and for oneself (or from the box's own
// CLI); resetting someone else's sign-in is the owner's, audited, and
// the person is told.
func TestSecurityEnrolmentImpersonation(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	ada := b.user("ada", "admin", nil)
	mia := b.user("mia", "member", map[string]string{"family": "read"})

	st, raw := b.do("POST", "/v1/enrolments", ada, map[string]string{"user": "mia"})
	if st != http.StatusForbidden {
		t.Errorf("admin asks for an enrolment code for the member mia: HTTP %d, want 403: %s", st, raw)
		var e enrolment
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			if st, got := b.enrol(e.Code); st == http.StatusOK {
				t.Errorf("the admin's code signed in as %s (%s)", got.Username, got.Role)
			}
		}
	}
	wantCode(t, b, http.StatusForbidden, "POST", "/v1/enrolments", own, map[string]string{"user": "mia"})

	// A new account, made without a password: the person pairs and sets it.
	b.must("POST", "/v1/users", ada, map[string]string{"name": "nina", "role": "member"}, nil)
	wantCode(t, b, http.StatusUnauthorized, "POST", "/v1/auth/login", "", map[string]string{"username": "nina", "password": ""})
	st, phone := b.enrol(b.pairCode(ada, "nina").Code)
	if st != http.StatusOK || phone.Username != "nina" {
		t.Fatalf("enrol the new account: HTTP %d %+v", st, phone)
	}
	b.must("POST", "/v1/auth/password", phone.Token, map[string]string{"new_password": "ninas-own-password"}, nil)
	b.login("nina", "ninas-own-password", "")
	wantCode(t, b, http.StatusForbidden, "POST", "/v1/enrolments", ada, map[string]string{"user": "nina"})

	// For oneself, and from the box's CLI (physical presence).
	b.pairCode(ada, "ada")
	b.pairCode(b.localToken(), "mia")

	// Resetting someone else's sign-in is the owner's.
	wantCode(t, b, http.StatusForbidden, "POST", "/v1/users/mia/reset", ada, struct{}{})
	wantCode(t, b, http.StatusOK, "GET", "/v1/status", mia, nil)
	var reset enrolment
	b.must("POST", "/v1/users/mia/reset", own, struct{}{}, &reset)
	wantCode(t, b, http.StatusUnauthorized, "GET", "/v1/status", mia, nil)
	wantCode(t, b, http.StatusUnauthorized, "POST", "/v1/auth/login", "", map[string]string{"username": "mia", "password": "password-of-mia"})
	st, back := b.enrol(reset.Code)
	if st != http.StatusOK || back.Username != "mia" {
		t.Fatalf("enrol with the reset code: HTTP %d %+v", st, back)
	}
	if n := strings.Join(back.Notices, " "); !strings.Contains(n, "reset") || !strings.Contains(n, "owner") {
		t.Errorf("mia's first sign-in after the reset: notices %q, want one saying the owner reset it", back.Notices)
	}
	var found bool
	for _, e := range b.audited().Entries {
		found = found || e.Action == "users.reset" && e.Actor == "owner" && e.Target == "mia"
	}
	if !found {
		t.Error("audit: no users.reset entry naming the owner and mia")
	}
	var alerts struct {
		Alerts []struct{ Subject, Message string }
	}
	b.must("GET", "/v1/alerts", own, nil, &alerts)
	found = false
	for _, a := range alerts.Alerts {
		found = found || strings.Contains(a.Subject+a.Message, "mia")
	}
	if !found {
		t.Errorf("no alert about mia's reset: %+v", alerts.Alerts)
	}
}

// TestSecurityPlainHTTPPostRevokes (finding 14): a password or
// enrolment code posted over plain HTTP gets 403, never a redirect
// (which a client would follow, posting it again); the code is revoked,
// the password is never checked, and the account is told.
func TestSecurityPlainHTTPPostRevokes(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	ownerPw := b.ownerPassword()
	plainPost := func(path, ctype, body, authz string) (*http.Response, []byte) {
		t.Helper()
		return b.plainDo("POST", path, ctype, body, authz)
	}
	refused := func(what string, resp *http.Response, body []byte, secret string) {
		t.Helper()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("%s over plain HTTP: HTTP %d (Location %q), want 403 and no redirect: %s", what, resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if secret != "" && bytes.Contains(body, []byte(secret)) {
			t.Errorf("%s over plain HTTP: the answer repeats the secret", what)
		}
	}

	j, _ := json.Marshal(map[string]string{"username": "Owner", "password": ownerPw})
	resp, body := plainPost("/v1/auth/login", "application/json", string(j), "")
	refused("a password", resp, body, ownerPw)
	j, _ = json.Marshal(map[string]string{"username": "Nobody-Typed-This", "password": "whatever-it-was"})
	resp, body = plainPost("/v1/auth/login", "application/json", string(j), "")
	refused("a password for an unknown name", resp, body, "")
	resp, body = plainPost("/v1/auth/password", "application/json", `{"old_password":"`+ownerPw+`","new_password":"An0ther-long-password"}`, "Bearer "+own)
	refused("a password change", resp, body, ownerPw)
	wantCode(t, b, http.StatusUnauthorized, "GET", "/v1/status", own, nil)
	resp, body = plainPost("/s/"+strings.Repeat("x", 10), "application/x-www-form-urlencoded", url.Values{"password": {"link-password"}}.Encode(), "")
	refused("a share-link password", resp, body, "link-password")

	b.must("POST", "/v1/users", b.localToken(), map[string]string{"name": "nora", "password": "password-of-nora", "role": "member"}, nil)
	e := b.pairCode(b.localToken(), "nora")
	j, _ = json.Marshal(map[string]string{"code": e.Code, "device": "phone"})
	resp, body = plainPost("/v1/auth/enrol", "application/json", string(j), "")
	refused("an enrolment code", resp, body, e.Code)
	if st, got := b.enrol(e.Code); st != http.StatusUnauthorized {
		t.Errorf("the enrolment code after it crossed plain HTTP: HTTP %d (signed in as %q), want 401", st, got.Username)
	}

	// The password still works (it was never checked, nor changed), and
	// the next sign-in says it was seen in the clear.
	var li enrolled
	b.must("POST", "/v1/auth/login", "", map[string]string{"username": "owner", "password": ownerPw, "device": "test"}, &li)
	if n := strings.Join(li.Notices, " "); !strings.Contains(n, "plain HTTP") {
		t.Errorf("sign-in after the password crossed plain HTTP: notices %q, want one saying so", li.Notices)
	}
	au := b.audited()
	exposed := 0
	for _, e := range au.Entries {
		switch {
		case e.Action == "auth.password_exposed" && e.Target == "owner":
			exposed++
		case e.Action == "login.failed" && e.Detail["detail"] != "bad or used enrolment code":
			t.Errorf("audit: %s %s: a plain-HTTP password was checked", e.Action, e.Actor)
		}
	}
	if exposed != 2 {
		t.Errorf("audit: %d password_exposed entries for the owner, want 2 (sign-in, password change)", exposed)
	}
	raw, _ := json.Marshal(au)
	for _, s := range []string{ownerPw, e.Code, "An0ther-long-password", "Nobody-Typed-This", "nobody-typed-this", "whatever-it-was"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the audit log holds %q", s)
		}
	}
}

// TestSecurityPasswordChangeRevokesAPIKeys (finding 20): an attacker who
// minted a long-lived API key must lose it when the victim changes the
// password; keeping keys is an explicit, audited choice.
func TestSecurityPasswordChangeRevokesAPIKeys(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	stolen := b.user("val", "member", map[string]string{"family": "read"})
	var key struct{ Key string }
	b.must("POST", "/v1/auth/apikeys", stolen, map[string]any{"name": "x", "expires_days": 365,
		"scopes": []string{"backups.read", "download", "shares.manage", "restore"}}, &key)
	wantCode(t, b, http.StatusOK, "GET", "/v1/sources", key.Key, nil)

	mine := b.login("val", "password-of-val", "")
	b.must("POST", "/v1/auth/password", mine, map[string]string{"old_password": "password-of-val", "new_password": "vals-new-password"}, nil)
	if st, raw := b.do("GET", "/v1/sources", key.Key, nil); st != http.StatusUnauthorized {
		t.Errorf("the attacker's API key after the password change: HTTP %d, want 401: %s", st, raw)
	}
	wantCode(t, b, http.StatusUnauthorized, "GET", "/v1/sources", stolen, nil)
	wantCode(t, b, http.StatusOK, "GET", "/v1/sources", mine, nil)

	// Keeping them is possible, and audited.
	var nightly struct{ Key string }
	b.must("POST", "/v1/auth/apikeys", mine, map[string]any{"name": "nightly", "scopes": []string{"backups.read"}}, &nightly)
	b.must("POST", "/v1/auth/password", mine, map[string]any{"old_password": "vals-new-password", "new_password": "vals-third-password", "keep_api_keys": true}, nil)
	wantCode(t, b, http.StatusOK, "GET", "/v1/sources", nightly.Key, nil)
	kept := false
	for _, e := range b.audited().Entries {
		kept = kept || e.Action == "auth.password_changed" && e.Target == "val" && e.Detail["keep_api_keys"] == "true" &&
			strings.Contains(e.Detail["events"], "API keys kept")
	}
	if !kept {
		t.Error("audit: the password change that kept the API keys does not say so")
	}
}

// TestSecurityEnrolmentCodeOfDeletedUser (finding 24): an enrolment
// code belongs to the account it was made for, not to its name: a code
// for a deleted viewer must not sign in the admin later made with that
// name. Outstanding codes can be listed and cancelled, and a password
// change cancels the person's codes.
func TestSecurityEnrolmentCodeOfDeletedUser(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	b.must("POST", "/v1/users", own, map[string]string{"name": "vic", "role": "viewer"}, nil)
	old := b.pairCode(own, "vic")
	b.must("DELETE", "/v1/users/vic", own, nil, nil)
	b.must("POST", "/v1/users", own, map[string]string{"name": "Vic", "role": "admin"}, nil)
	if st, got := b.enrol(old.Code); st != http.StatusUnauthorized {
		t.Errorf("the deleted viewer's enrolment code: HTTP %d, signed in as %s (%s); want 401", st, got.Username, got.Role)
	}

	// List and cancel.
	e := b.pairCode(own, "vic")
	var list struct{ Enrolments []enrolment }
	b.must("GET", "/v1/enrolments", own, nil, &list)
	if len(list.Enrolments) != 1 || list.Enrolments[0].ID != e.ID || list.Enrolments[0].User != "vic" || list.Enrolments[0].Code != "" {
		t.Fatalf("outstanding codes: %+v, want vic's %s without its code", list.Enrolments, e.ID)
	}
	b.must("DELETE", "/v1/enrolments/"+e.ID, own, nil, nil)
	if st, _ := b.enrol(e.Code); st != http.StatusUnauthorized {
		t.Errorf("a cancelled code: HTTP %d, want 401", st)
	}
	b.must("GET", "/v1/enrolments", own, nil, &list)
	if len(list.Enrolments) != 0 {
		t.Errorf("outstanding codes after the cancel: %+v", list.Enrolments)
	}

	// A password change cancels the person's codes.
	ada := b.user("ada", "admin", nil)
	mine := b.pairCode(ada, "ada")
	b.must("POST", "/v1/auth/password", ada, map[string]string{"old_password": "password-of-ada", "new_password": "adas-new-password"}, nil)
	if st, _ := b.enrol(mine.Code); st != http.StatusUnauthorized {
		t.Errorf("an enrolment code after its person changed the password: HTTP %d, want 401", st)
	}
}

// TestSecurityPairingNeedsSecondFactor (finding 25): a phone paired with
// an enrolment code for a person who has two-step sign-in gets a session
// that must still prove the second factor before it may do anything.
func TestSecurityPairingNeedsSecondFactor(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	secret, recovery := b.enrolTOTP(own)

	st, phone := b.enrol(b.pairCode(b.localToken(), "owner").Code)
	if st != http.StatusOK {
		t.Fatalf("enrol: HTTP %d", st)
	}
	if !phone.NeedsSecondFactor {
		t.Error("enrol answer for a person with two-step sign-in: needs_second_factor is false")
	}
	got := sendREST(t, b, "GET", "/v1/status", "Bearer "+phone.Token, nil)
	if got.code != http.StatusForbidden || !strings.Contains(got.errorText(), "/v1/auth/totp/verify") {
		t.Errorf("a paired session without the second factor: HTTP %d, want 403 pointing at /v1/auth/totp/verify: %s", got.code, got.body)
	}
	n := 0
	for _, r := range apiRoutes(t) {
		if r.rule == public || unprovenFree[r.grpcMethod] {
			continue
		}
		got := sendREST(t, b, r.method, r.path, "Bearer "+phone.Token, routeBody(r))
		n++
		if got.code != http.StatusForbidden {
			t.Errorf("%s with a paired session that has not proved the second factor: HTTP %d, want 403: %s", r, got.code, got.body)
		}
	}
	t.Logf("%d routes refused before the second factor", n)

	b.clock.Add(30 * time.Second)
	b.must("POST", "/v1/auth/totp/verify", phone.Token, map[string]string{"code": b.totp(secret, 0)}, nil)
	wantCode(t, b, http.StatusOK, "GET", "/v1/status", phone.Token, nil)

	// A recovery code proves it too; five wrong codes end the session.
	_, other := b.enrol(b.pairCode(b.localToken(), "owner").Code)
	b.must("POST", "/v1/auth/totp/verify", other.Token, map[string]string{"code": recovery[0]}, nil)
	wantCode(t, b, http.StatusOK, "GET", "/v1/status", other.Token, nil)
	_, guess := b.enrol(b.pairCode(b.localToken(), "owner").Code)
	for i := range 5 {
		st, raw := b.do("POST", "/v1/auth/totp/verify", guess.Token, map[string]string{"code": "000000"})
		if st != http.StatusUnauthorized {
			t.Errorf("wrong code %d: HTTP %d, want 401: %s", i+1, st, raw)
		}
	}
	wantCode(t, b, http.StatusUnauthorized, "GET", "/v1/auth/sessions", guess.Token, nil)
	wantCode(t, b, http.StatusOK, "GET", "/v1/status", own, nil)
}

// FuzzPlainBody: what the plain-HTTP listener reads from a body it will
// refuse: any bytes, no panic; only well-formed tokens that stand in the
// body.
func FuzzPlainBody(f *testing.F) {
	f.Add(`{"username":"anna","password":"secret-words"}`)
	f.Add(`{"code":"` + token.New(token.Enrol) + `","device":"phone"}`)
	f.Add(`password=x&next=` + token.New(token.Share) + `sbs_`)
	f.Add(`{"old_password":"a","new_password":["x"],"username":7}`)
	f.Add("\xff\xfe" + token.New(token.Session) + token.New(token.APIKey))
	f.Fuzz(func(t *testing.T, body string) {
		req, _ := http.NewRequest("POST", "http://box/v1/auth/login", strings.NewReader(body))
		got := readPlainBody(req)
		for _, tok := range got.tokens {
			if token.KindOf(tok) == "" || !strings.Contains(body, tok) {
				t.Fatalf("token %q: not a token in the body", tok)
			}
		}
	})
}
