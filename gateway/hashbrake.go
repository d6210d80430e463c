package gateway

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/throttle"
)

// Password hashing for signed-in people (docs/SECURITY.md, "Brakes and
// limits"). argon2id's memory budget keeps sign-in's share whatever
// signed-in work asks for (package password, "Lanes"); this brake keeps
// one account from taking the hashing lane for itself. The calls that
// hash a password run one at a time per account (its immutable ID),
// hashBurst in a row, then one every hashEvery; the CLI on the box
// (root's local token) is not braked. A call past either is
// refused before it runs — 429 (ResourceExhausted) with Retry-After — and
// is not audited: nothing changed, and a record per refusal would let an
// account grow the audit log as fast as it can ask.

// hashingCalls are the calls that hash a password with argon2id, with,
// where it depends on the request, which of them do. A handler that
// comes to hash a password must be listed here.
var hashingCalls = map[string]func(req any) bool{
	pb.AuthService_ChangePassword_FullMethodName: nil, // checks the old one, hashes the new one
	pb.AuthService_DisableTOTP_FullMethodName: func(req any) bool { // the password, when no code is given
		r, ok := req.(*pb.DisableTOTPRequest)
		return !ok || r.GetCode() == ""
	},
	pb.UserService_CreateUser_FullMethodName: nil, // the password, or an unusable one
	pb.UserService_ResetUser_FullMethodName:  nil, // an unusable password
	pb.ShareService_CreateShare_FullMethodName: func(req any) bool {
		r, ok := req.(*pb.CreateShareRequest)
		return !ok || r.GetPassword() != "" || r.GetGeneratePassword()
	},
}

const (
	hashBurst = 10
	hashEvery = 6 * time.Second
	hashKeys  = 4096 // accounts tracked; least recently used dropped first
)

// hashBrake is the brake's state. The zero value is ready.
type hashBrake struct {
	mu   sync.Mutex
	busy map[string]bool // accounts with a hashing call running
	rate *throttle.Limiter
}

// take admits a call of method with req by p at now, or refuses it with
// a *hashBusyError. release ends the call. The box's local token (root,
// the CLI on the box) is not braked.
func (h *hashBrake) take(method string, req any, p auth.Principal, now time.Time) (release func(), err error) {
	hashes, ok := hashingCalls[method]
	if !ok || hashes != nil && !hashes(req) || p.Kind == "local" {
		return func() {}, nil
	}
	account := p.UserID
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[account] {
		return nil, &hashBusyError{Wait: time.Second, running: true}
	}
	if h.rate == nil {
		h.rate = throttle.NewLimiter(rate.Every(hashEvery), hashBurst, hashKeys)
		h.busy = map[string]bool{}
	}
	if d := h.rate.Allow(account, now); d > 0 {
		return nil, &hashBusyError{Wait: d}
	}
	h.busy[account] = true
	return func() {
		h.mu.Lock()
		delete(h.busy, account)
		h.mu.Unlock()
	}, nil
}

// hashBusyError is errHashBusy with the wait before trying again.
type hashBusyError struct {
	Wait    time.Duration
	running bool // another call of the account is hashing
}

func (e *hashBusyError) Error() string {
	if e.running {
		return fmt.Sprintf("another password of your account is being hashed right now (one at a time per account): nothing was changed; wait %d s and try again", e.RetryAfter())
	}
	return fmt.Sprintf("%v (%d in a row, then one every %d s): nothing was changed; wait %d s and try again",
		errHashBusy, hashBurst, int(hashEvery/time.Second), e.RetryAfter())
}

// Is makes errors.Is(err, errHashBusy) true.
func (e *hashBusyError) Is(target error) bool { return target == errHashBusy }

// RetryAfter is the wait in whole seconds, rounded up, at least 1.
func (e *hashBusyError) RetryAfter() int {
	return max(int((e.Wait+time.Second-1)/time.Second), 1)
}
