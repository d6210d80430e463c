package audit

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shoebox/shoebox/gateway/token"
)

// Actions recorded by the gateway. Action is free text; these are the
// names the gateway uses, so that List can filter on them.
const (
	ActionLogin         = "login"
	ActionLoginFailed   = "login.failed"
	ActionLogout        = "logout"
	ActionShareCreated  = "share.created"
	ActionShareUsed     = "share.used"
	ActionShareRevoked  = "share.revoked"
	ActionRestore       = "restore"
	ActionDownload      = "download"
	ActionDelete        = "delete"
	ActionLock          = "lock"
	ActionConfigChanged = "config.changed"
	ActionAuditRepaired = "audit.repaired" // written by Open after a crash repair
	ActionAuditKeyed    = "audit.keyed"    // written by Open when it continues an unkeyed log with keyed entries
)

// Results of an action: ResultOK, or the gRPC code and a short reason
// ("PermissionDenied: …").
const ResultOK = "ok"

// Entry versions: how an entry's hash is made (see "Hash" in the package
// documentation).
const (
	V1 = 1 // unkeyed SHA-256, written by earlier versions; kept as evidence
	V2 = 2 // HMAC-SHA-256 with the chain key; everything Append writes
)

// Entry is one line of the log. Callers fill Actor, ActorID, IP, Action,
// Target, Result and Detail; Append sets Version, Seq, Time, Prev and
// Hash.
type Entry struct {
	Version int
	Seq     uint64
	Time    time.Time
	Actor   string // who: a user name, "link:<id>", "root@box", "shoebox"
	ActorID string // the account's immutable ID when the actor is a person ("" else)
	IP      string
	Action  string
	Target  string
	Result  string // ResultOK, or "<gRPC code>: <reason>"; "" when not applicable
	Detail  map[string]string
	Prev    string
	Hash    string
}

// zeroHash is entry 1's prev and an empty log's head hash.
var zeroHash = strings.Repeat("0", 64)

// lineV1 is an unkeyed entry as written: the field order here is the
// file's.
type lineV1 struct {
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

// lineV2 is a keyed entry as written.
type lineV2 struct {
	V       int               `json:"v"`
	Seq     uint64            `json:"seq"`
	Time    string            `json:"time"`
	Actor   string            `json:"actor"`
	ActorID string            `json:"actor_id"`
	IP      string            `json:"ip"`
	Action  string            `json:"action"`
	Target  string            `json:"target"`
	Result  string            `json:"result"`
	Detail  map[string]string `json:"detail"`
	Prev    string            `json:"prev"`
	Hash    string            `json:"hash"`
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// encode returns e's line, without the newline, in e.Version's form.
func encode(e Entry) []byte {
	d := e.Detail
	if d == nil {
		d = map[string]string{}
	}
	var v any = lineV2{V2, e.Seq, formatTime(e.Time), e.Actor, e.ActorID, e.IP, e.Action, e.Target, e.Result, d, e.Prev, e.Hash}
	if e.Version == V1 {
		v = lineV1{e.Seq, formatTime(e.Time), e.Actor, e.IP, e.Action, e.Target, d, e.Prev, e.Hash}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("audit: encode: " + err.Error()) // strings and a map of strings always encode
	}
	return b
}

// decode parses one line (without its newline) and insists that it is
// exactly what encode writes for the entry it holds.
func decode(b []byte) (Entry, error) {
	var l lineV2
	if err := json.Unmarshal(b, &l); err != nil {
		return Entry{}, errNotJSON
	}
	t, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil {
		return Entry{}, errNotCanonical
	}
	e := Entry{Version: V1, Seq: l.Seq, Time: t.UTC(), Actor: l.Actor, ActorID: l.ActorID, IP: l.IP, Action: l.Action,
		Target: l.Target, Result: l.Result, Detail: l.Detail, Prev: l.Prev, Hash: l.Hash}
	if l.V == V2 {
		e.Version = V2
	}
	if e.Detail == nil {
		e.Detail = map[string]string{}
	}
	if !bytes.Equal(encode(e), b) {
		return Entry{}, errNotCanonical
	}
	return e, nil
}

// hashOf is e's hash in e.Version's recipe: see "Hash" in the package
// documentation. A keyed entry needs key; without one it has no valid
// hash ("").
func hashOf(e Entry, key []byte) string {
	if e.Version == V1 {
		return sum(e)
	}
	if len(key) == 0 {
		return ""
	}
	return mac(key, e)
}

// sum is a V1 entry's hash.
func sum(e Entry) string {
	h := sha256.New()
	h.Write([]byte("shoebox-audit-v1\n"))
	fields(h, e, false)
	return hex.EncodeToString(h.Sum(nil))
}

// mac is a V2 entry's hash: HMAC-SHA-256 with the chain key.
func mac(key []byte, e Entry) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("shoebox-audit-v2\n"))
	fields(h, e, true)
	return hex.EncodeToString(h.Sum(nil))
}

// fields writes the chained fields as netstrings; v2 adds actor_id and
// result.
func fields(h hash.Hash, e Entry, v2 bool) {
	netstring(h, strconv.FormatUint(e.Seq, 10))
	netstring(h, formatTime(e.Time))
	netstring(h, e.Actor)
	if v2 {
		netstring(h, e.ActorID)
	}
	netstring(h, e.IP)
	netstring(h, e.Action)
	netstring(h, e.Target)
	if v2 {
		netstring(h, e.Result)
	}
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	netstring(h, strconv.Itoa(len(keys)))
	for _, k := range keys {
		netstring(h, k)
		netstring(h, e.Detail[k])
	}
	netstring(h, e.Prev)
}

// ChainKey derives the key of the audit chain from the box key (the
// gateway's STATE/gateway/box.key) with HKDF-SHA-256, label
// "shoebox audit chain v2". Whoever verifies the log needs it; whoever
// only holds a copy of the log cannot recompute its hashes.
func ChainKey(boxKey []byte) ([]byte, error) {
	if len(boxKey) < 32 {
		return nil, fmt.Errorf("audit chain key: the box key has %d bytes, want 32", len(boxKey))
	}
	return hkdf.Key(sha256.New, boxKey, nil, "shoebox audit chain v2", 32)
}

func netstring(h hash.Hash, s string) {
	fmt.Fprintf(h, "%d:%s,", len(s), s)
}

// tokenLen is the length of every gateway token.
var tokenLen = len(token.New(token.Share))

var tokenKinds = []token.Kind{token.Session, token.APIKey, token.Share, token.Enrol}

// scrub makes s safe to write: valid UTF-8 (so that the file holds
// exactly the hashed bytes) and no token anywhere in it.
func scrub(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+tokenLen <= len(s) && isTokenPrefix(s[i:]) {
			if c := s[i : i+tokenLen]; token.KindOf(c) != "" {
				b.WriteString(token.Redact(c))
				i += tokenLen
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isTokenPrefix(s string) bool {
	for _, k := range tokenKinds {
		if strings.HasPrefix(s, string(k)) {
			return true
		}
	}
	return false
}

// secretKey reports whether a detail key names a secret whose value must
// not be written at all.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"password", "passwd", "secret", "passphrase", "totp"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// clean returns the caller's part of e, scrubbed, with its own copy of
// Detail.
func clean(e Entry) Entry {
	c := Entry{Actor: scrub(e.Actor), ActorID: scrub(e.ActorID), IP: scrub(e.IP), Action: scrub(e.Action),
		Target: scrub(e.Target), Result: scrub(e.Result), Detail: make(map[string]string, len(e.Detail))}
	for k, v := range e.Detail {
		k = scrub(k)
		if secretKey(k) {
			v = "[redacted]"
		}
		c.Detail[k] = scrub(v)
	}
	return c
}

// validHash reports whether s is 64 lowercase hex digits.
func validHash(s string) bool {
	if len(s) != 64 || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
