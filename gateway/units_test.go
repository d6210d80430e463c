package gateway

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestForgetPolicyWithinGrammar: policy.within reads the one grammar of
// docs/UNITS.md, as the CLI and the config do: "6mo" and "1y" are months
// and years, Go's form (what the CLI sends through the daemon) still
// reads, and "6m" — six months to a restic user, six minutes here — is
// refused with the month form rather than forgetting almost everything.
func TestForgetPolicyWithinGrammar(t *testing.T) {
	b := newTestBox(t)
	own := b.owner()
	b.backup(map[string][]byte{"a.jpg": seededBytes(1, 1000)})
	for _, bad := range []struct{ within, want string }{
		{"6m", "policy.within: 6m is 6 minutes, retention period too short (the shortest is 1h0m0s); for months write 6mo"},
		{"6M", `policy.within: \"6M\" is not a duration`},
	} {
		code, body := b.do("POST", "/v1/snapshots/forget", own, map[string]any{"policy": map[string]string{"within": bad.within}, "dry_run": true})
		if code != http.StatusBadRequest || !strings.Contains(string(body), bad.want) {
			t.Errorf("within %q: HTTP %d %s, want 400 containing %q", bad.within, code, body, bad.want)
		}
	}
	for _, within := range []string{"6mo", "1y", "4320h0m0s"} {
		var resp struct{ Decisions []struct{ Keep bool } }
		b.must("POST", "/v1/snapshots/forget", own, map[string]any{"policy": map[string]string{"within": within}, "dry_run": true}, &resp)
		if len(resp.Decisions) == 0 || slices.ContainsFunc(resp.Decisions, func(d struct{ Keep bool }) bool { return !d.Keep }) {
			t.Errorf("within %q: decisions %+v, want every snapshot (all made just now) kept", within, resp.Decisions)
		}
	}
}
