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
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/raid"
)

// server is the daemon's one HTTPS listener: /healthz (no auth), /metrics
// (loopback, or a bearer scrape token), and everything else from the API
// (Daemon.API: the gateway, with its own authentication; the CLI on the
// box uses the local API token, accepted from loopback only).
type server struct {
	d     *Daemon
	token string
	srv   *http.Server
	ln    net.Listener // bound by newServer; Serve takes it (a restart binds anew)
	api   Service      // the gateway's housekeeping, supervised with the listener
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
	if d.API != nil {
		h, svc, err := d.API(d, APIEnv{CertDER: cert.Certificate[0], LocalToken: token, Dir: d.statePath("gateway")})
		if err != nil {
			return nil, fmt.Errorf("API: %w", err)
		}
		mux.Handle("/", h)
		s.api = svc
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			httpError(w, http.StatusNotFound, "this shoeboxd serves no API (built without the gateway)")
		})
	}
	// A slow client cannot hold a connection forever: 10 s for the
	// headers, 5 min for a body (an upload chunk over poor Wi-Fi), 2 min
	// idle. No write timeout: streams and downloads last.
	s.srv = &http.Server{Addr: d.Config.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute,
		TLSConfig: tlsConfig(cert)}
	// Bound now, so that a port in use fails the start and the start
	// line names the address the listener got (listen: HOST:0 in tests).
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		if c, ok := s.api.(io.Closer); ok {
			c.Close()
		}
		return nil, fmt.Errorf("listen %s: %w (set listen in the config to a free address)", s.srv.Addr, err)
	}
	s.ln = ln
	d.listenAddr.Store(ln.Addr().String())
	return s, nil
}

// tlsConfig is the HTTPS port's TLS: 1.3 as Go offers it, and 1.2 with
// forward-secret key exchange (ECDHE) and AEAD ciphers only (AES-GCM,
// ChaCha20-Poly1305). CBC-mode suites (Lucky13-style padding oracles,
// SHA-1 MACs) and static-RSA key exchange are never negotiated, whatever
// a client offers. Every phone and browser of the last ten years speaks
// one of these; Mozilla's "intermediate" profile is the same set.
func tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{ // TLS 1.2 only; TLS 1.3's suites are all AEAD
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		}}
}

// Serve implements Service.
func (s *server) Serve(ctx context.Context) error {
	ln := s.ln
	s.ln = nil
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.srv.Addr); err != nil {
			return fmt.Errorf("listen %s: %w", s.srv.Addr, err)
		}
		s.d.listenAddr.Store(ln.Addr().String())
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
	if ps := s.d.Problems(); len(ps) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "problem: %s\n", strings.Join(ps, "\nproblem: "))
		return
	}
	var notes []string
	if a := s.d.Array; a != nil {
		if st := a.Status(); st.State != raid.ArrayHealthy {
			notes = append(notes, fmt.Sprintf("array %s: %d objects short of redundancy", st.State, st.Degraded))
		}
	}
	if s.d.API != nil && s.d.Config.PublicURL == "" {
		notes = append(notes, "public_url unset: "+PublicURLAdvice)
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "ok (%s)\n", strings.Join(notes, "; "))
		return
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

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
