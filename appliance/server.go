package appliance

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shoebox/shoebox/internal/atomicfile"
)

// server is the daemon's one HTTPS listener: /healthz (no auth), /metrics
// (loopback, or a bearer scrape token), and the local API the CLI uses
// (loopback and the local API token; the gateway adds users, roles and
// the phone on the same port).
type server struct {
	d     *Daemon
	token string
	srv   *http.Server
}

// TLS and token files in the state directory.
const (
	certFile  = "tls/cert.pem"
	keyFile   = "tls/key.pem"
	tokenFile = "api-token"
)

func (d *Daemon) newServer() (*server, error) {
	cert, err := d.certificate()
	if err != nil {
		return nil, err
	}
	token, err := d.apiToken()
	if err != nil {
		return nil, err
	}
	s := &server{d: d, token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.scrapeOnly(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /v1/status", s.local(s.status))
	mux.HandleFunc("GET /v1/sources", s.local(s.listSources))
	mux.HandleFunc("POST /v1/sources/{name}/run", s.local(s.runSource))
	mux.HandleFunc("GET /v1/alerts", s.local(s.listAlerts))
	mux.HandleFunc("POST /v1/alerts/{id}/ack", s.local(s.ackAlert))
	mux.HandleFunc("GET /v1/alerts/stream", s.local(s.streamAlerts))
	for _, h := range d.extraRoutes {
		mux.HandleFunc(h.pattern, s.local(h.fn))
	}
	s.srv = &http.Server{Addr: d.Config.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	return s, nil
}

// Serve implements Service.
func (s *server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.srv.Addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.ServeTLS(ln, "", "") }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.srv.Shutdown(sctx)
		return ctx.Err()
	case err := <-errc:
		return err
	}
}

// certificate loads the box's self-signed certificate, making one (ECDSA
// P-256, ten years) on first start.
func (d *Daemon) certificate() (tls.Certificate, error) {
	cp, kp := d.statePath(certFile), d.statePath(keyFile)
	if c, err := tls.LoadX509KeyPair(cp, kp); err == nil {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Shoebox " + host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", host}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(cp, kp)
}

// apiToken loads (or makes) the local API token, readable by root only.
func (d *Daemon) apiToken() (string, error) {
	p := d.statePath(tokenFile)
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [32]byte
	rand.Read(b[:])
	tok := "sbx_" + hex.EncodeToString(b[:])
	return tok, atomicfile.WriteFile(p, []byte(tok+"\n"), 0o600)
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if why := s.d.NotReady(); why != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", why)
		return
	}
	if a := s.d.Array; a != nil {
		if st := a.Status(); st.State != "healthy" {
			fmt.Fprintf(w, "ok (array %s: %d objects short of redundancy)\n", st.State, st.Degraded)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func tokenOK(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// scrapeOnly answers loopback clients and holders of the scrape token.
func (s *server) scrapeOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(r) && !tokenOK(bearer(r), s.d.Config.MetricsToken) {
			httpError(w, http.StatusForbidden, "metrics are served to loopback, or with the scrape token (metrics_token)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// local guards the local API: loopback only, with the API token.
func (s *server) local(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(r) {
			httpError(w, http.StatusForbidden, "the local API answers only on this box; use the gateway from elsewhere")
			return
		}
		if !tokenOK(bearer(r), s.token) {
			httpError(w, http.StatusUnauthorized, "missing or wrong API token (root can read it from the state directory's api-token file)")
			return
		}
		h(w, r)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Status is the box at a glance.
type Status struct {
	Ready   string         `json:"ready"`
	Array   any            `json:"array,omitempty"`
	Sources []SourceStatus `json:"sources"`
	// Operations are the long operations in progress (and those
	// finished within the last minute).
	Operations []Operation `json:"operations"`
	Alerts     []Alert     `json:"alerts"`
	Recovery   string      `json:"recovery_identity_file,omitempty"`
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{Ready: "ok", Alerts: s.d.Bus.List(false), Operations: s.d.Operations(), Recovery: s.d.recovery}
	if why := s.d.NotReady(); why != "" {
		st.Ready = why
	}
	if s.d.Array != nil {
		st.Array = s.d.Array.Status()
	}
	for _, sc := range s.d.Config.Sources {
		if src := s.d.sources[sc.Name]; src != nil {
			st.Sources = append(st.Sources, src.Status())
		}
	}
	if st.Alerts == nil {
		st.Alerts = []Alert{}
	}
	writeJSON(w, st)
}

func (s *server) listSources(w http.ResponseWriter, r *http.Request) {
	out := []SourceStatus{}
	for _, sc := range s.d.Config.Sources {
		if src := s.d.sources[sc.Name]; src != nil {
			out = append(out, src.Status())
		}
	}
	writeJSON(w, out)
}

func (s *server) runSource(w http.ResponseWriter, r *http.Request) {
	src := s.d.sources[r.PathValue("name")]
	if src == nil {
		httpError(w, http.StatusNotFound, fmt.Sprintf("no source %q", r.PathValue("name")))
		return
	}
	src.Trigger()
	w.WriteHeader(http.StatusAccepted)
	writeJSON(w, map[string]string{"status": "started"})
}

func (s *server) listAlerts(w http.ResponseWriter, r *http.Request) {
	out := s.d.Bus.List(r.URL.Query().Get("all") != "")
	if out == nil {
		out = []Alert{}
	}
	writeJSON(w, out)
}

func (s *server) ackAlert(w http.ResponseWriter, r *http.Request) {
	if !s.d.Bus.Ack(r.PathValue("id")) {
		httpError(w, http.StatusNotFound, "no such alert")
		return
	}
	writeJSON(w, map[string]string{"status": "acknowledged"})
}

// streamAlerts pushes alerts as server-sent events: the phone's push
// channel (it can also poll /v1/alerts).
func (s *server) streamAlerts(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ch := s.d.Bus.Subscribe(16)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case a := <-ch:
			b, _ := json.Marshal(a)
			fmt.Fprintf(w, "event: alert\ndata: %s\n\n", b)
			fl.Flush()
		case <-time.After(30 * time.Second):
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}
