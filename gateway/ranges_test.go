package gateway

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestSecurityAbsurdRanges (finding 18, beyond share links): every day
// or minute count the API takes is checked as given. A pairing code's
// valid_minutes of 307445735 wrapped round to a code valid for seconds;
// a source's lock_days of -1 was ignored and of a billion locked every
// snapshot for millions of years; a snapshot lock until 9999-12-31 made
// it undeletable for good (locks only grow).
func TestSecurityAbsurdRanges(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"a.txt": []byte("alpha")})
	dir := filepath.Join(b.family, "more")
	os.MkdirAll(dir, 0o755)
	for _, tc := range []struct {
		what, method, path string
		body               any
		field              string
	}{
		{"pairing code, valid_minutes -1", "POST", "/v1/enrolments", map[string]any{"valid_minutes": -1}, "valid_minutes"},
		{"pairing code, valid_minutes 1441", "POST", "/v1/enrolments", map[string]any{"valid_minutes": 1441}, "valid_minutes"},
		{"pairing code, valid_minutes 307445735", "POST", "/v1/enrolments", map[string]any{"valid_minutes": 307445735}, "valid_minutes"},
		{"source, lock_days -1", "POST", "/v1/sources", map[string]any{"name": "neg", "path": dir, "retention": map[string]any{"lock_days": -1}}, "lock_days"},
		{"source, lock_days 1e9", "POST", "/v1/sources", map[string]any{"name": "huge", "path": dir, "retention": map[string]any{"lock_days": 1000000000}}, "lock_days"},
		{"source, keep_last -3", "POST", "/v1/sources", map[string]any{"name": "keep", "path": dir, "retention": map[string]any{"keep_last": -3}}, "keep_last"},
		{"lock until 9999-12-31", "POST", "/v1/snapshots/" + snap + "/lock", map[string]any{"until": "9999-12-31"}, "at most"},
	} {
		code, body := b.do(tc.method, tc.path, own, tc.body)
		if code != http.StatusBadRequest || !bytes.Contains(body, []byte(tc.field)) {
			t.Errorf("%s: HTTP %d %s; want 400 naming %s", tc.what, code, body, tc.field)
		}
	}
	// Nothing was made by the refused requests.
	var srcs struct{ Sources []struct{ Name string } }
	b.must("GET", "/v1/sources", own, nil, &srcs)
	for _, s := range srcs.Sources {
		if s.Name == "neg" || s.Name == "huge" || s.Name == "keep" {
			t.Errorf("a refused source was added: %s", s.Name)
		}
	}
	var snaps struct {
		Snapshots []struct {
			ID          string `json:"id"`
			LockedUntil string `json:"locked_until"`
		}
	}
	b.must("GET", "/v1/snapshots", own, nil, &snaps)
	for _, s := range snaps.Snapshots {
		if s.ID == snap && s.LockedUntil != "" && s.LockedUntil != "1970-01-01T00:00:00Z" {
			t.Errorf("the refused lock was set: %s", s.LockedUntil)
		}
	}
}
