package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/token"
)

// Access-control tests: the policy table against the services and the
// OpenAPI document, refusals on every route, roles and grants, two-step
// sign-in, the brakes on guessing, and credentials sent over plain HTTP.

// grpcMethods returns every method the gateway registers on its gRPC
// server ("/shoebox.v1.AuthService/Login" → whether it streams).
func grpcMethods() map[string]bool {
	s := grpc.NewServer()
	(&Gateway{}).register(s)
	out := map[string]bool{}
	for svc, info := range s.GetServiceInfo() {
		for _, m := range info.Methods {
			out["/"+svc+"/"+m.Name] = m.IsServerStream || m.IsClientStream
		}
	}
	return out
}

func TestPolicyCoversEveryMethod(t *testing.T) {
	t.Parallel()
	registered := grpcMethods()
	// The descriptors of the shoebox.v1 package: a service defined in the
	// .proto files but not registered would be missed by the walk above.
	described := map[string]bool{}
	protoregistry.GlobalFiles.RangeFilesByPackage("shoebox.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				described["/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name())] = true
			}
		}
		return true
	})
	if len(registered) == 0 || len(described) == 0 {
		t.Fatalf("found %d registered and %d described methods; want some of each", len(registered), len(described))
	}
	for m := range described {
		if _, ok := registered[m]; !ok {
			t.Errorf("%s is in the .proto files but not registered on the gRPC server", m)
		}
	}
	for m := range registered {
		rule, ok := policy[m]
		if !ok {
			t.Errorf("%s has no entry in policy", m)
			continue
		}
		if rule != public && rule != self && !auth.Action(rule).Valid() {
			t.Errorf("%s: rule %q is neither public, self nor an auth.Action", m, rule)
		}
	}
	for m := range policy {
		if _, ok := registered[m]; !ok {
			t.Errorf("policy names %s, which no service has (a stale rule)", m)
		}
	}
	for m := range secondFactorFree {
		if policy[m] != self {
			t.Errorf("secondFactorFree names %s, whose rule is %q; want a self rule", m, policy[m])
		}
	}
	for m := range unprovenFree {
		if policy[m] != self {
			t.Errorf("unprovenFree names %s, whose rule is %q; want a self rule", m, policy[m])
		}
	}
	t.Logf("%d methods, %d policy rules", len(registered), len(policy))
}

// apiRoute is one path and method of the OpenAPI document, with dummy
// values in place of its path parameters.
type apiRoute struct {
	method, path string // "POST", "/v1/snapshots/abc123/lock"
	op           string // "BackupService_LockSnapshot"
	grpcMethod   string // "/shoebox.v1.BackupService/LockSnapshot"
	rule         string // policy[grpcMethod]; "" when missing
	body         bool   // takes a JSON body
	stream       bool   // server streaming
}

func (r apiRoute) String() string { return r.method + " " + r.path + " (" + r.op + ")" }

// pathDummies are values for the OpenAPI path parameters.
var pathDummies = map[string]string{
	"id": "abc123", "name": "family", "space": "family", "device": "phone-1", "other": "def456",
}

// apiRoutes reads every route of the OpenAPI document. It fails the test
// on a route whose operation has no policy rule.
func apiRoutes(t *testing.T) []apiRoute {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	methods := grpcMethods()
	var out []apiRoute
	for p, ops := range doc.Paths {
		for verb, op := range ops {
			r := apiRoute{method: strings.ToUpper(verb), path: p, op: op.OperationID}
			for _, prm := range op.Parameters {
				switch prm.In {
				case "path":
					v, ok := pathDummies[prm.Name]
					if !ok {
						t.Errorf("%s: no dummy value for path parameter {%s}; add one to pathDummies", r, prm.Name)
						v = "x"
					}
					r.path = strings.Replace(r.path, "{"+prm.Name+"}", v, 1)
				case "body":
					r.body = true
				}
			}
			if strings.Contains(r.path, "{") {
				t.Errorf("%s: path parameter left in %s", r, r.path)
			}
			svc, name, ok := strings.Cut(op.OperationID, "_")
			if !ok {
				t.Errorf("%s %s: operationId %q is not Service_Method", r.method, p, op.OperationID)
				continue
			}
			r.grpcMethod = "/shoebox.v1." + svc + "/" + name
			stream, ok := methods[r.grpcMethod]
			if !ok {
				t.Errorf("%s: no gRPC method %s", r, r.grpcMethod)
			}
			r.stream = stream
			r.rule = policy[r.grpcMethod]
			if r.rule == "" {
				t.Errorf("%s: %s has no policy rule", r, r.grpcMethod)
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if len(out) == 0 {
		t.Fatal("the OpenAPI document lists no routes")
	}
	return out
}

// restReply is a REST answer with its headers.
type restReply struct {
	code   int
	header http.Header
	body   []byte
}

// errorText is the "error" field of a JSON error body (a string, as
// docs/GATEWAY.md promises), or "".
func (r restReply) errorText() string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error
}

// sendREST sends a REST request with a deadline (so that a streaming
// route that answers instead of refusing cannot hang the test) and an
// Authorization header when auth is not empty (given whole, "Bearer x").
func sendREST(t *testing.T, b *testBox, method, path, authz string, body []byte) restReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer (HTTP %d): %v", method, path, resp.StatusCode, err)
	}
	return restReply{code: resp.StatusCode, header: resp.Header, body: out}
}

// routeBody is what the refusal tests send: {} where a body is taken.
func routeBody(r apiRoute) []byte {
	if r.body {
		return []byte("{}")
	}
	return nil
}

func TestEveryRouteRefuses(t *testing.T) {
	t.Parallel()
	routes := apiRoutes(t)
	if t.Failed() {
		t.FailNow()
	}
	b := newMemBox(t)
	own := b.owner()
	viewer := b.user("vic", "viewer", nil)
	var key struct{ Key string }
	b.must("POST", "/v1/auth/apikeys", own, map[string]any{"name": "monitor", "scopes": []string{"status.read"}}, &key)
	checked := 0

	want401 := func(t *testing.T, r apiRoute, authz string) {
		t.Helper()
		got := sendREST(t, b, r.method, r.path, authz, routeBody(r))
		checked++
		if got.code != http.StatusUnauthorized {
			t.Errorf("%s with %q: HTTP %d, want 401: %s", r, authz, got.code, got.body)
			return
		}
		if got.errorText() == "" {
			t.Errorf("%s: 401 without an \"error\" field: %s", r, got.body)
		}
		if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: 401 with Content-Type %q, want application/json", r, ct)
		}
		if got.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", r)
		}
	}
	want403 := func(t *testing.T, r apiRoute, who, tok string) {
		t.Helper()
		got := sendREST(t, b, r.method, r.path, "Bearer "+tok, routeBody(r))
		checked++
		if got.code != http.StatusForbidden {
			t.Errorf("%s as %s: HTTP %d, want 403: %s", r, who, got.code, got.body)
		} else if got.errorText() == "" {
			t.Errorf("%s as %s: 403 without an \"error\" field: %s", r, who, got.body)
		}
	}

	t.Run("no credential", func(t *testing.T) {
		for _, r := range routes {
			if r.rule != public {
				want401(t, r, "")
			}
		}
	})
	t.Run("bad tokens", func(t *testing.T) {
		sess := token.New(token.Session)
		badCheck := sess[:len(sess)-1] + "a"
		if sess[len(sess)-1] == 'a' {
			badCheck = sess[:len(sess)-1] + "b"
		}
		bad := []string{
			"Bearer nonsense",
			"Bearer " + sess[:20],                  // truncated
			"Bearer " + badCheck,                   // wrong check character
			"Bearer " + token.New(token.Share),     // the wrong kind
			"Bearer " + token.New(token.Session),   // well-formed, unknown
			"Bearer " + token.New(token.APIKey),    // well-formed, unknown
			"Basic " + own,                         // a real token, the wrong scheme
			"Bearer " + strings.ToUpper(own),       // a real token, mangled
			"Bearer " + own + " " + token.New("x"), // a real token with junk after
		}
		for _, r := range routes {
			if r.rule == public {
				continue
			}
			for _, a := range bad {
				want401(t, r, a)
			}
		}
	})
	t.Run("viewer without grants", func(t *testing.T) {
		if got := sendREST(t, b, "GET", "/v1/status", "Bearer "+viewer, nil); got.code != http.StatusOK {
			t.Fatalf("viewer: GET /v1/status: HTTP %d, want 200: %s", got.code, got.body)
		}
		n := 0
		for _, r := range routes {
			if r.rule == public || r.rule == self || auth.Can(auth.Viewer, auth.Action(r.rule), nil) {
				continue
			}
			want403(t, r, "viewer", viewer)
			n++
		}
		t.Logf("viewer refused on %d routes", n)
	})
	t.Run("API key scoped to status.read", func(t *testing.T) {
		if got := sendREST(t, b, "GET", "/v1/status", "Bearer "+key.Key, nil); got.code != http.StatusOK {
			t.Fatalf("API key: GET /v1/status: HTTP %d, want 200: %s", got.code, got.body)
		}
		n := 0
		for _, r := range routes {
			if r.rule == public || r.rule == self || r.rule == string(auth.StatusRead) {
				continue
			}
			want403(t, r, "status.read key", key.Key)
			n++
		}
		t.Logf("API key refused on %d routes", n)
	})
	t.Run("public routes with bad input", func(t *testing.T) {
		b.clock.Add(time.Minute) // refill the per-IP sign-in allowance
		bodies := map[string][]string{
			"AuthService_Login": {`{}`, `{`, `[]`, `{"username":"owner","password":"wrong"}`,
				`{"username":"nobody","password":"x"}`, `{"username":"owner","password":42}`, `{"bogus_field":1}`},
			"AuthService_Enrol": {`{}`, `{"code":"sbe_nonsense"}`, `{"code":"` + token.New(token.Enrol) + `"}`,
				`{"code":"` + own + `"}`, `not json`},
		}
		seen := 0
		for _, r := range routes {
			if r.rule != public {
				continue
			}
			seen++
			list, ok := bodies[r.op]
			if !ok {
				t.Errorf("%s is public but this test has no bad inputs for it", r)
				continue
			}
			for _, body := range list {
				got := sendREST(t, b, r.method, r.path, "", []byte(body))
				checked++
				if got.code != http.StatusBadRequest && got.code != http.StatusUnauthorized {
					t.Errorf("%s with %s: HTTP %d, want 400 or 401: %s", r, body, got.code, got.body)
				}
				if got.errorText() == "" {
					t.Errorf("%s with %s: no \"error\" field: %s", r, body, got.body)
				}
			}
		}
		if seen != len(bodies) {
			t.Errorf("%d public routes, want %d (login, enrol)", seen, len(bodies))
		}
	})
	t.Logf("%d routes in the OpenAPI document; %d requests checked", len(routes), checked)
}

// backupClients puts a file into the clients folder, backs it up and
// returns the new snapshot's ID.
func backupClients(t *testing.T, b *testBox) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(b.clients, "invoice.pdf"), []byte("an invoice"), 0o644); err != nil {
		t.Fatal(err)
	}
	last := func() string {
		for _, s := range b.d.Sources() {
			if s.Name == "clients" && !s.Running {
				return s.LastSnap
			}
		}
		return ""
	}
	before := last()
	if err := b.d.RunSource("clients"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s := last(); s != "" && s != before {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("no new snapshot of clients within 60 s")
		}
	}
}

// wantCode fails unless the REST call answers code.
func wantCode(t *testing.T, b *testBox, code int, method, path, tok string, body any) []byte {
	t.Helper()
	got, raw := b.do(method, path, tok, body)
	if got != code {
		t.Errorf("%s %s: HTTP %d, want %d: %s", method, path, got, code, raw)
	}
	return raw
}

type snapshotList struct {
	Snapshots []struct {
		ID          string `json:"id"`
		Source      string `json:"source"`
		LockedUntil string `json:"locked_until"`
	} `json:"snapshots"`
}

// TestRoles checks grants and roles on real snapshots of two spaces.
//
// A member or viewer listing snapshots of a space they hold no grant on
// gets 200 with those snapshots filtered out (ListSnapshots filters, as
// do ListSources and GetStatus); naming such a snapshot or source
// directly (browse, download, share, lock, GET /v1/sources/{name}) is
// 404, as for one that does not exist.
func TestRoles(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	fam := b.backup(map[string][]byte{"photos/IMG_0001.JPG": []byte("a photo")})
	cli := backupClients(t, b)
	mia := b.user("mia", "member", map[string]string{"family": "write,share,restore"})
	vera := b.user("vera", "viewer", map[string]string{"family": "read"})
	ada := b.user("ada", "admin", nil)
	ben := b.user("ben", "member", map[string]string{"family": "share"})
	famFile := b.family + "/photos/IMG_0001.JPG"

	t.Run("member sees only granted spaces", func(t *testing.T) {
		var all snapshotList
		b.must("GET", "/v1/snapshots", mia, nil, &all)
		if len(all.Snapshots) == 0 {
			t.Fatal("member with a write grant on family sees no snapshots")
		}
		for _, s := range all.Snapshots {
			if s.Source != "family" {
				t.Errorf("member sees snapshot %s of %q", s.ID, s.Source)
			}
		}
		var filtered snapshotList
		b.must("GET", "/v1/snapshots?source=clients", mia, nil, &filtered)
		if len(filtered.Snapshots) != 0 {
			t.Errorf("GET /v1/snapshots?source=clients as member: %d snapshots, want none (filtered)", len(filtered.Snapshots))
		}
		var ownList snapshotList
		b.must("GET", "/v1/snapshots?source=clients", own, nil, &ownList)
		if len(ownList.Snapshots) == 0 {
			t.Error("the owner sees no clients snapshots")
		}
		wantCode(t, b, 200, "GET", "/v1/snapshots/"+fam+"/tree?path="+b.family, mia, nil)
		wantCode(t, b, 200, "GET", "/v1/snapshots/"+fam+"/download?path="+famFile, mia, nil)
		wantCode(t, b, 404, "GET", "/v1/snapshots/"+cli+"/tree?path=/", mia, nil)
		wantCode(t, b, 404, "GET", "/v1/snapshots/"+cli+"/download?path="+b.clients+"/invoice.pdf", mia, nil)
		wantCode(t, b, 404, "GET", "/v1/snapshots/"+fam+"/diff/"+cli, mia, nil)
		wantCode(t, b, 404, "POST", "/v1/shares", mia, map[string]any{"snapshot": cli, "path": "/"})
		wantCode(t, b, 404, "POST", "/v1/snapshots/"+cli+"/lock", mia, map[string]string{"until": b.clock.Now().AddDate(0, 1, 0).Format(time.RFC3339)})
		wantCode(t, b, 404, "POST", "/v1/snapshots/"+cli+"/restore", mia, map[string]string{})
		wantCode(t, b, 404, "GET", "/v1/sources/clients", mia, nil)
		wantCode(t, b, 404, "POST", "/v1/sources/clients/run", mia, struct{}{})
		wantCode(t, b, 403, "POST", "/v1/uploads", mia, map[string]any{"space": "clients", "device": "p", "name": "a.jpg",
			"size": 1, "sha256": strings.Repeat("ab", 32)})
		var srcs struct{ Sources []struct{ Name string } }
		b.must("GET", "/v1/sources", mia, nil, &srcs)
		if len(srcs.Sources) != 1 || srcs.Sources[0].Name != "family" {
			t.Errorf("GET /v1/sources as member: %+v, want family only", srcs.Sources)
		}
		// The write permission allows running a backup and locking in family.
		wantCode(t, b, 200, "POST", "/v1/sources/family/run", mia, struct{}{})
	})

	t.Run("viewer reads only", func(t *testing.T) {
		wantCode(t, b, 200, "GET", "/v1/snapshots/"+fam+"/tree?path="+b.family+"/photos", vera, nil)
		got := wantCode(t, b, 200, "GET", "/v1/snapshots/"+fam+"/download?path="+famFile, vera, nil)
		if string(got) != "a photo" {
			t.Errorf("viewer download: got %q, want %q", got, "a photo")
		}
		wantCode(t, b, 404, "GET", "/v1/snapshots/"+cli+"/tree?path=/", vera, nil)
		wantCode(t, b, 403, "POST", "/v1/sources/family/run", vera, struct{}{})
		wantCode(t, b, 403, "POST", "/v1/uploads", vera, map[string]any{"space": "family", "device": "p", "name": "a.jpg",
			"size": 1, "sha256": strings.Repeat("ab", 32)})
		wantCode(t, b, 403, "POST", "/v1/shares", vera, map[string]any{"snapshot": fam, "path": "/"})
		wantCode(t, b, 403, "POST", "/v1/snapshots/"+fam+"/lock", vera, map[string]string{"until": b.clock.Now().AddDate(1, 0, 0).Format("2006-01-02")})
		wantCode(t, b, 403, "POST", "/v1/snapshots/"+fam+"/restore", vera, map[string]string{})
	})

	t.Run("downloads are byte for byte", func(t *testing.T) {
		// Larger than one 1 MiB stream message, not a multiple of it.
		big := make([]byte, 2<<20+12345)
		for i := range big {
			big[i] = byte(i*7 + i>>11)
		}
		id := b.backup(map[string][]byte{"video/clip.mov": big})
		got := wantCode(t, b, 200, "GET", "/v1/snapshots/"+id+"/download?path="+b.family+"/video/clip.mov", vera, nil)
		if !bytes.Equal(got, big) {
			t.Errorf("download: %d bytes, want the %d backed up (equal: %v)", len(got), len(big), bytes.Equal(got, big))
		}
	})

	t.Run("streams are JSON lines", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", b.base+"/v1/progress", nil)
		req.Header.Set("Authorization", "Bearer "+own)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /v1/progress: HTTP %d", resp.StatusCode)
		}
		line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
		if err != nil {
			t.Fatalf("GET /v1/progress: no first line: %v (%q)", err, line)
		}
		var msg struct {
			Result struct {
				Kind string `json:"kind"`
			} `json:"result"`
		}
		if err := json.Unmarshal(line, &msg); err != nil || msg.Result.Kind == "" {
			t.Errorf("GET /v1/progress: first line %q: %v", line, err)
		}
	})

	t.Run("admin cannot touch the owner", func(t *testing.T) {
		wantCode(t, b, 403, "DELETE", "/v1/users/owner", ada, nil)
		wantCode(t, b, 403, "POST", "/v1/users/owner/role", ada, map[string]string{"role": "viewer"})
		wantCode(t, b, 403, "POST", "/v1/users/ben/role", ada, map[string]string{"role": "owner"})
		wantCode(t, b, 403, "POST", "/v1/users/ada/role", ada, map[string]string{"role": "owner"})
		wantCode(t, b, 403, "POST", "/v1/users", ada, map[string]string{"name": "eve", "password": "password-of-eve", "role": "owner"})
		wantCode(t, b, 403, "POST", "/v1/users/owner/grants", ada, map[string]any{"space": "family", "permissions": []string{"read"}})
		wantCode(t, b, 403, "POST", "/v1/enrolments", ada, map[string]string{"user": "owner"})
		var users struct {
			Users []struct{ Name, Role string }
		}
		b.must("GET", "/v1/users", own, nil, &users)
		for _, u := range users.Users {
			if (u.Name == "owner" && u.Role != "owner") || (u.Name != "owner" && u.Role == "owner") {
				t.Errorf("after the admin's attempts: %s is %s", u.Name, u.Role)
			}
		}
		// What an admin may do: manage a member.
		wantCode(t, b, 200, "POST", "/v1/users/ben/grants", ada, map[string]any{"space": "clients", "permissions": []string{"read"}})
		wantCode(t, b, 200, "DELETE", "/v1/users/ben/grants/clients", ada, nil)
	})

	t.Run("locks never shorten", func(t *testing.T) {
		later := b.clock.Now().AddDate(0, 0, 60).UTC()
		var sn struct {
			LockedUntil string `json:"locked_until"`
		}
		b.must("POST", "/v1/snapshots/"+fam+"/lock", mia, map[string]string{"until": later.Format(time.RFC3339)}, &sn)
		earlier := []string{
			later.Add(-time.Hour).Format(time.RFC3339),
			later.AddDate(0, 0, -30).Format("2006-01-02"),
			later.Add(-time.Second).In(time.FixedZone("east", 14*3600)).Format(time.RFC3339), // same instant minus 1 s, another zone
			b.clock.Now().Add(time.Minute).Format(time.RFC3339),
		}
		for _, who := range []struct{ name, tok string }{{"owner", own}, {"local token", b.localToken()}, {"admin", ada}, {"member", mia}} {
			for _, until := range earlier {
				code, raw := b.do("POST", "/v1/snapshots/"+fam+"/lock", who.tok, map[string]string{"until": until})
				if code == http.StatusOK || code >= 500 {
					t.Errorf("%s shortening the lock to %s: HTTP %d: %s", who.name, until, code, raw)
				}
			}
		}
		// Over gRPC too.
		_, err := pb.NewBackupServiceClient(b.grpcConn(own)).LockSnapshot(context.Background(),
			&pb.LockRequest{Id: fam, Until: later.Add(-time.Hour).Format(time.RFC3339)})
		if err == nil {
			t.Error("gRPC LockSnapshot with an earlier date: accepted")
		}
		var list snapshotList
		b.must("GET", "/v1/snapshots?source=family", own, nil, &list)
		for _, s := range list.Snapshots {
			if strings.HasPrefix(fam, s.ID) || strings.HasPrefix(s.ID, fam) {
				got, err := time.Parse(time.RFC3339, s.LockedUntil)
				if err != nil || !got.Equal(later.Truncate(time.Second)) && got.Before(later.Truncate(time.Second)) {
					t.Errorf("lock of %s is now %q, want %s", s.ID, s.LockedUntil, later.Format(time.RFC3339))
				}
			}
		}
		// Lengthening works.
		wantCode(t, b, 200, "POST", "/v1/snapshots/"+fam+"/lock", own, map[string]string{"until": later.AddDate(0, 0, 1).Format(time.RFC3339)})
	})

	t.Run("members keep to their own links and sessions", func(t *testing.T) {
		var sh struct {
			Share struct{ ID string } `json:"share"`
			Token string              `json:"token"`
		}
		b.must("POST", "/v1/shares", mia, map[string]any{"snapshot": fam, "path": "/"}, &sh)
		if sh.Share.ID == "" {
			t.Fatalf("no share ID")
		}
		var list struct {
			Shares []struct{ ID, Owner string }
		}
		b.must("GET", "/v1/shares", ben, nil, &list)
		for _, s := range list.Shares {
			if s.Owner != "ben" {
				t.Errorf("ben sees %s's link %s", s.Owner, s.ID)
			}
		}
		b.must("GET", "/v1/shares", own, nil, &list)
		found := false
		for _, s := range list.Shares {
			found = found || s.ID == sh.Share.ID
		}
		if !found {
			t.Error("the owner does not see mia's link")
		}
		wantCode(t, b, 404, "GET", "/v1/shares/"+sh.Share.ID+"/log", ben, nil)
		wantCode(t, b, 404, "DELETE", "/v1/shares/"+sh.Share.ID, ben, nil)
		if n, _ := b.do("POST", "/v1/shares/revoke-all", ben, struct{}{}); n != 200 {
			t.Errorf("ben: revoke-all: HTTP %d", n)
		}
		wantCode(t, b, 200, "GET", "/v1/shares/"+sh.Share.ID+"/log", mia, nil)
		raw := wantCode(t, b, 200, "GET", "/v1/shares", mia, nil)
		var mine struct {
			Shares []json.RawMessage `json:"shares"`
		}
		json.Unmarshal(raw, &mine)
		if len(mine.Shares) != 1 {
			t.Fatalf("mia has %d links, want 1", len(mine.Shares))
		}
		var got struct {
			Revoked bool `json:"revoked"`
		}
		json.Unmarshal(mine.Shares[0], &got)
		if got.Revoked {
			t.Error("ben's revoke-all revoked mia's link")
		}

		type sessions struct {
			Sessions []struct {
				ID      string `json:"id"`
				Current bool   `json:"current"`
			} `json:"sessions"`
		}
		var ms, bs sessions
		b.must("GET", "/v1/auth/sessions", mia, nil, &ms)
		b.must("GET", "/v1/auth/sessions", ben, nil, &bs)
		if len(bs.Sessions) != 1 {
			t.Errorf("ben sees %d sessions, want his one", len(bs.Sessions))
		}
		for _, m := range ms.Sessions {
			for _, s := range bs.Sessions {
				if m.ID == s.ID {
					t.Errorf("ben sees mia's session %s", m.ID)
				}
			}
			wantCode(t, b, 404, "DELETE", "/v1/auth/sessions/"+m.ID, ben, nil)
		}
		wantCode(t, b, 200, "GET", "/v1/status", mia, nil)
	})
}

// permissionActions is what each permission on a space allows a member
// there, written out independently of package auth: every permission
// implies read.
var permissionActions = map[string][]auth.Action{
	"read":    {auth.BackupsRead, auth.Download},
	"write":   {auth.BackupsRead, auth.Download, auth.Upload, auth.BackupsWrite, auth.LocksSet},
	"share":   {auth.BackupsRead, auth.Download, auth.SharesManage},
	"restore": {auth.BackupsRead, auth.Download, auth.Restore},
}

// TestEachPermissionRoutes walks every route of the OpenAPI document
// that acts in a space, with real snapshots, files and bodies in family,
// as a member holding one permission there (and a viewer holding read):
// each is allowed exactly the routes of its actions and refused (403)
// the others.
func TestEachPermissionRoutes(t *testing.T) {
	t.Parallel()
	routes := apiRoutes(t)
	if t.Failed() {
		t.FailNow()
	}
	b := newTestBox(t)
	fam := b.backup(map[string][]byte{"photos/IMG_0001.JPG": []byte("a photo")})
	fam2 := b.backup(map[string][]byte{"photos/IMG_0002.JPG": []byte("another photo")})
	famFile := b.family + "/photos/IMG_0001.JPG"
	// Real values for the routes in family: path parameters by route
	// prefix, query strings and bodies by operation.
	pathOf := func(r apiRoute) string {
		p := r.path
		if strings.HasPrefix(p, "/v1/snapshots/") {
			p = strings.Replace(strings.Replace(p, "abc123", fam, 1), "def456", fam2, 1)
		}
		return p + map[string]string{
			"BackupService_ListSnapshots":  "?source=family",
			"BackupService_BrowseSnapshot": "?path=" + b.family,
			"BackupService_Download":       "?path=" + famFile,
		}[r.op]
	}
	n := 0
	bodyOf := func(r apiRoute) []byte {
		n++
		body, ok := map[string]any{
			"BackupService_Restore":      map[string]any{"path": famFile, "target": fmt.Sprintf("walk-%d", n)},
			"BackupService_LockSnapshot": map[string]any{"until": b.clock.Now().AddDate(0, 0, n).Format(time.RFC3339)},
			"UploadService_CreateUpload": map[string]any{"space": "family", "device": "phone-1", "name": fmt.Sprintf("walk-%d.jpg", n),
				"size": 1, "sha256": strings.Repeat("ab", 32)},
			"UploadService_HaveFiles":  map[string]any{"device": "phone-1", "sha256": []string{strings.Repeat("ab", 32)}},
			"UploadService_WriteChunk": map[string]any{"offset": 0, "data": ""},
			"ShareService_CreateShare": map[string]any{"snapshot": fam, "path": famFile},
		}[r.op]
		if !ok {
			return routeBody(r)
		}
		raw, _ := json.Marshal(body)
		return raw
	}
	holders := []struct{ name, role, perm string }{
		{"pr", "member", "read"}, {"pw", "member", "write"}, {"ps", "member", "share"}, {"px", "member", "restore"},
		{"vr", "viewer", "read"},
	}
	spaced := 0
	for _, h := range holders {
		tok := b.user(h.name, h.role, map[string]string{"family": h.perm})
		t.Run(h.role+" with "+h.perm, func(t *testing.T) {
			spaced = 0
			for _, r := range routes {
				a := auth.Action(r.rule)
				if !a.Spaced() {
					continue
				}
				spaced++
				got := sendREST(t, b, r.method, pathOf(r), "Bearer "+tok, bodyOf(r))
				if slices.Contains(permissionActions[h.perm], a) {
					if got.code == http.StatusUnauthorized || got.code == http.StatusForbidden || got.code >= 500 {
						t.Errorf("%s (%s): HTTP %d, want it allowed: %s", r, a, got.code, got.body)
					}
				} else if got.code != http.StatusForbidden {
					t.Errorf("%s (%s): HTTP %d, want 403: %s", r, a, got.code, got.body)
				}
			}
		})
	}
	if spaced < 20 {
		t.Errorf("%d routes act in a space, want at least 20: is the walk seeing them?", spaced)
	}
	t.Logf("%d space routes × %d holders", spaced, len(holders))
}

// TestTOTPRequired: on a box that requires two-step sign-in, a person
// without it may only enrol it; with it, sign-in needs a fresh code.
func TestTOTPRequired(t *testing.T) {
	t.Parallel()
	b := newMemBox(t, withTOTPRequired())
	tom := b.user("tom", "member", map[string]string{"family": "read,write,share,restore"})
	routes := apiRoutes(t)
	n := 0
	for _, r := range routes {
		if r.rule == public || secondFactorFree[r.grpcMethod] {
			continue
		}
		got := sendREST(t, b, r.method, r.path, "Bearer "+tom, routeBody(r))
		n++
		if got.code != http.StatusForbidden || !strings.Contains(got.errorText(), "two-step sign-in") {
			t.Errorf("%s without a second factor: HTTP %d, want 403 about two-step sign-in: %s", r, got.code, got.body)
		}
	}
	t.Logf("%d routes refused before enrolment", n)
	// What stays open: the session list, and enrolment itself.
	wantCode(t, b, 200, "GET", "/v1/auth/sessions", tom, nil)
	secret, recovery := b.enrolTOTP(tom)
	if len(recovery) == 0 {
		t.Fatal("no recovery codes")
	}
	wantCode(t, b, 200, "GET", "/v1/status", tom, nil)

	login := func(code string) (int, restReply) {
		body, _ := json.Marshal(map[string]string{"username": "tom", "password": "password-of-tom", "code": code, "device": "test"})
		got := sendREST(t, b, "POST", "/v1/auth/login", "", body)
		return got.code, got
	}
	if code, got := login(""); code != http.StatusUnauthorized || !strings.Contains(got.errorText(), "code") {
		t.Errorf("login without a code: HTTP %d, want 401 asking for the code: %s", code, got.body)
	}
	// The confirmation spent the current step: use the next one.
	b.clock.Add(30 * time.Second)
	fresh := b.totp(secret, 0)
	if code, got := login(fresh); code != http.StatusOK {
		t.Fatalf("login with a fresh code: HTTP %d: %s", code, got.body)
	}
	if code, got := login(fresh); code != http.StatusUnauthorized {
		t.Errorf("login with a replayed code: HTTP %d, want 401: %s", code, got.body)
	}
	if code, got := login("000000"); code != http.StatusUnauthorized {
		t.Errorf("login with a wrong code: HTTP %d, want 401: %s", code, got.body)
	}
	if code, got := login(recovery[0]); code != http.StatusOK {
		t.Errorf("login with a recovery code: HTTP %d: %s", code, got.body)
	}
	if code, got := login(recovery[0]); code != http.StatusUnauthorized {
		t.Errorf("login with a used recovery code: HTTP %d, want 401: %s", code, got.body)
	}
	if code, got := login(recovery[1]); code != http.StatusOK {
		t.Errorf("login with another recovery code: HTTP %d: %s", code, got.body)
	}
}

type auditList struct {
	Entries []struct {
		Actor  string            `json:"actor"`
		IP     string            `json:"ip"`
		Action string            `json:"action"`
		Target string            `json:"target"`
		Detail map[string]string `json:"detail"`
	} `json:"entries"`
}

// TestLoginBrakes: wrong passwords slow down the address they come from
// on that account (no account locks), one address cannot guess fast on
// any account, and failures are audited without what was typed.
func TestLoginBrakes(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	b.user("lou", "member", nil)
	loginAs := func(user, pw string) restReply {
		body, _ := json.Marshal(map[string]string{"username": user, "password": pw, "device": "test"})
		return sendREST(t, b, "POST", "/v1/auth/login", "", body)
	}
	var wrong []string
	for i := range 6 {
		wrong = append(wrong, fmt.Sprintf("guess-%d-Tr0ub4dor", i))
	}
	for i, pw := range wrong {
		if got := loginAs("lou", pw); got.code != http.StatusUnauthorized {
			t.Errorf("wrong password %d: HTTP %d, want 401: %s", i+1, got.code, got.body)
		}
	}
	// The sixth failure makes this address wait 1 s on lou.
	got := loginAs("lou", "password-of-lou")
	if got.code != http.StatusTooManyRequests {
		t.Fatalf("right password from the guessing address: HTTP %d, want 429: %s", got.code, got.body)
	}
	if ra := got.header.Get("Retry-After"); ra != "1" {
		t.Errorf("backed off: Retry-After %q, want 1", ra)
	}
	if !strings.Contains(got.errorText(), "this account from this address") {
		t.Errorf("backed off: error %q does not say what is held up", got.errorText())
	}
	b.clock.Add(time.Second)
	if got := loginAs("lou", "password-of-lou"); got.code != http.StatusOK {
		t.Fatalf("a second later: HTTP %d, want 200: %s", got.code, got.body)
	}

	// The per-address pace: burst 10, then one every 6 s, whatever the
	// names.
	b.clock.Add(time.Minute)
	limited := -1
	for i := range 15 {
		got := loginAs(fmt.Sprintf("nobody-%d-%s", i, wrong[0]), "x")
		if got.code == http.StatusTooManyRequests {
			limited = i
			if got.header.Get("Retry-After") == "" {
				t.Error("per-IP limit: no Retry-After")
			}
			break
		}
		if got.code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: HTTP %d: %s", i+1, got.code, got.body)
		}
	}
	if limited < 0 {
		t.Fatal("15 attempts from one address in a second: none limited")
	}
	t.Logf("per-IP limit after %d attempts", limited)
	// The limit covers the right password too, on any account.
	if got := loginAs("lou", "password-of-lou"); got.code != http.StatusTooManyRequests {
		t.Errorf("right password while the address is limited: HTTP %d, want 429", got.code)
	}

	raw := wantCode(t, b, 200, "GET", "/v1/audit?limit=1000", own, nil)
	var au auditList
	if err := json.Unmarshal(raw, &au); err != nil {
		t.Fatal(err)
	}
	failed, throttled := 0, 0
	for _, e := range au.Entries {
		if e.Action == "login.failed" && e.Actor == "lou" {
			failed++
		}
		if e.Action == "auth.throttled" && e.Actor == "lou" && e.IP != "" && strings.Contains(e.Detail["detail"], "waits 1s") {
			throttled++
		}
	}
	if failed < len(wrong) {
		t.Errorf("audit: %d failed sign-ins of lou, want at least %d", failed, len(wrong))
	}
	if throttled != 1 {
		t.Errorf("audit: %d auth.throttled entries for lou naming the wait, want 1", throttled)
	}
	for _, pw := range append(wrong, "password-of-lou") {
		if bytes.Contains(raw, []byte(pw)) {
			t.Errorf("the audit log holds the password %q", pw)
		}
	}
	if bytes.Contains(raw, []byte("nobody-")) {
		t.Error("the audit log holds the user name typed for an unknown account (it may be a mistyped password)")
	}
}

// TestPlainHTTPRevokes: plain HTTP redirects a request without a
// credential, and revokes one that came with it.
func TestPlainHTTPRevokes(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	plainGet := func(path, authz string) (*http.Response, []byte) {
		t.Helper()
		return b.plainDo("GET", path, "", "", authz)
	}
	resp, _ := plainGet("/v1/status?x=1", "")
	if resp.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("plain HTTP without a credential: HTTP %d, want 308", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != b.base+"/v1/status?x=1" {
		t.Errorf("redirect to %q, want %q", loc, b.base+"/v1/status?x=1")
	}

	var key struct{ Key string }
	b.must("POST", "/v1/auth/apikeys", own, map[string]any{"name": "script", "scopes": []string{"status.read"}}, &key)
	sess := b.user("pat", "member", nil)
	for _, c := range []struct{ what, tok, authz string }{
		{"session token", sess, "Bearer " + sess},
		{"API key", key.Key, "Bearer " + key.Key},
		{"owner's token, lower-case scheme", own, "bearer " + own},
	} {
		wantCode(t, b, 200, "GET", "/v1/status", c.tok, nil)
		resp, body := plainGet("/v1/status", c.authz)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s over plain HTTP: HTTP %d, want 403: %s", c.what, resp.StatusCode, body)
		}
		if resp.Header.Get("Location") != "" {
			t.Errorf("%s over plain HTTP: redirected to %s", c.what, resp.Header.Get("Location"))
		}
		if !bytes.Contains(body, []byte("revoked")) || bytes.Contains(body, []byte(c.tok)) {
			t.Errorf("%s over plain HTTP: body %s, want an explanation without the token", c.what, body)
		}
		wantCode(t, b, 401, "GET", "/v1/status", c.tok, nil)
	}
	tok := b.login("owner", b.ownerPassword(), "")
	raw := wantCode(t, b, 200, "GET", "/v1/audit", tok, nil)
	var au auditList
	json.Unmarshal(raw, &au)
	exposed := map[string]bool{}
	for _, e := range au.Entries {
		if e.Action == "auth.credential_exposed" && e.Actor != "" {
			exposed[e.Actor] = true
		}
	}
	if !exposed["pat"] || !exposed["owner"] {
		t.Errorf("audit: credential_exposed entries for %v, want pat and owner", exposed)
	}
	for _, s := range []string{sess, key.Key, own} {
		if bytes.Contains(raw, []byte(s)) {
			t.Error("the audit log holds a revoked token")
		}
	}
}

// TestSecretsNotLogged signs in and out, fails to, makes users, API
// keys, enrolment codes, share links and uploads, sends a token over
// plain HTTP, and checks that the daemon's log holds none of the
// passwords, tokens, codes or secrets used.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	b, logs := newLoggedBox(t)
	ownerPw := b.ownerPassword()
	own := b.owner()
	secrets := map[string]string{"owner password": ownerPw, "owner session": own, "local token": b.localToken()}

	// Failed sign-ins: a wrong password, and a password typed as a name.
	for _, c := range []struct{ user, pw string }{{"owner", "Wr0ng-Secret-Pw-1"}, {"Typed-As-Name-Pw-2", "Unknown-User-Pw-5"}} {
		if code, _ := b.do("POST", "/v1/auth/login", "", map[string]string{"username": c.user, "password": c.pw}); code != 401 {
			t.Errorf("failed sign-in: HTTP %d", code)
		}
		secrets["failed "+c.user] = c.pw
	}
	secrets["name typed"] = "Typed-As-Name-Pw-2"
	kim := b.user("kim", "member", map[string]string{"family": "write,share"})
	secrets["kim password"], secrets["kim session"] = "password-of-kim", kim
	b.must("POST", "/v1/auth/password", kim, map[string]string{"old_password": "password-of-kim", "new_password": "N3w-Secret-Of-Kim"}, nil)
	secrets["kim new password"] = "N3w-Secret-Of-Kim"

	var key struct{ Key string }
	b.must("POST", "/v1/auth/apikeys", own, map[string]any{"name": "script", "scopes": []string{"status.read"}}, &key)
	secrets["API key"] = key.Key
	b.must("GET", "/v1/status", key.Key, nil, nil)

	var enr struct{ Code, URL string }
	b.must("POST", "/v1/enrolments", b.localToken(), map[string]string{"user": "kim"}, &enr)
	secrets["enrolment code"] = enr.Code
	var phone struct{ Token string }
	b.must("POST", "/v1/auth/enrol", "", map[string]string{"code": enr.Code, "device": "kim's phone"}, &phone)
	secrets["enrolled session"] = phone.Token
	b.must("POST", "/v1/auth/logout", phone.Token, struct{}{}, nil)

	secret, recovery := b.enrolTOTP(kim)
	secrets["TOTP secret"] = secret
	for i, r := range recovery {
		secrets[fmt.Sprintf("recovery code %d", i)] = r
	}
	b.clock.Add(30 * time.Second)
	code := b.totp(secret, 0)
	b.login("kim", "N3w-Secret-Of-Kim", code)
	b.do("POST", "/v1/auth/login", "", map[string]string{"username": "kim", "password": "N3w-Secret-Of-Kim", "code": code}) // replayed
	secrets["TOTP code"] = code

	snap := b.backup(map[string][]byte{"doc.txt": []byte("shared text")})
	var sh struct {
		Token string `json:"token"`
		URL   string `json:"url"`
	}
	b.must("POST", "/v1/shares", kim, map[string]any{"snapshot": snap, "path": b.family + "/doc.txt", "password": "Share-Secret-Pw-3", "download": true}, &sh)
	secrets["share token"], secrets["share password"] = sh.Token, "Share-Secret-Pw-3"
	for _, pw := range []string{"Wrong-Share-Pw-4", "Share-Secret-Pw-3"} {
		resp, err := b.client.PostForm(b.base+"/s/"+sh.Token, map[string][]string{"password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	secrets["wrong share password"] = "Wrong-Share-Pw-4"

	data := []byte("uploaded from the phone")
	sum := sha256Hex(data)
	var up struct{ ID string }
	b.must("POST", "/v1/uploads", kim, map[string]any{"space": "family", "device": "phone", "name": "up.txt", "size": len(data), "sha256": sum}, &up)
	b.must("PUT", "/v1/uploads/"+up.ID, kim, map[string]any{"offset": 0, "data": data}, nil)
	b.must("POST", "/v1/uploads/"+up.ID+"/complete", kim, struct{}{}, nil)

	req, _ := http.NewRequest("GET", b.plain+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+kim)
	if resp, err := b.client.Do(req); err == nil {
		resp.Body.Close()
	}
	b.plainDo("POST", "/v1/auth/login", "application/json", `{"username":"kim","password":"Plain-Http-Pw-6"}`, "")
	secrets["password over plain HTTP"] = "Plain-Http-Pw-6"

	out := logs.String()
	if !strings.Contains(out, "owner account") {
		t.Fatalf("the log does not hold the first-start message; is it captured? %q", out)
	}
	for what, s := range secrets {
		if s == "" {
			t.Errorf("%s: empty; the test did not get it", what)
			continue
		}
		if strings.Contains(out, s) {
			t.Errorf("the log holds the %s", what)
		}
	}
	// The audit log is a log too.
	b.clock.Add(time.Minute)
	audited := string(wantCode(t, b, 200, "GET", "/v1/audit?limit=1000", b.login("owner", ownerPw, ""), nil))
	for what, s := range secrets {
		if s != "" && strings.Contains(audited, s) {
			t.Errorf("the audit log holds the %s", what)
		}
	}
	t.Logf("%d secrets checked against %d bytes of log and %d of audit log", len(secrets), len(out), len(audited))
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
