package devid

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// seedKey is a fixed Ed25519 key (seed 0, 1, …, 31): its device ID and
// pin below are the formats' golden values, checked independently with
// Python's hashlib, base64 and a Luhn mod 32 of its own.
func seedKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

const (
	goldenID  = "UBIIG7M-FA4CYFU-THXHFFQ-TCEEPTT-BRFS4IE-WNYSSEB-Z63ZDTT-YXSGSQH"
	goldenPin = "sha256/oFCDfYUHBYLM9zlLCYiEfMMSy4glm4lImfbyOc8XkaU="
)

func TestGolden(t *testing.T) {
	key := seedKey()
	c := selfSigned(t, key)
	if got := Of(c).String(); got != goldenID {
		t.Errorf("ID: got %s, want %s", got, goldenID)
	}
	if got := Pin(c); got != goldenPin {
		t.Errorf("Pin: got %s, want %s", got, goldenPin)
	}
	// The phones' pin, computed as a phone does (test/e2e's pinnedClient).
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	if want := "sha256/" + base64.StdEncoding.EncodeToString(h[:]); Pin(c) != want {
		t.Errorf("Pin: got %s, want %s", Pin(c), want)
	}
	// Only the key counts: another certificate of the same key has the
	// same ID.
	if got := Of(selfSigned(t, key)); got.String() != goldenID {
		t.Errorf("second certificate of the same key: got %s, want %s", got, goldenID)
	}
	if got := Of(c).Short(); got != "UBIIG7M" {
		t.Errorf("Short: got %s, want UBIIG7M", got)
	}
}

func selfSigned(t *testing.T, key ed25519.PrivateKey) *x509.Certificate {
	t.Helper()
	id, err := withCert(key, t.TempDir()+"/cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	return id.Certificate.Leaf
}

var textForm = regexp.MustCompile(`^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$`)

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{15}))
	for range 1000 {
		var id ID
		for i := range id {
			id[i] = byte(r.Uint32())
		}
		s := id.String()
		if !textForm.MatchString(s) {
			t.Fatalf("String %q is not 8 dash-separated groups of 7", s)
		}
		for _, in := range []string{s, strings.ToLower(s), strings.ReplaceAll(s, "-", ""), strings.ReplaceAll(s, "-", " "), " " + s + " "} {
			got, err := Parse(in)
			if err != nil || got != id {
				t.Fatalf("Parse(%q) = %v, %v; want %v", in, got, err, id)
			}
		}
	}
}

func TestText(t *testing.T) {
	id, err := Parse(goldenID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]ID{"peer": id})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"peer":"` + goldenID + `"}`; string(b) != want {
		t.Errorf("JSON: got %s, want %s", b, want)
	}
	var back map[string]ID
	if err := json.Unmarshal(b, &back); err != nil || back["peer"] != id {
		t.Errorf("JSON back: got %v, %v; want %v", back["peer"], err, id)
	}
	if err := json.Unmarshal([]byte(`{"peer":"UBIIG7M"}`), &back); !errors.Is(err, ErrSyntax) {
		t.Errorf("JSON with a short ID: got %v, want ErrSyntax", err)
	}
}

func TestParseRefuses(t *testing.T) {
	compactGolden := strings.ReplaceAll(goldenID, "-", "")
	for _, tc := range []struct {
		name, in string
		want     error
		says     string
	}{
		{"empty", "", ErrSyntax, "0 characters besides dashes, want 56"},
		{"one group", "UBIIG7M", ErrSyntax, "7 characters besides dashes, want 56"},
		{"a group too many", goldenID + "-AAAAAAA", ErrSyntax, "63 characters"},
		{"zero for O", strings.Replace(goldenID, "M", "0", 1), ErrSyntax, `'0' is not one of A–Z and 2–7`},
		{"one for I", strings.Replace(goldenID, "I", "1", 1), ErrSyntax, "for 1 read I"},
		{"not ASCII", strings.Replace(goldenID, "U", "Ü", 1), ErrSyntax, `'Ü'`},
		{"very long", strings.Repeat("A", 1<<20), ErrSyntax, "1048576 bytes"},
		{"typo in group 1", "X" + goldenID[1:], ErrCheck, "group 1 or 2 has a wrong character"},
		{"typo in group 8", goldenID[:len(goldenID)-1] + "A", ErrCheck, "group 7 or 8"},
		{"swapped neighbours", strings.Replace(goldenID, "FA4C", "F4AC", 1), ErrCheck, "group 1 or 2"},
		// The 52nd base32 character carries one bit of the hash and four
		// zero bits: with others set (and a check character to match) it
		// would be a second spelling of an ID.
		{"not canonical", noncanonical(compactGolden), ErrSyntax, "last group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := Parse(tc.in)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Parse: got %v, %v; want %v saying %q", id, err, tc.want, tc.says)
			}
		})
	}
}

// noncanonical sets an unused low bit of the last data character of a
// compact ID and fixes that run's check character.
func noncanonical(compact string) string {
	b := []byte(compact)
	last := 3*(run+1) + run - 1
	b[last] = alphabet[strings.IndexByte(alphabet, b[last])|1]
	b[last+1] = luhn32(string(b[last+1-run : last+1]))
	return string(b)
}

// TestEveryTypo: every single wrong character anywhere is refused as a
// typing error, never read as another unit's ID.
func TestEveryTypo(t *testing.T) {
	c := []byte(strings.ReplaceAll(goldenID, "-", ""))
	for i := range c {
		orig := c[i]
		for j := range len(alphabet) {
			if alphabet[j] == orig {
				continue
			}
			c[i] = alphabet[j]
			if _, err := Parse(string(c)); !errors.Is(err, ErrCheck) {
				t.Errorf("character %d changed to %c: got %v, want ErrCheck", i, alphabet[j], err)
			}
		}
		c[i] = orig
	}
}

func FuzzParse(f *testing.F) {
	f.Add(goldenID)
	f.Add(strings.ToLower(goldenID))
	f.Add(strings.ReplaceAll(goldenID, "-", ""))
	f.Add(ID{}.String())
	f.Add("UBIIG7M-FA4CYFU")
	f.Add("0000000-1111111")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrCheck) {
				t.Fatalf("Parse(%q): %v wraps neither ErrSyntax nor ErrCheck", s, err)
			}
			return
		}
		// One spelling per ID: what was accepted is String's text, up
		// to case, dashes and spaces.
		norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
		if want := strings.ReplaceAll(id.String(), "-", ""); norm != want {
			t.Fatalf("Parse(%q) = %s, a second spelling of it", s, id)
		}
		if back, err := Parse(id.String()); err != nil || back != id {
			t.Fatalf("Parse(String()) = %v, %v; want %v", back, err, id)
		}
	})
}
