package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/password"
)

// Tests of the brakes on guessing (no account lock-out, unknown and
// known names alike) and of the per-space permissions, over real HTTPS
// from distinct loopback addresses (Linux answers on all of 127/8).

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
	t.Parallel()
	b := newMemBox(t)
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
	// Not parallel: it sets password hashing's process-wide limits.
	b := newMemBox(t)
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

// TestSecurityReadGrantCannotUploadShareRestore (finding 10): a read
// grant let a member upload, make public links and restore. Each
// permission now allows exactly its own actions.
func TestSecurityReadGrantCannotUploadShareRestore(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.localToken()
	fam := b.backup(map[string][]byte{"photos/IMG_0001.JPG": []byte("a photo")})
	famFile := b.family + "/photos/IMG_0001.JPG"
	ben := b.user("ben", "member", map[string]string{"family": "read"})

	upload := func() (int, []byte) {
		return b.do("POST", "/v1/uploads", ben, map[string]any{"space": "family", "device": "p", "name": "a.jpg",
			"size": 1, "sha256": strings.Repeat("ab", 32)})
	}
	share := func() (int, []byte) {
		return b.do("POST", "/v1/shares", ben, map[string]any{"snapshot": fam, "path": famFile})
	}
	n := 0
	restore := func() (int, []byte) {
		n++
		return b.do("POST", "/v1/snapshots/"+fam+"/restore", ben, map[string]any{"path": famFile, "target": fmt.Sprintf("ben-%d", n)})
	}
	run := func() (int, []byte) { return b.do("POST", "/v1/sources/family/run", ben, struct{}{}) }
	lock := func() (int, []byte) {
		return b.do("POST", "/v1/snapshots/"+fam+"/lock", ben, map[string]string{"until": b.clock.Now().AddDate(0, 1, 0).Format(time.RFC3339)})
	}
	type step struct {
		what string
		call func() (int, []byte)
	}
	check := func(held string, allowed, refused []step) {
		t.Helper()
		for _, s := range allowed {
			if code, raw := s.call(); code != http.StatusOK {
				t.Errorf("with %s: %s: HTTP %d, want 200: %s", held, s.what, code, raw)
			}
		}
		for _, s := range refused {
			if code, raw := s.call(); code != http.StatusForbidden {
				t.Errorf("with %s: %s: HTTP %d, want 403: %s", held, s.what, code, raw)
			}
		}
	}
	browse := step{"browse", func() (int, []byte) { return b.do("GET", "/v1/snapshots/"+fam+"/tree?path="+b.family, ben, nil) }}
	download := step{"download", func() (int, []byte) { return b.do("GET", "/v1/snapshots/"+fam+"/download?path="+famFile, ben, nil) }}
	up, sh, re := step{"upload", upload}, step{"make a public link", share}, step{"restore", restore}
	rn, lk := step{"run a backup", run}, step{"lock a snapshot", lock}

	check("a read grant", []step{browse, download}, []step{up, sh, re, rn, lk})
	grant := func(perms ...string) {
		t.Helper()
		b.must("POST", "/v1/users/ben/grants", own, map[string]any{"space": "family", "permissions": perms}, nil)
	}
	grant("share")
	check("share", []step{browse, download, sh}, []step{up, re, rn, lk})
	grant("restore")
	check("restore", []step{browse, download, re}, []step{up, sh, rn, lk})
	grant("write")
	check("write", []step{browse, download, up, rn, lk}, []step{sh, re})
	grant("read", "write", "share", "restore")
	check("every permission", []step{browse, download, up, sh, re, rn, lk}, nil)

	// A viewer may only read.
	b.user("vera", "viewer", nil)
	for _, p := range []string{"write", "share", "restore"} {
		code, raw := b.do("POST", "/v1/users/vera/grants", own, map[string]any{"space": "family", "permissions": []string{"read", p}})
		if code != http.StatusBadRequest || !strings.Contains(string(raw), "viewer") {
			t.Errorf("granting %s to a viewer: HTTP %d, want 400 saying why: %s", p, code, raw)
		}
	}
	// Bad names are refused with the list of good ones, and change nothing.
	code, raw := b.do("POST", "/v1/users/ben/grants", own, map[string]any{"space": "family", "permissions": []string{"read", "admin"}})
	if code != http.StatusBadRequest || !strings.Contains(string(raw), "restore") {
		t.Errorf("an unknown permission: HTTP %d, want 400 naming the permissions: %s", code, raw)
	}
	for _, u := range b.users() {
		if got := strings.Join(u.Grants["family"].Permissions, ","); u.Name == "ben" && got != "read,write,share,restore" {
			t.Errorf("ben's grant on family after a refused change: %q, want read,write,share,restore", got)
		}
	}
}

// listedUser is a person as GET /v1/users shows them.
type listedUser struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Grants map[string]struct {
		Permissions []string `json:"permissions"`
	} `json:"grants"`
}

// users lists the box's people.
func (b *testBox) users() []listedUser {
	b.t.Helper()
	var r struct {
		Users []listedUser `json:"users"`
	}
	b.must("GET", "/v1/users", b.localToken(), nil, &r)
	return r.Users
}

// TestSecurityOldGrantsMigrateToRead (finding 10): grants made before the
// permissions were split ("read", which allowed upload, links and
// restore; "write") become read only when the gateway opens its
// database, and the change is logged and audited.
func TestSecurityOldGrantsMigrateToRead(t *testing.T) {
	t.Parallel()
	b := newMemBox(t, withState(func(state string) {
		dir := filepath.Join(state, "gateway")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		db, err := bbolt.Open(filepath.Join(dir, "gateway.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		created := time.Now().UTC().Format(time.RFC3339)
		olga, err1 := password.Hash("password-of-olga", fastParams)
		wes, err2 := password.Hash("password-of-wes", fastParams)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			users, err := tx.CreateBucketIfNotExists([]byte("auth.users"))
			if err != nil {
				return err
			}
			for name, rec := range map[string]string{
				"olga": `{"id":"u00000000000000a1","name":"olga","role":"owner","hash":"` + olga + `","created":"` + created + `"}`,
				"wes": `{"id":"u00000000000000a2","name":"wes","role":"member","hash":"` + wes + `","created":"` + created +
					`","grants":{"family":"write","clients":"read"}}`,
			} {
				if err := users.Put([]byte(name), []byte(rec)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}))
	fam := b.backup(map[string][]byte{"a.txt": []byte("alpha")})
	wes := b.login("wes", "password-of-wes", "")
	code, raw := b.do("POST", "/v1/uploads", wes, map[string]any{"space": "family", "device": "p", "name": "a.jpg",
		"size": 1, "sha256": strings.Repeat("ab", 32)})
	if code != http.StatusForbidden {
		t.Errorf("upload with a write grant from before the split: HTTP %d, want 403 (migrated to read): %s", code, raw)
	}
	wantCode(t, b, 403, "POST", "/v1/sources/family/run", wes, struct{}{})
	wantCode(t, b, 403, "POST", "/v1/shares", wes, map[string]any{"snapshot": fam, "path": b.family + "/a.txt"})
	wantCode(t, b, 200, "GET", "/v1/snapshots/"+fam+"/download?path="+b.family+"/a.txt", wes, nil)
	for _, u := range b.users() {
		if u.Name != "wes" {
			continue
		}
		for _, sp := range []string{"family", "clients"} {
			if got := strings.Join(u.Grants[sp].Permissions, ","); got != "read" {
				t.Errorf("wes's grant on %s after the migration: %q, want read", sp, got)
			}
		}
	}
	raw = wantCode(t, b, 200, "GET", "/v1/audit?limit=1000", b.localToken(), nil)
	var au auditList
	json.Unmarshal(raw, &au)
	migrated := false
	for _, e := range au.Entries {
		migrated = migrated || e.Action == "auth.grants_migrated" && e.Target == "wes" && strings.Contains(e.Detail["detail"], "family: write → read")
	}
	if !migrated {
		t.Errorf("the audit log has no auth.grants_migrated entry for wes naming family: write → read: %s", raw)
	}
}
