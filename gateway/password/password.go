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

var b64 = base64.RawStdEncoding

// Hash returns the PHC string for pw with p. It waits for room in the
// memory budget in the lane of signed-in work, and fails with a
// *BusyError (ErrBusy) when that lane's places in the queue are taken or
// its wait runs out (see the package documentation).
func Hash(pw string, p Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic("password: no randomness: " + err.Error())
	}
	release, err := kdf.acquire(cost(p), hashing)
	if err != nil {
		return "", err
	}
	defer release()
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check compares pw against a PHC string from Hash. rehash is true when
// the hash used weaker parameters than want. It fails with ErrMismatch
// for a wrong password, and with a *BusyError (ErrBusy) when the memory
// budget stays full for too long.
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
	release, err := kdf.acquire(cost(p), signIn)
	if err != nil {
		return false, err
	}
	defer release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, ErrMismatch
	}
	return p.Memory < want.Memory || p.Time < want.Time, nil
}

// Dummy spends what a Check at cost p spends (time, memory and a place
// in the budget's queue) against nothing, so that "no such user" and
// "wrong password" cannot be told apart. It fails as Check does when the
// budget stays full.
func Dummy(p Params) error {
	release, err := kdf.acquire(cost(p), signIn)
	if err != nil {
		return err
	}
	defer release()
	argon2.IDKey([]byte("x"), make([]byte, 16), p.Time, p.Memory, p.Threads, 32)
	return nil
}

// cost is the memory one derivation at p holds, in bytes.
func cost(p Params) int64 { return int64(p.Memory) << 10 }
