package gateway

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/internal/testcorpus"
)

// mediaPhotos reads the named files of the media corpus (testcorpus),
// checked against the SHA-256 in its MANIFEST.tsv, keyed by base name.
func mediaPhotos(t *testing.T, paths ...string) map[string][]byte {
	t.Helper()
	mediaDir := testcorpus.Media(t)
	f, err := os.Open(filepath.Join(mediaDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) > 13 {
			sums[cols[0]] = cols[13]
		}
	}
	out := map[string][]byte{}
	for _, p := range paths {
		want, ok := sums[p]
		if !ok {
			t.Fatalf("%s is not in the media manifest", p)
		}
		data, err := os.ReadFile(filepath.Join(mediaDir, p))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != want {
			t.Fatalf("%s: SHA-256 %x, manifest says %s", p, got, want)
		}
		out[path.Base(p)] = data
	}
	return out
}

// The photos the share tests use: altitude.jpg is 2112×1584 with GPS
// (its preview must shrink and lose the position), GPS.jpg small with
// GPS, Canon_40D.jpg small with camera EXIF.
var sharePhotos = []string{
	"photoprism/internal/meta/testdata/altitude.jpg",
	"exiftool/t/images/GPS.jpg",
	"exif-py/tests/resources/jpg/Canon_40D.jpg",
}

// visitor is someone who follows a share link in a browser: their own
// cookie jar, no redirects followed.
type visitor struct {
	b *testBox
	c *http.Client
}

func (b *testBox) newVisitor() *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return &visitor{b: b, c: &http.Client{Jar: jar, Transport: b.client.Transport, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// send makes a request on the public side and checks the headers every
// public answer carries.
func (v *visitor) send(req *http.Request) (*http.Response, []byte) {
	v.b.t.Helper()
	resp, err := v.c.Do(req)
	if err != nil {
		v.b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		v.b.t.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		v.b.t.Errorf("%s %s (HTTP %d): Referrer-Policy %q, want no-referrer", req.Method, req.URL.Path, resp.StatusCode, got)
	}
	return resp, body
}

func (v *visitor) get(p string) (*http.Response, []byte) {
	v.b.t.Helper()
	req, err := http.NewRequest("GET", v.b.base+p, nil)
	if err != nil {
		v.b.t.Fatal(err)
	}
	return v.send(req)
}

func (v *visitor) password(tok, pw string) (*http.Response, []byte) {
	v.b.t.Helper()
	req, err := http.NewRequest("POST", v.b.base+"/s/"+tok, strings.NewReader(url.Values{"password": {pw}}.Encode()))
	if err != nil {
		v.b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.send(req)
}

// wantStatus fails the test unless resp has status code.
func wantStatus(t *testing.T, what string, resp *http.Response, body []byte, code int) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("%s: HTTP %d, want %d: %.300s", what, resp.StatusCode, code, body)
	}
}

type createdShare struct {
	URL   string
	Token string
	Share struct {
		ID       string
		Kind     string
		Password bool
		Download bool
		MaxUses  int `json:"max_uses"`
	}
}

// createShare makes a link as tok; req holds the CreateShareRequest fields.
func (b *testBox) createShare(tok string, req map[string]any) createdShare {
	b.t.Helper()
	var c createdShare
	b.must("POST", "/v1/shares", tok, req, &c)
	if !strings.HasPrefix(c.Token, "sbl_") || c.URL != b.base+"/s/"+c.Token || c.Share.ID == "" {
		b.t.Fatalf("created share: %+v", c)
	}
	return c
}

type auditRow struct {
	Seq               int64 `json:",string"`
	Actor, IP, Action string
	Target            string
	Detail            map[string]string
	Time              time.Time
}

func (b *testBox) auditEntries(tok, query string) []auditRow {
	b.t.Helper()
	var r struct{ Entries []auditRow }
	b.must("GET", "/v1/audit"+query, tok, nil, &r)
	return r.Entries
}

// TestShareLinkLifecycle follows a password-protected folder link from
// creation to revocation through the real public side: the password
// form, the listing, previews re-encoded without metadata, the exact
// originals, a zip, the access and audit logs.
func TestShareLinkLifecycle(t *testing.T) {
	t.Parallel()
	photos := mediaPhotos(t, sharePhotos...)
	b := newMemBox(t)
	own := b.owner()
	files := map[string][]byte{}
	for name, data := range photos {
		files["album/"+name] = data
	}
	files["other/not-shared.txt"] = []byte("outside the link")
	snap := b.backup(files)
	folder := b.family + "/album"

	c := b.createShare(own, map[string]any{"snapshot": snap, "path": folder, "password": "open sesame", "download": true})
	if c.Share.Kind != "folder" || !c.Share.Password || !c.Share.Download {
		t.Fatalf("share: %+v", c.Share)
	}
	link := "/s/" + c.Token

	// Without the password: the form. A wrong one: the form again.
	v := b.newVisitor()
	resp, body := v.get(link)
	wantStatus(t, "link without password", resp, body, http.StatusUnauthorized)
	if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte(`<form method="post"`)) ||
		!bytes.Contains(body, []byte(`name="password"`)) {
		t.Fatalf("link without password: want the password form, got %s", body)
	}
	resp, body = v.password(c.Token, "open says me")
	wantStatus(t, "wrong password", resp, body, http.StatusUnauthorized)
	if !bytes.Contains(body, []byte("Wrong password")) {
		t.Errorf("wrong password: %s", body)
	}
	if got := v.c.Jar.Cookies(resp.Request.URL); len(got) != 0 {
		t.Fatalf("wrong password gave cookies %v", got)
	}
	// Nothing under the link opens without the password either.
	for _, p := range []string{link + "/altitude.jpg?as=download", link + "?as=zip", link + "/GPS.jpg?as=preview"} {
		resp, body = b.newVisitor().get(p)
		wantStatus(t, p+" without password", resp, body, http.StatusUnauthorized)
	}

	// The right password: back to the link, with a cookie.
	resp, body = v.password(c.Token, "open sesame")
	wantStatus(t, "right password", resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != link {
		t.Errorf("after the password: Location %q, want %q", loc, link)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == shareCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.Path != link || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("share cookie: %+v", cookie)
	}
	if strings.Contains(cookie.Value, c.Token) {
		t.Fatal("the share cookie carries the link's token")
	}

	// The listing shows the folder's files, and only them.
	resp, body = v.get(link)
	wantStatus(t, "listing", resp, body, http.StatusOK)
	for name := range photos {
		if !bytes.Contains(body, []byte(">"+name+"<")) {
			t.Errorf("listing lacks %s:\n%s", name, body)
		}
	}
	if bytes.Contains(body, []byte("not-shared")) {
		t.Errorf("listing shows a file outside the link:\n%s", body)
	}
	if !bytes.Contains(body, []byte(link+"/?as=zip")) {
		t.Errorf("listing of a downloadable folder lacks the zip link:\n%s", body)
	}
	if resp.Header.Get("X-Robots-Tag") == "" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("listing headers: %v", resp.Header)
	}

	// A file's page, its preview and the original.
	resp, body = v.get(link + "/altitude.jpg")
	wantStatus(t, "file page", resp, body, http.StatusOK)
	if !bytes.Contains(body, []byte("altitude.jpg?as=preview")) || !bytes.Contains(body, []byte("altitude.jpg?as=download")) {
		t.Errorf("file page: %s", body)
	}
	for name, orig := range photos {
		if !bytes.Contains(orig, []byte("Exif\x00\x00")) {
			t.Fatalf("%s has no EXIF to begin with", name)
		}
		resp, body = v.get(link + "/" + name + "?as=preview")
		wantStatus(t, name+" preview", resp, body, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
			t.Errorf("%s preview: Content-Type %q", name, ct)
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s preview does not decode as JPEG: %v", name, err)
		}
		oc, _, err := image.DecodeConfig(bytes.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		if w > previewMax || h > previewMax {
			t.Errorf("%s preview is %d×%d, want at most %d px", name, w, h, previewMax)
		}
		if max(oc.Width, oc.Height) > previewMax && max(w, h) < previewMax/2 {
			t.Errorf("%s preview is %d×%d from %d×%d: shrunk too far", name, w, h, oc.Width, oc.Height)
		}
		if max(oc.Width, oc.Height) <= previewMax && (w != oc.Width || h != oc.Height) {
			t.Errorf("%s preview is %d×%d, want the original %d×%d", name, w, h, oc.Width, oc.Height)
		}
		if bytes.Contains(body, []byte("Exif")) || bytes.Contains(body, []byte{0xff, 0xe1}) {
			t.Errorf("%s preview still carries EXIF (APP1)", name)
		}
		if bytes.Equal(body, orig) {
			t.Errorf("%s preview is the original", name)
		}

		resp, body = v.get(link + "/" + name + "?as=download")
		wantStatus(t, name+" download", resp, body, http.StatusOK)
		if !bytes.Equal(body, orig) {
			t.Errorf("%s download: %d bytes differing from the original %d", name, len(body), len(orig))
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, name) {
			t.Errorf("%s download: Content-Disposition %q", name, cd)
		}
	}

	// The folder as a zip.
	resp, body = v.get(link + "?as=zip")
	wantStatus(t, "zip", resp, body, http.StatusOK)
	got := zipContents(t, body)
	if len(got) != len(photos) {
		t.Errorf("zip holds %d files, want %d: %v", len(got), len(photos), keysOf(got))
	}
	for name, orig := range photos {
		if !bytes.Equal(got["album/"+name], orig) {
			t.Errorf("zip: album/%s differs from the original (%d bytes, want %d)", name, len(got["album/"+name]), len(orig))
		}
	}

	// Paths outside the link are not served. (The daemon's router
	// answers unclean paths with a redirect to the cleaned path, which
	// drops the token; its answer is not the gateway's, so the headers
	// are not checked here.)
	for _, p := range []string{link + "/../other/not-shared.txt", link + "/%2e%2e/other/not-shared.txt?as=download", link + "/nope.jpg"} {
		resp, err := v.c.Get(b.base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || bytes.Contains(body, []byte("outside the link")) ||
			strings.Contains(resp.Header.Get("Location"), "not-shared") && strings.Contains(resp.Header.Get("Location"), c.Token) {
			t.Errorf("%s: HTTP %d, Location %q: %.200s", p, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}

	// The access log: the opening, from the visitor's address; the
	// audit log: created, used, and the downloads.
	var alog struct {
		Entries []struct{ IP, What string }
	}
	b.must("GET", "/v1/shares/"+c.Share.ID+"/log", own, nil, &alog)
	opens := 0
	for _, e := range alog.Entries {
		if e.IP != "127.0.0.1" {
			t.Errorf("access log entry %+v: want IP 127.0.0.1", e)
		}
		if strings.HasPrefix(e.What, "open") {
			opens++
		}
	}
	if opens != 1 {
		t.Errorf("access log: %+v; want one opening", alog.Entries)
	}
	downloads := 0
	for _, e := range alog.Entries {
		if strings.HasPrefix(e.What, "download") || strings.HasPrefix(e.What, "zip") {
			downloads++
		}
	}
	if downloads != len(photos)+1 {
		t.Errorf("access log: %+v; want the %d downloads and the zip", alog.Entries, len(photos))
	}
	var list struct {
		Shares []struct {
			ID   string
			Uses int
		}
	}
	b.must("GET", "/v1/shares", own, nil, &list)
	if len(list.Shares) != 1 || list.Shares[0].Uses != 1 {
		t.Errorf("shares: %+v; want one link used once", list.Shares)
	}

	// Revoked: the link and the visitor's cookie stop at once.
	b.must("DELETE", "/v1/shares/"+c.Share.ID, own, nil, nil)
	resp, body = v.get(link)
	wantStatus(t, "revoked link with its cookie", resp, body, http.StatusNotFound)
	resp, body = v.get(link + "/GPS.jpg?as=download")
	wantStatus(t, "download from a revoked link with its cookie", resp, body, http.StatusNotFound)
	resp, body = b.newVisitor().password(c.Token, "open sesame")
	wantStatus(t, "revoked link with the right password", resp, body, http.StatusNotFound)

	actions := map[string]int{}
	for _, e := range b.auditEntries(own, "?action=share.") {
		actions[e.Action]++
		if e.Target != c.Share.ID {
			t.Errorf("audit entry %+v: want target %s", e, c.Share.ID)
		}
	}
	for _, a := range []string{"share.created", "share.used", "share.revoked"} {
		if actions[a] != 1 {
			t.Errorf("audit: %d %s entries, want 1 (%v)", actions[a], a, actions)
		}
	}
	dl := 0
	for _, e := range b.auditEntries(own, "?action=download") {
		if e.Target == c.Share.ID && e.IP == "127.0.0.1" {
			dl++
		}
	}
	if dl != len(photos)+1 {
		t.Errorf("audit: %d downloads through the link, want %d", dl, len(photos)+1)
	}
	b.noTokenInAudit(c.Token)
}

// noTokenInAudit greps the raw audit log for secrets.
func (b *testBox) noTokenInAudit(secrets ...string) {
	b.t.Helper()
	raw, err := os.ReadFile(filepath.Join(b.state, "gateway", "audit", "audit.log"))
	if err != nil {
		b.t.Fatal(err)
	}
	if len(raw) == 0 {
		b.t.Fatal("empty audit log")
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			b.t.Errorf("the audit log holds the secret %.8s…", s)
		}
		// Nor its random part alone.
		if i := strings.IndexByte(s, '_'); i >= 0 && bytes.Contains(raw, []byte(s[i+1:i+20])) {
			b.t.Errorf("the audit log holds part of the secret %.8s…", s)
		}
	}
}

func zipContents(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("zip entry %s: %v", f.Name, err)
		}
		out[f.Name] = b
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestShareLinkViewOnly: a link with downloads off shows previews and
// pages, never the originals.
func TestShareLinkViewOnly(t *testing.T) {
	t.Parallel()
	photos := mediaPhotos(t, sharePhotos[0])
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"trip/altitude.jpg": photos["altitude.jpg"]})

	for _, tc := range []struct {
		name, path, file string
	}{
		{"folder", b.family + "/trip", "/altitude.jpg"},
		{"file", b.family + "/trip/altitude.jpg", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := b.createShare(own, map[string]any{"snapshot": snap, "path": tc.path, "download": false})
			link := "/s/" + c.Token
			v := b.newVisitor()
			resp, body := v.get(link)
			wantStatus(t, "open", resp, body, http.StatusOK)
			if bytes.Contains(body, []byte("as=zip")) || bytes.Contains(body, []byte("as=download")) {
				t.Errorf("a view-only page offers downloads:\n%s", body)
			}
			resp, body = v.get(link + tc.file)
			wantStatus(t, "file page", resp, body, http.StatusOK)
			if !bytes.Contains(body, []byte("as=preview")) || bytes.Contains(body, []byte("as=download")) {
				t.Errorf("view-only file page:\n%s", body)
			}
			resp, body = v.get(link + tc.file + "?as=preview")
			wantStatus(t, "preview", resp, body, http.StatusOK)
			if _, err := jpeg.Decode(bytes.NewReader(body)); err != nil {
				t.Errorf("preview: %v", err)
			}
			resp, body = v.get(link + tc.file + "?as=download")
			wantStatus(t, "download", resp, body, http.StatusForbidden)
			if bytes.Contains(body, photos["altitude.jpg"][:64]) {
				t.Error("the refusal carries the original")
			}
			if tc.name == "folder" {
				resp, body = v.get(link + "?as=zip")
				wantStatus(t, "zip", resp, body, http.StatusForbidden)
			}
		})
	}
}

// TestShareLinkLimits: expiry (with the gateway's clock), the cookie's
// own hour, max uses, revoke-all, and a token sent over plain HTTP.
func TestShareLinkLimits(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha"), "docs/b.txt": []byte("beta")})
	folder := b.family + "/docs"
	var secrets []string

	t.Run("expiry", func(t *testing.T) {
		c := b.createShare(own, map[string]any{"snapshot": snap, "path": folder, "download": true, "expires_days": 2})
		secrets = append(secrets, c.Token)
		link := "/s/" + c.Token
		v := b.newVisitor()
		resp, body := v.get(link)
		wantStatus(t, "open", resp, body, http.StatusOK)
		// The cookie lasts an hour; after it, the link opens again (one
		// more use).
		b.clock.Add(90 * time.Minute)
		resp, body = v.get(link + "/a.txt?as=download")
		wantStatus(t, "download after the cookie's hour", resp, body, http.StatusOK)
		if string(body) != "alpha" {
			t.Errorf("download: %q", body)
		}
		// Two days on, the link and its cookie are dead.
		b.clock.Add(47 * time.Hour)
		resp, body = v.get(link + "/a.txt?as=download")
		wantStatus(t, "download after expiry", resp, body, http.StatusNotFound)
		resp, body = b.newVisitor().get(link)
		wantStatus(t, "open after expiry", resp, body, http.StatusNotFound)
		if !bytes.Contains(body, []byte("expired")) {
			t.Errorf("expired link page: %s", body)
		}
	})

	t.Run("cookie dies with the link", func(t *testing.T) {
		c := b.createShare(own, map[string]any{"snapshot": snap, "path": folder, "download": true, "expires_days": 1})
		secrets = append(secrets, c.Token)
		v := b.newVisitor()
		resp, body := v.get("/s/" + c.Token)
		wantStatus(t, "open", resp, body, http.StatusOK)
		b.clock.Add(23*time.Hour + 30*time.Minute) // the link has 30 minutes left, the cookie an hour
		resp, body = v.get("/s/" + c.Token + "/b.txt?as=download")
		wantStatus(t, "before expiry", resp, body, http.StatusOK)
		b.clock.Add(40 * time.Minute)
		resp, body = v.get("/s/" + c.Token + "/b.txt?as=download")
		wantStatus(t, "cookie outliving the link", resp, body, http.StatusNotFound)
	})

	t.Run("max uses", func(t *testing.T) {
		c := b.createShare(own, map[string]any{"snapshot": snap, "path": folder, "download": true, "max_uses": 2})
		secrets = append(secrets, c.Token)
		for i := 0; i < 2; i++ {
			resp, body := b.newVisitor().get("/s/" + c.Token)
			wantStatus(t, "use", resp, body, http.StatusOK)
		}
		resp, body := b.newVisitor().get("/s/" + c.Token)
		wantStatus(t, "third use of a two-use link", resp, body, http.StatusNotFound)
		if !bytes.Contains(body, []byte("as many times")) {
			t.Errorf("used-up page: %s", body)
		}
	})

	t.Run("revoke all", func(t *testing.T) {
		var cs []createdShare
		var vs []*visitor
		for i := 0; i < 3; i++ {
			c := b.createShare(own, map[string]any{"snapshot": snap, "path": folder + "/a.txt", "download": true})
			secrets = append(secrets, c.Token)
			v := b.newVisitor()
			resp, body := v.get("/s/" + c.Token)
			wantStatus(t, "open", resp, body, http.StatusOK)
			cs, vs = append(cs, c), append(vs, v)
		}
		var list struct {
			Shares []struct{ Revoked bool }
		}
		b.must("GET", "/v1/shares", own, nil, &list)
		on := 0
		for _, s := range list.Shares {
			if !s.Revoked {
				on++
			}
		}
		var r struct{ Revoked int }
		b.must("POST", "/v1/shares/revoke-all", own, struct{}{}, &r)
		if r.Revoked != on || on < 3 {
			t.Errorf("revoke-all revoked %d, want %d (every link not yet revoked, expired or used up ones too)", r.Revoked, on)
		}
		for i, c := range cs {
			resp, body := vs[i].get("/s/" + c.Token + "?as=download")
			wantStatus(t, "revoked link with its cookie", resp, body, http.StatusNotFound)
		}
		b.must("GET", "/v1/shares", own, nil, &list)
		for _, s := range list.Shares {
			if !s.Revoked {
				t.Errorf("shares after revoke-all: %+v", list.Shares)
			}
		}
	})

	t.Run("plain HTTP", func(t *testing.T) {
		c := b.createShare(own, map[string]any{"snapshot": snap, "path": folder, "download": true})
		secrets = append(secrets, c.Token)
		v := b.newVisitor()
		resp, body := v.get("/s/" + c.Token)
		wantStatus(t, "open", resp, body, http.StatusOK)
		plain, err := http.Get(b.plain + "/s/" + c.Token + "/a.txt")
		if err != nil {
			t.Fatal(err)
		}
		pbody, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode != http.StatusForbidden || plain.Header.Get("Location") != "" || bytes.Contains(pbody, []byte(c.Token)) {
			t.Fatalf("share token over plain HTTP: HTTP %d, Location %q: %s", plain.StatusCode, plain.Header.Get("Location"), pbody)
		}
		resp, body = v.get("/s/" + c.Token + "/a.txt?as=download")
		wantStatus(t, "the exposed link, with its cookie", resp, body, http.StatusNotFound)
		resp, body = b.newVisitor().get("/s/" + c.Token)
		wantStatus(t, "the exposed link", resp, body, http.StatusNotFound)
		found := false
		for _, e := range b.auditEntries(own, "?action=share.revoked") {
			found = found || e.Target == c.Share.ID && strings.Contains(e.Detail["why"], "plain HTTP")
		}
		if !found {
			t.Error("no audit entry for the link revoked after plain HTTP")
		}
	})

	b.noTokenInAudit(secrets...)
}

// The security issue's share-link findings (docs/SECURITY.md), each an
// attack over real HTTPS against the harness.

// shareRow is a link as GET /v1/shares answers it.
type shareRow struct {
	ID             string
	Path           string
	Kind           string
	Owner          string
	Revoked        bool
	RevokedReason  string `json:"revoked_reason"`
	CredentialKind string `json:"credential_kind"`
	CredentialID   string `json:"credential_id"`
}

func (b *testBox) listShares(tok string) map[string]shareRow {
	b.t.Helper()
	var r struct{ Shares []shareRow }
	b.must("GET", "/v1/shares", tok, nil, &r)
	out := map[string]shareRow{}
	for _, s := range r.Shares {
		out[s.ID] = s
	}
	return out
}

// TestSecurityShareExpiresDaysNegative (finding 18): a negative or
// absurd expiry, or a negative use limit, is refused with a message that
// names the field, and makes no link; 0 still means the default.
func TestSecurityShareExpiresDaysNegative(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	for _, tc := range []struct {
		field string
		value int64
	}{
		{"expires_days", -1},
		{"expires_days", -30000},
		{"expires_days", 366},
		{"expires_days", 2147483647},
		{"max_uses", -1},
	} {
		req := map[string]any{"snapshot": snap, "path": b.family + "/docs", "download": true, tc.field: tc.value}
		code, body := b.do("POST", "/v1/shares", own, req)
		if code != http.StatusBadRequest || !bytes.Contains(body, []byte(tc.field)) {
			t.Errorf("%s %d: HTTP %d: %s; want 400 naming %s", tc.field, tc.value, code, body, tc.field)
		}
	}
	if l := b.listShares(own); len(l) != 0 {
		t.Fatalf("refused requests made links: %+v", l)
	}
	var c struct {
		Share struct{ Created, Expires time.Time }
	}
	b.must("POST", "/v1/shares", own, map[string]any{"snapshot": snap, "path": b.family + "/docs", "expires_days": 0}, &c)
	if d := c.Share.Expires.Sub(c.Share.Created); d != 30*24*time.Hour {
		t.Errorf("expires_days 0: the link lasts %s, want the default 30 days", d)
	}
}

// TestSecurityDeleteUserOtherCaseRevokesLinks (finding 23): deleting a
// person under a differently cased name revokes their links, and a new
// account that takes the name neither revives nor sees them.
func TestSecurityDeleteUserOtherCaseRevokesLinks(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	mia := b.user("mia", "admin", nil)
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	c := b.createShare(mia, map[string]any{"snapshot": snap, "path": b.family + "/docs", "download": true})
	resp, body := b.newVisitor().get("/s/" + c.Token + "/a.txt?as=download")
	wantStatus(t, "the link before", resp, body, http.StatusOK)

	b.must("DELETE", "/v1/users/Mia", own, nil, nil)
	resp, body = b.newVisitor().get("/s/" + c.Token + "/a.txt?as=download")
	wantStatus(t, "the link after its owner was deleted as \"Mia\"", resp, body, http.StatusNotFound)
	deleted := false
	for _, e := range b.auditEntries(own, "?action=delete") {
		deleted = deleted || e.Target == "user:Mia" && e.Detail["links_revoked"] == "1"
	}
	if !deleted {
		t.Errorf("audit: no delete entry with links_revoked 1: %+v", b.auditEntries(own, "?action=delete"))
	}

	// Someone new gets the name: the old link stays dead and is not theirs.
	mia2 := b.user("mia", "admin", nil)
	resp, body = b.newVisitor().get("/s/" + c.Token + "/a.txt?as=download")
	wantStatus(t, "the link after the name was taken again", resp, body, http.StatusNotFound)
	for id, s := range b.listShares(mia2) {
		if id == c.Share.ID && !s.Revoked {
			t.Errorf("the new mia's list shows the old mia's link as live: %+v", s)
		}
	}
	if l := b.listShares(own); !l[c.Share.ID].Revoked || l[c.Share.ID].RevokedReason == "" {
		t.Errorf("owner's view of the old link: %+v; want it revoked, saying why", l[c.Share.ID])
	}
}

// TestSecurityShareOutlivesCredential (finding 21): a link ends with the
// session or API key that made it when that credential is revoked or
// ended by a password change elsewhere; a plain sign-out keeps it. The
// list says which credential made each link.
func TestSecurityShareOutlivesCredential(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	s1 := b.user("mia", "admin", nil)
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	folder := b.family + "/docs"
	mk := func(tok string) createdShare {
		return b.createShare(tok, map[string]any{"snapshot": snap, "path": folder, "download": true})
	}
	works := func(what string, c createdShare, v *visitor, want int) {
		t.Helper()
		if v == nil {
			v = b.newVisitor()
		}
		resp, body := v.get("/s/" + c.Token + "/a.txt?as=download")
		wantStatus(t, what, resp, body, want)
	}

	// A session revoked from another device.
	l1, s1ID := mk(s1), b.currentSessionID(s1)
	v1 := b.newVisitor()
	works("link of session 1", l1, v1, http.StatusOK)
	s2 := b.login("mia", "password-of-mia", "")
	b.must("DELETE", "/v1/auth/sessions/"+s1ID, s2, nil, nil)
	works("link of the revoked session 1, with its cookie", l1, v1, http.StatusNotFound)
	works("link of the revoked session 1", l1, nil, http.StatusNotFound)

	// An API key, revoked.
	var key struct {
		Key  string
		Info struct{ ID string }
	}
	b.must("POST", "/v1/auth/apikeys", s2, map[string]any{"name": "script", "scopes": []string{"shares.manage"}}, &key)
	lk := mk(key.Key)
	works("link of the API key", lk, nil, http.StatusOK)
	b.must("DELETE", "/v1/auth/apikeys/"+key.Info.ID, s2, nil, nil)
	works("link of the revoked API key", lk, nil, http.StatusNotFound)

	// A session ended by a password change made on another device.
	s3 := b.login("mia", "password-of-mia", "")
	l3, s3ID := mk(s3), b.currentSessionID(s3)
	works("link of session 3", l3, nil, http.StatusOK)
	b.must("POST", "/v1/auth/password", s2, map[string]string{"old_password": "password-of-mia", "new_password": "a new password for mia"}, nil)
	works("link of session 3, ended by the password change", l3, nil, http.StatusNotFound)

	// A plain sign-out does not withdraw what was shared.
	s4 := b.login("mia", "a new password for mia", "")
	l4, s4ID := mk(s4), b.currentSessionID(s4)
	b.must("POST", "/v1/auth/logout", s4, struct{}{}, nil)
	works("link of a session that signed out", l4, nil, http.StatusOK)
	// Nor does the box's own token, which cannot be revoked.
	ll := mk(b.localToken())
	works("link of the local token", ll, nil, http.StatusOK)

	list := b.listShares(own)
	for _, tc := range []struct {
		c        createdShare
		kind, id string
		revoked  bool
	}{
		{l1, "session", s1ID, true},
		{lk, "apikey", key.Info.ID, true},
		{l3, "session", s3ID, true},
		{l4, "session", s4ID, false},
		{ll, "local", "", false},
	} {
		got := list[tc.c.Share.ID]
		if got.CredentialKind != tc.kind || got.CredentialID != tc.id || got.Revoked != tc.revoked {
			t.Errorf("link %s: credential %q %q, revoked %v; want %q %q, revoked %v", tc.c.Share.ID,
				got.CredentialKind, got.CredentialID, got.Revoked, tc.kind, tc.id, tc.revoked)
		}
		if tc.revoked && !strings.Contains(got.RevokedReason, tc.id) {
			t.Errorf("link %s: revoked_reason %q does not name the credential %s", tc.c.Share.ID, got.RevokedReason, tc.id)
		}
	}
	why := map[string]string{}
	for _, e := range b.auditEntries(own, "?action=share.revoked") {
		why[e.Target] = e.Detail["why"]
	}
	for _, c := range []createdShare{l1, lk, l3} {
		if why[c.Share.ID] == "" {
			t.Errorf("audit: no share.revoked entry with a reason for %s (%v)", c.Share.ID, why)
		}
	}
	b.noTokenInAudit(l1.Token, lk.Token, l3.Token, l4.Token, key.Key)
}

// TestSecurityShareLinkPasswordGuessing (finding 22): link passwords
// have a minimum length (or are generated); wrong ones lock the link for
// longer and longer, and only the right password clears the count; every
// failure and lock is in the link's access log and the audit log, a lock
// alerts the owner, and one address cannot hammer share pages.
func TestSecurityShareLinkPasswordGuessing(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	folder := b.family + "/docs"

	for _, pw := range []string{"1", "1234", "seven77"} {
		code, body := b.do("POST", "/v1/shares", own, map[string]any{"snapshot": snap, "path": folder, "password": pw})
		if code != http.StatusBadRequest || !bytes.Contains(body, []byte("at least 8")) {
			t.Errorf("password %q: HTTP %d: %s; want 400 asking for at least 8 characters", pw, code, body)
		}
	}
	var gen struct {
		Token    string
		Password string
		Share    struct{ Password bool }
	}
	b.must("POST", "/v1/shares", own, map[string]any{"snapshot": snap, "path": folder, "generate_password": true}, &gen)
	if len(gen.Password) < 16 || !gen.Share.Password {
		t.Fatalf("generated password %q (link has a password: %v); want at least 16 characters", gen.Password, gen.Share.Password)
	}
	resp, body := b.newVisitor().password(gen.Token, gen.Password)
	wantStatus(t, "the generated password", resp, body, http.StatusSeeOther)

	// The lock escalates and is not lifted by time alone.
	c := b.createShare(own, map[string]any{"snapshot": snap, "path": folder, "password": "correct horse"})
	try := func(what, pw string, code, retry int) {
		t.Helper()
		resp, body := b.newVisitor().password(c.Token, pw)
		wantStatus(t, what, resp, body, code)
		if got := resp.Header.Get("Retry-After"); retry > 0 && got != fmt.Sprint(retry) {
			t.Errorf("%s: Retry-After %q, want %d", what, got, retry)
		}
	}
	for i := range 4 {
		try(fmt.Sprintf("wrong password %d", i+1), "guess", http.StatusUnauthorized, 0)
	}
	try("wrong password 5", "guess", http.StatusTooManyRequests, 15*60)
	try("the right password while locked", "correct horse", http.StatusTooManyRequests, 15*60)
	b.clock.Add(15 * time.Minute)
	try("wrong password 6", "guess", http.StatusTooManyRequests, 30*60)
	b.clock.Add(30 * time.Minute)
	try("wrong password 7", "guess", http.StatusTooManyRequests, 60*60)
	b.clock.Add(3 * 24 * time.Hour) // time alone does not forgive
	try("wrong password 8, days later", "guess", http.StatusTooManyRequests, 2*60*60)
	b.clock.Add(2 * time.Hour)
	try("the right password", "correct horse", http.StatusSeeOther, 0)
	for i := range 4 {
		try(fmt.Sprintf("wrong password %d after a success", i+1), "guess", http.StatusUnauthorized, 0)
	}
	try("wrong password 5 after a success", "guess", http.StatusTooManyRequests, 15*60)

	// The link's access log and the audit log have every failure and lock.
	var alog struct {
		Entries []struct{ IP, What, Event string }
	}
	b.must("GET", "/v1/shares/"+c.Share.ID+"/log", own, nil, &alog)
	events := map[string]int{}
	for _, e := range alog.Entries {
		events[e.Event]++
		if e.IP != "127.0.0.1" {
			t.Errorf("access log entry %+v: want IP 127.0.0.1", e)
		}
	}
	if events["password_failed"] != 13 || events["locked"] != 5 {
		t.Errorf("access log events %v; want 13 password_failed and 5 locked", events)
	}
	audited := map[string]int{}
	for _, e := range b.auditEntries(own, "?action=share.") {
		if e.Target == c.Share.ID && e.IP == "127.0.0.1" {
			audited[e.Action]++
		}
	}
	if audited["share.password_failed"] != 13 || audited["share.locked"] != 5 {
		t.Errorf("audit %v; want 13 share.password_failed and 5 share.locked from 127.0.0.1", audited)
	}
	// The owner is alerted, by link ID, never by token.
	var alerts struct {
		Alerts []struct{ Kind, Subject, Message string }
	}
	b.must("GET", "/v1/alerts", own, nil, &alerts)
	alerted := false
	for _, a := range alerts.Alerts {
		if strings.Contains(a.Subject+a.Message, c.Share.ID) {
			alerted = true
			if strings.Contains(a.Subject+a.Message, c.Token[4:20]) {
				t.Errorf("alert carries the link's token: %+v", a)
			}
		}
	}
	if !alerted {
		t.Errorf("no alert names the locked link %s: %+v", c.Share.ID, alerts.Alerts)
	}
	b.noTokenInAudit(c.Token, gen.Token)

	// One address: password attempts are limited across links, before
	// any hashing; the links themselves are not locked by it.
	b.clock.Add(time.Hour)
	var links []createdShare
	for range 4 {
		links = append(links, b.createShare(own, map[string]any{"snapshot": snap, "path": folder, "password": "correct horse"}))
	}
	limited := 0
	for i := range 16 {
		resp, body := b.newVisitor().password(links[i%4].Token, "guess")
		switch resp.StatusCode {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte("address")) {
				t.Errorf("attempt %d: 429 without Retry-After or a word about the address: %s", i+1, body)
			}
		default:
			t.Fatalf("attempt %d: HTTP %d: %s", i+1, resp.StatusCode, body)
		}
	}
	if limited == 0 {
		t.Error("16 password attempts from one address at once: none was limited")
	}
	b.clock.Add(time.Minute)
	resp, body = b.newVisitor().password(links[0].Token, "correct horse")
	wantStatus(t, "a link after the address limit, with its password", resp, body, http.StatusSeeOther)

	// Pages too: one address cannot send requests without end.
	b.clock.Add(time.Hour)
	v := b.newVisitor()
	resp, body = v.get("/s/" + links[1].Token)
	wantStatus(t, "the password form", resp, body, http.StatusUnauthorized)
	for i := range 300 {
		resp, body = v.get("/s/" + links[1].Token)
		if resp.StatusCode == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte("address")) {
				t.Errorf("page %d: 429 without Retry-After or a word about the address: %s", i, body)
			}
			return
		}
	}
	t.Error("300 share pages from one address at once: none was limited")
}

// TestSecurityShareNoBoxPaths (finding 26, shares): a whole-snapshot link
// shows the source folder's contents named by its space, and no public
// page, zip entry, header or error, nor the share API, shows a path on
// the box.
func TestSecurityShareNoBoxPaths(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha"), "pics/b.txt": []byte("beta")})
	boxPath := strings.TrimPrefix(b.dir, "/") // what a leak would hold, with or without the leading slash
	leaks := func(what string, data []byte) {
		t.Helper()
		if bytes.Contains(data, []byte(boxPath)) {
			t.Errorf("%s shows the box path %s: %.400s", what, b.dir, data)
		}
	}

	c := b.createShare(own, map[string]any{"snapshot": snap, "download": true})
	link := "/s/" + c.Token
	v := b.newVisitor()
	resp, body := v.get(link)
	wantStatus(t, "whole-snapshot link", resp, body, http.StatusOK)
	leaks("the snapshot link's page", body)
	for _, want := range []string{"<h1>family</h1>", ">docs<", ">pics<"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the snapshot link's page lacks %s: it should show the family folder as \"family\":\n%s", want, body)
		}
	}
	resp, body = v.get(link + "/docs")
	wantStatus(t, "a folder in it", resp, body, http.StatusOK)
	leaks("a folder page", body)
	resp, body = v.get(link + "/docs/a.txt?as=download")
	wantStatus(t, "a file in it", resp, body, http.StatusOK)
	resp, body = v.get(link + "?as=zip")
	wantStatus(t, "the snapshot as a zip", resp, body, http.StatusOK)
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, `"family.zip"`) {
		t.Errorf("zip Content-Disposition %q, want family.zip", cd)
	}
	for name := range zipContents(t, body) {
		leaks("zip entry "+name, []byte(name))
		if !strings.HasPrefix(name, "family/") {
			t.Errorf("zip entry %q is not under family/", name)
		}
	}
	if got := zipContents(t, body)["family/docs/a.txt"]; string(got) != "alpha" {
		t.Errorf("zip entry family/docs/a.txt = %q", got)
	}
	for _, p := range []string{link + "/nope", link + "/docs/nope.txt?as=download", link + "/docs?as=zip&x=" + b.dir} {
		resp, body = v.get(p)
		leaks("the answer to "+p, body)
		for k, vs := range resp.Header {
			leaks("header "+k, []byte(strings.Join(vs, " ")))
		}
	}

	// The share API answers paths relative to the space, and takes them
	// that way too.
	f := b.createShare(own, map[string]any{"snapshot": snap, "path": "docs", "download": true})
	resp, body = b.newVisitor().get("/s/" + f.Token + "/a.txt?as=download")
	wantStatus(t, "a folder link made with a path relative to the space", resp, body, http.StatusOK)
	g := b.createShare(own, map[string]any{"snapshot": snap, "path": b.family + "/pics/b.txt", "download": true})
	list := b.listShares(own)
	for id, want := range map[string]string{c.Share.ID: "/", f.Share.ID: "/docs", g.Share.ID: "/pics/b.txt"} {
		if list[id].Path != want {
			t.Errorf("link %s: path %q, want %q (relative to the space)", id, list[id].Path, want)
		}
	}
	_, raw := b.do("GET", "/v1/shares", own, nil)
	leaks("GET /v1/shares", raw)
	_, raw = b.do("GET", "/v1/shares/"+c.Share.ID+"/log", own, nil)
	leaks("the snapshot link's access log", raw)
	code, raw := b.do("POST", "/v1/shares", own, map[string]any{"snapshot": snap, "path": "docs/nope.txt"})
	if code != http.StatusNotFound {
		t.Errorf("a missing path: HTTP %d: %s", code, raw)
	}
	leaks("the error for a missing path", raw)
}

// TestSharePasswordWhenKDFBusy: a link password tried while the box's
// password-hashing budget is full is answered 429 with Retry-After, not
// 404 ("this link does not exist"), and counts as no failure.
func TestSharePasswordWhenKDFBusy(t *testing.T) {
	// Not parallel: it sets password hashing's process-wide limits.
	b := newMemBox(t)
	own := b.owner()
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	c := b.createShare(own, map[string]any{"snapshot": snap, "path": b.family + "/docs", "password": "correct horse"})

	password.SetLimits(password.Limits{Memory: 1, Waiters: 4, Wait: 50 * time.Millisecond})
	t.Cleanup(func() { password.SetLimits(password.Limits{}) })
	release, err := password.Acquire(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := b.newVisitor().password(c.Token, "correct horse")
	release()
	wantStatus(t, "a link password while hashing is busy", resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte("busy")) {
		t.Errorf("busy answer: Retry-After %q, body %s; want a wait and the word busy", resp.Header.Get("Retry-After"), body)
	}
	resp, body = b.newVisitor().password(c.Token, "correct horse")
	wantStatus(t, "the right password once the box is free", resp, body, http.StatusSeeOther)
}

// TestShareLockAlertReachesItsOwner: the alert a locked link raises is
// filed under the link's space for those who may share there, so the
// member who made the link sees it (alerts without a space are for
// owners and admins only), as do the space's other sharers and the
// owner; a member of another space does not, nor do those who may only
// read the space: the alert names the visitor's address.
func TestShareLockAlertReachesItsOwner(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	mia := b.user("mia", "member", map[string]string{"family": "read,share"})
	other := b.user("otto", "member", map[string]string{"clients": "read"})
	sharer := b.user("sam", "member", map[string]string{"family": "read,share"})
	reader := b.user("rita", "member", map[string]string{"family": "read,write,restore"})
	viewer := b.user("vic", "viewer", map[string]string{"family": "read"})
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	c := b.createShare(mia, map[string]any{"snapshot": snap, "path": b.family + "/docs", "password": "correct horse"})
	for i := range 5 {
		b.newVisitor().password(c.Token, fmt.Sprintf("wrong guess %d", i))
	}
	sees := func(tok string) bool {
		var alerts struct {
			Alerts []struct{ Subject, Message string }
		}
		b.must("GET", "/v1/alerts", tok, nil, &alerts)
		for _, a := range alerts.Alerts {
			if strings.Contains(a.Subject+a.Message, c.Share.ID) {
				return true
			}
		}
		return false
	}
	if !sees(mia) {
		t.Error("the member whose link was locked does not see its alert")
	}
	if sees(other) {
		t.Error("a member of another space sees the locked link's alert")
	}
	for who, tok := range map[string]string{"the owner": own, "another member who may share in family": sharer} {
		if !sees(tok) {
			t.Errorf("%s does not see the locked link's alert", who)
		}
	}
	for who, tok := range map[string]string{"a viewer of family": viewer, "a member of family who may not share": reader} {
		if sees(tok) {
			t.Errorf("%s sees the locked link's alert, with the visitor's address", who)
		}
	}
}
