package auth_test

import (
	"errors"
	"testing"

	"github.com/shoebox/shoebox/gateway/auth"
	"github.com/shoebox/shoebox/gateway/token"
)

// FuzzAuthenticate: no string an attacker can send authenticates, makes
// Authenticate fail other than with ErrUnauthenticated, or panics. The
// store holds a live session and API key, whose tokens the fuzzer is not
// given.
func FuzzAuthenticate(f *testing.F) {
	e := newEnv(f)
	sess := e.login(f, auth.LoginRequest{User: "olivia", Password: ownerPW})
	key, _, err := e.s.CreateAPIKey("olivia", "", "k", []auth.Action{auth.StatusRead}, t0.AddDate(1, 0, 0))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"", "sbs_", "sbk_", "Bearer " + token.New(token.Session),
		token.New(token.Session), token.New(token.APIKey), token.New(token.Share), token.New(token.Enrol),
		sess[:len(sess)-1] + "a", key[:10], "sbs_" + string(make([]byte, 53)), "sbk_\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, bearer string) {
		if bearer == sess || bearer == key {
			t.Skip("the live credentials themselves")
		}
		p, err := e.s.Authenticate(bearer, "192.0.2.1")
		if !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("Authenticate(%q) = %+v, %v; want ErrUnauthenticated", bearer, p, err)
		}
		if p.User != "" || p.Role != "" {
			t.Fatalf("Authenticate(%q) returned a principal with an error: %+v", bearer, p)
		}
	})
}
