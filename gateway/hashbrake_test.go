package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// TestHashingBrakePerAccount: a member makes share links with passwords
// as fast as it can. Ten go through, then one every six seconds; the
// refusals say when to try again (429, Retry-After), change nothing and
// are not audited. Links without a password, another account's links
// and the owner's sign-in are not held up (review finding 4).
func TestHashingBrakePerAccount(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	snap := b.backup(map[string][]byte{"a.jpg": []byte("a photo")})
	mia := b.user("mia", "member", map[string]string{"family": "read,share"})
	ben := b.user("ben", "member", map[string]string{"family": "read,share"})
	create := func(tok string, pw bool) (int, string, []byte) {
		t.Helper()
		body := map[string]any{"snapshot": snap, "path": "a.jpg"}
		if pw {
			body["password"] = "a long link password"
		}
		j, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", b.base+"/v1/shares", bytes.NewReader(j))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), raw
	}
	before := len(b.auditEntries(b.localToken(), "?action=share.created&limit=1000"))
	for i := range hashBurst {
		if code, _, raw := create(mia, true); code != http.StatusOK {
			t.Fatalf("link %d of the first %d: HTTP %d %s", i+1, hashBurst, code, raw)
		}
	}
	for i := range 5 {
		code, ra, raw := create(mia, true)
		if code != http.StatusTooManyRequests || ra != "6" || !strings.Contains(string(raw), "wait 6 s and try again") {
			t.Errorf("link %d past the burst: HTTP %d, Retry-After %q, want 429 and 6: %s", i+1, code, ra, raw)
		}
	}
	if code, _, raw := create(mia, false); code != http.StatusOK {
		t.Errorf("a link without a password: HTTP %d %s", code, raw)
	}
	if code, _, raw := create(ben, true); code != http.StatusOK {
		t.Errorf("another account's link: HTTP %d %s", code, raw)
	}
	b.owner()
	b.clock.Add(hashEvery)
	if code, _, raw := create(mia, true); code != http.StatusOK {
		t.Errorf("a link %s later: HTTP %d %s", hashEvery, code, raw)
	}
	if code, _, _ := create(mia, true); code != http.StatusTooManyRequests {
		t.Errorf("the next one at once: HTTP %d, want 429", code)
	}
	if got := len(b.auditEntries(b.localToken(), "?action=share.created&limit=1000")) - before; got != hashBurst+3 {
		t.Errorf("%d share.created records, want %d (the links made; refusals are not recorded)", got, hashBurst+3)
	}
	if n := len(b.listShares(mia)); n != hashBurst+2 {
		t.Errorf("mia has %d links, want %d", n, hashBurst+2)
	}
}

// TestHashingBrakeOneAtATime: one hashing call per account at a time;
// other accounts, calls that hash nothing and the box's local token go
// on meanwhile.
func TestHashingBrakeOneAtATime(t *testing.T) {
	t.Parallel()
	var h hashBrake
	now := time.Unix(1e9, 0)
	mia := auth.Principal{User: "mia", UserID: "u1", Kind: auth.KindSession}
	withPw := &pb.CreateShareRequest{Password: "a long link password"}
	release, err := h.take("/shoebox.v1.ShareService/CreateShare", withPw, mia, now)
	if err != nil {
		t.Fatal(err)
	}
	var busy *hashBusyError
	if _, err := h.take("/shoebox.v1.AuthService/ChangePassword", nil, mia, now); !errors.As(err, &busy) || !busy.running || busy.RetryAfter() != 1 {
		t.Fatalf("a second hashing call of the account: %v, want refused as running", err)
	}
	for what, call := range map[string]func() error{
		"another account": func() error {
			_, err := h.take("/shoebox.v1.AuthService/ChangePassword", nil, auth.Principal{UserID: "u2", Kind: auth.KindSession}, now)
			return err
		},
		"a link without a password": func() error {
			_, err := h.take("/shoebox.v1.ShareService/CreateShare", &pb.CreateShareRequest{}, mia, now)
			return err
		},
		"a call that hashes nothing": func() error {
			_, err := h.take("/shoebox.v1.ShareService/ListShares", nil, mia, now)
			return err
		},
		"the local token": func() error {
			_, err := h.take("/shoebox.v1.UserService/CreateUser", nil, auth.Principal{UserID: localUser, Kind: "local"}, now)
			return err
		},
	} {
		if err := call(); err != nil {
			t.Errorf("%s while mia hashes: %v", what, err)
		}
	}
	release()
	if _, err := h.take("/shoebox.v1.AuthService/ChangePassword", nil, mia, now); err != nil {
		t.Errorf("after the first ended: %v", err)
	}
}
