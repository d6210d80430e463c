package auth_test

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/auth"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/internal/fakeclock"
)

// spec is the permission table of doc.go, written out independently of
// the implementation: for owner, admin, member, viewer, "*" allowed
// everywhere, a permission's name allowed in a space where it is held,
// "-" never.
var spec = map[auth.Action][4]string{
	auth.StatusRead:   {"*", "*", "*", "*"},
	auth.AlertsRead:   {"*", "*", "*", "*"},
	auth.CardsRead:    {"*", "*", "*", "-"},
	auth.DisksRead:    {"*", "*", "*", "-"},
	auth.BackupsRead:  {"*", "*", "read", "read"},
	auth.Download:     {"*", "*", "read", "read"},
	auth.Restore:      {"*", "*", "restore", "-"},
	auth.Upload:       {"*", "*", "write", "-"},
	auth.SharesManage: {"*", "*", "share", "-"},
	auth.BackupsWrite: {"*", "*", "write", "-"},
	auth.LocksSet:     {"*", "*", "write", "-"},
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

// allowedBySpec: whether rule allows an action in a space where g is
// held. Every permission implies read.
func allowedBySpec(rule string, g auth.Access) bool {
	switch rule {
	case "*":
		return true
	case "-":
		return false
	case "read":
		return len(g) > 0
	}
	return slices.Contains(g, auth.Perm(rule))
}

// accesses are the grants tested: none, each permission alone (with the
// read it implies), and all of them.
func accesses(t *testing.T) map[string]auth.Access {
	t.Helper()
	out := map[string]auth.Access{"none": nil, "all": auth.Access(auth.Perms)}
	for _, p := range auth.Perms {
		a, err := auth.NewAccess(p)
		if err != nil {
			t.Fatal(err)
		}
		out[string(p)] = a
	}
	return out
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
	if len(auth.Perms) != 4 {
		t.Fatalf("got %d permissions, want 4", len(auth.Perms))
	}
}

func TestNewAccess(t *testing.T) {
	for _, tt := range []struct {
		in   []auth.Perm
		want string
		err  error
	}{
		{[]auth.Perm{auth.PermRead}, "read", nil},
		{[]auth.Perm{auth.PermShare}, "read,share", nil},
		{[]auth.Perm{auth.PermRestore, auth.PermWrite, auth.PermRead, auth.PermWrite}, "read,write,restore", nil},
		{nil, "", auth.ErrInvalid},
		{[]auth.Perm{"Read"}, "", auth.ErrInvalid},
		{[]auth.Perm{auth.PermRead, "delete"}, "", auth.ErrInvalid},
	} {
		got, err := auth.NewAccess(tt.in...)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || got.String() != tt.want {
			t.Errorf("NewAccess(%v) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), "read, write, share, restore") {
			t.Errorf("NewAccess(%v): %q does not list the permissions", tt.in, err)
		}
	}
}

func TestCan(t *testing.T) {
	for _, r := range auth.Roles {
		for _, a := range auth.Actions {
			for name, g := range accesses(t) {
				want := allowedBySpec(ruleFor(t, r, a), g)
				if got := auth.Can(r, a, g); got != want {
					t.Errorf("Can(%s, %s, %s): got %v, want %v", r, a, name, got, want)
				}
			}
		}
	}
	for _, g := range []auth.Access{nil, auth.Perms, {"admin"}} {
		if auth.Can("root", auth.StatusRead, g) || auth.Can("", auth.StatusRead, g) {
			t.Errorf("unknown role allowed with grant %v", g)
		}
		for _, r := range auth.Roles {
			if auth.Can(r, "shell", g) || auth.Can(r, "", g) {
				t.Errorf("%s allowed an unknown action with grant %v", r, g)
			}
		}
	}
	if auth.Can(auth.Member, auth.Restore, auth.Access{"admin"}) || auth.Can(auth.Member, auth.Download, auth.Access{"admin"}) {
		t.Error("unknown permission gives rights")
	}
	// A viewer's grants count for reading only, whatever they hold.
	if auth.Can(auth.Viewer, auth.Upload, auth.Perms) || !auth.Can(auth.Viewer, auth.Download, auth.Access{auth.PermShare}) {
		t.Error("a viewer with every permission: want read and nothing more")
	}
}

// TestAllowed checks the Store against the spec for every role × action ×
// space: one space per permission, "all" (every permission), "none" (no
// grant) and "" (box wide / all spaces).
func TestAllowed(t *testing.T) {
	e := newEnv(t)
	users := map[auth.Role]string{auth.Owner: "olivia", auth.Admin: "adam", auth.Member: "anna", auth.Viewer: "vic"}
	held := accesses(t)
	for r, name := range users {
		if r != auth.Owner {
			if _, err := e.s.CreateUser(name, userPW, r); err != nil {
				t.Fatal(err)
			}
		}
		for space, g := range held {
			if g == nil || r == auth.Viewer && space != "read" {
				continue // a viewer may hold read only
			}
			if err := e.s.Grant(name, space, g...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.s.CreateUser("nogrant", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	for r, name := range users {
		p := auth.Principal{User: name, Role: r, Kind: auth.KindSession}
		u, _ := e.s.GetUser(name)
		for _, a := range auth.Actions {
			rule := ruleFor(t, r, a)
			for _, space := range []string{"read", "write", "share", "restore", "all", "none", ""} {
				want := allowedBySpec(rule, u.Grants[space])
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
				want := b == a && allowedBySpec(rule, u.Grants["all"])
				if got := e.s.Allowed(scoped, b, "all"); got != want {
					t.Errorf("Allowed(%s scoped to %s, %s, all): got %v, want %v", r, a, b, got, want)
				}
			}
			if e.s.Allowed(auth.Principal{User: name, Role: r, Scopes: []auth.Action{}}, a, "all") {
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
	if e.s.Allowed(auth.Principal{User: "ghost", Role: auth.Member}, auth.BackupsRead, "all") {
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

// TestOldGrantsMigrateToRead: one-word grants stored before permissions
// were split ("read" allowed upload, links and restore; "write" more)
// become read only when the store opens, once, with an event per
// account and a line in the log; grants already split are left alone.
func TestOldGrantsMigrateToRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hash, err := password.Hash(userPW, tinyParams)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{
		"olivia": `{"id":"u00000000000000a1","name":"olivia","role":"owner","hash":"` + hash + `","failures":3,"lockouts":1,"locked_until":"2030-01-01T13:00:00Z"}`,
		"anna":   `{"id":"u00000000000000a2","name":"anna","role":"member","hash":"` + hash + `","grants":{"family":"write","clients":"read"}}`,
		"bob":    `{"id":"u00000000000000a3","name":"bob","role":"member","hash":"` + hash + `","grants":{"family":["read","share"]}}`,
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("auth.users"))
		if err != nil {
			return err
		}
		for k, v := range old {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*auth.Store, *recorder, string) {
		t.Helper()
		ev := &recorder{}
		var log bytes.Buffer
		s, err := auth.New(db, auth.Options{BoxKey: bytes.Repeat([]byte{7}, 32), Now: fakeclock.New(t0).Now, Params: tinyParams,
			OnEvent: ev.add, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s, ev, log.String()
	}
	s, ev, log := open()
	for user, want := range map[string]map[string]string{
		"olivia": {},
		"anna":   {"family": "read", "clients": "read"},
		"bob":    {"family": "read,share"},
	} {
		u, err := s.GetUser(user)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for sp, a := range u.Grants {
			got[sp] = a.String()
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s's grants after the migration (-want +got):\n%s", user, diff)
		}
	}
	anna := auth.Principal{User: "anna", Role: auth.Member}
	if s.Allowed(anna, auth.Upload, "family") || s.Allowed(anna, auth.Restore, "clients") || !s.Allowed(anna, auth.Download, "family") {
		t.Error("anna after the migration: want download only")
	}
	evs := ev.all()
	if len(evs) != 1 || evs[0].Kind != auth.EventGrantsMigrated || evs[0].User != "anna" ||
		!strings.Contains(evs[0].Detail, "clients: read → read; family: write → read") {
		t.Errorf("events: %+v, want one grants_migrated for anna naming each space", evs)
	}
	if !strings.Contains(log, "accounts=1") || !strings.Contains(log, "shoebox user grant") {
		t.Errorf("log: %q, want a line counting the accounts and saying how to give permissions back", log)
	}
	// The owner, whose record held the old lock-out state, signs in.
	if _, _, err := s.Login(auth.LoginRequest{User: "olivia", Password: userPW, IP: "192.0.2.1"}); err != nil {
		t.Fatalf("sign-in with the old lock-out state in the record: %v", err)
	}
	// Once only.
	if _, ev, log := open(); len(ev.all()) != 0 || log != "" {
		t.Errorf("second open: events %+v, log %q; want none", ev.all(), log)
	}
}
