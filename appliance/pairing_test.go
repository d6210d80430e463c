package appliance_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/cluster"
	"github.com/shoebox/shoebox/gateway"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// homeConfig is a home unit's config with its repository in a folder
// under dir, made beforehand with a cheap KDF (the daemon opens it as
// after its first start), and no source.
func homeConfig(t *testing.T, dir string) *appliance.Config {
	t.Helper()
	repoDir := filepath.Join(dir, "repo")
	st, err := store.OpenDir(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := vault.Init(context.Background(), st, vault.InitOptions{Passphrase: "test passphrase", ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	os.WriteFile(filepath.Join(dir, "pass"), []byte("test passphrase\n"), 0o600)
	cfg, err := appliance.ParseConfig("home.yaml", []byte(fmt.Sprintf(`state_dir: %[1]s/state
listen: 127.0.0.1:0
listen_http: 127.0.0.1:0
repository:
  path: %[1]s/repo
  passphrase_file: %[1]s/pass
smart: {disabled: true}
scrub: {every: 1000h, first_delay: 1000h}
drills: {every: 1000h}
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// unit is a running daemon, gateway mounted, and an API client with its
// local token.
type unit struct {
	t      *testing.T
	d      *appliance.Daemon
	token  string
	client *http.Client
	stop   func()
}

// startUnit runs a daemon on cfg until stop (or the test's end).
func startUnit(t *testing.T, cfg *appliance.Config) *unit {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := appliance.New(cfg, logger)
	d.API = gateway.Mount(gateway.Options{Logger: logger, Params: &password.Params{Memory: 64, Time: 1, Threads: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- d.Run(ctx, func(*appliance.Daemon) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("daemon: %v", err)
	}
	u := &unit{t: t, d: d}
	stopped := false
	u.stop = func() {
		if stopped {
			return
		}
		stopped = true
		if u.client != nil {
			u.client.CloseIdleConnections()
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	}
	t.Cleanup(u.stop)
	tok, err := os.ReadFile(filepath.Join(cfg.StateDir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(cfg.StateDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	u.token = strings.TrimSpace(string(tok))
	u.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return u
}

// call sends a JSON request to the unit's API and decodes the answer
// into out; it returns the HTTP status and the error text.
func (u *unit) call(method, path string, in, out any) (int, string) {
	u.t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, "https://"+u.d.ListenAddr()+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := u.client.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(raw, &e)
		return resp.StatusCode, e.Error
	}
	if err := json.Unmarshal(raw, out); err != nil {
		u.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
	}
	return resp.StatusCode, ""
}

// clusterStatus is GET /v1/cluster's answer, the fields checked.
type clusterStatus struct {
	Role               string   `json:"role"`
	DeviceID           string   `json:"device_id"`
	Listen             string   `json:"listen"`
	Paired             bool     `json:"paired"`
	PeerDeviceID       string   `json:"peer_device_id"`
	PeerAddr           string   `json:"peer_addr"`
	Epoch              string   `json:"epoch"` // uint64: a JSON string
	Replicating        bool     `json:"replicating"`
	LagSeconds         string   `json:"lag_seconds"`
	PendingBytes       string   `json:"pending_bytes"`
	ConfirmedSnapshots []string `json:"confirmed_snapshots"`
}

func (u *unit) status() clusterStatus {
	u.t.Helper()
	var st clusterStatus
	if code, msg := u.call("GET", "/v1/cluster", nil, &st); code != http.StatusOK {
		u.t.Fatalf("GET /v1/cluster: HTTP %d %s", code, msg)
	}
	return st
}

// TestPairThroughAPI pairs two real daemons on loopback through their
// APIs: an offsite unit (no passphrase, its cluster listener on
// 127.0.0.1:0) offers, the home unit pairs; a wrong code is refused
// saying so; both report each other's device IDs, and still do after
// both restart, when the offsite unit's listener admits the home unit's
// key and refuses another. The audit logs record the calls, never the
// code.
func TestPairThroughAPI(t *testing.T) {
	offCfg, _ := offsiteConfig(t, t.TempDir())
	homeCfg := homeConfig(t, t.TempDir())
	off, home := startUnit(t, offCfg), startUnit(t, homeCfg)

	offSt, homeSt := off.status(), home.status()
	if offSt.Role != "offsite" || offSt.Paired || offSt.Listen == "" || offSt.Listen != off.d.ClusterAddr() {
		t.Fatalf("offsite unit before pairing: %+v, want role offsite, not paired, listening on %s", offSt, off.d.ClusterAddr())
	}
	if homeSt.Role != "home" || homeSt.Paired || homeSt.Listen != "" || home.d.ClusterAddr() != "" {
		t.Fatalf("home unit before pairing: %+v, want role home, not paired, not listening", homeSt)
	}
	for _, st := range []clusterStatus{offSt, homeSt} {
		if _, err := devid.Parse(st.DeviceID); err != nil {
			t.Fatalf("%s unit's device ID %q: %v", st.Role, st.DeviceID, err)
		}
		if st.Replicating || st.LagSeconds != "0" || st.PendingBytes != "0" || len(st.ConfirmedSnapshots) != 0 {
			t.Errorf("%s unit: %+v, want replication's figures zero (not replicating yet)", st.Role, st)
		}
	}

	// Each unit refuses the other's part.
	if code, msg := home.call("POST", "/v1/cluster/offer", map[string]any{}, nil); code != http.StatusBadRequest || !strings.Contains(msg, "this is the home unit") {
		t.Errorf("offer on the home unit: HTTP %d %q, want 400 saying it is the home unit", code, msg)
	}
	if code, msg := off.call("POST", "/v1/cluster/pair", map[string]any{"addr": "127.0.0.1:1", "device_id": homeSt.DeviceID, "code": "AAAAA-AAAAA"}, nil); code != http.StatusBadRequest || !strings.Contains(msg, "offers a code") {
		t.Errorf("pair on the offsite unit: HTTP %d %q, want 400 saying it offers", code, msg)
	}

	var offer struct {
		DeviceID string `json:"device_id"`
		Code     string `json:"code"`
	}
	if code, msg := off.call("POST", "/v1/cluster/offer", map[string]any{}, &offer); code != http.StatusOK {
		t.Fatalf("offer: HTTP %d %s", code, msg)
	}
	if offer.DeviceID != offSt.DeviceID || len(offer.Code) != 11 {
		t.Fatalf("offer %+v, want device ID %s and a code XXXXX-XXXXX", offer, offSt.DeviceID)
	}
	wrong := []byte(offer.Code)
	wrong[0] = map[bool]byte{true: '2', false: '3'}[wrong[0] != '2']
	pair := map[string]any{"addr": off.d.ClusterAddr(), "device_id": offer.DeviceID, "code": string(wrong)}
	if code, msg := home.call("POST", "/v1/cluster/pair", pair, nil); code != http.StatusForbidden || !strings.Contains(msg, "wrong pairing code: 4 attempts left") {
		t.Errorf("pair with a wrong code: HTTP %d %q, want 403 wrong pairing code, 4 attempts left", code, msg)
	}
	if off.status().Paired || home.status().Paired {
		t.Fatal("a wrong code paired the units")
	}
	pair["code"] = strings.ToLower(offer.Code)
	var paired clusterStatus
	if code, msg := home.call("POST", "/v1/cluster/pair", pair, &paired); code != http.StatusOK {
		t.Fatalf("pair: HTTP %d %s", code, msg)
	}

	check := func(when string) {
		t.Helper()
		o, h := off.status(), home.status()
		if !o.Paired || o.PeerDeviceID != homeSt.DeviceID || o.DeviceID != offSt.DeviceID || o.Epoch != "1" {
			t.Errorf("%s: offsite unit %+v, want paired with %s at epoch 1", when, o, homeSt.DeviceID)
		}
		if !h.Paired || h.PeerDeviceID != offSt.DeviceID || h.DeviceID != homeSt.DeviceID || h.PeerAddr == "" || h.Epoch != "1" {
			t.Errorf("%s: home unit %+v, want paired with %s at epoch 1", when, h, offSt.DeviceID)
		}
	}
	check("after pairing")
	// Both units recorded the pairing's calls, neither the code.
	for name, u := range map[string]*unit{"offsite": off, "home": home} {
		log, err := os.ReadFile(filepath.Join(u.d.Config.StateDir, "gateway", "audit", "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"offsite": "cluster.offer", "home": "cluster.pair"}[name]
		if !strings.Contains(string(log), want) {
			t.Errorf("the %s unit's audit log has no %s record", name, want)
		}
		for _, code := range []string{offer.Code, strings.ReplaceAll(offer.Code, "-", ""), strings.ToLower(offer.Code), string(wrong)} {
			if strings.Contains(string(log), code) {
				t.Errorf("the %s unit's audit log holds the pairing code %s", name, code)
			}
		}
	}
	if paired.PeerDeviceID != offSt.DeviceID {
		t.Errorf("pair answered %+v, want the offsite unit's device ID", paired)
	}

	off.stop()
	home.stop()
	off, home = startUnit(t, offCfg), startUnit(t, homeCfg)
	check("after a restart of both")

	// The pin survived the restart: the home unit's key is admitted on
	// the listener, another unit's is not.
	homeID, err := devid.LoadOrCreate(filepath.Join(homeCfg.StateDir, "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := devid.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	offID, _ := devid.Parse(offSt.DeviceID)
	for _, c := range []struct {
		name string
		self *devid.Identity
		ok   bool
	}{{"home", homeID, true}, {"stranger", stranger, false}} {
		conn, err := cluster.NewClient(off.d.ClusterAddr(), c.self, offID)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		conn.Close()
		if (err == nil) != c.ok {
			t.Errorf("health check from the %s unit's key: %v, want ok %v", c.name, err, c.ok)
		}
	}
}
