package appliance

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProblemsInHealthz: a component's problem turns /healthz to 503
// naming it, until it is cleared.
func TestProblemsInHealthz(t *testing.T) {
	d := New(&Config{}, nil)
	d.notReady.Store("")
	s := &server{d: d}
	get := func() (int, string) {
		w := httptest.NewRecorder()
		s.healthz(w, httptest.NewRequest("GET", "/healthz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("healthz with no problem: %d %q", code, body)
	}
	d.SetProblem("gateway", "the audit log cannot be written")
	d.SetProblem("array", "disk b gone")
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "problem: array: disk b gone\nproblem: gateway: the audit log cannot be written") {
		t.Errorf("healthz with two problems: %d %q", code, body)
	}
	d.SetProblem("gateway", "")
	d.SetProblem("array", "")
	if code, body := get(); code != http.StatusOK || len(d.Problems()) != 0 {
		t.Errorf("healthz after the problems were cleared: %d %q", code, body)
	}
}

// TestSizeConfig: gateway.upload_quota and gateway.state_reserve take
// bytes or a percentage; anything else is refused naming the line.
func TestSizeConfig(t *testing.T) {
	base := "state_dir: /s\nrepository: {passphrase_file: /p}\ndisks: {members: [/a, /b, /c]}\nsources:\n  - {name: inbox, path: /in}\n"
	cfg, err := ParseConfig("config.yaml", []byte(base+"gateway:\n  upload_quota: 25%\n  state_reserve: 2GiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if q, r := cfg.Gateway.UploadQuota, cfg.Gateway.StateReserve; q != (Size{Percent: 25, Set: true}) || r != (Size{Bytes: 2 << 30, Set: true}) {
		t.Errorf("upload_quota %+v, state_reserve %+v", q, r)
	}
	cfg, _ = ParseConfig("config.yaml", []byte(base+"gateway:\n  state_reserve: \"0\"\n"))
	if r := cfg.Gateway.StateReserve; r != (Size{Set: true}) || cfg.Gateway.UploadQuota.Set {
		t.Errorf("state_reserve 0: %+v; quota %+v", r, cfg.Gateway.UploadQuota)
	}
	for _, bad := range []string{"upload_quota: 120%", "upload_quota: lots", "state_reserve: -1GB", "state_reserve: 5 parsecs"} {
		_, err := ParseConfig("config.yaml", []byte(base+"gateway:\n  "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "line 7") {
			t.Errorf("%s: %v, want an error naming line 7", bad, err)
		}
	}
}
