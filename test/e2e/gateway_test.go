package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certPin is the pin of the box's certificate as phones check it:
// "sha256/" and the base64 SHA-256 of its SubjectPublicKeyInfo.
func certPin(t *testing.T, state string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(state, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(raw)
	if blk == nil {
		t.Fatal("tls/cert.pem holds no PEM block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256/" + base64.StdEncoding.EncodeToString(h[:])
}

// pinnedClient is how the phone talks to the box after pairing: no CA,
// only the certificate's key pin from the pairing link.
func pinnedClient(pin string) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the pin below is the check
		VerifyConnection: func(cs tls.ConnectionState) error {
			h := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if "sha256/"+base64.StdEncoding.EncodeToString(h[:]) != pin {
				return errors.New("certificate does not match the pairing pin")
			}
			return nil
		}}}}
}

// apiCall sends a JSON request with a bearer token through c.
func (b *box) apiCall(c *http.Client, method, path, token string, body any) (int, []byte) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, "https://"+b.listen+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (b *box) localToken() string {
	b.t.Helper()
	tok, err := os.ReadFile(filepath.Join(b.state, "api-token"))
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimSpace(string(tok))
}

// TestGatewayCLI runs the real daemon with its gateway and drives it
// with the real CLI: pairing a phone (QR code, one-time code, certificate
// pin), people, a share link sent over plain HTTP, secrets kept out of
// the daemon's log, and the audit log's tamper check.
func TestGatewayCLI(t *testing.T) {
	b := newBoxDirs(t)
	plain := freePort(t)
	os.MkdirAll(b.inbox, 0o755)
	os.WriteFile(filepath.Join(b.inbox, "IMG_0001.JPG"), bytes.Repeat([]byte("jpeg"), 1000), 0o644)
	b.writeConfig(fmt.Sprintf(`listen_http: %s
sources:
  - name: inbox
    path: %s
    settle: 1s
smart:
  disabled: true
scrub:
  every: 1000h
  first_delay: 1000h
drills:
  every: 1000h
`, plain, b.inbox))
	b.start()
	client := b.client()

	// pair-phone: a QR code of half blocks, and the link it encodes.
	res := b.cli("pair-phone")
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	if strings.Count(res.stdout, "▀")+strings.Count(res.stdout, "▄") < 50 || !strings.Contains(res.stdout, "█") {
		t.Errorf("pair-phone printed no QR code of half blocks:\n%s", res.stdout)
	}
	var link string
	for _, f := range strings.Fields(res.stdout) {
		if strings.Contains(f, "/pair#") {
			link = f
		}
	}
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Host != b.listen || u.Path != "/pair" {
		t.Fatalf("pairing link %q (%v) in:\n%s", link, err, res.stdout)
	}
	frag, err := url.ParseQuery(u.EscapedFragment())
	if err != nil {
		t.Fatal(err)
	}
	code, pin := frag.Get("code"), frag.Get("pin")
	if !strings.HasPrefix(code, "sbe_") || !strings.HasPrefix(pin, "sha256/") {
		t.Fatalf("pairing link fragment %q: code %q, pin %q", u.Fragment, code, pin)
	}
	if want := certPin(t, b.state); pin != want {
		t.Fatalf("pairing pin %s, but the certificate's key hashes to %s", pin, want)
	}
	if !strings.Contains(res.stdout, "Certificate pin: "+pin) {
		t.Errorf("pair-phone does not print the pin:\n%s", res.stdout)
	}
	// The page the link opens in a browser never sees the code: it is in
	// the fragment.
	if st, page := b.apiCall(client, "GET", "/pair", "", nil); st != http.StatusOK || bytes.Contains(page, []byte(code)) {
		t.Errorf("/pair: HTTP %d", st)
	}

	// The phone, trusting only the pin, enrols with the code.
	phone := pinnedClient(pin)
	st, raw := b.apiCall(phone, "POST", "/v1/auth/enrol", "", map[string]string{"code": code, "device": "Anna's phone"})
	if st != http.StatusOK {
		t.Fatalf("enrol: HTTP %d: %s", st, raw)
	}
	var login struct {
		Token, Username, Role string
	}
	json.Unmarshal(raw, &login)
	if !strings.HasPrefix(login.Token, "sbs_") || login.Role != "owner" {
		t.Fatalf("enrol: %s", raw)
	}
	st, raw = b.apiCall(phone, "GET", "/v1/auth/sessions", login.Token, nil)
	if st != http.StatusOK || !bytes.Contains(raw, []byte("Anna's phone")) {
		t.Errorf("the enrolled session: HTTP %d: %s", st, raw)
	}
	// The code works once.
	if st, raw := b.apiCall(phone, "POST", "/v1/auth/enrol", "", map[string]string{"code": code, "device": "thief"}); st != http.StatusUnauthorized {
		t.Errorf("the same code again: HTTP %d, want 401: %s", st, raw)
	}
	// A client with another pin refuses the box.
	if _, err := pinnedClient("sha256/" + base64.StdEncoding.EncodeToString(make([]byte, 32))).Get("https://" + b.listen + "/healthz"); err == nil {
		t.Error("a client pinned to another key connected")
	}

	// People.
	pwFile := filepath.Join(b.dir, "anna-password")
	os.WriteFile(pwFile, []byte("anna's long password\n"), 0o600)
	if res := b.cli("user", "add", "anna", "--role", "member", "--user-password-file", pwFile); res.code != 0 || !strings.Contains(res.stdout, "added anna (member)") {
		t.Fatalf("%v", res)
	}
	if res := b.cli("user", "add", "anna", "--role", "member", "--user-password-file", pwFile); res.code == 0 {
		t.Errorf("adding anna twice: %v", res)
	}
	res = b.cli("user", "list")
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(res.stdout, "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			rows[f[0]] = f[1]
		}
	}
	if rows["NAME"] != "ROLE" || rows["anna"] != "member" || rows["owner"] != "owner" {
		t.Errorf("user list:\n%s", res.stdout)
	}
	var users struct{ Users []struct{ Name, Role string } }
	if res := b.cli("--json", "user", "list"); res.code != 0 || json.Unmarshal([]byte(res.stdout), &users) != nil || len(users.Users) != 2 {
		t.Errorf("user list --json: %v", res)
	}
	st, raw = b.apiCall(client, "POST", "/v1/auth/login", "", map[string]string{"username": "anna", "password": "anna's long password", "device": "laptop"})
	if st != http.StatusOK {
		t.Errorf("anna signs in: HTTP %d: %s", st, raw)
	}
	var laptop struct{ Token string }
	json.Unmarshal(raw, &laptop)

	// Outstanding pairing codes are listed (never the code) and can be
	// cancelled; a reset ends anna's sign-in and pairs her anew.
	var pending struct{ ID, Code string }
	if res := b.cli("--json", "pair-phone", "--user", "anna"); res.code != 0 || json.Unmarshal([]byte(res.stdout), &pending) != nil || pending.ID == "" {
		t.Fatalf("pair-phone --json: %v", res)
	}
	if res := b.cli("pair-phone", "--list"); res.code != 0 || !strings.Contains(res.stdout, pending.ID) || !strings.Contains(res.stdout, "anna") || strings.Contains(res.stdout, pending.Code) {
		t.Errorf("pair-phone --list: %v", res)
	}
	if res := b.cli("pair-phone", "--cancel", pending.ID); res.code != 0 {
		t.Errorf("pair-phone --cancel: %v", res)
	}
	if st, _ := b.apiCall(phone, "POST", "/v1/auth/enrol", "", map[string]string{"code": pending.Code}); st != http.StatusUnauthorized {
		t.Errorf("a cancelled code: HTTP %d, want 401", st)
	}
	if res := b.cli("pair-phone", "--list"); res.code != 0 || !strings.Contains(res.stdout, "no outstanding") {
		t.Errorf("pair-phone --list after the cancel: %v", res)
	}
	res = b.cli("user", "reset", "anna")
	if res.code != 0 || !strings.Contains(res.stdout, "/pair#code=sbe_") {
		t.Fatalf("user reset: %v", res)
	}
	if st, _ := b.apiCall(client, "GET", "/v1/status", laptop.Token, nil); st != http.StatusUnauthorized {
		t.Errorf("anna's session after the reset: HTTP %d, want 401", st)
	}
	if res := b.cli("user", "add", "ben", "--role", "viewer", "--no-password"); res.code != 0 || !strings.Contains(res.stdout, "pair-phone --user ben") {
		t.Errorf("user add --no-password: %v", res)
	}

	// A share link; its token sent over plain HTTP revokes it.
	var snap string
	b.waitFor("a snapshot of inbox", 30*time.Second, func() bool {
		s, _ := b.sources()["inbox"]["last_snapshot"].(string)
		snap = s
		return s != ""
	})
	local := b.localToken()
	st, raw = b.apiCall(client, "POST", "/v1/shares", local, map[string]any{"snapshot": snap, "path": b.inbox + "/IMG_0001.JPG", "download": true})
	var sh struct{ Token string }
	if json.Unmarshal(raw, &sh); st != http.StatusOK || !strings.HasPrefix(sh.Token, "sbl_") {
		t.Fatalf("create share: HTTP %d: %s", st, raw)
	}
	if st, _ := b.apiCall(client, "GET", "/s/"+sh.Token+"?as=download", "", nil); st != http.StatusOK {
		t.Fatalf("share link over HTTPS: HTTP %d", st)
	}
	resp, err := http.Get("http://" + plain + "/s/" + sh.Token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("share link over plain HTTP: HTTP %d, want 403", resp.StatusCode)
	}
	if st, _ := b.apiCall(client, "GET", "/s/"+sh.Token, "", nil); st != http.StatusNotFound {
		t.Errorf("share link after plain HTTP: HTTP %d, want 404", st)
	}

	// The audit log verifies while the daemon runs.
	if res := b.cli("audit", "verify"); res.code != 0 || !strings.Contains(res.stdout, "OK") {
		t.Fatalf("%v", res)
	}
	b.stop()

	// No secret reached the daemon's log or the audit log.
	auditLog := filepath.Join(b.state, "gateway", "audit", "audit.log")
	orig, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{sh.Token, code, login.Token, local} {
		if strings.Contains(b.log.String(), secret) || strings.Contains(b.log.String(), secret[4:30]) {
			t.Errorf("the daemon's log holds the secret %.8s…", secret)
		}
		if bytes.Contains(orig, []byte(secret)) {
			t.Errorf("the audit log holds the secret %.8s…", secret)
		}
	}

	// One byte of one entry changed: verify fails and names the entry.
	lines := bytes.SplitAfter(orig, []byte("\n"))
	if len(lines) < 4 {
		t.Fatalf("audit log has %d lines", len(lines))
	}
	victim := len(lines) / 2
	var e struct{ Seq int }
	json.Unmarshal(lines[victim], &e)
	i := bytes.Index(lines[victim], []byte(`"time":"`)) + len(`"time":"`) + 3 // a digit of the year
	edited := bytes.Clone(orig)
	off := len(bytes.Join(lines[:victim], nil)) + i
	edited[off] = "0123456789"[(edited[off]-'0'+1)%10]
	if err := os.WriteFile(auditLog, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	res = b.cli("audit", "verify")
	if res.code == 0 || !strings.Contains(res.stdout, fmt.Sprintf("TAMPERED at entry %d", e.Seq)) {
		t.Errorf("verify after editing entry %d: %v", e.Seq, res)
	}

	// The last entry cut off: detected too.
	last := len(orig) - len(lines[len(lines)-2]) - len(lines[len(lines)-1])
	if err := os.WriteFile(auditLog, orig[:last], 0o600); err != nil {
		t.Fatal(err)
	}
	res = b.cli("audit", "verify")
	if res.code == 0 || !strings.Contains(res.stdout, "TAMPERED") {
		t.Errorf("verify after cutting off the last entry: %v", res)
	}
	// Put back as written, the log verifies again.
	if err := os.WriteFile(auditLog, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if res := b.cli("audit", "verify"); res.code != 0 {
		t.Errorf("verify of the untouched log: %v", res)
	}
}
