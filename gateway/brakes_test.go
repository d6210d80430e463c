package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/password"
)

// Tests of the brakes on guessing (no account lock-out, unknown and
// known names alike), over real HTTPS from distinct loopback addresses
// (Linux answers on all of 127/8).

// from is an HTTPS client of the box whose connections come from the
// loopback address ip (127.0.0.2, 127.0.0.3, …).
func (b *testBox) from(ip string) *http.Client {
	b.t.Helper()
	local := net.ParseIP(ip)
	if local == nil {
		b.t.Fatalf("bad address %q", ip)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: b.pool}, ForceAttemptHTTP2: true}
	b.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// loginVia tries to sign in through c.
func (b *testBox) loginVia(c *http.Client, user, pw string) restReply {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw, "device": "test"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", b.base+"/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("login %s: %v", user, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return restReply{code: resp.StatusCode, header: resp.Header, body: out}
}

// TestSecurityNoAccountLockout (finding 9): anyone could lock any
// account with five wrong passwords. Now a stranger's guesses slow down
// that stranger's address on that account only: the right password
// from the person's own address still signs in, at once.
func TestSecurityNoAccountLockout(t *testing.T) {
	b := newTestBox(t)
	b.user("lou", "member", nil)
	stranger, lou := b.from("127.0.0.2"), b.from("127.0.0.3")
	slowed := 0
	for i := range 30 {
		got := b.loginVia(stranger, "lou", fmt.Sprintf("guess-%d-Tr0ub4dor", i))
		switch got.code {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			slowed++
			if ra := got.header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("guess %d: 429 with Retry-After %q, want seconds", i+1, ra)
			}
		default:
			t.Fatalf("guess %d: HTTP %d: %s", i+1, got.code, got.body)
		}
		b.clock.Add(7 * time.Second) // more than the per-address pace (one every 6 s)
	}
	if slowed == 0 {
		t.Error("30 wrong passwords from one address over 3½ minutes: never slowed down")
	}
	if got := b.loginVia(lou, "lou", "password-of-lou"); got.code != http.StatusOK {
		t.Fatalf("the right password from another address after a stranger's 30 wrong guesses: HTTP %d, want 200: %s", got.code, got.body)
	}
	// The stranger's address is slowed down on lou only.
	if got := b.loginVia(stranger, "owner", b.ownerPassword()); got.code != http.StatusOK {
		t.Errorf("the stranger's address signing in to another account: HTTP %d, want 200: %s", got.code, got.body)
	}
	t.Logf("%d of 30 guesses answered 429", slowed)
}

// TestSecurityUnknownUserLooksKnown (finding 9): an account's lock-out
// told a guesser the name exists (an unknown name never locked). Every
// answer to wrong passwords must be the same for a known and an unknown
// name, step by step.
func TestSecurityUnknownUserLooksKnown(t *testing.T) {
	b := newTestBox(t)
	b.user("lou", "member", nil)
	known, unknown := b.from("127.0.0.4"), b.from("127.0.0.5")
	for i := range 12 {
		pw := fmt.Sprintf("guess-%d-Tr0ub4dor", i)
		k, u := b.loginVia(known, "lou", pw), b.loginVia(unknown, "lew", pw)
		if k.code != u.code || !bytes.Equal(k.body, u.body) || k.header.Get("Retry-After") != u.header.Get("Retry-After") {
			t.Fatalf("attempt %d: known name: HTTP %d %s (Retry-After %q); unknown name: HTTP %d %s (Retry-After %q); want the same",
				i+1, k.code, k.body, k.header.Get("Retry-After"), u.code, u.body, u.header.Get("Retry-After"))
		}
		b.clock.Add(7 * time.Second)
	}

	// Both names go through the password hashing: with its memory budget
	// full, both wait in its queue and are turned away alike, 429 with
	// Retry-After (finding 3's answer to a flood of sign-ins).
	password.SetLimits(password.Limits{Memory: 1, Waiters: 4, Wait: 50 * time.Millisecond})
	t.Cleanup(func() { password.SetLimits(password.Limits{}) })
	release, err := password.Acquire(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	b.clock.Add(time.Hour)
	k, u := b.loginVia(known, "lou", "guess-busy"), b.loginVia(unknown, "lew", "guess-busy")
	if k.code != http.StatusTooManyRequests || k.header.Get("Retry-After") == "" || !strings.Contains(k.errorText(), "busy") {
		t.Errorf("known name with the password budget full: HTTP %d (Retry-After %q), want 429 saying the box is busy: %s", k.code, k.header.Get("Retry-After"), k.body)
	}
	if k.code != u.code || !bytes.Equal(k.body, u.body) || k.header.Get("Retry-After") != u.header.Get("Retry-After") {
		t.Errorf("with the password budget full: known name HTTP %d %s, unknown name HTTP %d %s; want the same", k.code, k.body, u.code, u.body)
	}
}
