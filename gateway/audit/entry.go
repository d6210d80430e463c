package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
)

// Entry is one line of the log. Callers fill Actor, IP, Action, Target
// and Detail; Append sets Seq, Time, Prev and Hash.
type Entry struct {
	Seq    uint64
	Time   time.Time
	Actor  string
	IP     string
	Action string
	Target string
	Detail map[string]string
	Prev   string
	Hash   string
}

// zeroHash is entry 1's prev and an empty log's head hash.
var zeroHash = strings.Repeat("0", 64)

// line is an entry as written: the field order here is the file's.
type line struct {
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

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// encode returns e's line, without the newline.
func encode(e Entry) []byte {
	d := e.Detail
	if d == nil {
		d = map[string]string{}
	}
	b, err := json.Marshal(line{e.Seq, formatTime(e.Time), e.Actor, e.IP, e.Action, e.Target, d, e.Prev, e.Hash})
	if err != nil {
		panic("audit: encode: " + err.Error()) // strings and a map of strings always encode
	}
	return b
}

var (
	errNotJSON      = errors.New("not a JSON entry")
	errNotCanonical = errors.New("not in the form the log writes")
)

// decode parses one line (without its newline) and insists that it is
// exactly what encode writes for the entry it holds.
func decode(b []byte) (Entry, error) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		return Entry{}, errNotJSON
	}
	t, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil {
		return Entry{}, errNotCanonical
	}
	e := Entry{Seq: l.Seq, Time: t.UTC(), Actor: l.Actor, IP: l.IP, Action: l.Action, Target: l.Target,
		Detail: l.Detail, Prev: l.Prev, Hash: l.Hash}
	if e.Detail == nil {
		e.Detail = map[string]string{}
	}
	if !bytes.Equal(encode(e), b) {
		return Entry{}, errNotCanonical
	}
	return e, nil
}

// sum is e's hash: see "Hash" in the package documentation.
func sum(e Entry) string {
	h := sha256.New()
	h.Write([]byte("shoebox-audit-v1\n"))
	netstring(h, strconv.FormatUint(e.Seq, 10))
	netstring(h, formatTime(e.Time))
	netstring(h, e.Actor)
	netstring(h, e.IP)
	netstring(h, e.Action)
	netstring(h, e.Target)
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
	return hex.EncodeToString(h.Sum(nil))
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
	c := Entry{Actor: scrub(e.Actor), IP: scrub(e.IP), Action: scrub(e.Action), Target: scrub(e.Target),
		Detail: make(map[string]string, len(e.Detail))}
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
