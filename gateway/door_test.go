package gateway

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestFrontDoorAnonymousInFlight: bodies sent without a credential to
// the sign-in route hold a place each while they arrive; past
// anonPerAddr from one address the next is refused at once (429 with
// Retry-After), while signed-in calls and other addresses go on.
func TestFrontDoorAnonymousInFlight(t *testing.T) {
	b := newTestBox(t)
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

// TestChunkRefusedBeforeBody: an upload chunk the caller may not write
// is refused before its body is read and before room is reserved for it,
// on every door, and recorded once: a viewer's chunk (no upload right),
// over REST and gRPC; a member's chunk to someone else's upload, and to
// an upload in a space they may no longer upload to.
func TestChunkRefusedBeforeBody(t *testing.T) {
	b := newTestBox(t)
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
