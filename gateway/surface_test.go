package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// TestInitialPasswordFileHoldsThePasswordAlone: the first owner's
// password file holds the password and a newline, nothing else (a script
// reads it with `cat`), readable by its owner only; what to do with it is
// said in the log, which names the file and the account but never the
// password.
func TestInitialPasswordFileHoldsThePasswordAlone(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	b := newTestBox(t, withLog(&log))
	p := filepath.Join(b.state, "gateway", InitialPasswordFile)
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-z2-9]{5}(-[a-z2-9]{5}){3}\n$`).Match(raw) {
		t.Errorf("%s holds %q, want the password alone and a newline", InitialPasswordFile, raw)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600", InitialPasswordFile, fi.Mode().Perm(), err)
	}
	pw := strings.TrimSuffix(string(raw), "\n")
	b.login("owner", pw, "")
	text := log.String()
	if strings.Contains(text, pw) {
		t.Error("the log holds the initial password")
	}
	if !strings.Contains(text, p) || !strings.Contains(text, `user=owner`) || !strings.Contains(text, "delete the file") {
		t.Errorf("the log does not say where the owner's password is and what to do with it:\n%s", text)
	}
}

// TestLinksFollowTheHostUsed: without public_url, pairing and share links
// name the box as the request named it — a name of the certificate or
// an address the box listens on, at the port it listens on — and never a
// Host header the box does not serve; /healthz and the log warn that
// phones need public_url.
func TestLinksFollowTheHostUsed(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	b := newTestBox(t, withLog(&log))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(b.base, "https://"))
	own := b.localToken()
	snap := b.backup(map[string][]byte{"a.jpg": []byte("a photo")})
	for _, tc := range []struct{ host, want string }{
		{"127.0.0.1:" + port, "https://127.0.0.1:" + port},
		{"localhost:" + port, "https://localhost:" + port},
		{"LocalHost:" + port, "https://localhost:" + port},
		{"photos.attacker.example:" + port, "https://127.0.0.1:" + port}, // not a name of the box
		{"localhost:1", "https://127.0.0.1:" + port},                     // not the port it listens on
		{"localhost", "https://127.0.0.1:" + port},                       // :443, which it does not listen on
		{"[::1]:" + port, "https://127.0.0.1:" + port},                   // an address it does not listen on
	} {
		code, raw := b.doHost(tc.host, "POST", "/v1/enrolments", own, map[string]string{"user": "owner"})
		var enr struct{ URL string }
		json.Unmarshal(raw, &enr)
		if code != http.StatusOK || !strings.HasPrefix(enr.URL, tc.want+"/pair#") {
			t.Errorf("Host %s: pairing link %q (HTTP %d %s), want it under %s", tc.host, enr.URL, code, raw, tc.want)
		}
		code, raw = b.doHost(tc.host, "POST", "/v1/shares", own, map[string]any{"snapshot": snap, "path": "/a.jpg"})
		var sh struct{ URL string }
		json.Unmarshal(raw, &sh)
		if code != http.StatusOK || !strings.HasPrefix(sh.URL, tc.want+"/s/") {
			t.Errorf("Host %s: share link %q (HTTP %d %s), want it under %s", tc.host, sh.URL, code, raw, tc.want)
		}
	}

	// gRPC: the authority the client dialled.
	conn, err := grpc.NewClient(b.base[len("https://"):], grpc.WithAuthority("localhost:"+port),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: b.pool})),
		grpc.WithPerRPCCredentials(bearerCreds(own)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	enr, err := pb.NewUserServiceClient(conn).CreateEnrolment(context.Background(), &pb.CreateEnrolmentRequest{User: "owner"})
	if err != nil || !strings.HasPrefix(enr.GetUrl(), "https://localhost:"+port+"/pair#") {
		t.Errorf("gRPC with authority localhost:%s: pairing link %q (%v)", port, enr.GetUrl(), err)
	}

	// The warning: at start and in /healthz (200: the box works).
	if code, body := b.healthz(); code != http.StatusOK || !strings.Contains(body, "public_url unset") {
		t.Errorf("/healthz without public_url: %d %q, want 200 warning that public_url is unset", code, body)
	}
	if !strings.Contains(log.String(), "public_url is unset") {
		t.Errorf("no warning about public_url in the log:\n%s", log.String())
	}
}

// TestPublicURLConfigured: with public_url, every link uses it whatever
// Host a request names, and /healthz has nothing to warn about.
func TestPublicURLConfigured(t *testing.T) {
	t.Parallel()
	b := newTestBox(t, func(s *boxSettings) {
		s.cfg = strings.Replace(s.cfg, "listen_http:", "public_url: https://photos.example.org/\nlisten_http:", 1)
	})
	code, raw := b.doHost("localhost", "POST", "/v1/enrolments", b.localToken(), map[string]string{"user": "owner"})
	var enr struct{ URL string }
	json.Unmarshal(raw, &enr)
	if code != http.StatusOK || !strings.HasPrefix(enr.URL, "https://photos.example.org/pair#") {
		t.Errorf("pairing link %q (HTTP %d %s), want it under public_url", enr.URL, code, raw)
	}
	if code, body := b.healthz(); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz with public_url: %d %q, want 200 ok", code, body)
	}
}

// page GETs a page of the box: the response (body read) and the body.
func (b *testBox) page(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestFrontPage: / is a small status page for people who open the box's
// address in a browser: its name, version and state, and where to go
// next; no script, no secret, the share pages' security headers.
func TestFrontPage(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	resp, page := b.page("/")
	host, _ := os.Hostname()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: HTTP %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	for _, want := range []string{host, "version dev", "healthy", `href="/openapi.json"`, `href="/pair"`, "docs/GATEWAY.md", "shoebox pair-phone"} {
		if !strings.Contains(page, want) {
			t.Errorf("the front page does not show %q:\n%s", want, page)
		}
	}
	for _, secret := range []string{b.localToken(), b.ownerPassword()} {
		if strings.Contains(page, secret) {
			t.Error("the front page shows a secret")
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("the front page has a script")
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Strict-Transport-Security": "max-age=",
	} {
		if got := resp.Header.Get(h); !strings.HasPrefix(got, want) {
			t.Errorf("front page header %s: %q, want %q", h, got, want)
		}
	}
}

// TestPairPageFooter: the page a pairing link opens in a browser says
// what pairing is, in its own words: not the share pages' title and
// footer ("Shared with you", "Shared privately … expires").
func TestPairPageFooter(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	resp, page := b.page("/pair")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /pair: HTTP %d", resp.StatusCode)
	}
	for _, bad := range []string{"Shared with you", "Shared privately", "`"} {
		if strings.Contains(page, bad) {
			t.Errorf("the pairing page says %q:\n%s", bad, page)
		}
	}
	for _, want := range []string{"<title>Pair your phone — Shoebox</title>", "<code>shoebox pair-phone</code>", "works once"} {
		if !strings.Contains(page, want) {
			t.Errorf("the pairing page does not say %q:\n%s", want, page)
		}
	}
}
