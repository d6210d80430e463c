package gateway

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/appliance"
)

// withOffsite makes the box an offsite unit: role offsite, the same
// empty disks, no passphrase, no sources, no drills (the daemon's config
// refuses them there).
func withOffsite() boxOption {
	return func(s *boxSettings) {
		s.cfg = "role: offsite\ncluster: {listen: \"127.0.0.1:0\"}\n" + regexp.MustCompile(`(?s)repository:.*?smart:`).ReplaceAllString(s.cfg, "smart:")
		s.cfg = strings.Replace(s.cfg, "drills:\n  every: 1000h\n", "", 1)
	}
}

// offsiteRoutes are the API's methods that need the repository's keys:
// on an offsite unit each answers FailedPrecondition with
// appliance.ErrOffsite's message. Every other route must answer as it
// does anywhere, without a server error (TestOffsiteRoutes): GetSource
// and RunSource answer NotFound, as an offsite unit has no source.
var offsiteRoutes = map[string]bool{
	"/shoebox.v1.BackupService/ListSnapshots":   true,
	"/shoebox.v1.BackupService/BrowseSnapshot":  true,
	"/shoebox.v1.BackupService/DiffSnapshots":   true,
	"/shoebox.v1.BackupService/Restore":         true,
	"/shoebox.v1.BackupService/Download":        true,
	"/shoebox.v1.BackupService/LockSnapshot":    true,
	"/shoebox.v1.BackupService/ForgetSnapshots": true,
	"/shoebox.v1.BackupService/Prune":           true,
	"/shoebox.v1.BackupService/CreateSource":    true,
	"/shoebox.v1.BackupService/UpdateSource":    true,
	"/shoebox.v1.BackupService/DeleteSource":    true,
	"/shoebox.v1.ShareService/CreateShare":      true,
	"/shoebox.v1.UploadService/CreateUpload":    true,
	"/shoebox.v1.StatusService/ListDrills":      true,
}

// offsiteBodies are requests that pass a route's argument checks, which
// come before the repository is asked for; other routes get "{}".
var offsiteBodies = map[string]string{
	"/shoebox.v1.ShareService/CreateShare":      `{"snapshot": "abc123", "path": "/"}`,
	"/shoebox.v1.BackupService/ForgetSnapshots": `{"snapshots": ["abc123"]}`,
	"/shoebox.v1.UploadService/CreateUpload": `{"space": "family", "device": "phone-1", "name": "a.jpg", "size": 1,
		"sha256": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}`,
}

// TestOffsiteRoutes walks every route of the API, as the owner, on a
// real offsite daemon (no repository, no key): the routes that need the
// keys answer FailedPrecondition (HTTP 400) saying this is the offsite
// unit, none of the others panics or answers a server error (streams
// that answer are left out: they run until cancelled), and status says
// the role.
func TestOffsiteRoutes(t *testing.T) {
	t.Parallel()
	routes := apiRoutes(t)
	if t.Failed() {
		t.FailNow()
	}
	b := newTestBox(t, withOffsite())
	if b.d.Repo != nil {
		t.Fatal("the offsite daemon opened a repository")
	}
	// The local token acts as the owner and outlives the walk, which
	// signs out and ends sessions on its way.
	own := b.localToken()
	seen := map[string]bool{}
	for _, r := range routes {
		if r.stream && !offsiteRoutes[r.grpcMethod] {
			continue // a stream that answers runs until cancelled: the alert stream
		}
		body := routeBody(r)
		if s, ok := offsiteBodies[r.grpcMethod]; ok {
			body = []byte(s)
		}
		got := sendREST(t, b, r.method, r.path, "Bearer "+own, body)
		msg := got.errorText()
		switch {
		case offsiteRoutes[r.grpcMethod]:
			seen[r.grpcMethod] = true
			if got.code != http.StatusBadRequest || !strings.HasPrefix(msg, appliance.ErrOffsite.Error()) {
				t.Errorf("%s: HTTP %d %s, want 400 %q", r, got.code, got.body, appliance.ErrOffsite)
			}
		case got.code >= 500:
			t.Errorf("%s: HTTP %d %s, want no server error on an offsite unit", r, got.code, got.body)
		case strings.Contains(msg, "offsite unit"):
			t.Errorf("%s: HTTP %d %s: refused as needing the keys, but not in offsiteRoutes", r, got.code, got.body)
		}
	}
	for m := range offsiteRoutes {
		if !seen[m] {
			t.Errorf("offsiteRoutes names %s, which no route of the API serves", m)
		}
	}
	var st struct{ Role string }
	b.must("GET", "/v1/status", own, nil, &st)
	if st.Role != appliance.RoleOffsite {
		t.Errorf("status role %q, want offsite", st.Role)
	}
}

// TestStatusRoleHome: a box without a role in its config is a home unit,
// and its status says so.
func TestStatusRoleHome(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	var st struct{ Role string }
	b.must("GET", "/v1/status", b.localToken(), nil, &st)
	if st.Role != appliance.RoleHome {
		t.Errorf("status role %q, want home", st.Role)
	}
}
