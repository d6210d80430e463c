package devid

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

// The identity files in a state directory.
const (
	KeyFile  = "key.pem"
	CertFile = "cert.pem"
)

// Identity is a unit's key, its self-signed certificate and the device
// ID derived from it.
type Identity struct {
	ID ID
	// Key signs the TLS handshakes and what the unit vouches for.
	Key ed25519.PrivateKey
	// Certificate is for tls.Config.Certificates (Leaf is set).
	Certificate tls.Certificate
}

// LoadOrCreate loads the identity kept in dir (KeyFile, CertFile), making
// a new key and certificate when neither file is there (dir is made 0700
// if missing). A missing CertFile beside a KeyFile is made again from the
// key: the device ID stays the same. A damaged file, a certificate that
// is not the key's, or a certificate without its key is an error that
// wraps ErrDamaged or fs.ErrNotExist, names the file and says what to
// do; nothing is written then. One process at a time may use dir: two
// that make an identity at once would each hold a different key.
func LoadOrCreate(dir string) (*Identity, error) {
	kp, cp := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	kb, err := os.ReadFile(kp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, cerr := os.Stat(cp); cerr == nil {
			return nil, fmt.Errorf("identity key %s is missing but its certificate %s is there: restore %s from a backup of the state directory (to start as a new unit instead, remove %s; the paired unit must then be paired again): %w",
				kp, cp, KeyFile, cp, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := writePEM(kp, "PRIVATE KEY", der); err != nil {
			return nil, err
		}
		return withCert(key, cp)
	case err != nil:
		return nil, fmt.Errorf("read identity key: %w", err)
	}
	key, err := parseKey(kb)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v; restore it from a backup of the state directory (to start as a new unit instead, remove %s and %s; the paired unit must then be paired again)",
			ErrDamaged, kp, err, kp, cp)
	}
	cb, err := os.ReadFile(cp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return withCert(key, cp)
	case err != nil:
		return nil, fmt.Errorf("read identity certificate: %w", err)
	}
	cert, err := parseCert(cb, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v; remove it: it is made again from %s on the next start, with the same device ID",
			ErrDamaged, cp, err, KeyFile)
	}
	return identity(key, cert), nil
}

// writePEM writes der as the one PEM block of the file p, 0600.
func writePEM(p, typ string, der []byte) error {
	if err := atomicfile.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write identity file: %w", err)
	}
	return nil
}

// readPEM returns the bytes of b's one PEM block, which must be of type
// typ.
func readPEM(b []byte, typ string) ([]byte, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != typ || len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("not one PEM %q block", typ)
	}
	return blk.Bytes, nil
}

func parseKey(b []byte) (ed25519.PrivateKey, error) {
	der, err := readPEM(b, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return key, nil
}

func parseCert(b []byte, key ed25519.PrivateKey) (*x509.Certificate, error) {
	der, err := readPEM(b, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if pub, ok := c.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("the certificate is not for the key in %s", KeyFile)
	}
	return c, nil
}

// withCert makes key's self-signed certificate, writes it to cp and
// returns the identity.
func withCert(key ed25519.PrivateKey, cp string) (*Identity, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	id := ofSPKI(spki)
	// Peers check the key's hash, never names, dates or an issuer: the
	// certificate says "no well-defined expiration" (RFC 5280, 4.1.2.5).
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Shoebox unit " + id.Short()},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writePEM(cp, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return identity(key, c), nil
}

func identity(key ed25519.PrivateKey, c *x509.Certificate) *Identity {
	return &Identity{ID: Of(c), Key: key,
		Certificate: tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}}
}
