package devid

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ID is a unit's device ID: the SHA-256 of its certificate's
// SubjectPublicKeyInfo. The zero ID names no unit.
type ID [sha256.Size]byte

// Of returns the device ID of the unit whose certificate is c.
func Of(c *x509.Certificate) ID { return ofSPKI(c.RawSubjectPublicKeyInfo) }

func ofSPKI(spki []byte) ID { return sha256.Sum256(spki) }

// Pin is c's public-key pin as phones check it: "sha256/" and the
// standard base64 of the SHA-256 of its SubjectPublicKeyInfo, as in HPKP
// and OkHttp's CertificatePinner. It is the device ID's hash in the form
// phone libraries take.
func Pin(c *x509.Certificate) string {
	id := Of(c)
	return "sha256/" + base64.StdEncoding.EncodeToString(id[:])
}

const (
	alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	run      = 13               // base32 characters per check character
	runs     = 4                // 4 × 13 = 52 characters for 32 bytes
	compact  = runs * (run + 1) // 56: the ID without dashes
	groupLen = 7
	groups   = compact / groupLen // 8
	textLen  = compact + groups - 1
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String is the ID as people read and type it: eight groups of seven
// base32 characters, dash-separated, with a check character after each
// run of 13 (the package comment shows one).
func (id ID) String() string {
	enc := b32.EncodeToString(id[:])
	var b strings.Builder
	b.Grow(textLen)
	n := 0
	put := func(c byte) {
		if n > 0 && n%groupLen == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(c)
		n++
	}
	for r := range runs {
		s := enc[r*run : (r+1)*run]
		for i := range len(s) {
			put(s[i])
		}
		put(luhn32(s))
	}
	return b.String()
}

// Short is the ID's first group, enough to tell units apart in a log
// line; never enough to check one.
func (id ID) Short() string { return id.String()[:groupLen] }

// MarshalText implements encoding.TextMarshaler with String's form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// Parse reads a device ID in String's form, in any letter case, with or
// without its dashes and with any spaces. An error wraps ErrSyntax (not
// 56 base32 characters) or ErrCheck (a check character does not match:
// the error names the groups to compare).
func Parse(s string) (ID, error) {
	if len(s) > 2*textLen {
		return ID{}, fmt.Errorf("%w: %d bytes, want %d characters (%d groups of %d)", ErrSyntax, len(s), compact, groups, groupLen)
	}
	c := make([]byte, 0, compact)
	for i := range len(s) {
		switch ch := s[i]; {
		case ch == '-' || ch == ' ':
		case 'a' <= ch && ch <= 'z':
			c = append(c, ch-'a'+'A')
		case 'A' <= ch && ch <= 'Z' || '2' <= ch && ch <= '7':
			c = append(c, ch)
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return ID{}, fmt.Errorf("%w: %q: %q is not one of A–Z and 2–7 (a device ID has no 0, 1, 8 or 9: for 0 read O, for 1 read I, for 8 read B)", ErrSyntax, s, r)
		}
	}
	if len(c) != compact {
		return ID{}, fmt.Errorf("%w: %q: %d characters besides dashes, want %d (%d groups of %d)", ErrSyntax, s, len(c), compact, groups, groupLen)
	}
	var enc []byte
	for r := range runs {
		part := c[r*(run+1) : (r+1)*(run+1)]
		if luhn32(string(part[:run])) != part[run] {
			first := r*(run+1)/groupLen + 1
			return ID{}, fmt.Errorf("%w: %q: group %d or %d has a wrong character (its check character does not match); copy the ID again from the unit that shows it", ErrCheck, s, first, first+1)
		}
		enc = append(enc, part[:run]...)
	}
	var id ID
	n, err := b32.Decode(id[:], enc)
	if err != nil || n != len(id) || b32.EncodeToString(id[:]) != string(enc) {
		// Only the last character's unused low bits can get here.
		return ID{}, fmt.Errorf("%w: %q: its last group is not one a device ID can end with; copy the ID again from the unit that shows it", ErrSyntax, s)
	}
	return id, nil
}

// luhn32 is the Luhn mod 32 check character of s (base32 characters):
// from the right, every other value doubled and its base-32 digits added.
func luhn32(s string) byte {
	const n = len(alphabet)
	sum, factor := 0, 2
	for i := len(s) - 1; i >= 0; i-- {
		v := factor * strings.IndexByte(alphabet, s[i])
		sum += v/n + v%n
		factor = 3 - factor
	}
	return alphabet[(n-sum%n)%n]
}
