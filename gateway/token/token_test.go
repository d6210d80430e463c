package token

import (
	"strings"
	"testing"
)

func TestNewParse(t *testing.T) {
	for _, k := range []Kind{Session, APIKey, Share, Enrol} {
		s := New(k)
		if err := Parse(k, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if KindOf(s) != k {
			t.Fatalf("KindOf(%s) = %q", s, KindOf(s))
		}
		if New(k) == s {
			t.Fatal("two tokens are equal")
		}
	}
}

func TestParseRefuses(t *testing.T) {
	s := New(Session)
	flip := []byte(s)
	flip[10] = map[bool]byte{true: 'b', false: 'a'}[flip[10] == 'a']
	for name, bad := range map[string]string{
		"empty":      "",
		"wrong kind": New(APIKey),
		"truncated":  s[:len(s)-1],
		"longer":     s + "a",
		"typo":       string(flip),
		"upper":      strings.ToUpper(s),
		"bad char":   s[:8] + "!" + s[9:],
	} {
		if Parse(Session, bad) == nil {
			t.Errorf("%s: %q accepted", name, bad)
		}
	}
}

func TestHashRedact(t *testing.T) {
	s := New(Share)
	if len(Hash(s)) != 64 || Hash(s) == Hash(New(Share)) {
		t.Fatal("hash")
	}
	r := Redact(s)
	if strings.Contains(r, s[8:]) || !strings.HasPrefix(r, "sbl_") {
		t.Fatalf("Redact = %q", r)
	}
	if Redact("password123") != "[redacted]" {
		t.Fatal("non-token not redacted")
	}
}
