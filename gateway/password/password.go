// Package password hashes and checks passwords (user logins, share-link
// passwords) with argon2id, stored as PHC strings:
//
//	$argon2id$v=19$m=47104,t=1,p=1$<salt b64>$<hash b64>
//
// The parameters travel with each hash, so they can be raised later and
// old hashes still verify (Check reports when a rehash is due).
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default follows OWASP's first argon2id option (46 MiB, 1 pass, 1 lane):
// about 50 ms on the box's ARM cores and one login's worth of memory.
var Default = Params{Memory: 46 * 1024, Time: 1, Threads: 1}

// ErrMismatch is returned when a password does not match its hash.
var ErrMismatch = errors.New("wrong password")

var b64 = base64.RawStdEncoding

// Hash returns the PHC string for pw with p.
func Hash(pw string, p Params) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic("password: no randomness: " + err.Error())
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Check compares pw against a PHC string from Hash. rehash is true when
// the hash used weaker parameters than want.
func Check(pw, phc string, want Params) (rehash bool, err error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password: not an argon2id hash")
	}
	var v int
	var p Params
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, errors.New("password: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || p.Threads == 0 || p.Time == 0 {
		return false, errors.New("password: bad argon2 parameters")
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return false, errors.New("password: bad hash encoding")
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	return p.Memory < want.Memory || p.Time < want.Time, nil
}

// Dummy spends the time of a Check against nothing, so that "no such
// user" and "wrong password" cannot be told apart by timing.
func Dummy(p Params) {
	argon2.IDKey([]byte("x"), make([]byte, 16), p.Time, p.Memory, p.Threads, 32)
}
