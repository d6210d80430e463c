package main

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// runCLI runs the shoebox command line in this process and returns its
// exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// testRepo is a directory repository with one snapshot of a small tree,
// made with a cheap scrypt work factor (2^10; the binary's default stays
// 2^16).
type testRepo struct {
	dir, pass, src string
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	dir := t.TempDir()
	r := &testRepo{dir: filepath.Join(dir, "repo"), pass: filepath.Join(dir, "pass"), src: filepath.Join(dir, "src")}
	for p, b := range map[string]string{
		r.pass:                                  "correct horse\n",
		filepath.Join(r.src, "a.jpg"):           "photo a",
		filepath.Join(r.src, "album", "b.CR3"):  "raw b",
		filepath.Join(r.src, "album", "b.xmp"):  "sidecar b",
		filepath.Join(r.src, "album", "c.jpeg"): "photo c",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.must(t, "init", "--scrypt-logn", "10")
	r.must(t, "backup", "--tag", "first", r.src)
	return r
}

// run runs a command on the repository.
func (r *testRepo) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append([]string{"--repo", r.dir, "--password-file", r.pass}, args...)...)
}

// must runs a command on the repository and fails the test unless it
// exits 0; it returns stdout.
func (r *testRepo) must(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := r.run(t, args...)
	if code != 0 {
		t.Fatalf("shoebox %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// fakeDaemon is an HTTPS server that answers the daemon API paths in
// routes with the API's JSON (protojson, as the gateway encodes it), with
// the token and certificate of a state directory that SHOEBOX_STATE_DIR
// and SHOEBOX_DAEMON point at for the rest of the test. A path not in
// routes is handled by fallback (404 when nil).
type fakeDaemon struct {
	srv   *httptest.Server
	state string
	addr  string // https://127.0.0.1:PORT
}

// apiJSON is how the gateway encodes its answers (gateway/server.go).
var apiJSON = protojson.MarshalOptions{EmitUnpopulated: true, UseProtoNames: true}

const fakeToken = "test-token"

func newFakeDaemon(t *testing.T, routes map[string]proto.Message, fallback http.HandlerFunc) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		if r.Header.Get("Authorization") != "Bearer "+fakeToken {
			http.Error(w, `{"error":"no token"}`, http.StatusUnauthorized)
			return
		}
		m, ok := routes[key]
		if !ok {
			if fallback != nil {
				fallback(w, r)
				return
			}
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"no such path"}`))
			return
		}
		b, err := apiJSON.Marshal(m)
		if err != nil {
			t.Errorf("encode %s: %v", key, err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	d.srv.TLS = &tls.Config{}
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	d.addr = d.srv.URL
	d.state = t.TempDir()
	if err := os.WriteFile(filepath.Join(d.state, "api-token"), []byte(fakeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(d.state, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(d.state, "tls", "cert.pem"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOEBOX_STATE_DIR", d.state)
	t.Setenv("SHOEBOX_DAEMON", d.srv.Listener.Addr().String())
	return d
}
