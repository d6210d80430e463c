package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// runUnit runs a real daemon, gateway mounted, on the config text (its
// state and repository under dir) until the test ends.
func runUnit(t *testing.T, dir, config string) *appliance.Daemon {
	t.Helper()
	cfg, err := appliance.ParseConfig("unit.yaml", []byte(strings.ReplaceAll(config, "DIR", dir)))
	if err != nil {
		t.Fatal(err)
	}
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
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// TestClusterCommands pairs a real offsite daemon and a real home daemon
// on loopback with the CLI, each command pointed at its unit by
// SHOEBOX_STATE_DIR and SHOEBOX_DAEMON: cluster offer on the offsite,
// cluster pair on the home (a wrong code first), then cluster status
// --json on both with the fields.
func TestClusterCommands(t *testing.T) {
	offDir, homeDir := t.TempDir(), t.TempDir()
	off := runUnit(t, offDir, `role: offsite
state_dir: DIR/state
listen: 127.0.0.1:0
cluster: {listen: "127.0.0.1:0"}
repository: {path: DIR/replica}
smart: {disabled: true}
scrub: {every: 1000h, first_delay: 1000h}
`)
	st, err := store.OpenDir(filepath.Join(homeDir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := vault.Init(context.Background(), st, vault.InitOptions{Passphrase: "pw", ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	os.WriteFile(filepath.Join(homeDir, "pass"), []byte("pw\n"), 0o600)
	home := runUnit(t, homeDir, `state_dir: DIR/state
listen: 127.0.0.1:0
repository: {path: DIR/repo, passphrase_file: DIR/pass}
smart: {disabled: true}
scrub: {every: 1000h, first_delay: 1000h}
drills: {every: 1000h}
`)
	on := func(d *appliance.Daemon) {
		t.Setenv("SHOEBOX_STATE_DIR", d.Config.StateDir)
		t.Setenv("SHOEBOX_DAEMON", d.ListenAddr())
	}
	must := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("shoebox %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}

	on(off)
	var offer struct {
		DeviceID string `json:"device_id"`
		Code     string `json:"code"`
	}
	if err := json.Unmarshal([]byte(must("--json", "cluster", "offer")), &offer); err != nil {
		t.Fatal(err)
	}
	var offSt map[string]any
	json.Unmarshal([]byte(must("--json", "cluster", "status")), &offSt)
	if offSt["device_id"] != offer.DeviceID || offSt["listen"] != off.ClusterAddr() {
		t.Fatalf("offsite status %v, want device ID %s listening on %s", offSt, offer.DeviceID, off.ClusterAddr())
	}

	on(home)
	wrong := "0000000000"
	if wrong == strings.ReplaceAll(offer.Code, "-", "") {
		wrong = "1111111111"
	}
	code, _, stderr := runCLI(t, "cluster", "pair", off.ClusterAddr(), "--device-id", offer.DeviceID, "--code", wrong)
	if code != ExitError || !strings.Contains(stderr, "wrong pairing code: 4 attempts left") {
		t.Errorf("pair with a wrong code: exit %d, %q; want exit %d and the attempts left", code, stderr, ExitError)
	}
	out := must("cluster", "pair", off.ClusterAddr(), "--device-id", offer.DeviceID, "--code", offer.Code)
	if !strings.Contains(out, "paired:    with "+offer.DeviceID) || !strings.Contains(out, "not replicating yet") {
		t.Errorf("cluster pair printed %q, want the offsite unit and that it does not replicate yet", out)
	}

	statuses := map[string]map[string]any{}
	for role, d := range map[string]*appliance.Daemon{"home": home, "offsite": off} {
		on(d)
		var m map[string]any
		if err := json.Unmarshal([]byte(must("--json", "cluster", "status")), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"role", "paired", "peer_device_id", "lag_seconds", "pending_bytes", "confirmed_snapshots", "last_challenge"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: cluster status --json has no %q: %v", role, k, m)
			}
		}
		if out := must("status"); !strings.Contains(out, "("+role+" unit)") {
			t.Errorf("%s: shoebox status printed %q, want the unit's role", role, out)
		}
		if m["role"] != role || m["paired"] != true {
			t.Errorf("%s: cluster status --json %v, want role %s, paired", role, m, role)
		}
		statuses[role] = m
	}
	if statuses["home"]["peer_device_id"] != offer.DeviceID || statuses["offsite"]["peer_device_id"] != statuses["home"]["device_id"] {
		t.Errorf("peers: home %v, offsite %v; want each other's device IDs", statuses["home"], statuses["offsite"])
	}
}
