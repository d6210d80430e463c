package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/gateway/audit"
)

// Security tests of the audit log (docs/GATEWAY.md, "Audit log"): a log
// rewritten, cut or deleted by someone who can write the state
// directory must not pass for the real one.

// unkeyedLine is an audit entry in the form the earlier, unkeyed version
// wrote and documented: anyone can compute its hash.
type unkeyedLine struct {
	Seq    uint64            `json:"seq"`
	Time   string            `json:"time"`
	Actor  string            `json:"actor"`
	IP     string            `json:"ip"`
	Action string            `json:"action"`
	Target string            `json:"target"`
	Detail map[string]string `json:"detail"`
	Prev   string            `json:"prev"`
	Hash   string            `json:"hash"`
}

// unkeyedHash is the documented recipe of the unkeyed version: SHA-256
// of "shoebox-audit-v1\n" and the fields as netstrings.
func unkeyedHash(l unkeyedLine) string {
	var b strings.Builder
	b.WriteString("shoebox-audit-v1\n")
	put := func(s string) { fmt.Fprintf(&b, "%d:%s,", len(s), s) }
	put(strconv.FormatUint(l.Seq, 10))
	put(l.Time)
	put(l.Actor)
	put(l.IP)
	put(l.Action)
	put(l.Target)
	keys := make([]string, 0, len(l.Detail))
	for k := range l.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	put(strconv.Itoa(len(keys)))
	for _, k := range keys {
		put(k)
		put(l.Detail[k])
	}
	put(l.Prev)
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:])
}

// rewriteAuditLog rewrites the whole log in dir as a forger with write
// access to the state directory (but not the box key) would: every
// entry changed by change, every hash recomputed by the documented
// recipe, the head file to match. It returns how many entries it wrote.
func rewriteAuditLog(t *testing.T, dir string, change func(*unkeyedLine)) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	prev := strings.Repeat("0", 64)
	n := 0
	for _, ln := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var l unkeyedLine
		if err := json.Unmarshal(ln, &l); err != nil {
			t.Fatal(err)
		}
		if l.Detail == nil {
			l.Detail = map[string]string{}
		}
		change(&l)
		l.Prev = prev
		l.Hash = unkeyedHash(l)
		prev = l.Hash
		b, _ := json.Marshal(l)
		out.Write(append(b, '\n'))
		n++
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf(`{"seq":%d,"hash":"%s"}`+"\n", n, prev)
	if err := os.WriteFile(filepath.Join(dir, "head"), []byte(head), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// chainKeyOf is the audit chain key of the gateway state in dir.
func chainKeyOf(t *testing.T, dir string) []byte {
	t.Helper()
	boxKey, err := os.ReadFile(filepath.Join(dir, "box.key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ChainKey(boxKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verifyState checks the log in dir as `shoebox audit verify --dir DIR`
// does (audit.VerifyState: the box key and the anchor kept beside it;
// cmd/shoebox tests the command's exit codes and output) and returns
// whether it is intact, and what it found.
func verifyState(t *testing.T, dir string) (bool, string) {
	t.Helper()
	res, err := audit.VerifyState(dir, nil)
	if errors.Is(err, audit.ErrTampered) {
		return false, err.Error()
	}
	if err != nil {
		t.Fatalf("audit.VerifyState(%s): %v", dir, err)
	}
	return res.OK, res.String()
}

// TestSecurityAuditRewrittenChain: the whole log rewritten with hashes
// recomputed by the documented recipe (here: making a role change look
// like the member's own doing) is detected by the box's check over
// HTTPS and by `shoebox audit verify`.
func TestSecurityAuditRewrittenChain(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.localToken()
	b.user("mia", "member", map[string]string{"family": "write"})
	b.must("POST", "/v1/users/mia/role", own, map[string]string{"role": "admin"}, nil)
	var v struct {
		OK     bool
		Reason string
	}
	b.must("GET", "/v1/audit/verify", own, nil, &v)
	if !v.OK {
		t.Fatalf("the untouched log does not verify: %s", v.Reason)
	}
	dir := filepath.Join(b.state, "gateway", "audit")
	if ok, out := verifyState(t, dir); !ok {
		t.Fatalf("the untouched log does not verify as shoebox audit verify checks it: %s", out)
	}

	n := rewriteAuditLog(t, dir, func(l *unkeyedLine) {
		if l.Target == "mia" || strings.HasSuffix(l.Target, ":mia") {
			l.Actor, l.IP = "mia", "192.0.2.66"
		}
	})
	t.Logf("rewrote %d entries", n)

	b.must("GET", "/v1/audit/verify", own, nil, &v)
	if v.OK {
		t.Error("GET /v1/audit/verify: a log rewritten with recomputed hashes verifies")
	} else {
		t.Logf("GET /v1/audit/verify: %s", v.Reason)
	}
	if ok, out := verifyState(t, dir); ok {
		t.Errorf("a log rewritten with recomputed hashes verifies as shoebox audit verify checks it: %s", out)
	}
}

// TestSecurityAuditRewrittenChainAtStart: a gateway starting on a log
// rewritten with recomputed hashes keeps it aside as evidence and starts
// a new chain that says why, instead of continuing the forgery.
func TestSecurityAuditRewrittenChainAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	closedGateway(t, dir)
	rewriteAuditLog(t, filepath.Join(dir, "audit"), func(l *unkeyedLine) {
		if l.Target == "mia" {
			l.Actor = "mia"
		}
	})
	restartOnTampered(t, dir)
}

// TestSecurityAuditAnchorForged: an anchor edited without the key (here
// raised, to make the real log look cut short) does not count: the log
// is checked against nothing forged, stays where it is, and the next
// anchor replaces the forged one.
func TestSecurityAuditAnchorForged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	closedGateway(t, dir)
	p := audit.AnchorPath(filepath.Join(dir, "audit"))
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	json.Unmarshal(raw, &a)
	a["seq"] = 99
	forged, _ := json.Marshal(a)
	os.WriteFile(p, forged, 0o600)

	g, err := New(Options{Dir: dir, Params: &fastParams})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if kept, _ := filepath.Glob(filepath.Join(dir, "audit.failed-*")); len(kept) != 0 {
		t.Errorf("a forged anchor made the gateway set the real log aside: %v", kept)
	}
	got, err := audit.ReadAnchorFile(p, chainKeyOf(t, dir))
	if err != nil || got.Seq == 99 {
		t.Errorf("the forged anchor was not replaced: %+v, %v", got, err)
	}
}
