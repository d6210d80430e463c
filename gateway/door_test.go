package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// TestAnonGate: requests with a body and no credential are let in
// anonPerAddr at a time per address (an IPv6 address counts by its /64)
// and anonTotal in all; a release makes room again.
func TestAnonGate(t *testing.T) {
	t.Parallel()
	var g anonGate
	var releases []func()
	enter := func(ip string) error {
		release, err := g.enter(ip)
		if err == nil {
			releases = append(releases, release)
		}
		return err
	}
	for i := range anonPerAddr {
		if err := enter(fmt.Sprintf("2001:db8:1:2::%x", i+1)); err != nil {
			t.Fatalf("request %d of one /64: %v", i+1, err)
		}
	}
	if err := enter("2001:db8:1:2:ffff::9"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("one more from the same /64: %v, want ResourceExhausted", err)
	}
	for i := anonPerAddr; i < anonTotal; i++ {
		if err := enter(fmt.Sprintf("192.0.2.%d", i)); err != nil {
			t.Fatalf("request %d in all: %v", i+1, err)
		}
	}
	err := enter("198.51.100.1")
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), fmt.Sprint(anonTotal)) {
		t.Fatalf("one more than %d in all: %v, want ResourceExhausted naming the limit", anonTotal, err)
	}
	releases[0]()
	if err := enter("198.51.100.1"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	for _, r := range releases[1:] {
		r()
	}
	if g.total != 0 || len(g.byAddr) != 0 {
		t.Errorf("after every release: %d in flight, %d addresses kept", g.total, len(g.byAddr))
	}
}

// TestSignedInBody: what a signed-in body reserves is measured from its
// Content-Length on REST (nothing for a GET, which may be a stream) and
// from its message's frame on gRPC, which is put back for the transport.
func TestSignedInBody(t *testing.T) {
	t.Parallel()
	msg := append([]byte{0, 0, 0, 1, 44}, bytes.Repeat([]byte{'x'}, 300)...)
	for _, c := range []struct {
		what         string
		method, body string
		length       int64
		grpc         bool
		want         int64
	}{
		{"a REST body", "POST", "{}", 100, false, 100},
		{"a REST body of unknown length", "POST", "{}", -1, false, maxBody},
		{"a REST body said to be too large", "PUT", "{}", 5 << 20, false, maxBody},
		{"a GET of unknown length", "GET", "", -1, false, 0},
		{"a gRPC message", "POST", string(msg), -1, true, 300},
		{"a gRPC message said to be too large", "POST", "\x00\xff\xff\xff\xff", -1, true, maxBody},
		{"a gRPC body cut short", "POST", "\x00\x00", -1, true, 0},
	} {
		r, _ := http.NewRequest(c.method, "https://box/x", strings.NewReader(c.body))
		r.ContentLength = c.length
		if got := signedInBody(r, c.grpc); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
		if rest, _ := io.ReadAll(r.Body); string(rest) != c.body {
			t.Errorf("%s: the body reads %q afterwards, want it whole", c.what, rest)
		}
	}
}

// TestFrontDoorAnonymousInFlight: bodies sent without a credential to
// the sign-in route hold a place each while they arrive; past
// anonPerAddr from one address the next is refused at once (429 with
// Retry-After), while signed-in calls and other addresses go on.
func TestFrontDoorAnonymousInFlight(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	giveUp := b.slowPosts(b.base+"/v1/auth/login", anonPerAddr)
	b.waitAnonymous(anonPerAddr)

	pw := b.ownerPassword()
	login, _ := json.Marshal(map[string]string{"username": "owner", "password": pw})
	got := sendREST(t, b, "POST", "/v1/auth/login", "", login)
	if got.code != http.StatusTooManyRequests || got.header.Get("Retry-After") == "" || !strings.Contains(got.errorText(), "your address") {
		t.Errorf("a sign-in past %d slow ones from its address: HTTP %d (Retry-After %q): %s; want 429 with Retry-After",
			anonPerAddr, got.code, got.header.Get("Retry-After"), got.body)
	}
	wantCode(t, b, http.StatusOK, "GET", "/v1/status", own, nil)
	if r := b.loginVia(b.from("127.0.0.2"), "owner", pw); r.code != http.StatusOK {
		t.Errorf("a sign-in from another address meanwhile: HTTP %d: %s", r.code, r.body)
	}

	giveUp()
	b.waitAnonymous(0)
	if got := sendREST(t, b, "POST", "/v1/auth/login", "", login); got.code != http.StatusOK {
		t.Errorf("a sign-in once the slow ones are answered: HTTP %d: %s", got.code, got.body)
	}
}

// slowPosts starts n JSON POSTs to url whose bodies do not come;
// giveUp makes their clients give up, and waits until they have.
func (b *testBox) slowPosts(url string, n int) (giveUp func()) {
	release := make(chan struct{})
	answered := make(chan struct{}, n)
	for range n {
		go func() {
			defer func() { answered <- struct{}{} }()
			req, _ := http.NewRequest("POST", url, newStall(release))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := b.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	return func() {
		close(release)
		for range n {
			<-answered
		}
	}
}

// waitAnonymous waits until n requests without a credential hold a
// place at the front door.
func (b *testBox) waitAnonymous(n int) {
	b.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b.g.door.anon.mu.Lock()
		got := b.g.door.anon.total
		b.g.door.anon.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%d requests without a credential in flight, want %d", got, n)
		}
	}
}

// TestReadPlainBody: the plain-HTTP listener finds the user name and
// password fields at a body's top level (JSON or a form), also in a
// body cut short at plainMaxBody, and nothing in nested values.
func TestReadPlainBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body     string
		user     string
		password bool
	}{
		{`{"username":"ann","password":"pw"}`, "ann", true},
		{`{"password":""}`, "", false},
		{`{"new_password":"z","username":7}`, "", true},
		{`{"meta":{"username":"x","password":"y"},"list":[{"password":"y"}],"username":"bo"}`, "bo", false},
		{`{"username":"ann","old_password":"pw","note":"` + strings.Repeat("a", plainMaxBody), "ann", true},
		{`username=c%20d&password=e`, "c d", true},
		{`next=%zz&username=eve&password=`, "eve", false},
		{`["username","password"]`, "", false},
	} {
		req, _ := http.NewRequest("POST", "http://box/v1/auth/login", strings.NewReader(tc.body))
		got := readPlainBody(req)
		if got.user != tc.user || got.password != tc.password {
			t.Errorf("%.60s: user %q, password %v; want %q, %v", tc.body, got.user, got.password, tc.user, tc.password)
		}
	}
}

// TestPlainHTTPLimits: the plain-HTTP listener looks into plainBurst
// requests at once per address and reads plainAtOnce bodies at once;
// past that a request is still refused (403), but what it carries is
// not looked at, and the answer says so.
func TestPlainHTTPLimits(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	const notAll = "too many others"

	// Bodies: plainAtOnce slow ones hold every place; the next body is
	// not read (its pairing code lives on), its Authorization header is
	// (the session is revoked).
	giveUp := b.slowPosts(b.plain+"/v1/auth/login", plainAtOnce)
	for deadline := time.Now().Add(10 * time.Second); len(b.g.plain.bodies) < plainAtOnce; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d plain-HTTP bodies being read, want %d", len(b.g.plain.bodies), plainAtOnce)
		}
	}
	pat := b.user("pat", "member", nil)
	code := b.pairCode(b.localToken(), "pat")
	c := b.from("127.0.0.2")
	req, _ := http.NewRequest("POST", b.plain+"/v1/auth/enrol", strings.NewReader(`{"code":"`+code.Code+`"}`))
	req.Header.Set("Authorization", "Bearer "+pat)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(answer.Error, notAll) {
		t.Errorf("a plain-HTTP body while %d are read: HTTP %d: %q; want 403 saying it was not all looked at", plainAtOnce, resp.StatusCode, answer.Error)
	}
	wantCode(t, b, http.StatusUnauthorized, "GET", "/v1/status", pat, nil)
	giveUp()
	if st, _ := b.enrol(code.Code); st != http.StatusOK {
		t.Errorf("the pairing code in the unread body: HTTP %d, want it still valid (200)", st)
	}

	// Requests: past plainBurst from one address, nothing is looked at.
	c = b.from("127.0.0.3")
	plain := func(c *http.Client, authz string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", b.plain+"/v1/auth/login", strings.NewReader(`{"password":"x"}`))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var answer struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&answer)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("plain-HTTP POST: HTTP %d, want 403", resp.StatusCode)
		}
		return answer.Error
	}
	for i := range plainBurst {
		if msg := plain(c, ""); strings.Contains(msg, notAll) {
			t.Fatalf("plain-HTTP request %d of %d from one address was not looked at: %q", i+1, plainBurst, msg)
		}
	}
	val := b.user("val", "member", nil)
	if msg := plain(c, "Bearer "+val); !strings.Contains(msg, notAll) {
		t.Errorf("plain-HTTP request past %d from one address: %q, want it to say it was not looked at", plainBurst, msg)
	}
	wantCode(t, b, http.StatusOK, "GET", "/v1/status", val, nil)
	plain(b.from("127.0.0.4"), "Bearer "+val)
	wantCode(t, b, http.StatusUnauthorized, "GET", "/v1/status", val, nil)
}

// TestPlainHTTPAuditSummary: passwords sent over plain HTTP that revoke
// nothing are recorded once a minute per address, the rest counted and
// written as one summary when the minute is over (with the accounts
// told); a revoked credential is recorded every time.
func TestPlainHTTPAuditSummary(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	local := b.localToken()
	pat := b.user("pat", "member", nil)
	c := b.from("127.0.0.5")
	post := func(body, authz string) {
		t.Helper()
		req, _ := http.NewRequest("POST", b.plain+"/v1/auth/login", strings.NewReader(body))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	since := b.lastSeq(local)
	for range 4 {
		post(`{"username":"owner","password":"x"}`, "")
	}
	post(`{"username":"nobody","password":"x"}`, "")
	post(`{}`, "Bearer "+pat)
	post(`{"username":"pat","password":"x"}`, "")

	var actions []string
	for _, e := range b.auditSince(local, since) {
		actions = append(actions, e.Action+" "+e.Target)
	}
	want := []string{"auth.password_exposed owner", "auth.credential_exposed pat"}
	if strings.Join(actions, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit after 6 plain-HTTP passwords and a token from one address: %q, want %q", actions, want)
	}

	since = b.lastSeq(local)
	b.g.flushPlain()
	if got := b.auditSince(local, since); len(got) != 0 {
		t.Errorf("a summary before the minute is over: %+v", got)
	}
	b.clock.Add(plainQuiet)
	b.g.flushPlain()
	got := b.auditSince(local, since)
	if len(got) != 1 || got[0].Action != actionPasswordExposed || got[0].IP != "127.0.0.5" ||
		got[0].Detail["more"] != "5" || got[0].Detail["more_accounts"] != "owner, pat" {
		t.Fatalf("the summary: %+v; want one auth.password_exposed from 127.0.0.5 with more 5, accounts owner, pat", got)
	}
	// The summary was the address's record for this minute.
	since = got[0].Seq
	post(`{"username":"owner","password":"x"}`, "")
	b.g.flushPlain()
	if got := b.auditSince(local, since); len(got) != 0 {
		t.Errorf("a record within the minute after a summary: %+v", got)
	}
}

// TestChunkRefusedBeforeBody: an upload chunk the caller may not write
// is refused before its body is read and before room is reserved for it,
// on every door, and recorded once: a viewer's chunk (no upload right),
// over REST and gRPC; a member's chunk to someone else's upload, and to
// an upload in a space they may no longer upload to.
func TestChunkRefusedBeforeBody(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	local := b.localToken()
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	mat := b.user("mat", "member", map[string]string{"family": "write", "clients": "write"})
	vic := b.user("vic", "viewer", map[string]string{"family": "read"})
	data := make([]byte, 1<<20)
	miaUp := b.startUpload(mia, "family", "mias-phone", "a.jpg", data)
	matUp := b.startUpload(mat, "clients", "mats-phone", "b.jpg", data)
	b.must("DELETE", "/v1/users/mat/grants/clients", local, nil, nil)

	for _, c := range []struct {
		what, tok, id string
		code          int
	}{
		{"a viewer's chunk", vic, miaUp.ID, http.StatusForbidden},
		{"a chunk to another member's upload", mat, miaUp.ID, http.StatusForbidden},
		{"a chunk to an upload in a space no longer granted", mat, matUp.ID, http.StatusForbidden},
	} {
		since := b.lastSeq(local)
		st, raw := b.rawPut(c.tok, c.id, 0, data)
		if st != c.code {
			t.Errorf("%s: HTTP %d, want %d: %s", c.what, st, c.code, raw)
		}
		var records []string
		for _, e := range b.auditSince(local, since) {
			records = append(records, e.Action+" "+e.Target+" "+e.Result)
		}
		if len(records) != 1 || !strings.HasPrefix(records[0], "upload.chunk "+c.id+" PermissionDenied") {
			t.Errorf("%s: audit %q, want one upload.chunk record of the refusal", c.what, records)
		}
	}

	since := b.lastSeq(local)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := pb.NewUploadServiceClient(b.grpcConn(vic)).WriteChunk(ctx, &pb.WriteChunkRequest{Id: miaUp.ID, Data: data})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a viewer's gRPC chunk: %v, want PermissionDenied", err)
	}
	if got := b.auditSince(local, since); len(got) != 1 || got[0].Action != "upload.chunk" {
		t.Errorf("a viewer's gRPC chunk: audit %+v, want one upload.chunk record", got)
	}
	b.g.chunks.mu.Lock()
	held := b.g.chunks.total
	b.g.chunks.mu.Unlock()
	if held != 0 {
		t.Errorf("%d bytes of the chunk budget held after the refusals", held)
	}
	if st, raw := b.rawPut(mia, miaUp.ID, 0, data); st != http.StatusOK {
		t.Errorf("mia's own chunk: HTTP %d: %s", st, raw)
	}
}
