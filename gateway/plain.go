package gateway

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/throttle"
	"github.com/shoebox/shoebox/gateway/token"
)

// The plain-HTTP listener (listen_http; docs/GATEWAY.md, "Plain HTTP")
// processes nothing: it redirects a GET or HEAD without a credential,
// and refuses everything else with 403, after revoking the credentials
// the request exposed. Nobody needs to sign in to reach it, so what it
// may cost is bounded:
//
//   - the server reads headers of at most plainMaxHeader and a request
//     within plainTimeout;
//   - the box looks into at most plainBurst requests at once from one
//     address (IPv6: its /64), then one every plainEvery (throttle); the
//     others are refused unread, with nothing revoked or recorded;
//   - of those, it reads at most plainAtOnce bodies at once, and at most
//     plainMaxBody of each, scanned without decoding it into maps; at most
//     plainMaxTokens tokens of a request are looked up;
//   - a revocation is always recorded, but a request that revokes
//     nothing (a password, for a name or none) is recorded at most once a
//     minute per address: the others are counted, and the count written
//     with the address's next record or once its minute is over
//     (flushPlain).
const (
	plainMaxHeader = 16 << 10
	plainTimeout   = 10 * time.Second
	plainBurst     = 10
	plainEvery     = 6 * time.Second
	plainKeys      = 10000 // addresses tracked by the limit, and by the records
	plainAtOnce    = 8
	plainMaxBody   = 16 << 10
	plainMaxTokens = 32
	plainQuiet     = time.Minute
	// plainSummaryNames is the most account names a summary lists.
	plainSummaryNames = 5
)

// plainSide is the plain-HTTP listener's state.
type plainSide struct {
	limit  *throttle.Limiter
	bodies chan struct{} // a place per body being read

	mu    sync.Mutex
	quiet map[string]*plainWindow // by throttle.Key; "" for the addresses past plainKeys
}

// plainWindow is an address's minute after a record: what came since,
// unrecorded.
type plainWindow struct {
	until    time.Time
	more     int
	since    time.Time // the first of more
	accounts []string  // told that their password was exposed, at most plainSummaryNames
}

func newPlainSide() *plainSide {
	return &plainSide{limit: throttle.NewLimiter(rate.Every(plainEvery), plainBurst, plainKeys),
		bodies: make(chan struct{}, plainAtOnce), quiet: map[string]*plainWindow{}}
}

// plainServer is the plain-HTTP listener's server.
func (g *Gateway) plainServer() *http.Server {
	return &http.Server{Addr: g.opt.PlainAddr, Handler: g.PlainHTTP(), MaxHeaderBytes: plainMaxHeader,
		ReadHeaderTimeout: plainTimeout, ReadTimeout: plainTimeout, IdleTimeout: plainTimeout}
}

// PlainHTTP answers plain-HTTP requests. A GET or HEAD that carries no
// credential is redirected (308) to HTTPS. Anything else is refused with
// 403 and never redirected (a redirect repeats a token in the URL, and
// makes a client post its body, password included, a second time): a
// credential in it (an Authorization bearer, a share link's token in the
// path, any token in the query or body: an enrolment code, say) has
// crossed the network in the clear and is revoked; a password in the body
// is never checked (a plain-HTTP client costs the box no key derivation)
// and its account is told at its next sign-in. It is audited, without the
// secrets, within the limits above.
func (g *Gateway) PlainHTTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		var bearer string
		// Any Authorization header carries a credential; the scheme is
		// case-insensitive (RFC 9110), so "bearer x" is exposed too.
		if a := strings.TrimSpace(r.Header.Get("Authorization")); a != "" {
			if scheme, tok, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
				a = strings.TrimSpace(tok)
			}
			bearer = a
		}
		exposed := tokensIn(r.URL.RawQuery)
		if strings.HasPrefix(r.URL.Path, "/s/") {
			exposed = append(exposed, strings.SplitN(strings.TrimPrefix(r.URL.Path, "/s/"), "/", 2)[0])
		}
		hasBody := r.Method != http.MethodGet && r.Method != http.MethodHead
		host := g.httpsHost(r)
		w.Header().Set("Cache-Control", "no-store")
		if bearer == "" && len(exposed) == 0 && !hasBody {
			http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
			return
		}
		// Never redirect a request that may carry a secret; say what
		// happened instead.
		msg := "nothing in this request was processed, a credential sent with it has been revoked, and a password in it was not checked (if it was real, change it)"
		if !g.plainExposed(r, ip, bearer, exposed, hasBody) {
			msg = "nothing in this request was processed, and it came with too many others for the box to look at all of it: a credential sent with it may still be valid (sign in over HTTPS and revoke it, or ask for a new link), and a password in it was not checked (if it was real, change it)"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]string{"error": "this box takes credentials and request bodies over HTTPS only: " + msg,
			"hint": "sign in again at https://" + host + "/ (or ask for a new link)"})
	})
}

// httpsHost is the host and port of the box's HTTPS side, as r named
// the box.
func (g *Gateway) httpsHost(r *http.Request) string {
	_, httpsPort, _ := net.SplitHostPort(strings.TrimPrefix(g.publicURL(), "https://"))
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if httpsPort != "" && httpsPort != "443" {
		host = net.JoinHostPort(host, httpsPort)
	}
	return host
}

// plainExposed revokes the credentials a plain-HTTP request exposed, in
// its headers and address and (when hasBody) its body, tells the account
// whose password it carried, records it and raises the box's alert. It
// reports false when it did not look at all of the request: the address
// is over its limit (nothing is looked at), or too many bodies are being
// read (the body is not).
func (g *Gateway) plainExposed(r *http.Request, ip, bearer string, exposed []string, hasBody bool) (all bool) {
	if g.plain.limit.Allow(throttle.Key(ip), g.now()) > 0 {
		return false
	}
	all = true
	var body plainBody
	if hasBody {
		select {
		case g.plain.bodies <- struct{}{}:
			body = readPlainBody(r)
			<-g.plain.bodies
			exposed = append(exposed, body.tokens...)
		default:
			all = false
		}
	}
	revoked := false
	bearerUser := ""
	if bearer != "" {
		bearerUser, revoked = g.revokeExposed(bearer, ip)
	}
	for _, tok := range exposed[:min(len(exposed), plainMaxTokens)] {
		_, ok := g.revokeExposed(tok, ip)
		revoked = revoked || ok
	}
	if body.password && !strings.HasPrefix(r.URL.Path, "/s/") { // a link's password dies with the link
		name := cmp.Or(body.user, bearerUser)
		account := ""
		detail := map[string]string{"path": r.URL.Path}
		if name != "" {
			if account = g.passwordExposed(name, ip); account == "" {
				detail["detail"] = "no such account; the name sent is not kept"
			}
		}
		if revoked {
			g.recordAs(account, ip, actionPasswordExposed, account, detail)
		} else {
			g.quietRecord(ip, account, detail)
		}
	}
	if (revoked || body.password) && g.d != nil {
		g.d.Alerts().Raise("security", "plain-http-credential", appliance.Warning, "A password or token was sent to the box over plain HTTP",
			fmt.Sprintf("The last came from %s, to %s, at %s. Tokens sent that way were revoked; passwords were not checked, and their people are told at their next sign-in. Check that apps and scripts use https://.",
				ip, r.URL.Path, g.now().UTC().Format(time.RFC3339)))
	}
	return all
}

// quietRecord records that a password crossed plain HTTP in a request
// that revoked nothing (account: whose it was, if it names one), unless
// ip's address had such a record less than plainQuiet ago: then it is
// only counted, for the address's next record or flushPlain.
func (g *Gateway) quietRecord(ip, account string, detail map[string]string) {
	now := g.now()
	p := g.plain
	p.mu.Lock()
	key := throttle.Key(ip)
	w, ok := p.quiet[key]
	if !ok && len(p.quiet) >= plainKeys {
		key = ""
		w, ok = p.quiet[key]
	}
	if ok && now.Before(w.until) {
		if w.more == 0 {
			w.since = now
		}
		w.more++
		if account != "" && len(w.accounts) < plainSummaryNames && !slices.Contains(w.accounts, account) {
			w.accounts = append(w.accounts, account)
		}
		p.mu.Unlock()
		return
	}
	if ok {
		w.summarize(detail) // counted since, not yet flushed
	}
	p.quiet[key] = &plainWindow{until: now.Add(plainQuiet)}
	p.mu.Unlock()
	g.recordAs(account, ip, actionPasswordExposed, account, detail)
}

// summarize adds what w counted to a record's detail.
func (w *plainWindow) summarize(detail map[string]string) {
	if w.more == 0 {
		return
	}
	detail["more"] = strconv.Itoa(w.more)
	detail["more_since"] = w.since.UTC().Format(time.RFC3339)
	if len(w.accounts) > 0 {
		detail["more_accounts"] = strings.Join(w.accounts, ", ")
	}
}

// flushPlain records what the plain-HTTP listener counted without
// recording, for each address whose minute is over (Serve calls it
// every 30 s): one record per address, which is its record for the next
// minute.
func (g *Gateway) flushPlain() {
	now := g.now()
	type summary struct {
		ip     string
		detail map[string]string
	}
	var out []summary
	p := g.plain
	p.mu.Lock()
	for key, w := range p.quiet {
		switch {
		case now.Before(w.until):
		case w.more == 0:
			delete(p.quiet, key)
		default:
			s := summary{ip: key, detail: map[string]string{"detail": "passwords sent over plain HTTP, not recorded one by one"}}
			if key == "" {
				s.detail["from"] = "more addresses than the box keeps track of"
			}
			w.summarize(s.detail)
			out = append(out, s)
			p.quiet[key] = &plainWindow{until: now.Add(plainQuiet)}
		}
	}
	p.mu.Unlock()
	for _, s := range out {
		g.recordAs("", s.ip, actionPasswordExposed, "", s.detail)
	}
}

// plainBody is what a request body sent over plain HTTP gave away.
type plainBody struct {
	user     string   // the "username" field
	password bool     // a password field was not empty
	tokens   []string // the tokens in it (at most plainMaxTokens)
}

// readPlainBody reads at most plainMaxBody of r's body, as a JSON object
// or as a form, and picks out its user name, password fields and tokens
// without keeping the rest.
func readPlainBody(r *http.Request) plainBody {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, plainMaxBody))
	var out plainBody
	take := func(k, v string) {
		switch k {
		case "username":
			out.user = v
		case "password", "old_password", "new_password":
			out.password = out.password || v != ""
		}
	}
	if !jsonMembers(raw, take) {
		formFields(string(raw), take)
	}
	out.tokens = tokensIn(string(raw))
	return out
}

// jsonMembers calls take with each string member of the JSON object raw
// at its top level, as it is read: nested values are skipped, and a body
// cut short gives the members before the cut. It reports whether raw is
// (the start of) a JSON object.
func jsonMembers(raw []byte, take func(k, v string)) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	depth, isKey, key := 1, true, ""
	for depth > 0 {
		t, err := dec.Token()
		if err != nil {
			break
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else if depth--; depth == 1 {
				isKey = true // a member's object or array value ended
			}
			continue
		}
		switch {
		case depth > 1:
		case isKey:
			key, _ = t.(string)
			isKey = false
		default:
			if s, ok := t.(string); ok {
				take(key, s)
			}
			isKey = true
		}
	}
	return true
}

// formFields calls take with each field of the URL-encoded form s.
func formFields(s string, take func(k, v string)) {
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		k, v, _ := strings.Cut(kv, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 == nil && err2 == nil {
			take(k, v)
		}
	}
}

// tokensIn returns the well-formed tokens in s, wherever they stand, up
// to plainMaxTokens of them.
func tokensIn(s string) []string {
	var out []string
	for w := range strings.FieldsFuncSeq(s, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') }) {
		if token.KindOf(w) != "" {
			if out = append(out, w); len(out) == plainMaxTokens {
				break
			}
		}
	}
	return out
}
