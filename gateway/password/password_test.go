package password

import (
	"errors"
	"strings"
	"testing"
)

var fast = Params{Memory: 64, Time: 1, Threads: 1}

// mustHash is Hash for a test that expects room.
func mustHash(t testing.TB, pw string, p Params) string {
	t.Helper()
	h, err := Hash(pw, p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashCheck(t *testing.T) {
	h := mustHash(t, "correct horse", fast)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatal(h)
	}
	if h == mustHash(t, "correct horse", fast) {
		t.Fatal("no salt")
	}
	if _, err := Check("correct horse", h, fast); err != nil {
		t.Fatal(err)
	}
	if _, err := Check("correct horsE", h, fast); !errors.Is(err, ErrMismatch) {
		t.Fatal(err)
	}
	if re, _ := Check("correct horse", h, Params{Memory: 128, Time: 1, Threads: 1}); !re {
		t.Fatal("rehash not reported")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$AA$AA", "$argon2id$v=19$m=64,t=0,p=1$AA$AA", "$argon2id$v=19$m=64,t=1,p=1$!!$AA"} {
		if _, err := Check("x", bad, fast); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
