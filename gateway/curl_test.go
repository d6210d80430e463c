package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The REST API as a script sees it: the real curl binary, trusting the
// box's certificate, against the box's HTTPS port.

// curlReply is what curl saw: status, HTTP version, headers and body.
type curlReply struct {
	code, version string
	header        http.Header
	body          []byte
}

// curl runs curl with args against the box and returns what it saw; in,
// when not empty, is sent as the request body (from stdin, so that no
// password appears on a command line).
func curl(t *testing.T, b *testBox, in string, args ...string) curlReply {
	t.Helper()
	bin, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	hdr, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	all := append([]string{"--silent", "--show-error", "--max-time", "20",
		"--cacert", filepath.Join(b.state, "tls", "cert.pem"),
		"--dump-header", hdr, "--output", body, "--write-out", "%{http_code} %{http_version}"}, args...)
	if in != "" {
		all = append(all, "--data-binary", "@-", "--header", "Content-Type: application/json")
	}
	cmd := exec.Command(bin, all...)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("curl %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	r := curlReply{header: http.Header{}}
	r.code, r.version, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	raw, _ := os.ReadFile(hdr)
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && !strings.HasPrefix(k, "HTTP/") {
			r.header.Add(k, strings.TrimSpace(v))
		}
	}
	r.body, _ = os.ReadFile(body)
	return r
}

// wantJSONError checks an error answer: status, JSON Content-Type and a
// body {"error": "...", "code": "...", "status": N}.
func wantJSONError(t *testing.T, what string, r curlReply, code string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: HTTP %s, want %s: %s", what, r.code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var e struct {
		Error  string `json:"error"`
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" || e.Code == "" || e.Status == 0 {
		t.Errorf("%s: body %s, want {\"error\", \"code\", \"status\"} (%v)", what, r.body, err)
	}
}

func TestCurlREST(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	b := newMemBox(t)
	login, _ := json.Marshal(map[string]string{"username": "owner", "password": b.ownerPassword(), "device": "curl"})
	r := curl(t, b, string(login), b.base+"/v1/auth/login")
	if r.code != "200" {
		t.Fatalf("login: HTTP %s: %s", r.code, r.body)
	}
	if r.version != "2" {
		t.Errorf("login: HTTP version %q, want 2", r.version)
	}
	var sess struct {
		Token   string `json:"token"`
		Session struct {
			Device string `json:"device"`
		} `json:"session"`
	}
	if err := json.Unmarshal(r.body, &sess); err != nil || sess.Token == "" || sess.Session.Device != "curl" {
		t.Fatalf("login: %s (%v)", r.body, err)
	}
	bearer := "Authorization: Bearer " + sess.Token

	r = curl(t, b, "", "--header", bearer, b.base+"/v1/status")
	if r.code != "200" || r.version != "2" {
		t.Fatalf("GET /v1/status: HTTP %s (version %s): %s", r.code, r.version, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /v1/status: Content-Type %q", ct)
	}
	for _, h := range []string{"Strict-Transport-Security", "X-Content-Type-Options", "Cache-Control"} {
		if r.header.Get(h) == "" {
			t.Errorf("GET /v1/status: no %s header", h)
		}
	}
	var st struct {
		Ready string `json:"ready"`
	}
	if json.Unmarshal(r.body, &st); st.Ready != "ok" {
		t.Errorf("GET /v1/status: ready %q: %s", st.Ready, r.body)
	}

	// Errors are JSON, whatever went wrong.
	wantJSONError(t, "no credential", curl(t, b, "", b.base+"/v1/status"), "401")
	wantJSONError(t, "wrong password", curl(t, b, `{"username":"owner","password":"not it"}`, b.base+"/v1/auth/login"), "401")
	wantJSONError(t, "malformed JSON", curl(t, b, `{"username":`, b.base+"/v1/auth/login"), "400")
	wantJSONError(t, "unknown route", curl(t, b, "", "--header", bearer, b.base+"/v1/no-such-thing"), "404")
	wantJSONError(t, "wrong method", curl(t, b, "", "--request", "DELETE", "--header", bearer, b.base+"/v1/status"), "405")
	wantJSONError(t, "no such snapshot", curl(t, b, "", "--header", bearer, b.base+"/v1/snapshots/ffffffff/tree"), "404")
	if r := curl(t, b, "", "--header", bearer, b.base+"/v1/status"); r.header.Get("WWW-Authenticate") != "" {
		t.Error("a 200 carries WWW-Authenticate")
	}

	r = curl(t, b, "{}", "--header", bearer, b.base+"/v1/auth/logout")
	if r.code != "200" {
		t.Fatalf("logout: HTTP %s: %s", r.code, r.body)
	}
	r = curl(t, b, "", "--header", bearer, b.base+"/v1/status")
	wantJSONError(t, "after logout", r, "401")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("after logout: WWW-Authenticate %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
	}

	// The API's description needs no credential.
	r = curl(t, b, "", b.base+"/openapi.json")
	if r.code != "200" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: HTTP %s, Content-Type %q", r.code, r.header.Get("Content-Type"))
	}
	var doc struct {
		Swagger string         `json:"swagger"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.Swagger == "" || len(doc.Paths) == 0 {
		t.Errorf("GET /openapi.json: not an OpenAPI document (%v)", err)
	}

	// HTTP/1.1 still works, for old tools.
	if r := curl(t, b, "", "--http1.1", b.base+"/openapi.json"); r.code != "200" || r.version != "1.1" {
		t.Errorf("HTTP/1.1: HTTP %s, version %s", r.code, r.version)
	}
}
