package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// Regression tests for problems found in a security review of the API.

// TestRestoreTargetSymlink: a snapshot may hold a symbolic link; once a
// restore has put it under STATE/restores, a second restore must not
// use it as a path to write outside the restore folder (as root,
// anywhere on the box, e.g. into another space's folder).
func TestRestoreTargetSymlink(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	mia := b.user("mia", "member", map[string]string{"family": "restore"})
	outside := filepath.Join(b.dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(b.family, "esc")); err != nil {
		t.Fatal(err)
	}
	snap := b.backup(map[string][]byte{"a.txt": []byte("alpha")})

	// The first restore brings the link back under STATE/restores.
	b.must("POST", "/v1/snapshots/"+snap+"/restore", mia, map[string]any{"path": b.family, "target": "first"}, nil)
	link := filepath.Join(b.state, "restores", "first", b.family, "esc")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("restored link %s: %v %v", link, fi, err)
	}
	// The second one aims through it.
	target := filepath.Join("first", b.family, "esc", "pwn")
	code, raw := b.do("POST", "/v1/snapshots/"+snap+"/restore", mia, map[string]any{"path": b.family + "/a.txt", "target": target})
	if code != http.StatusBadRequest {
		t.Errorf("restore through a symbolic link: HTTP %d, want 400: %s", code, raw)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("restore wrote outside the restore folder: %s holds %v", outside, ents)
	}
}

// TestOperationsOfOtherSpaces: a member sees the operations of their
// own spaces and the box's (scrubs), not the backups and restores of
// spaces they have no grant on.
func TestOperationsOfOtherSpaces(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	fam := b.user("fay", "member", map[string]string{"family": "restore"})
	cli := b.user("cid", "member", map[string]string{"clients": "read"})
	snap := b.backup(map[string][]byte{"secret/plan.txt": []byte("x")})
	b.must("POST", "/v1/snapshots/"+snap+"/restore", fam, map[string]any{"path": b.family + "/secret", "target": "mine"}, nil)

	type ops struct {
		Operations []struct{ Kind, Subject string }
	}
	var st ops
	b.must("GET", "/v1/status", own, nil, &st)
	if len(st.Operations) == 0 {
		t.Fatal("the owner sees no operations")
	}
	st = ops{}
	b.must("GET", "/v1/status", cli, nil, &st)
	for _, op := range st.Operations {
		if op.Kind == "backup" && op.Subject == "family" || op.Kind == "restore" {
			t.Errorf("member of clients sees %s %q of family", op.Kind, op.Subject)
		}
	}
	st = ops{}
	b.must("GET", "/v1/status", fam, nil, &st)
	seen := false
	for _, op := range st.Operations {
		seen = seen || op.Kind == "restore"
	}
	if !seen {
		t.Errorf("member of family does not see their restore: %+v", st.Operations)
	}

	// The progress stream filters the same way. Each round of it lists
	// the operations oldest first, so the round that brings a backup of
	// clients, started now, has passed family's backup and the restore.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := pb.NewBackupServiceClient(b.grpcConn(cli)).WatchProgress(ctx, &pb.WatchProgressRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.d.RunSource("clients"); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := stream.Recv()
		if err != nil {
			t.Fatalf("the stream ended before the backup of clients was watched: %v", err)
		}
		if p.Kind == "restore" || p.Kind == "backup" && p.Subject == "family" {
			t.Fatalf("member of clients watches %s %q of family", p.Kind, p.Subject)
		}
		if p.Kind == "backup" && p.Subject == "clients" {
			break
		}
	}
}

// TestAPIKeyCannotChangeAccount: an API key (here one that may only read
// the status) must not turn on two-step sign-in for its person (locking
// them out with a secret only the key's holder has), sign their devices
// out, list them, or change the password.
func TestAPIKeyCannotChangeAccount(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	var key struct{ Key string }
	b.must("POST", "/v1/auth/apikeys", own, map[string]any{"name": "monitor", "scopes": []string{"status.read"}}, &key)
	var sessions struct {
		Sessions []struct{ ID string }
	}
	b.must("GET", "/v1/auth/sessions", own, nil, &sessions)
	if len(sessions.Sessions) == 0 {
		t.Fatal("no sessions")
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/auth/totp/begin", struct{}{}},
		{"POST", "/v1/auth/totp/confirm", map[string]string{"code": "123456"}},
		{"POST", "/v1/auth/totp/disable", map[string]string{"password": b.ownerPassword()}},
		{"POST", "/v1/auth/password", map[string]string{"old_password": b.ownerPassword(), "new_password": "An0ther-long-password"}},
		{"GET", "/v1/auth/sessions", nil},
		{"DELETE", "/v1/auth/sessions/" + sessions.Sessions[0].ID, nil},
	} {
		if code, raw := b.do(c.method, c.path, key.Key, c.body); code != http.StatusForbidden {
			t.Errorf("%s %s with a status.read API key: HTTP %d, want 403: %s", c.method, c.path, code, raw)
		}
	}
	// The person's session still works, and two-step sign-in is still off.
	b.must("GET", "/v1/status", own, nil, nil)
	var u struct {
		Users []struct {
			Name string
			Totp bool
		}
	}
	b.must("GET", "/v1/users", own, nil, &u)
	for _, x := range u.Users {
		if x.Name == "owner" && x.Totp {
			t.Error("the API key turned on two-step sign-in for the owner")
		}
	}
	// An API key may still list and revoke API keys (a script retiring
	// itself).
	b.must("GET", "/v1/auth/apikeys", key.Key, nil, nil)
}

// TestShareLinkOwnerLosesAccess: a link is its owner's access lent out;
// when the owner loses the grant on the link's space, the link stops,
// cookies included.
func TestShareLinkOwnerLosesAccess(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	mia := b.user("mia", "member", map[string]string{"family": "share"})
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	c := b.createShare(mia, map[string]any{"snapshot": snap, "path": b.family + "/docs", "download": true, "expires_days": 365})
	v := b.newVisitor()
	resp, body := v.get("/s/" + c.Token)
	wantStatus(t, "open", resp, body, http.StatusOK)

	b.must("DELETE", "/v1/users/mia/grants/family", own, nil, nil)
	resp, body = v.get("/s/" + c.Token + "/a.txt?as=download")
	if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("alpha")) {
		t.Errorf("download with the cookie after the owner lost the grant: HTTP %d: %.200s", resp.StatusCode, body)
	}
	resp, body = b.newVisitor().get("/s/" + c.Token + "/a.txt?as=download")
	if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("alpha")) {
		t.Errorf("open after the owner lost the grant: HTTP %d: %.200s", resp.StatusCode, body)
	}

	// Given back, the link works again (it was not revoked).
	b.must("POST", "/v1/users/mia/grants", own, map[string]any{"space": "family", "permissions": []string{"share"}}, nil)
	resp, body = b.newVisitor().get("/s/" + c.Token + "/a.txt?as=download")
	wantStatus(t, "open with the grant back", resp, body, http.StatusOK)
}

// TestShareCookieOtherLink: the cookie a link gives is for that link
// only; sent along with another link's token it must not open the
// first link there (sidestepping the second's use count and log).
func TestShareCookieOtherLink(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha"), "pics/p.txt": []byte("pic")})
	a := b.createShare(own, map[string]any{"snapshot": snap, "path": b.family + "/docs", "download": true})
	other := b.createShare(own, map[string]any{"snapshot": snap, "path": b.family + "/pics", "download": true, "max_uses": 1})
	resp, body := b.newVisitor().get("/s/" + other.Token)
	wantStatus(t, "use the other link once", resp, body, http.StatusOK)

	resp, _ = b.newVisitor().get("/s/" + a.Token)
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == shareCookie {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no cookie from the first link")
	}
	req, _ := http.NewRequest("GET", b.base+"/s/"+other.Token+"/a.txt?as=download", nil)
	req.AddCookie(&http.Cookie{Name: shareCookie, Value: cookie.Value})
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode == http.StatusOK || strings.Contains(buf.String(), "alpha") {
		t.Errorf("the first link's cookie under the used-up second link's token: HTTP %d: %.200s", resp.StatusCode, buf.String())
	}
}

// TestPreAuthBodyLimit: before a caller is authenticated, the box reads
// no body of a route that needs a credential (401, on REST and gRPC),
// and at most maxPublicBody of one that does not (sign-in); only a
// signed-in caller may send an upload chunk's worth.
func TestPreAuthBodyLimit(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	big := map[string]any{"offset": 0, "data": bytes.Repeat([]byte{'x'}, 3<<20)}
	raw, _ := json.Marshal(big)

	// REST: a 4 MiB chunk without a credential (or with a wrong one) is
	// refused before it is read.
	for _, authz := range []string{"", "sbs_" + strings.Repeat("a", 53)} {
		got := sendREST(t, b, "PUT", "/v1/uploads/aaaaaaaaaaaaaaaaaaaaaaaaaa", authzHeader(authz), raw)
		if got.code != http.StatusUnauthorized {
			t.Errorf("unauthenticated 4 MiB upload chunk (authz %q): HTTP %d, want 401: %.200s", authz, got.code, got.body)
		}
	}
	// A sign-in over the public routes' limit is refused as too large.
	pw, _ := json.Marshal(map[string]string{"username": "owner", "password": strings.Repeat("p", maxPublicBody)})
	if got := sendREST(t, b, "POST", "/v1/auth/login", "", pw); got.code != http.StatusRequestEntityTooLarge {
		t.Errorf("a %d-byte sign-in: HTTP %d, want 413: %.200s", len(pw), got.code, got.body)
	}
	// Signed in, the same body reaches the upload (which does not exist).
	if got := sendREST(t, b, "PUT", "/v1/uploads/aaaaaaaaaaaaaaaaaaaaaaaaaa", "Bearer "+own, raw); got.code != http.StatusNotFound {
		t.Errorf("signed-in 4 MiB chunk to an unknown upload: HTTP %d, want 404: %.200s", got.code, got.body)
	}

	// gRPC: a 3 MiB sign-in is cut off at the public routes' limit; a
	// chunk without a credential is refused before it is read.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn := b.grpcConn("")
	_, err := pb.NewAuthServiceClient(conn).Login(ctx, &pb.LoginRequest{Username: "owner", Password: strings.Repeat("p", 3<<20)})
	if !cutOff(err) {
		t.Errorf("3 MiB gRPC sign-in: %v, want the body cut off", err)
	}
	_, err = pb.NewUploadServiceClient(conn).WriteChunk(ctx, &pb.WriteChunkRequest{Id: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Data: make([]byte, 3<<20)})
	if c := status.Code(err); c != codes.Unauthenticated {
		t.Errorf("unauthenticated 3 MiB gRPC chunk: %v, want Unauthenticated", err)
	}
	// Signed in, a chunk that size is read (and the unknown upload refused).
	_, err = pb.NewUploadServiceClient(b.grpcConn(own)).WriteChunk(ctx, &pb.WriteChunkRequest{Id: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Data: make([]byte, 3<<20)})
	if c := status.Code(err); c != codes.NotFound {
		t.Errorf("signed-in 3 MiB gRPC chunk to an unknown upload: %v, want NotFound", err)
	}
}

// cutOff reports whether a gRPC call failed because the box stopped
// reading its request ("http: request body too large").
func cutOff(err error) bool {
	c := status.Code(err)
	return (c == codes.Unavailable || c == codes.ResourceExhausted) && strings.Contains(err.Error(), "too large")
}

func authzHeader(tok string) string {
	if tok == "" {
		return ""
	}
	return "Bearer " + tok
}

// TestClientIPNotForgeable: the client's address that the REST facade
// passes to the gRPC services (x-shoebox-client-ip) is not taken from
// the client, over gRPC or REST: forging it neither dodges the per-IP
// sign-in limit nor makes a remote caller look like loopback.
func TestClientIPNotForgeable(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := pb.NewAuthServiceClient(b.grpcConn(""))
	limited := false
	for i := 0; i < 15 && !limited; i++ {
		mctx := metadata.AppendToOutgoingContext(ctx, mdClientIP, fmt.Sprintf("192.0.2.%d", i))
		_, err := c.Login(mctx, &pb.LoginRequest{Username: fmt.Sprintf("nobody%d", i), Password: "wrong password"})
		limited = status.Code(err) == codes.ResourceExhausted
	}
	if !limited {
		t.Error("gRPC: sign-ins with a forged x-shoebox-client-ip were never rate limited")
	}

	b.clock.Add(time.Hour) // the limit refills
	limited = false
	for i := 0; i < 15 && !limited; i++ {
		req, _ := http.NewRequest("POST", b.base+"/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"username":"nobody%d","password":"wrong password"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shoebox-Client-Ip", fmt.Sprintf("192.0.2.%d", i))
		req.Header.Set("Grpc-Metadata-X-Shoebox-Client-Ip", fmt.Sprintf("198.51.100.%d", i))
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		limited = resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Error("REST: sign-ins with forged client-address headers were never rate limited")
	}
}
