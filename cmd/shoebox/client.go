package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// quickTimeout is how long a quick call to shoeboxd (status, a listing,
// adding a user) may take before the CLI gives up on it.
const quickTimeout = 30 * time.Second

// stateDir is where the box keeps its state (disk health history, …).
func stateDir() string {
	if d := os.Getenv("SHOEBOX_STATE_DIR"); d != "" {
		return d
	}
	return "/var/lib/shoebox"
}

// daemonClient talks to a running shoeboxd over its local API, trusting
// the box's own certificate from the state directory.
type daemonClient struct {
	base  string
	token string
	http  *http.Client
	// timeout bounds each call; 0 for none (forget and prune, which run
	// as long as the repository needs): the caller's context still stops
	// it (Ctrl-C).
	timeout time.Duration
}

// daemonClient makes a client for the daemon SHOEBOX_DAEMON names, with
// the token and certificate of the state directory; its calls have the
// quick deadline.
func (g *globals) daemonClient() (*daemonClient, error) {
	state := stateDir()
	base, err := daemonURL(os.Getenv("SHOEBOX_DAEMON"))
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(state, "api-token"))
	if err != nil {
		return nil, fmt.Errorf("no API token in %s (%v): is shoeboxd running with that state directory? set SHOEBOX_STATE_DIR; for a repository without the daemon use --repo", state, err)
	}
	pem, err := os.ReadFile(filepath.Join(state, "tls", "cert.pem"))
	if err != nil {
		return nil, fmt.Errorf("the box's certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	timeout := g.daemonTimeout
	if timeout == 0 {
		timeout = quickTimeout
	}
	return &daemonClient{base: base, token: strings.TrimSpace(string(tok)), timeout: timeout,
		http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}, nil
}

// daemonURL reads SHOEBOX_DAEMON: https://HOST:PORT, or a bare
// HOST:PORT meaning the same (a bare HOST: port 8443, the default listen); unset,
// https://localhost:8443. shoeboxd speaks HTTPS only, and the CLI never
// sends its token in the clear: http:// is refused.
func daemonURL(v string) (string, error) {
	if v == "" {
		return "https://localhost:8443", nil
	}
	raw, bare := v, !strings.Contains(v, "://")
	if bare {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil:
		return "", fmt.Errorf("SHOEBOX_DAEMON=%q is not the daemon's address: use HOST:PORT or https://HOST:PORT (the config's listen)", v)
	case u.Scheme != "https":
		return "", fmt.Errorf("SHOEBOX_DAEMON=%q: shoeboxd speaks HTTPS only and the CLI never sends its token in the clear: use HOST:PORT or https://HOST:PORT", v)
	}
	if bare && u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "8443")
	}
	return "https://" + u.Host, nil
}

// call sends a JSON request to the daemon's API and decodes the answer
// (out a *json.RawMessage: the answer as it is). It gives up after
// c.timeout, or when ctx ends.
func (c *daemonClient) call(ctx context.Context, method, path string, in, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.failed(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && ctx.Err() != nil {
		return c.failed(ctx, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("shoeboxd: %s: %s", resp.Status, e.Error)
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = b
			return nil
		}
		return json.Unmarshal(b, out)
	}
	return nil
}

// failed says why a call got no answer, and what to do: the daemon did
// not answer in time, the user stopped waiting, or it could not be
// reached.
func (c *daemonClient) failed(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("shoeboxd at %s did not answer within %s: check that it runs and is not stuck (`systemctl status shoeboxd`, `journalctl -u shoeboxd`), then try again", c.base, c.timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("stopped waiting for shoeboxd at %s (%w): what it was asked to do may still run there (`shoebox status` shows it)", c.base, ctx.Err())
	}
	return fmt.Errorf("shoeboxd at %s: %w (is it running?)", c.base, err)
}

// protoCall sends a request message as JSON and decodes the answer.
func (c *daemonClient) protoCall(ctx context.Context, method, path string, in, out proto.Message) error {
	body, err := protojson.Marshal(in)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.call(ctx, method, path, json.RawMessage(body), &raw); err != nil {
		return err
	}
	return (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, out)
}
