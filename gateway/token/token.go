// Package token makes and checks the gateway's bearer secrets: session
// tokens, API keys, share-link tokens and phone-enrolment codes.
//
// A token is a kind prefix, 256 random bits in lowercase base32 and one
// check character:
//
//	sbs_<52 base32 chars><check>   session
//	sbk_…                           API key
//	sbl_…                           share link
//	sbe_…                           phone enrolment code
//
// The prefix makes a leaked secret recognisable to secret scanners and to
// people; the check character lets the server refuse a mistyped or
// truncated token without a database lookup. Only Hash(token) is ever
// stored: a stolen database holds no usable credential.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"hash/crc32"
	"strings"
)

// Kind is a token's prefix.
type Kind string

// The kinds of token.
const (
	Session Kind = "sbs_"
	APIKey  Kind = "sbk_"
	Share   Kind = "sbl_"
	Enrol   Kind = "sbe_"
)

const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

var enc = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// bodyLen is the base32 length of 32 random bytes.
const bodyLen = 52

// New returns a fresh random token of kind k.
func New(k Kind) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("token: no randomness: " + err.Error())
	}
	body := string(k) + enc.EncodeToString(b[:])
	return body + string(check(body))
}

func check(s string) byte {
	return alphabet[crc32.ChecksumIEEE([]byte(s))%32]
}

// Parse checks that s is a well-formed token of kind k (prefix, length,
// alphabet and check character). It does not say the token is valid:
// look Hash(s) up for that.
func Parse(k Kind, s string) error {
	if !strings.HasPrefix(s, string(k)) || len(s) != len(k)+bodyLen+1 {
		return ErrMalformed
	}
	body := s[:len(s)-1]
	for _, c := range body[len(k):] {
		if !strings.ContainsRune(alphabet, c) {
			return ErrMalformed
		}
	}
	if s[len(s)-1] != check(body) {
		return ErrMalformed
	}
	return nil
}

// KindOf returns the kind of a well-formed token, or "" for anything else.
func KindOf(s string) Kind {
	for _, k := range []Kind{Session, APIKey, Share, Enrol} {
		if Parse(k, s) == nil {
			return k
		}
	}
	return ""
}

// Hash is what is stored for a token: hex SHA-256. Tokens carry 256 bits
// of entropy, so a fast hash is enough (no password-style stretching).
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Redact returns a form of s safe for logs: the prefix and the first four
// characters of the body.
func Redact(s string) string {
	if k := KindOf(s); k != "" {
		return s[:len(k)+4] + "…"
	}
	return "[redacted]"
}
