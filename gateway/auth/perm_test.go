package auth_test

import (
	"errors"
	"testing"

	"github.com/shoebox/shoebox/gateway/auth"
)

// spec is the permission table of doc.go, written out independently of
// the implementation: for owner, admin, member, viewer, "*" allowed
// everywhere, "r" with a read or write grant on the space, "w" with a
// write grant, "-" never.
var spec = map[auth.Action][4]string{
	auth.StatusRead:   {"*", "*", "*", "*"},
	auth.AlertsRead:   {"*", "*", "*", "*"},
	auth.CardsRead:    {"*", "*", "*", "-"},
	auth.DisksRead:    {"*", "*", "*", "-"},
	auth.BackupsRead:  {"*", "*", "r", "r"},
	auth.Download:     {"*", "*", "r", "r"},
	auth.Restore:      {"*", "*", "r", "-"},
	auth.Upload:       {"*", "*", "r", "-"},
	auth.SharesManage: {"*", "*", "r", "-"},
	auth.BackupsWrite: {"*", "*", "w", "-"},
	auth.LocksSet:     {"*", "*", "w", "-"},
	auth.DisksManage:  {"*", "*", "-", "-"},
	auth.AlertsAck:    {"*", "*", "-", "-"},
	auth.UsersManage:  {"*", "*", "-", "-"},
	auth.AuditRead:    {"*", "*", "-", "-"},
	auth.Settings:     {"*", "*", "-", "-"},
}

func ruleFor(t *testing.T, r auth.Role, a auth.Action) string {
	t.Helper()
	for i, role := range auth.Roles {
		if role == r {
			return spec[a][i]
		}
	}
	t.Fatalf("no role %q", r)
	return ""
}

func allowedBySpec(rule string, g auth.Access) bool {
	return rule == "*" || rule == "r" && g != auth.AccessNone || rule == "w" && g == auth.AccessWrite
}

func TestSpecCoversEveryAction(t *testing.T) {
	if len(spec) != len(auth.Actions) || len(auth.Actions) != 16 {
		t.Fatalf("spec has %d actions, package %d, want 16", len(spec), len(auth.Actions))
	}
	for _, a := range auth.Actions {
		if _, ok := spec[a]; !ok {
			t.Errorf("spec lacks %s", a)
		}
	}
	if len(auth.Roles) != 4 {
		t.Fatalf("got %d roles, want 4", len(auth.Roles))
	}
}

func TestCan(t *testing.T) {
	for _, r := range auth.Roles {
		for _, a := range auth.Actions {
			for _, g := range []auth.Access{auth.AccessNone, auth.AccessRead, auth.AccessWrite} {
				want := allowedBySpec(ruleFor(t, r, a), g)
				if got := auth.Can(r, a, g); got != want {
					t.Errorf("Can(%s, %s, %q): got %v, want %v", r, a, g, got, want)
				}
			}
		}
	}
	for _, g := range []auth.Access{auth.AccessNone, auth.AccessWrite, "admin"} {
		if auth.Can("root", auth.StatusRead, g) || auth.Can("", auth.StatusRead, g) {
			t.Errorf("unknown role allowed with grant %q", g)
		}
		for _, r := range auth.Roles {
			if auth.Can(r, "shell", g) || auth.Can(r, "", g) {
				t.Errorf("%s allowed an unknown action with grant %q", r, g)
			}
		}
	}
	if auth.Can(auth.Member, auth.Restore, "admin") {
		t.Error("unknown grant gives rights")
	}
}

// TestAllowed checks the Store against the spec for every role × action ×
// space: "r" (read grant), "w" (write grant), "n" (no grant) and "" (box
// wide / all spaces).
func TestAllowed(t *testing.T) {
	e := newEnv(t)
	users := map[auth.Role]string{auth.Owner: "olivia", auth.Admin: "adam", auth.Member: "anna", auth.Viewer: "vic"}
	for r, name := range users {
		if r != auth.Owner {
			if _, err := e.s.CreateUser(name, userPW, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.s.Grant(name, "r", auth.AccessRead); err != nil {
			t.Fatal(err)
		}
		if err := e.s.Grant(name, "w", auth.AccessWrite); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.CreateUser("nogrant", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	grantOf := map[string]auth.Access{"r": auth.AccessRead, "w": auth.AccessWrite, "n": auth.AccessNone, "": auth.AccessNone}
	for r, name := range users {
		p := auth.Principal{User: name, Role: r, Kind: auth.KindSession}
		for _, a := range auth.Actions {
			rule := ruleFor(t, r, a)
			for _, space := range []string{"r", "w", "n", ""} {
				want := allowedBySpec(rule, grantOf[space])
				if got := e.s.Allowed(p, a, space); got != want {
					t.Errorf("Allowed(%s, %s, %q): got %v, want %v", r, a, space, got, want)
				}
			}
			if got, want := e.s.AllowedAnywhere(p, a), rule != "-"; got != want {
				t.Errorf("AllowedAnywhere(%s, %s): got %v, want %v", r, a, got, want)
			}
			// Scopes narrow: a key scoped to a allows nothing else.
			scoped := p
			scoped.Scopes = []auth.Action{a}
			for _, b := range auth.Actions {
				want := b == a && allowedBySpec(rule, auth.AccessWrite)
				if got := e.s.Allowed(scoped, b, "w"); got != want {
					t.Errorf("Allowed(%s scoped to %s, %s, w): got %v, want %v", r, a, b, got, want)
				}
			}
			if e.s.Allowed(auth.Principal{User: name, Role: r, Scopes: []auth.Action{}}, a, "w") {
				t.Errorf("empty scopes allow %s", a)
			}
		}
	}
	p := auth.Principal{User: "nogrant", Role: auth.Member}
	for _, a := range auth.Actions {
		if got, want := e.s.AllowedAnywhere(p, a), spec[a][2] == "*"; got != want {
			t.Errorf("AllowedAnywhere(member without grants, %s): got %v, want %v", a, got, want)
		}
	}
	// A member who no longer exists is refused everything grant-based.
	if e.s.Allowed(auth.Principal{User: "ghost", Role: auth.Member}, auth.BackupsRead, "r") {
		t.Error("unknown member allowed on a space")
	}
}

func TestCheckManage(t *testing.T) {
	e := newEnv(t)
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"owner2", auth.Owner}, {"adam", auth.Admin}, {"adele", auth.Admin}, {"anna", auth.Member}} {
		if _, err := e.s.CreateUser(u.name, userPW, u.role); err != nil {
			t.Fatal(err)
		}
	}
	owner := auth.Principal{User: "olivia", Role: auth.Owner}
	admin := auth.Principal{User: "adam", Role: auth.Admin}
	member := auth.Principal{User: "anna", Role: auth.Member}
	adminKey := auth.Principal{User: "adam", Role: auth.Admin, Scopes: []auth.Action{auth.StatusRead}}
	tests := []struct {
		name   string
		p      auth.Principal
		target string
		role   auth.Role
		want   error
	}{
		{"owner manages owner", owner, "owner2", auth.Admin, nil},
		{"owner makes owner", owner, "anna", auth.Owner, nil},
		{"admin manages admin", admin, "adele", auth.Member, nil},
		{"admin manages member", admin, "anna", "", nil},
		{"admin creates member", admin, "newbie", auth.Member, nil},
		{"admin touches owner", admin, "OLIVIA", "", auth.ErrForbidden},
		{"admin demotes owner", admin, "owner2", auth.Member, auth.ErrForbidden},
		{"admin makes owner", admin, "anna", auth.Owner, auth.ErrForbidden},
		{"member manages", member, "anna", "", auth.ErrForbidden},
		{"admin key without scope", adminKey, "anna", "", auth.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.s.CheckManage(tt.p, tt.target, tt.role)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}
