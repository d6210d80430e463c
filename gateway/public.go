package gateway

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/time/rate"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/audit"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/preview"
	"github.com/shoebox/shoebox/gateway/share"
	"github.com/shoebox/shoebox/gateway/throttle"
	"github.com/shoebox/shoebox/gateway/token"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// The public side of share links: GET /s/{token}[/{path}] shows a
// folder listing or a file; POST /s/{token} answers the link's password.
//
// Opening a link (the first page, or the password form) counts one use
// and is written to the link's access log; the browser then gets a
// cookie, scoped to the link's path and valid for an hour, so that the
// files of a shared folder do not each count a use. Every request still
// re-checks that the link is neither revoked nor expired.

const shareCookie = "sbl_view"
const shareCookieTTL = time.Hour

// The public side's brakes, per client address (an IPv6 address counts
// by its /64, throttle.Key): every request under /s/, then the link
// passwords tried, counted before any is hashed. A link's own lock after
// wrong passwords is kept by the share store (it survives restarts).
const (
	sharePageBurst     = 100                    // requests at once,
	sharePageEvery     = 200 * time.Millisecond // then 5 a second
	sharePasswordBurst = 10                     // passwords at once,
	sharePasswordEvery = 6 * time.Second        // then one every 6 s
	shareLimitKeys     = 10000                  // addresses tracked
)

// publicSide is the state of the share links' public side.
type publicSide struct {
	pages     *throttle.Limiter
	passwords *throttle.Limiter
	previews  *preview.Maker
}

func (g *Gateway) newPublicSide() (*publicSide, error) {
	previews, err := g.newPreviews()
	if err != nil {
		return nil, err
	}
	return &publicSide{
		pages:     throttle.NewLimiter(rate.Every(sharePageEvery), sharePageBurst, shareLimitKeys),
		passwords: throttle.NewLimiter(rate.Every(sharePasswordEvery), sharePasswordBurst, shareLimitKeys),
		previews:  previews,
	}, nil
}

func (g *Gateway) publicShare(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Robots-Tag", "noindex, nofollow")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'")
	ip := clientIP(r)
	if d := g.public.pages.Allow(throttle.Key(ip), g.now()); d > 0 {
		g.shareLimited(w, d, "Too many requests from your network address. Wait a little, then try again.")
		return
	}
	tok := r.PathValue("token")
	if token.Parse(token.Share, tok) != nil {
		g.sharePage(w, http.StatusNotFound, "This link does not exist. Check that it was copied whole, or ask its owner for a new one.", "")
		return
	}
	sh, ok := g.shareFromCookie(r, tok)
	if !ok {
		pw := ""
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxPublicBody)
			r.ParseForm()
			pw = r.PostForm.Get("password")
		}
		if pw != "" {
			if d := g.public.passwords.Allow(throttle.Key(ip), g.now()); d > 0 {
				g.shareLimited(w, d, "Too many passwords tried from your network address. Wait a little, then try again.")
				return
			}
		}
		var err error
		var wrong *share.WrongPasswordError
		var locked *share.LockedError
		var busy *password.BusyError
		sh, err = g.shares.Open(tok, pw, ip, "open "+r.URL.Path[len("/s/")+len(tok):])
		switch {
		case errors.Is(err, share.ErrPasswordRequired):
			g.sharePage(w, http.StatusUnauthorized, "This link is protected by a password.", "form")
			return
		case errors.As(err, &wrong):
			g.sharePasswordFailed(wrong.ID, ip, wrong.Failures, nil)
			g.sharePage(w, http.StatusUnauthorized, "Wrong password. Try again.", "form")
			return
		case errors.As(err, &locked):
			if locked.New {
				g.sharePasswordFailed(locked.ID, ip, locked.Failures, locked)
			}
			w.Header().Set("Retry-After", strconv.Itoa(locked.RetryAfter()))
			g.sharePage(w, http.StatusTooManyRequests, "Too many wrong passwords: this link is locked for "+
				strings.TrimSpace(humanize.RelTime(g.now(), locked.Until, "", ""))+". Try again then, or ask its owner for the password.", "")
			return
		case errors.As(err, &busy):
			g.shareLimited(w, time.Duration(busy.RetryAfter())*time.Second, "The box is busy checking other passwords. Wait a little, then try again.")
			return
		case errors.Is(err, share.ErrNotFound), errors.Is(err, share.ErrExpired), errors.Is(err, share.ErrRevoked), errors.Is(err, share.ErrUsedUp):
			g.sharePage(w, http.StatusNotFound, err.Error(), "")
			return
		case err != nil: // the box's fault (a full state disk): its text names the box's paths
			g.log.Error("opening a share link", "err", err)
			w.Header().Set("Retry-After", "60")
			g.sharePage(w, http.StatusServiceUnavailable, "This link cannot be opened right now. Try again later.", "")
			return
		}
		g.recordAs("link:"+sh.ID, ip, audit.ActionShareUsed, sh.ID, map[string]string{"owner": sh.Owner})
		http.SetCookie(w, &http.Cookie{Name: shareCookie, Value: g.shareCookieValue(tok, sh.ID, g.now().Add(shareCookieTTL)),
			Path: "/s/" + tok, MaxAge: int(shareCookieTTL.Seconds()), HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		if r.Method == http.MethodPost { // after the password form: back to a GET
			http.Redirect(w, r, "/s/"+tok, http.StatusSeeOther)
			return
		}
	}
	g.serveShared(w, r, tok, sh)
}

// shareLimited answers 429 to an address over a limit.
func (g *Gateway) shareLimited(w http.ResponseWriter, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	g.sharePage(w, http.StatusTooManyRequests, msg, "")
}

// alertShareLocked is the kind of alert a locked share link raises; it
// goes to those who may share in the link's space (spaceAlertAction).
const alertShareLocked = "share-locked"

// sharePasswordFailed writes a wrong link password to the audit log (the
// share store has put it in the link's access log), and a lock it set
// too, with an alert naming the link for those who may share in its
// space: its owner among them, not those who may only read the space.
func (g *Gateway) sharePasswordFailed(id, ip string, failures int, lock *share.LockedError) {
	g.recordAs("link:"+id, ip, actionSharePasswordFailed, id, map[string]string{"failures": itoa(failures)})
	if lock == nil {
		return
	}
	g.recordAs("link:"+id, ip, actionShareLocked, id, map[string]string{"failures": itoa(failures),
		"until": lock.Until.UTC().Format(time.RFC3339), "for": lock.Wait.String()})
	if g.d == nil {
		return
	}
	sh, err := g.shares.Get(id)
	if err != nil {
		return
	}
	g.d.Alerts().RaiseIn(sh.Space, alertShareLocked, alertShareLocked+"/"+id, appliance.Warning,
		fmt.Sprintf("Share link %s was locked after %d wrong passwords", id, failures),
		fmt.Sprintf("Someone tried %d wrong passwords in a row on %s's share link %s (space %q), the last from %s; "+
			"the link is locked for %s and each further wrong password locks it twice as long, up to a day. "+
			"If you did not expect this, revoke the link (DELETE /v1/shares/%s) and share again with a generated password.",
			failures, sh.Owner, id, sh.Space, ip, lock.Wait, id))
}

// shareCookieValue is "id.expiry.hmac" under the box key; the MAC also
// covers the link's token, so the cookie opens that link only.
func (g *Gateway) shareCookieValue(tok, id string, exp time.Time) string {
	msg := id + "." + strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, g.boxKey)
	m.Write([]byte("share-cookie\n" + token.Hash(tok) + "\n" + msg))
	return msg + "." + hex.EncodeToString(m.Sum(nil))
}

// shareFromCookie returns the link a valid cookie vouches for, re-checked
// against the store (revoked and expired links stop at once).
func (g *Gateway) shareFromCookie(r *http.Request, tok string) (share.Share, bool) {
	c, err := r.Cookie(shareCookie)
	if err != nil {
		return share.Share{}, false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return share.Share{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || g.now().Unix() > exp {
		return share.Share{}, false
	}
	if !hmac.Equal([]byte(g.shareCookieValue(tok, parts[0], time.Unix(exp, 0))), []byte(c.Value)) {
		return share.Share{}, false
	}
	sh, err := g.shares.Get(parts[0])
	if err != nil || sh.Revoked || !g.now().Before(sh.Expires) {
		return share.Share{}, false
	}
	return sh, true
}

// serveShared shows the shared folder or file at the request's sub-path.
// Paths shown (page titles, zip entries, the access log) are relative to
// the link: a whole-snapshot link shows its space's folder, named by the
// space; no path on the box is ever shown.
func (g *Gateway) serveShared(w http.ResponseWriter, r *http.Request, tok string, sh share.Share) {
	ctx := r.Context()
	if !g.ownerMayShare(sh) {
		g.sharePage(w, http.StatusNotFound, "This item is no longer available.", "")
		return
	}
	rel := cleanPath(r.PathValue("path"))
	if sh.Target.Kind == share.File && rel != "/" {
		g.sharePage(w, http.StatusNotFound, "Not part of this link.", "")
		return
	}
	it, err := g.sharedNode(ctx, sh, rel)
	if err != nil {
		g.sharePage(w, http.StatusNotFound, "This item is no longer available.", "")
		return
	}
	n := it.node
	mode := r.URL.Query().Get("as")
	zip, download := n.Type == "dir" && mode == "zip", n.Type == "file" && mode == "download"
	if (zip || download) && !sh.Download {
		g.sharePage(w, http.StatusForbidden, "Downloads are turned off for this link; it shows previews only.", "")
		return
	}
	switch {
	case zip:
		g.shareAccess(sh, r, "zip "+rel)
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", it.name+".zip"))
		writeZip(ctx, g.d.Repository(), it.snap, it.path, it.name, w)
	case n.Type == "dir":
		g.shareListing(w, r, tok, sh, it, rel)
	case n.Type == "file" && mode == "preview":
		g.sharePreview(w, r, n)
	case download:
		g.shareAccess(sh, r, "download "+rel)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", n.Name))
		w.Header().Set("Content-Length", strconv.FormatUint(n.Size, 10))
		g.d.Repository().Dump(ctx, n, w)
	default:
		g.shareFile(w, tok, sh, n, rel)
	}
}

func (g *Gateway) shareAccess(sh share.Share, r *http.Request, what string) {
	g.recordAs("link:"+sh.ID, clientIP(r), audit.ActionDownload, sh.ID, map[string]string{"what": what})
}

// sharedItem is what a link's sub-path names.
type sharedItem struct {
	snap *vault.Snapshot
	node *vault.Node
	path string // in the snapshot: never shown
	name string // what the page and a zip call it
}

// sharedNode finds rel (relative to the link) in the link's snapshot.
func (g *Gateway) sharedNode(ctx context.Context, sh share.Share, rel string) (sharedItem, error) {
	id, err := vault.ParseID(sh.Target.Snapshot)
	if err != nil {
		return sharedItem{}, err
	}
	repo, err := g.repository()
	if err != nil {
		return sharedItem{}, err
	}
	sn, err := repo.LoadSnapshot(ctx, id)
	if err != nil {
		return sharedItem{}, err
	}
	p := path.Join(linkRoot(sh, sn), rel)
	n, err := repo.Lookup(ctx, sn.Tree, p)
	if err != nil {
		return sharedItem{}, err
	}
	name := path.Base(p)
	if sh.Target.Kind == share.Snapshot && rel == "/" {
		name = cmp.Or(sh.Space, "snapshot-"+sn.ID().Short())
	}
	return sharedItem{snap: sn, node: n, path: p, name: name}, nil
}

var shareTmpl = template.Must(template.New("share").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Shared with you — Shoebox</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
a{color:#0645ad}li{margin:.3rem 0}.muted{color:#666}img{max-width:100%;height:auto}</style></head><body>
<h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Form}}<form method="post"><label>Password <input type="password" name="password" autofocus required></label> <button>Open</button></form>{{end}}
{{if .Items}}<ul>{{range .Items}}<li><a href="{{.Href}}">{{.Name}}</a> <span class="muted">{{.Info}}</span></li>{{end}}</ul>{{end}}
{{if .Preview}}<p><img src="{{.Preview}}" alt="preview"></p>{{end}}
{{if .Download}}<p><a href="{{.Download}}">Download</a></p>{{end}}
<p class="muted">Shared privately from a Shoebox. The link expires {{.Expires}}.</p>
</body></html>`))

type shareView struct {
	Title, Message    string
	Form              bool
	Items             []shareItem
	Preview, Download string
	Expires           string
}

type shareItem struct{ Name, Href, Info string }

func (g *Gateway) sharePage(w http.ResponseWriter, code int, msg, form string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	shareTmpl.Execute(w, shareView{Title: "Shared link", Message: msg, Form: form == "form", Expires: "when its owner says"})
}

func (g *Gateway) shareListing(w http.ResponseWriter, r *http.Request, tok string, sh share.Share, it sharedItem, rel string) {
	tree, err := g.d.Repository().LoadTree(r.Context(), *it.node.Subtree)
	if err != nil {
		g.sharePage(w, http.StatusInternalServerError, "This folder cannot be read right now.", "")
		return
	}
	base := "/s/" + tok
	v := shareView{Title: it.name, Expires: sh.Expires.Format("2 January 2006")}
	if rel != "/" {
		v.Items = append(v.Items, shareItem{Name: "↑ up", Href: base + path.Dir(rel)})
	}
	for _, c := range tree.Nodes {
		href := base + path.Join(rel, c.Name)
		info := ""
		if c.Type == "file" {
			info = humanize.IBytes(c.Size)
		}
		v.Items = append(v.Items, shareItem{Name: c.Name, Href: href, Info: info})
	}
	if sh.Download {
		v.Download = base + rel + "?as=zip"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	shareTmpl.Execute(w, v)
}

func (g *Gateway) shareFile(w http.ResponseWriter, tok string, sh share.Share, n *vault.Node, rel string) {
	self := "/s/" + tok + strings.TrimSuffix(rel, "/")
	if rel == "/" {
		self = "/s/" + tok
	}
	v := shareView{Title: n.Name, Message: humanize.IBytes(n.Size), Preview: self + "?as=preview", Expires: sh.Expires.Format("2 January 2006")}
	if sh.Download {
		v.Download = self + "?as=download"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	shareTmpl.Execute(w, v)
}

// pageTmpl is the box's own pages (the pairing page, the front page):
// the share pages' look, their own title and footer.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}} — Shoebox</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
a{color:#0645ad}li{margin:.3rem 0}.muted{color:#666}</style></head><body>
<h1>{{.Title}}</h1>
{{range .Paras}}<p>{{.}}</p>
{{end}}{{if .Links}}<ul>{{range .Links}}<li><a href="{{.Href}}">{{.Name}}</a> <span class="muted">{{.Info}}</span></li>{{end}}</ul>
{{end}}<p class="muted">{{.Footer}}</p>
</body></html>`))

// pageView is what pageTmpl shows; Paras may hold template.HTML.
type pageView struct {
	Title  string
	Paras  []any
	Links  []shareItem
	Footer string
}

// boxPage writes one of the box's own pages with the share pages'
// security headers (no script, no frames, no referrer).
func boxPage(w http.ResponseWriter, v pageView) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTmpl.Execute(w, v)
}

// pairPage is where a pairing link lands when opened in a browser rather
// than the app: the code and pin stay in the URL fragment (never sent to
// the server) and the page says what to do.
func (g *Gateway) pairPage(w http.ResponseWriter, r *http.Request) {
	boxPage(w, pageView{Title: "Pair your phone",
		Paras: []any{
			template.HTML("Open this link with the Shoebox app: on the box, <code>shoebox pair-phone</code> prints a QR code to scan."),
			"The app checks the box's certificate against the pin in the link, then signs in with the one-time code.",
		},
		Footer: "A pairing link works once, within ten minutes of being made; ask the box's owner for a new one when it has expired."})
}

// frontPage is / until the web UI lands: the box's name, version and
// state, and where to go next. It shows nothing secret: no token, no
// path, no serial number.
func (g *Gateway) frontPage(w http.ResponseWriter, r *http.Request) {
	name, _ := os.Hostname()
	state := "starting"
	if g.d != nil {
		state = "healthy"
		if why := g.d.NotReady(); why != "" {
			state = "not ready: " + why
		} else if a := g.d.DiskArray(); a != nil && a.Status().State == raid.ArrayDegraded {
			state = "degraded: a disk is missing or data is short of redundancy; see shoebox status"
		}
	}
	boxPage(w, pageView{Title: "Shoebox " + name,
		Paras: []any{"Shoebox version " + appliance.Version + ". State: " + state + "."},
		Links: []shareItem{
			{Name: "Pair a phone", Href: "/pair", Info: "run shoebox pair-phone on the box and scan its QR code with the Shoebox app"},
			{Name: "API description (OpenAPI)", Href: "/openapi.json", Info: "the REST API; docs/GATEWAY.md in the source explains it"},
			{Name: "Health", Href: "/healthz", Info: "for monitoring"},
		},
		Footer: "This box has no web interface yet: use the Shoebox app or the shoebox command."})
}
