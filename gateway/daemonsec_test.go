package gateway

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Security tests of the daemon side of the API: what sources may read,
// where restores write, what each role sees, and the TLS the box offers.
// Each reproduces an attack from issue 12 against a real daemon and
// gateway on loopback.

// TestSecurityDiskHistoryUnknown: a disk the box does not know is a 404
// naming it, not a server error.
func TestSecurityDiskHistoryUnknown(t *testing.T) {
	b := newTestBox(t)
	own := b.owner()
	code, raw := b.do("GET", "/v1/disks/WD-NOSUCHDISK/history", own, nil)
	var body struct {
		Error, Code string
		Status      int
	}
	json.Unmarshal(raw, &body)
	if code != http.StatusNotFound || body.Code != "NotFound" || !strings.Contains(body.Error, "WD-NOSUCHDISK") {
		t.Errorf("history of an unknown disk: HTTP %d %s, want 404 naming the disk", code, raw)
	}
	// An array member without SMART data has an empty history.
	var disks struct{ Disks []struct{ ID string } }
	b.must("GET", "/v1/disks", own, nil, &disks)
	if len(disks.Disks) == 0 {
		t.Fatal("no disks")
	}
	wantCode(t, b, http.StatusOK, "GET", "/v1/disks/"+disks.Disks[0].ID+"/history", own, nil)
}

// TestSecurityTLSNoCBC: the box's HTTPS port refuses a client that
// offers only CBC-mode suites with SHA-1 MACs, and serves one offering
// AEAD suites (TLS 1.2) or TLS 1.3.
func TestSecurityTLSNoCBC(t *testing.T) {
	b := newTestBox(t)
	addr := strings.TrimPrefix(b.base, "https://")
	dial := func(cfg *tls.Config) error {
		cfg.RootCAs = b.pool
		cfg.ServerName = "localhost"
		c, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
	}{
		{"cbc-sha1", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}}, false},
		{"cbc-sha256", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}, false},
		{"gcm", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"chacha20", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"tls13", &tls.Config{MinVersion: tls.VersionTLS13}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dial(tc.cfg)
			if tc.wantOK && err != nil {
				t.Errorf("handshake failed: %v", err)
			}
			if !tc.wantOK && err == nil {
				t.Error("the box accepted a client offering only CBC suites")
			}
		})
	}
}
