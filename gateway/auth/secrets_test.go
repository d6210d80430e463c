package auth_test

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/auth"
	"github.com/shoebox/shoebox/gateway/token"
)

// secretsFlow exercises every kind of credential and event, and returns
// the secrets it saw.
func secretsFlow(t *testing.T, e *env) (secrets []string, totpSecret string) {
	t.Helper()
	const annaPW, annaNewPW, wrongPW = "anna-secret-passphrase", "anna-new-passphrase", "wrong-guess-passphrase"
	if _, err := e.s.CreateUser("anna", annaPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	secret, recovery := e.enableTOTP(t, "anna")
	c := code(t, secret, e.clk.Now())
	sess := e.login(t, auth.LoginRequest{User: "anna", Password: annaPW, Code: c, IP: "192.0.2.9", Device: "phone"})
	sess2 := e.login(t, auth.LoginRequest{User: "anna", Password: annaPW, Code: recovery[0], Device: "tablet"})
	_, _, _ = e.s.Login(auth.LoginRequest{User: "anna", Password: wrongPW, Code: c})
	_, _, _ = e.s.Login(auth.LoginRequest{User: "anna", Password: annaPW, Code: "123456"})
	_, _, _ = e.s.Login(auth.LoginRequest{User: "hunter2-typed-as-name", Password: wrongPW})
	for range 6 { // the sixth starts the address's back-off on olivia
		_, _, _ = e.s.Login(auth.LoginRequest{User: "olivia", Password: wrongPW})
	}
	p := e.mustAuth(t, sess)
	key, _, err := e.s.CreateAPIKey("anna", p.CredentialID, "script", []auth.Action{auth.StatusRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	key2, info2, err := e.s.CreateAPIKey("anna", p.CredentialID, "other", []auth.Action{auth.StatusRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	e.mustAuth(t, key)
	if err := e.s.RevokeAPIKey("anna", info2.ID); err != nil {
		t.Fatal(err)
	}
	enrol, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "anna", TTL: time.Hour, By: p})
	if err != nil {
		t.Fatal(err)
	}
	phone, _, err := e.s.Enrol(enrol, "192.0.2.10", "phone")
	if err != nil {
		t.Fatal(err)
	}
	pp := e.mustAuth(t, phone)
	e.clk.Add(30 * time.Second)
	cp := code(t, secret, e.clk.Now())
	if err := e.s.ProveSecondFactor("anna", pp.CredentialID, "654321"); err == nil {
		t.Fatal("a wrong code proved the second factor")
	}
	if err := e.s.ProveSecondFactor("anna", pp.CredentialID, cp); err != nil {
		t.Fatal(err)
	}
	enrol2, _, err := e.s.CreateEnrolment(auth.EnrolmentRequest{User: "anna", TTL: time.Hour, By: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetPassword("anna", annaPW, annaNewPW, p.CredentialID, false, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RevokeCredential(sess); err != nil {
		t.Fatal(err)
	}
	enrol3, _, err := e.s.ResetCredentials("anna", e.olivia(t), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.Enrol(enrol3, "", "phone"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetPassword("anna", "", annaNewPW, "", false, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	secretB, recoveryB := e.enableTOTP(t, "anna")
	e.clk.Add(30 * time.Second)
	sess3 := e.login(t, auth.LoginRequest{User: "anna", Password: annaNewPW, Code: code(t, secretB, e.clk.Now())})
	if err := e.s.Logout(sess3); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(30 * time.Second)
	c2 := code(t, secretB, e.clk.Now())
	sess4 := e.login(t, auth.LoginRequest{User: "anna", Password: annaNewPW, Code: recoveryB[1]})
	e.clk.Add(30 * time.Second)
	if err := e.s.DisableTOTP("anna", "", code(t, secretB, e.clk.Now()), "", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// Set up a second authenticator that stays on, so its secret is in the
	// database when the file is scanned.
	secret2, recovery2 := e.enableTOTP(t, "anna")
	if err := e.s.SetRole("anna", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, annaPW, annaNewPW, wrongPW, ownerPW, "hunter2-typed-as-name", secret, secretB, secret2, c, c2,
		sess, sess2, sess3, sess4, key, key2, enrol, enrol2, enrol3, phone, cp)
	secrets = append(secrets, recovery...)
	secrets = append(secrets, recoveryB...)
	secrets = append(secrets, recovery2...)
	return secrets, secret2
}

// TestNoPlaintextSecretsInDB scans the database file: no password, token,
// TOTP secret or recovery code may appear in it, in any common encoding.
func TestNoPlaintextSecretsInDB(t *testing.T) {
	e := newEnv(t)
	live := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW})
	secrets, totpSecret := secretsFlow(t, e)
	if err := e.db.Sync(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	// Sanity: the scan sees what is stored.
	if !bytes.Contains(data, []byte(token.Hash(live))) {
		t.Fatal("the live session's hash is not in the file: the scan is not seeing the data")
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(totpSecret)
	if err != nil {
		t.Fatal(err)
	}
	needles := [][]byte{raw}
	for _, s := range append(secrets, live) {
		needles = append(needles, []byte(s), []byte(strings.ToLower(s)), []byte(strings.ReplaceAll(s, "-", "")))
		if k := token.KindOf(s); k != "" {
			needles = append(needles, []byte(s[len(k):len(s)-1])) // body without prefix and check
		}
	}
	for _, n := range needles {
		// 6-digit TOTP codes are left out: they are never stored, and
		// six digits turn up by chance in hashes.
		if len(n) > 6 && bytes.Contains(data, n) {
			t.Errorf("database file holds a secret in the clear: %q", n)
		}
	}
}

func TestEventsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	secrets, _ := secretsFlow(t, e)
	evs := e.ev.all()
	seen := map[auth.EventKind]bool{}
	for _, ev := range evs {
		seen[ev.Kind] = true
		s := fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s", ev.Kind, ev.Time.Format(time.RFC3339), ev.User, ev.IP, ev.Device, ev.CredentialID, ev.Detail)
		for _, secret := range secrets {
			if strings.Contains(strings.ToLower(s), strings.ToLower(secret)) {
				t.Errorf("event %s holds a secret: %q", s, secret)
			}
		}
		if ev.Time.IsZero() {
			t.Errorf("event %s has no time", s)
		}
	}
	for _, k := range []auth.EventKind{
		auth.EventLogin, auth.EventLoginFailed, auth.EventThrottled, auth.EventLogout,
		auth.EventSessionRevoked, auth.EventAPIKeyCreated, auth.EventAPIKeyRevoked,
		auth.EventTOTPEnabled, auth.EventTOTPDisabled, auth.EventPasswordChanged,
		auth.EventUserCreated, auth.EventRoleChanged, auth.EventCredentialExposed,
	} {
		if !seen[k] {
			t.Errorf("no %s event in the flow", k)
		}
	}
	for _, ev := range evs {
		if ev.Kind == auth.EventLoginFailed && ev.User == "" && ev.Detail != "unknown user" {
			t.Errorf("failed sign-in without user: %+v", ev)
		}
	}
}
