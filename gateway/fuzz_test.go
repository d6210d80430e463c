package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/gateway/token"
)

// Fuzz targets for the REST facade's parsers of untrusted bytes: request
// bodies and the Authorization header. Each starts one box per process
// (before f.Fuzz, so not per input) and calls its handler in-process.

// fuzzRoutes are the REST routes FuzzRESTDecode sends bodies to.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/auth/login"},
	{"POST", "/v1/uploads"},
	{"PUT", "/v1/uploads/{id}"},
	{"POST", "/v1/shares"},
	{"PUT", "/v1/uploads/{id}/data?offset=0"},
}

// FuzzRESTDecode posts arbitrary bodies, as the signed-in owner, to the
// routes that decode the most: no body may cause a panic or a 5xx.
func FuzzRESTDecode(f *testing.F) {
	b := newMemBox(f)
	own := b.owner()
	data := []byte("0123456789")
	var up struct{ ID string }
	b.must("POST", "/v1/uploads", own, map[string]any{"space": "family", "device": "fuzz", "name": "f.bin",
		"size": len(data), "sha256": sha256Hex(data)}, &up)
	snap := b.backup(map[string][]byte{"f.txt": []byte("fuzz")})
	h := b.g.Handler()

	seeds := [][]any{
		{0, `{"username":"owner","password":"x","code":"123456","device":"d"}`},
		{0, `{"username":"` + strings.Repeat("é", 300) + `","password":null}`},
		{0, `{"username":1e400}`},
		{1, `{"space":"family","device":"p","name":"a.jpg","size":"3","sha256":"` + strings.Repeat("0", 64) + `","mtime":"2026-01-01T00:00:00Z"}`},
		{1, `{"space":"family","device":"p","name":"../../etc/passwd","size":-1,"sha256":"zz"}`},
		{1, `{"space":"nope","device":"p","name":"a","size":9223372036854775807,"sha256":"` + strings.Repeat("ab", 32) + `"}`},
		{1, `{"mtime":"not a time"}`},
		{2, `{"offset":0,"data":"MDEyMzQ="}`},
		{2, `{"offset":-5,"data":"!!"}`},
		{2, `{"offset":"99999999999999999999","data":""}`},
		{2, `{"id":"other","offset":0,"data":"MDEyMzQ1Njc4OQ=="}`},
		{3, `{"snapshot":"` + snap + `","path":"/","password":"pw","expires_days":400,"download":true,"max_uses":-1}`},
		{3, `{"snapshot":"latest","path":"../../..","expires_days":-3}`},
		{3, `{"snapshot":"` + snap[:4] + `"}`},
		{3, `[]`},
		{0, ``},
		{1, `{`},
		{2, "\x00\xff"},
		{3, `{"snapshot":{"a":[1,2,3]}}`},
	}
	for _, s := range seeds {
		f.Add(uint8(s[0].(int)), []byte(s[1].(string)))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, strings.Replace(r.path, "{id}", up.ID, 1), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+own)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s with %q: HTTP %d: %s", r.method, r.path, body, w.Code, w.Body)
		}
		if w.Code != http.StatusOK && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s with %q: HTTP %d with a body that is not JSON: %q", r.method, r.path, body, w.Code, w.Body)
		}
	})
}

// FuzzTokenHeader sends arbitrary Authorization headers: none may sign
// in, cause a 5xx, or get a non-JSON error.
func FuzzTokenHeader(f *testing.F) {
	b := newMemBox(f)
	b.owner() // a session exists to be found (or not)
	h := b.g.Handler()
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer  ", "bearer x", "Basic b3duZXI6cGFzc3dvcmQ=",
		"Bearer " + token.New(token.Session), "Bearer " + token.New(token.APIKey), "Bearer " + token.New(token.Share),
		"Bearer " + token.New(token.Enrol), "Bearer sbs_", "Bearer sbk_" + strings.Repeat("a", 53),
		"Bearer " + strings.Repeat("x", 5000), "Bearer sbs_\x00\x01", "Bearer é", "Bearer\tsbs_",
		"Bearer " + token.New(token.Session) + ", Bearer " + token.New(token.Session),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, authz string) {
		req := httptest.NewRequest("GET", "/v1/status", nil)
		req.Header["Authorization"] = []string{authz}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: HTTP %d, want 401: %s", authz, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("Authorization %q: error body is not JSON: %q", authz, w.Body)
		}
		if _, err := b.g.authenticate(strings.TrimPrefix(authz, "Bearer "), "127.0.0.1"); err == nil {
			t.Fatalf("Authorization %q: authenticated", authz)
		}
	})
}
