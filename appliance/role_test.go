package appliance

import (
	"strings"
	"testing"
)

// TestConfigRole: the role defaults to home, which needs a passphrase;
// an offsite unit starts without one and refuses one, and every key of
// what it cannot do, each error naming its key and line; an unknown role
// names the choices; cluster.listen defaults to :8444.
func TestConfigRole(t *testing.T) {
	const disks = "state_dir: /s\ndisks: {members: [/a, /b, /c]}\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error; none: valid
	}{
		{"home by default", disks + "repository: {passphrase_file: /p}\n", nil},
		{"home needs a passphrase", "role: home\n" + disks, []string{"repository.passphrase_file: required"}},
		{"offsite without a passphrase", "role: offsite\n" + disks, nil},
		{"offsite in a folder", "role: offsite\nstate_dir: /s\nrepository: {path: /r}\n", nil},
		{"offsite with scrub, smart, alerts", "role: offsite\n" + disks + "scrub: {every: 7d}\nsmart: {every: 1h}\nalerts: {webhooks: [\"https://h.example/x\"]}\n", nil},
		{"offsite with a passphrase", "role: offsite\n" + disks + "repository:\n  passphrase_file: /p\n",
			[]string{"offsite.yaml:5: repository.passphrase_file: an offsite unit holds no key: remove repository.passphrase_file"}},
		{"offsite with sources, cards, drills", "role: offsite\n" + disks + "sources:\n  - {name: a, path: /a}\nsource_roots: [/a]\ncards: {library: /l}\ndrills: {every: 1d}\n",
			[]string{"offsite.yaml:4: sources: an offsite unit backs nothing up", "offsite.yaml:6: source_roots:", "offsite.yaml:7: cards: an offsite unit ingests no memory cards", "offsite.yaml:8: drills: an offsite unit cannot run restore drills"}},
		{"offsite without disks", "role: offsite\nstate_dir: /s\n", []string{"disks.members: no disks"}},
		{"unknown role", "role: replica\n" + disks, []string{`offsite.yaml:1: role: must be home (holds the keys, runs the backups) or offsite (a keyless replica of a home unit), got "replica"`}},
		{"bad cluster.listen", "role: offsite\n" + disks + "cluster: {listen: 8444}\n", []string{`offsite.yaml:4: cluster.listen: want HOST:PORT or :PORT (a port number, e.g. :8444), got "8444"`}},
		{"cluster.listen without a port number", "role: home\n" + disks + "repository: {passphrase_file: /p}\ncluster:\n  listen: \"box:https\"\n", []string{`offsite.yaml:6: cluster.listen: want HOST:PORT`}},
		{"cluster.listen on loopback", "role: offsite\n" + disks + "cluster: {listen: \"127.0.0.1:0\"}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig("offsite.yaml", []byte(tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want a valid config", err)
				}
				if (cfg.Cluster.Listen != ":8444" && cfg.Line("cluster.listen") == 0) || (cfg.Role != RoleHome && cfg.Role != RoleOffsite) {
					t.Errorf("role %q, cluster.listen %q; want a role and :8444 when unset", cfg.Role, cfg.Cluster.Listen)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got %v, want an error containing %q", err, w)
				}
			}
		})
	}
	cfg, err := ParseConfig("c.yaml", []byte("state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\n"))
	if err != nil || cfg.Role != RoleHome || cfg.Offsite() {
		t.Errorf("no role: %q (offsite %v, %v), want home", cfg.Role, cfg.Offsite(), err)
	}
}
