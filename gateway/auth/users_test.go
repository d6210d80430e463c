package auth_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/auth"
)

func TestNewNeedsBoxKey(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "box.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := auth.New(db, auth.Options{BoxKey: make([]byte, n)}); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("New with %d-byte key: got %v, want ErrInvalid", n, err)
		}
	}
}

func TestFirstUserMustBeOwner(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "box.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := auth.New(db, auth.Options{BoxKey: bytes.Repeat([]byte{1}, 32), Params: tinyParams})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []auth.Role{auth.Admin, auth.Member, auth.Viewer} {
		if _, err := s.CreateUser("anna", userPW, r); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("first user as %s: got %v, want ErrInvalid", r, err)
		}
	}
	if _, err := s.CreateUser("anna", userPW, auth.Owner); err != nil {
		t.Fatalf("first user as owner: %v", err)
	}
	if _, err := s.CreateUser("ben", userPW, auth.Member); err != nil {
		t.Fatalf("second user as member: %v", err)
	}
}

func TestCreateUserValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, pw string
		role     auth.Role
		want     error
	}{
		{"anna", userPW, auth.Member, nil},
		{"  Ben.Smith ", userPW, auth.Viewer, nil}, // folded to "ben.smith"
		{"c_3-x", userPW, auth.Admin, nil},
		{"olivia", userPW, auth.Member, auth.ErrExists},
		{"OLIVIA", userPW, auth.Member, auth.ErrExists},
		{"", userPW, auth.Member, auth.ErrInvalid},
		{"1anna", userPW, auth.Member, auth.ErrInvalid},
		{"an na", userPW, auth.Member, auth.ErrInvalid},
		{"anna/x", userPW, auth.Member, auth.ErrInvalid},
		{"ännä", userPW, auth.Member, auth.ErrInvalid},
		{"abcdefghijklmnopqrstuvwxyz1234567", userPW, auth.Member, auth.ErrInvalid}, // 33
		{"dora", "short-pw1", auth.Member, auth.ErrInvalid},                         // 9 chars
		{"dora", "ääääääääää", auth.Member, nil},                                    // 10 runes
		{"erin", userPW, auth.Role("root"), auth.ErrInvalid},
		{"erin", userPW, auth.Role(""), auth.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.s.CreateUser(tt.name, tt.pw, tt.role)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	u, err := e.s.GetUser("BEN.SMITH")
	if err != nil || u.Name != "ben.smith" || u.Role != auth.Viewer {
		t.Fatalf("GetUser(BEN.SMITH) = %+v, %v", u, err)
	}
	users, err := e.s.ListUsers()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	want := []string{"anna", "ben.smith", "c_3-x", "dora", "olivia"}
	if len(names) != len(want) {
		t.Fatalf("got %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("got %v, want %v", names, want)
		}
	}
	if got := e.ev.count(auth.EventUserCreated); got != 5 {
		t.Errorf("user_created events: got %d, want 5", got)
	}
}

func TestLastOwner(t *testing.T) {
	e := newEnv(t)
	if err := e.s.DeleteUser("olivia"); !errors.Is(err, auth.ErrLastOwner) {
		t.Fatalf("delete last owner: got %v, want ErrLastOwner", err)
	}
	if err := e.s.SetRole("olivia", auth.Admin); !errors.Is(err, auth.ErrLastOwner) {
		t.Fatalf("demote last owner: got %v, want ErrLastOwner", err)
	}
	if _, err := e.s.CreateUser("paul", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetRole("paul", auth.Owner); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetRole("olivia", auth.Admin); err != nil {
		t.Fatalf("demote one of two owners: %v", err)
	}
	if err := e.s.DeleteUser("paul"); !errors.Is(err, auth.ErrLastOwner) {
		t.Fatalf("delete new last owner: got %v, want ErrLastOwner", err)
	}
	if err := e.s.DeleteUser("olivia"); err != nil {
		t.Fatalf("delete admin: %v", err)
	}
	if _, err := e.s.GetUser("olivia"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("GetUser after delete: got %v, want ErrNotFound", err)
	}
	if err := e.s.DeleteUser("olivia"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("delete twice: got %v, want ErrNotFound", err)
	}
	if got := e.ev.count(auth.EventRoleChanged); got != 2 {
		t.Errorf("role_changed events: got %d, want 2", got)
	}
}

func TestDeleteUserEndsCredentials(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("anna", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	sess := e.login(t, auth.LoginRequest{User: "anna", Password: userPW})
	key, _, err := e.s.CreateAPIKey("anna", "", "script", []auth.Action{auth.StatusRead}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteUser("anna"); err != nil {
		t.Fatal(err)
	}
	e.mustNotAuth(t, sess)
	e.mustNotAuth(t, key)
	// A new user of the same name does not inherit them.
	if _, err := e.s.CreateUser("anna", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	e.mustNotAuth(t, sess)
	e.mustNotAuth(t, key)
}

func TestSetPasswordRevokesOtherSessions(t *testing.T) {
	e := newEnv(t)
	phone := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Device: "phone"})
	laptop := e.login(t, auth.LoginRequest{User: "olivia", Password: ownerPW, Device: "laptop"})
	key, _, err := e.s.CreateAPIKey("olivia", "", "script", []auth.Action{auth.StatusRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p := e.mustAuth(t, phone)

	const newPW = "a brand new passphrase"
	if err := e.s.SetPassword("olivia", "not the password", newPW, p.CredentialID, false, "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong old password: got %v, want ErrBadCredentials", err)
	}
	if err := e.s.SetPassword("olivia", ownerPW, "too short", p.CredentialID, false, "10.0.0.1"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("short new password: got %v, want ErrInvalid", err)
	}
	if err := e.s.SetPassword("olivia", ownerPW, newPW, p.CredentialID, false, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.mustAuth(t, phone)
	e.mustNotAuth(t, laptop)
	e.mustNotAuth(t, key) // API keys end with the password
	if _, _, err := e.s.Login(auth.LoginRequest{User: "olivia", Password: ownerPW}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("old password: got %v, want ErrBadCredentials", err)
	}
	e.login(t, auth.LoginRequest{User: "olivia", Password: newPW})
	if e.ev.count(auth.EventPasswordChanged) != 1 || e.ev.count(auth.EventSessionRevoked) != 1 || e.ev.count(auth.EventAPIKeyRevoked) != 1 {
		t.Errorf("events: %+v", e.ev.all())
	}

	// Keeping the API keys is a choice, and the event says so.
	p = e.mustAuth(t, phone)
	key, _, err = e.s.CreateAPIKey("olivia", p.CredentialID, "script", []auth.Action{auth.StatusRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetPassword("olivia", newPW, ownerPW, p.CredentialID, true, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	e.mustAuth(t, key)
	evs := e.ev.all()
	if last := evs[len(evs)-1]; last.Kind != auth.EventPasswordChanged || !strings.Contains(last.Detail, "API keys kept") {
		t.Errorf("last event %+v, want a password change saying the API keys were kept", last)
	}
}

func TestGrants(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.CreateUser("anna", userPW, auth.Member); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser("vic", userPW, auth.Viewer); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user, space string
		perms       []auth.Perm
		want        error
		stored      string
	}{
		{"anna", "family", []auth.Perm{auth.PermRead}, nil, "read"},
		{"anna", "client-smith", []auth.Perm{auth.PermShare}, nil, "read,share"},
		{"anna", "Photos_2024.v2", []auth.Perm{auth.PermRestore, auth.PermWrite, auth.PermRestore}, nil, "read,write,restore"},
		{"anna", "all", []auth.Perm{auth.PermRestore, auth.PermShare, auth.PermWrite, auth.PermRead}, nil, "read,write,share,restore"},
		{"anna", "", []auth.Perm{auth.PermRead}, auth.ErrInvalid, ""},
		{"anna", "../etc", []auth.Perm{auth.PermRead}, auth.ErrInvalid, ""},
		{"anna", "family", nil, auth.ErrInvalid, "read"},
		{"anna", "family", []auth.Perm{auth.PermRead, "admin"}, auth.ErrInvalid, "read"},
		{"anna", "family", []auth.Perm{""}, auth.ErrInvalid, "read"},
		{"vic", "family", []auth.Perm{auth.PermRead}, nil, "read"},
		{"vic", "family", []auth.Perm{auth.PermShare}, auth.ErrInvalid, "read"},
		{"vic", "family", []auth.Perm{auth.PermRead, auth.PermWrite}, auth.ErrInvalid, "read"},
	} {
		err := e.s.Grant(tt.user, tt.space, tt.perms...)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("Grant(%s, %q, %v): got %v, want %v", tt.user, tt.space, tt.perms, err, tt.want)
		}
		if u, _ := e.s.GetUser(tt.user); u.Grants[tt.space].String() != tt.stored {
			t.Errorf("after Grant(%s, %q, %v): %s holds %q there, want %q", tt.user, tt.space, tt.perms, tt.user, u.Grants[tt.space], tt.stored)
		}
	}
	if err := e.s.Grant("nobody", "family", auth.PermRead); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("grant to unknown user: got %v, want ErrNotFound", err)
	}
	p := auth.Principal{User: "anna", Role: auth.Member}
	if !e.s.Allowed(p, auth.Restore, "Photos_2024.v2") || e.s.Allowed(p, auth.Restore, "family") {
		t.Fatal("restore: want allowed with the restore permission only")
	}
	if err := e.s.RevokeGrant("anna", "Photos_2024.v2"); err != nil {
		t.Fatal(err)
	}
	if e.s.Allowed(p, auth.Restore, "Photos_2024.v2") {
		t.Fatal("grant revoked but restore still allowed")
	}
	u, _ := e.s.GetUser("anna")
	if len(u.Grants) != 3 || u.Grants["client-smith"].String() != "read,share" {
		t.Fatalf("grants: got %v", u.Grants)
	}
}
