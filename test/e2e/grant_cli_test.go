package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserGrantCLI: `shoebox user grant NAME SPACE PERMISSIONS` sets what a
// person may do in a space, with the permission names of finding 10
// (read, write, share, restore), refuses bad names and a viewer holding
// more than read with an explanation, and `user list` shows the result.
func TestUserGrantCLI(t *testing.T) {
	b := newAttackBox(t, "")
	pwFile := filepath.Join(b.dir, "password")
	os.WriteFile(pwFile, []byte("a long enough password\n"), 0o600)
	for _, u := range [][]string{{"anna", "member"}, {"vic", "viewer"}} {
		if res := b.cli("user", "add", u[0], "--role", u[1], "--user-password-file", pwFile); res.code != 0 {
			t.Fatalf("%v", res)
		}
	}
	if res := b.cli("user", "grant", "anna", "inbox", "share, restore"); res.code != 0 || !strings.Contains(res.stdout, "anna in inbox: read,share,restore") {
		t.Fatalf("grant share and restore: %v", res)
	}
	for _, bad := range []struct{ user, perms, want string }{
		{"anna", "read,delete", "read, write, share, restore"},
		{"anna", "write", ""}, // fine: replaces
		{"vic", "read,share", "viewer may only read"},
		{"vic", "read", ""},
	} {
		res := b.cli("user", "grant", bad.user, "inbox", bad.perms)
		if bad.want == "" {
			if res.code != 0 {
				t.Errorf("grant %s %s: %v", bad.user, bad.perms, res)
			}
			continue
		}
		if res.code == 0 || !strings.Contains(res.stderr, bad.want) {
			t.Errorf("grant %s %s: %v; want a refusal saying %q", bad.user, bad.perms, res, bad.want)
		}
	}
	res := b.cli("user", "list")
	if res.code != 0 || !strings.Contains(res.stdout, "inbox:read,write") || strings.Count(res.stdout, "inbox:read") != 2 {
		t.Errorf("user list, want anna inbox:read,write and vic inbox:read:\n%v", res)
	}
}
