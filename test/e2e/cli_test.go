package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// smallTree generates a small source tree and returns its path.
func smallTree(t *testing.T, seed uint64) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "photos")
	genTree(t, src, seed, treeSpec{Big: 2, BigSize: 1 << 20, Small: 40, Dirs: 4, Symlinks: true})
	return src
}

// TestEveryCommandJSON runs every command with --json and decodes its
// output; "latest" and short IDs stand in for snapshot IDs throughout.
func TestEveryCommandJSON(t *testing.T) {
	r := newRepo(t)
	src := smallTree(t, 10)
	first := r.backup("--tag", "first", src)
	firstManifest := takeManifest(t, src)
	// Change the tree: one file modified, one added, one removed.
	if err := os.WriteFile(filepath.Join(src, "album-01", "f0001.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "new.txt"), []byte("new file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(src, "album-02", "f0002.xmp")); err != nil {
		t.Fatal(err)
	}
	second := r.backup(src, "--tag", "second")
	short := first[:8]

	type nodeRow struct {
		Snapshot string `json:"snapshot"`
		Path     string `json:"path"`
		Type     string `json:"type"`
		Size     uint64 `json:"size"`
	}
	type change struct {
		Path string `json:"path"`
		Kind string `json:"kind"`
	}
	hasPath := func(rows []nodeRow, p string) bool {
		for _, rw := range rows {
			if rw.Path == p {
				return true
			}
		}
		return false
	}
	restoreTarget := filepath.Join(t.TempDir(), "restore")
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(t *testing.T, out []byte)
	}{
		{"snapshots", []string{"snapshots"}, nil, func(t *testing.T, out []byte) {
			var rows []snapRow
			mustJSON(t, out, &rows)
			if len(rows) != 2 || rows[0].ID != first || rows[1].ID != second {
				t.Fatalf("got %+v, want snapshots %.8s and %.8s", rows, first, second)
			}
			if len(rows[0].Tags) != 1 || rows[0].Tags[0] != "first" || rows[0].ShortID != short {
				t.Errorf("got tags %v, short id %q; want [first], %q", rows[0].Tags, rows[0].ShortID, short)
			}
		}},
		{"snapshots --tag", []string{"snapshots", "--tag", "second"}, nil, func(t *testing.T, out []byte) {
			var rows []snapRow
			mustJSON(t, out, &rows)
			if len(rows) != 1 || rows[0].ID != second {
				t.Fatalf("got %+v, want only %.8s", rows, second)
			}
		}},
		{"ls latest", []string{"ls", "latest", src}, nil, func(t *testing.T, out []byte) {
			var rows []nodeRow
			mustJSON(t, out, &rows)
			if !hasPath(rows, src+"/new.txt") || !hasPath(rows, src+"/album-00") || hasPath(rows, src+"/album-00/f0000.jpg") {
				t.Fatalf("ls latest %s: got %+v", src, rows)
			}
		}},
		{"ls short id recursive", []string{"ls", "-R", short, src}, nil, func(t *testing.T, out []byte) {
			var rows []nodeRow
			mustJSON(t, out, &rows)
			if hasPath(rows, src+"/new.txt") || !hasPath(rows, src+"/album-02/f0002.xmp") || !hasPath(rows, src+"/album-00/f0000.jpg") {
				t.Fatalf("ls -R %s: got %+v", short, rows)
			}
		}},
		{"ls file", []string{"ls", "latest", src + "/new.txt"}, nil, func(t *testing.T, out []byte) {
			var rows []nodeRow
			mustJSON(t, out, &rows)
			if len(rows) != 1 || rows[0].Type != "file" || rows[0].Size != 9 {
				t.Fatalf("got %+v, want one file of 9 bytes", rows)
			}
		}},
		{"find base name", []string{"find", "*.xmp"}, nil, func(t *testing.T, out []byte) {
			var rows []nodeRow
			mustJSON(t, out, &rows)
			// 10 .xmp files in the first snapshot, 9 in the second.
			if len(rows) != 19 {
				t.Fatalf("got %d matches, want 19", len(rows))
			}
		}},
		{"find full path in latest", []string{"find", "--snapshot", "latest", src + "/new.*"}, nil, func(t *testing.T, out []byte) {
			var rows []nodeRow
			mustJSON(t, out, &rows)
			if len(rows) != 1 || rows[0].Path != src+"/new.txt" || rows[0].Snapshot != second[:8] {
				t.Fatalf("got %+v, want %s/new.txt in %.8s", rows, src, second)
			}
		}},
		{"diff", []string{"diff", short, "latest"}, nil, func(t *testing.T, out []byte) {
			var changes []change
			mustJSON(t, out, &changes)
			want := map[change]bool{
				{src + "/new.txt", "+"}:            true,
				{src + "/album-02/f0002.xmp", "-"}: true,
				{src + "/album-01/f0001.txt", "M"}: true,
			}
			for _, c := range changes {
				delete(want, c)
			}
			if len(want) > 0 {
				t.Fatalf("diff: got %+v, missing %v", changes, want)
			}
		}},
		{"diff latest latest", []string{"diff", "latest", "latest"}, nil, func(t *testing.T, out []byte) {
			var changes []change
			mustJSON(t, out, &changes)
			if len(changes) != 0 {
				t.Fatalf("got %+v, want no changes", changes)
			}
		}},
		{"restore", []string{"restore", short, "--target", restoreTarget}, nil, func(t *testing.T, out []byte) {
			var res struct {
				Snapshot string `json:"snapshot"`
				Files    int    `json:"files"`
			}
			mustJSON(t, out, &res)
			if res.Snapshot != first || res.Files != 43 {
				t.Fatalf("got %+v, want snapshot %.8s with 43 files", res, first)
			}
			if d := diffManifests(firstManifest, takeManifest(t, filepath.Join(restoreTarget, src))); d != "" {
				t.Fatalf("restored tree differs:\n%s", d)
			}
		}},
		{"check", []string{"check"}, nil, func(t *testing.T, out []byte) {
			var c checkResult
			mustJSON(t, out, &c)
			if c.Snapshots != 2 || len(c.Errors) > 0 {
				t.Fatalf("got %+v", c)
			}
		}},
		{"check --read-data", []string{"check", "--read-data"}, nil, func(t *testing.T, out []byte) {
			var c struct {
				BytesRead int64 `json:"bytes_read"`
			}
			mustJSON(t, out, &c)
			if c.BytesRead == 0 {
				t.Fatalf("check --read-data read nothing: %s", out)
			}
		}},
		{"stats", []string{"stats"}, nil, func(t *testing.T, out []byte) {
			var m map[string]any
			mustJSON(t, out, &m)
			if m["snapshots"] != 2.0 {
				t.Fatalf("got %v, want 2 snapshots", m)
			}
		}},
		{"lock", []string{"lock", short, "--until", "30d"}, nil, func(t *testing.T, out []byte) {
			var res struct {
				Snapshot string    `json:"snapshot"`
				Until    time.Time `json:"immutable_until"`
			}
			mustJSON(t, out, &res)
			if res.Snapshot != first || res.Until.Before(time.Now().Add(29*24*time.Hour)) {
				t.Fatalf("got %+v, want %.8s held for 30 days", res, first)
			}
		}},
		{"unlock", []string{"unlock"}, nil, func(t *testing.T, out []byte) {
			var res struct {
				Removed []string `json:"removed"`
				Active  []string `json:"active"`
			}
			mustJSON(t, out, &res)
			if len(res.Removed)+len(res.Active) != 0 {
				t.Fatalf("got %+v, want no locks", res)
			}
		}},
		{"forget dry run", []string{"forget", "--keep-last", "1", "--dry-run"}, nil, func(t *testing.T, out []byte) {
			var res struct {
				Decisions []struct {
					ID   string `json:"id"`
					Keep bool   `json:"keep"`
				} `json:"decisions"`
				DryRun bool `json:"dry_run"`
			}
			mustJSON(t, out, &res)
			if !res.DryRun || len(res.Decisions) != 2 || !res.Decisions[0].Keep || !res.Decisions[1].Keep {
				t.Fatalf("got %+v, want both kept (latest, and the locked one)", res)
			}
		}},
		{"prune", []string{"prune"}, nil, func(t *testing.T, out []byte) {
			var m map[string]any
			mustJSON(t, out, &m)
			if _, ok := m["packs_deleted"]; !ok {
				t.Fatalf("got %v", m)
			}
		}},
		{"key list", []string{"key", "list"}, nil, func(t *testing.T, out []byte) {
			var keys []struct {
				Kind    string `json:"kind"`
				Current bool   `json:"current"`
			}
			mustJSON(t, out, &keys)
			if len(keys) != 2 {
				t.Fatalf("got %+v, want a passphrase and a recovery key", keys)
			}
		}},
		{"key export-identity", []string{"key", "export-identity"}, nil, func(t *testing.T, out []byte) {
			var k struct{ Identity, Recipient string }
			mustJSON(t, out, &k)
			if !strings.HasPrefix(k.Identity, "AGE-SECRET-KEY-1") || !strings.HasPrefix(k.Recipient, "age1") {
				t.Fatalf("got %+v", k)
			}
		}},
		{"key add", []string{"key", "add", "--scrypt-logn", "10"}, []string{"SHOEBOX_NEW_PASSWORD=second passphrase"}, func(t *testing.T, out []byte) {
			var k struct{ ID string }
			mustJSON(t, out, &k)
			if len(k.ID) != 64 {
				t.Fatalf("got %+v", k)
			}
		}},
		{"key add-recovery", []string{"key", "add-recovery"}, nil, func(t *testing.T, out []byte) {
			var k struct {
				ID       string `json:"id"`
				Identity string `json:"recovery_identity"`
			}
			mustJSON(t, out, &k)
			if len(k.ID) != 64 || !strings.HasPrefix(k.Identity, "AGE-SECRET-KEY-1") {
				t.Fatalf("got %+v", k)
			}
		}},
		{"backup", []string{"backup", src}, nil, func(t *testing.T, out []byte) {
			var b struct {
				Snapshot string `json:"snapshot"`
				Summary  struct {
					FilesUnchanged int `json:"files_unchanged"`
				} `json:"summary"`
			}
			mustJSON(t, out, &b)
			if len(b.Snapshot) != 64 || b.Summary.FilesUnchanged != 43 {
				t.Fatalf("got %+v, want a snapshot with 43 unchanged files", b)
			}
		}},
		{"forget --prune", []string{"forget", "--keep-last", "1", "--prune"}, nil, func(t *testing.T, out []byte) {
			var res struct {
				Decisions []struct {
					Keep    bool     `json:"keep"`
					Reasons []string `json:"reasons"`
				} `json:"decisions"`
				Prune map[string]any `json:"prune"`
			}
			mustJSON(t, out, &res)
			kept := 0
			for _, d := range res.Decisions {
				if d.Keep {
					kept++
				}
			}
			if len(res.Decisions) != 3 || kept != 2 || res.Prune == nil {
				t.Fatalf("got %+v, want 2 of 3 kept (last, locked) and a prune result", res)
			}
		}},
		{"key passwd", []string{"key", "passwd", "--scrypt-logn", "10"}, []string{"SHOEBOX_NEW_PASSWORD=" + testPassword + " 2"}, func(t *testing.T, out []byte) {
			var k struct{ ID string }
			mustJSON(t, out, &k)
			if len(k.ID) != 64 {
				t.Fatalf("got %+v", k)
			}
			r.password = testPassword + " 2"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			r.env = tt.env
			defer func() { r.env = nil }()
			// --json goes last here; other tests put it first.
			res := r.ok(append(tt.args, "--json")...)
			tt.check(t, []byte(res.stdout))
		})
	}
	r.t = t

	t.Run("key remove", func(t *testing.T) {
		r.t = t
		var keys []struct {
			ID      string `json:"id"`
			Kind    string `json:"kind"`
			Current bool   `json:"current"`
		}
		r.runJSON(&keys, "key", "list")
		var victim string
		for _, k := range keys {
			if k.Kind == "recovery" {
				victim = k.ID
			}
		}
		var res struct{ Removed string }
		r.runJSON(&res, "key", "remove", victim[:12])
		if res.Removed != victim[:12] {
			t.Fatalf("got %+v, want removed %s", res, victim[:12])
		}
		var after []struct{ ID string }
		r.runJSON(&after, "key", "list")
		if len(after) != len(keys)-1 {
			t.Fatalf("got %d keys after remove, want %d", len(after), len(keys)-1)
		}
	})
	r.t = t
}

func mustJSON(t *testing.T, out []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, out)
	}
}

// TestFlagOrder checks that flags work before and after positional
// arguments, and global flags before and after the command name.
func TestFlagOrder(t *testing.T) {
	r := newRepo(t)
	src := smallTree(t, 11)
	tests := []struct {
		name string
		args []string
		tag  string
	}{
		{"command flag after path", []string{"backup", src, "--tag", "after"}, "after"},
		{"command flag before path", []string{"backup", "--tag", "before", src}, "before"},
		{"command flag with =", []string{"backup", "--tag=equals", src}, "equals"},
		{"command flag before command", []string{"--tag", "first", "backup", src}, "first"},
		{"global flag after command", []string{"backup", src, "--json", "--tag", "json"}, "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			res := r.ok(tt.args...)
			rows := r.snapshots()
			last := rows[len(rows)-1]
			if len(last.Tags) != 1 || last.Tags[0] != tt.tag {
				t.Fatalf("shoebox %s: got tags %v, want [%s]\n%v", strings.Join(tt.args, " "), last.Tags, tt.tag, res)
			}
		})
	}
	r.t = t

	restoreTests := [][]string{
		{"restore", "--target", "T", "latest"},
		{"restore", "latest", "--target", "T"},
		{"restore", "-t", "T", "latest", "--include", "album-00"},
		{"--quiet", "restore", "latest", "-t", "T"},
	}
	for _, args := range restoreTests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r.t = t
			target := filepath.Join(t.TempDir(), "T")
			args := append([]string(nil), args...)
			for i := range args {
				if args[i] == "T" {
					args[i] = target
				}
			}
			r.ok(args...)
			if _, err := os.Stat(filepath.Join(target, src, "album-00", "f0000.jpg")); err != nil {
				t.Fatal(err)
			}
		})
	}
	r.t = t

	// --repo in every position, without SHOEBOX_REPO.
	for _, args := range [][]string{
		{"--repo", r.dir, "snapshots"},
		{"snapshots", "--repo", r.dir},
		{"snapshots", "-r", r.dir},
		{"snapshots", "--repo=" + r.dir},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			c := r.command(args...)
			c.Env = append(baseEnv(), "SHOEBOX_PASSWORD="+r.password)
			out, err := c.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "5 snapshots") {
				t.Fatalf("shoebox %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// TestUnlockMethods opens the repository with a passphrase file, the
// recovery identity printed by init, an added recovery identity and the
// exported repository identity.
func TestUnlockMethods(t *testing.T) {
	dir := t.TempDir()
	r := &repo{t: t, dir: filepath.Join(dir, "repo"), password: testPassword}
	// Human init output, saved as is, is a valid identity file.
	initOut := r.ok("init", "--scrypt-logn", "10").stdout
	if !strings.Contains(initOut, "RECOVERY IDENTITY") || !strings.Contains(initOut, "AGE-SECRET-KEY-1") {
		t.Fatalf("init output lacks the recovery identity:\n%s", initOut)
	}
	src := smallTree(t, 12)
	r.backup(src)

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pwFile := write("pw.txt", testPassword+"\n")
	wrongFile := write("wrong.txt", "not it\n")
	recoveryFile := write("recovery.txt", initOut)
	var added struct {
		Identity string `json:"recovery_identity"`
	}
	r.runJSON(&added, "key", "add-recovery", "--label", "safe deposit box")
	addedFile := write("added.txt", added.Identity+"\n")
	exported := r.ok("key", "export-identity").stdout
	exportedFile := write("exported.txt", exported)

	tests := []struct {
		name string
		env  []string
		args []string
		code int
	}{
		{"SHOEBOX_PASSWORD", []string{"SHOEBOX_PASSWORD=" + testPassword}, nil, 0},
		{"SHOEBOX_PASSWORD_FILE", []string{"SHOEBOX_PASSWORD_FILE=" + pwFile}, nil, 0},
		{"--password-file", nil, []string{"--password-file", pwFile}, 0},
		{"password file wins over SHOEBOX_PASSWORD", []string{"SHOEBOX_PASSWORD=wrong", "SHOEBOX_PASSWORD_FILE=" + pwFile}, nil, 0},
		{"wrong password file", []string{"SHOEBOX_PASSWORD_FILE=" + wrongFile}, nil, 12},
		{"recovery identity from init", nil, []string{"--identity-file", recoveryFile}, 0},
		{"SHOEBOX_IDENTITY_FILE", []string{"SHOEBOX_IDENTITY_FILE=" + recoveryFile}, nil, 0},
		{"added recovery identity", nil, []string{"--identity-file", addedFile}, 0},
		{"exported repository identity", nil, []string{"--identity-file", exportedFile}, 0},
		{"identity file without identity", nil, []string{"--identity-file", pwFile}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runOn(t, r.dir, tt.env, append(tt.args, "snapshots")...)
			if c.code != tt.code {
				t.Fatalf("got exit %d, want %d\n%v", c.code, tt.code, c)
			}
			if tt.code == 0 && !strings.Contains(c.stdout, "1 snapshots") {
				t.Fatalf("got %v", c)
			}
		})
	}
	// The recovery identity also restores, with no passphrase anywhere.
	target := filepath.Join(t.TempDir(), "restore")
	if c := runOn(t, r.dir, nil, "--identity-file", recoveryFile, "restore", "latest", "--target", target); c.code != 0 {
		t.Fatalf("%v", c)
	}
	if d := diffManifests(takeManifest(t, src), takeManifest(t, filepath.Join(target, src))); d != "" {
		t.Fatalf("restore with the recovery identity differs:\n%s", d)
	}
}

// runOn runs shoebox on repository dir with only the given SHOEBOX_
// variables (plus SHOEBOX_REPO).
func runOn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := &repo{t: t, dir: dir, env: env}
	return r.run(args...)
}

// TestKeys changes, adds and removes passphrases.
func TestKeys(t *testing.T) {
	r := newRepo(t)
	r.backup(smallTree(t, 13))
	opens := func(pass string) int {
		t.Helper()
		return runOn(t, r.dir, []string{"SHOEBOX_PASSWORD=" + pass}, "snapshots").code
	}
	r.env = []string{"SHOEBOX_NEW_PASSWORD=second"}
	r.ok("key", "add", "--scrypt-logn", "10", "--label", "for Bob")
	r.env = nil
	if got := opens("second"); got != 0 {
		t.Fatalf("added passphrase: got exit %d, want 0", got)
	}
	// passwd replaces the key that opened: "second" stops working.
	r.password = "second"
	r.env = []string{"SHOEBOX_NEW_PASSWORD=third"}
	r.ok("key", "passwd", "--scrypt-logn", "10")
	r.env = nil
	for _, tt := range []struct {
		pass string
		code int
	}{{testPassword, 0}, {"second", 12}, {"third", 0}} {
		if got := opens(tt.pass); got != tt.code {
			t.Errorf("passphrase %q after passwd: got exit %d, want %d", tt.pass, got, tt.code)
		}
	}
	// The key in use cannot be removed; another one can.
	r.password = "third"
	var keys []struct {
		ID      string `json:"id"`
		Kind    string `json:"kind"`
		Current bool   `json:"current"`
	}
	r.runJSON(&keys, "key", "list")
	var current, other string
	for _, k := range keys {
		switch {
		case k.Current:
			current = k.ID
		case k.Kind == "passphrase":
			other = k.ID
		}
	}
	res := r.run("key", "remove", current[:8])
	if res.code == 0 || !strings.Contains(res.stderr, "key in use") {
		t.Fatalf("removing the key in use: %v", res)
	}
	r.ok("key", "remove", other[:8])
	if got := opens(testPassword); got != 12 {
		t.Errorf("removed passphrase: got exit %d, want 12", got)
	}
	// The only passphrase key is kept.
	r.password = "third"
	res = r.run("--identity-file", writeTemp(t, r.recovery), "key", "remove", current[:8])
	if res.code == 0 || !strings.Contains(res.stderr, "only passphrase") {
		t.Fatalf("removing the last passphrase key: %v", res)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExitCodes checks exit codes and that each error message names the
// thing concerned and says what to do next.
func TestExitCodes(t *testing.T) {
	r := newRepo(t)
	src := smallTree(t, 14)
	r.backup(src)
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "no", "such", "repo")

	// An unreadable file makes the backup incomplete. As root, the only
	// files that cannot be opened are write-only kernel attributes.
	unreadable, _ := filepath.Glob("/sys/bus/*/uevent")
	if len(unreadable) > 1 {
		unreadable = unreadable[:1]
	}

	tests := []struct {
		name   string
		dir    string
		env    []string
		args   []string
		code   int
		stderr []string // substrings
		skip   bool
	}{
		{name: "wrong passphrase", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=wrong"}, args: []string{"snapshots"}, code: 12,
			stderr: []string{"wrong passphrase", r.dir, "SHOEBOX_PASSWORD", "--identity-file"}},
		{name: "wrong passphrase, JSON", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=wrong"}, args: []string{"--json", "snapshots"}, code: 12,
			stderr: []string{"wrong passphrase"}},
		{name: "not a repository", dir: empty, env: []string{"SHOEBOX_PASSWORD=x"}, args: []string{"snapshots"}, code: 10,
			stderr: []string{empty, "not a Shoebox repository", "--repo", "shoebox init"}},
		{name: "no such folder", dir: missing, env: []string{"SHOEBOX_PASSWORD=x"}, args: []string{"backup", src}, code: 10,
			stderr: []string{missing, "not a Shoebox repository", "shoebox init"}},
		{name: "no repository given", env: []string{"SHOEBOX_PASSWORD=x"}, args: []string{"snapshots"}, code: 1,
			stderr: []string{"--repo", "SHOEBOX_REPO"}},
		{name: "no passphrase", dir: r.dir, args: []string{"snapshots"}, code: 1,
			stderr: []string{"SHOEBOX_PASSWORD_FILE", "SHOEBOX_PASSWORD"}},
		{name: "unknown snapshot", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=" + testPassword}, args: []string{"ls", "abcdef12"}, code: 1,
			stderr: []string{"abcdef12", "shoebox snapshots"}},
		{name: "path not in snapshot", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=" + testPassword}, args: []string{"dump", "latest", "/no/such/file"}, code: 1,
			stderr: []string{"/no/such/file"}},
		{name: "restore without target", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=" + testPassword}, args: []string{"restore", "latest"}, code: 1,
			stderr: []string{"--target"}},
		{name: "forget without rule", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=" + testPassword}, args: []string{"forget"}, code: 1,
			stderr: []string{"--keep"}},
		{name: "backup of a missing path", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=" + testPassword}, args: []string{"backup", src + "-missing"}, code: 1,
			stderr: []string{src + "-missing"}},
		{name: "init over a repository", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=" + testPassword}, args: []string{"init", "--scrypt-logn", "10"}, code: 1,
			stderr: []string{"already exists", r.dir}},
		{name: "incomplete backup", dir: r.dir, env: []string{"SHOEBOX_PASSWORD=" + testPassword}, args: append([]string{"backup", src}, unreadable...), code: 3,
			stderr: append([]string{"incomplete", "back up again"}, unreadable...), skip: len(unreadable) == 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("no unreadable file on this system")
			}
			c := runOn(t, tt.dir, tt.env, tt.args...)
			if c.code != tt.code {
				t.Fatalf("got exit %d, want %d\n%v", c.code, tt.code, c)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(c.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, c.stderr)
				}
			}
			if strings.HasPrefix(tt.args[0], "--json") {
				var e struct {
					Error string `json:"error"`
					Code  int    `json:"exit_code"`
				}
				mustJSON(t, []byte(c.stdout), &e)
				if e.Code != tt.code || e.Error == "" {
					t.Errorf("got %+v, want exit_code %d and an error", e, tt.code)
				}
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a command on a mistyped --repo created %s", missing)
	}
	// The incomplete snapshot was saved and holds what could be read.
	if len(unreadable) > 0 {
		rows := r.snapshots()
		if len(rows) != 2 {
			t.Fatalf("got %d snapshots, want 2 (the incomplete one saved)", len(rows))
		}
	}
}

// TestRepositoryLockedByLiveProcess holds a real lock: a backup that is
// stopped (SIGSTOP) while it runs. Exclusive operations then fail with
// exit code 11 naming the holder, shared ones proceed, unlock keeps the
// live lock; once the process is killed its lock is stale and goes.
func TestRepositoryLockedByLiveProcess(t *testing.T) {
	r := newRepo(t)
	small := smallTree(t, 15)
	big := filepath.Join(t.TempDir(), "big")
	genTree(t, big, 16, treeSpec{Big: 24, BigSize: 4 << 20})

	c := r.command("backup", big)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.Process.Pid
	stopped := false
	defer func() {
		c.Process.Kill()
		if stopped {
			c.Process.Signal(syscall.SIGCONT)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.files("locks")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backup took no lock in 10 s\n%s", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if len(r.files("locks")) != 1 {
		t.Fatalf("the backup finished before it could be stopped; make the big tree bigger\n%s", out.String())
	}

	for _, args := range [][]string{{"prune"}, {"forget", "--keep-last", "1"}} {
		res := r.run(args...)
		if res.code != 11 {
			t.Fatalf("%s during a backup: got exit %d, want 11\n%v", args[0], res.code, res)
		}
		for _, s := range []string{"locked", "backup", "PID " + strconv.Itoa(pid), "shoebox unlock"} {
			if !strings.Contains(res.stderr, s) {
				t.Errorf("%s: stderr lacks %q:\n%s", args[0], s, res.stderr)
			}
		}
	}
	// Shared locks coexist.
	r.backup(small)
	r.ok("check")
	// unlock leaves a live process's lock alone.
	var ul struct{ Removed, Active []string }
	r.runJSON(&ul, "unlock")
	if len(ul.Removed) != 0 || len(ul.Active) != 1 {
		t.Fatalf("unlock with a live backup: got %+v, want nothing removed, one active", ul)
	}

	// Killed, the process's lock is stale: prune runs and removes it.
	c.Process.Kill()
	c.Wait()
	stopped = false
	var pr map[string]any
	r.runJSON(&pr, "prune")
	if locks := r.files("locks"); len(locks) != 0 {
		t.Errorf("prune left the dead process's lock: %v", locks)
	}
	if tmp := r.files(".tmp"); len(tmp) != 0 {
		t.Errorf("prune left the dead process's temporary files: %v", tmp)
	}
	r.runJSON(&ul, "unlock")
	if len(ul.Removed) != 0 || len(ul.Active) != 0 {
		t.Fatalf("unlock after prune: got %+v, want no locks", ul)
	}
	r.check()
}

// TestImmutableSnapshot checks `lock`: forget refuses a held snapshot,
// policies keep it, prune keeps its data, and a hold is never shortened.
func TestImmutableSnapshot(t *testing.T) {
	r := newRepo(t)
	src := smallTree(t, 17)
	held := r.backup(src)
	heldManifest := takeManifest(t, src)
	if err := os.RemoveAll(filepath.Join(src, "album-00")); err != nil {
		t.Fatal(err)
	}
	r.backup(src)
	r.backup(src)

	var hold struct {
		Until time.Time `json:"immutable_until"`
	}
	r.runJSON(&hold, "lock", held[:8], "--until", "30d")
	until := hold.Until
	// A shorter hold does not shorten it, and lock says so.
	r.runJSON(&hold, "lock", held[:8], "--until", time.Now().Add(48*time.Hour).Format("2006-01-02"))
	if !hold.Until.Equal(until) {
		t.Errorf("lock with a shorter date: got immutable until %v, want %v", hold.Until, until)
	}
	rows := r.snapshots()
	if rows[0].ID != held || rows[0].Immutable == nil || rows[0].Immutable.Before(time.Now().Add(29*24*time.Hour)) {
		t.Fatalf("snapshots: got %+v, want %.8s immutable for 30 days", rows[0], held)
	}
	if res := r.run("lock", held[:8], "--until", "2001-01-01"); res.code == 0 || !strings.Contains(res.stderr, "past") {
		t.Errorf("lock until a past date: %v", res)
	}

	res := r.run("forget", held[:8])
	if res.code == 0 || !strings.Contains(res.stderr, "immutable") || !strings.Contains(res.stderr, held[:8]) {
		t.Fatalf("forget of a held snapshot: %v", res)
	}
	r.ok("forget", "--keep-last", "1", "--prune")
	ids := r.snapshotIDs()
	if len(ids) != 2 || !ids[held] {
		t.Fatalf("after forget --keep-last 1: got %v, want the latest and %.8s", ids, held)
	}
	r.check()
	r.restoreAndCompare(held, src, heldManifest)
	// An unheld snapshot can be forgotten by ID, and "latest" works.
	r.ok("forget", "latest")
	if ids := r.snapshotIDs(); len(ids) != 1 || !ids[held] {
		t.Fatalf("after forget latest: got %v, want only %.8s", ids, held)
	}
	r.backup(src)
	r.ok("lock", "latest", "--until", "1d")
	if rows := r.snapshots(); len(rows) != 2 || rows[1].Immutable == nil {
		t.Fatalf("lock latest: got %+v, want the latest immutable", rows)
	}
}

// TestMediaRoundTrip backs up the shared media set and gets it back with
// restore, restore --include, dump (file and tar) and find.
func TestMediaRoundTrip(t *testing.T) {
	media := testcorpus.Media(t)
	r := newRepo(t)
	want := takeManifest(t, media)
	id := r.backup(media)
	r.restoreAndCompare(id, media, want)

	var jpegs []string
	for p, e := range want {
		switch strings.ToLower(filepath.Ext(p)) {
		case ".jpg":
			if e.Type == "f" {
				jpegs = append(jpegs, p)
			}
		}
	}
	sort.Strings(jpegs)
	if len(jpegs) == 0 {
		t.Fatal("no JPEG in the media set")
	}

	t.Run("dump file", func(t *testing.T) {
		r.t = t
		for _, p := range jpegs[:min(5, len(jpegs))] {
			out := r.ok("dump", "latest", filepath.Join(media, p)).stdout
			if sum := sha256.Sum256([]byte(out)); hex.EncodeToString(sum[:]) != want[p].SHA256 {
				t.Errorf("dump %s: content differs", p)
			}
		}
	})
	t.Run("dump folder as tar", func(t *testing.T) {
		r.t = t
		out := r.ok("dump", id[:8], media).stdout
		tr := tar.NewReader(strings.NewReader(out))
		base := filepath.Base(media)
		files := 0
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			rel := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h.Name, base), "/"), "/")
			w, ok := want[rel]
			if !ok {
				t.Errorf("tar has %s, not in the source", h.Name)
				continue
			}
			if h.Typeflag == tar.TypeReg {
				files++
				hs := sha256.New()
				io.Copy(hs, tr)
				if hex.EncodeToString(hs.Sum(nil)) != w.SHA256 || h.Size != w.Size {
					t.Errorf("tar entry %s differs", h.Name)
				}
			}
		}
		n := 0
		for _, e := range want {
			if e.Type == "f" {
				n++
			}
		}
		if files != n {
			t.Errorf("tar holds %d files, want %d", files, n)
		}
	})
	t.Run("restore --include", func(t *testing.T) {
		r.t = t
		target := filepath.Join(t.TempDir(), "T")
		r.ok("restore", "latest", "--target", target, "--include", "*.jpg", "--include", "*.JPG")
		got := takeManifest(t, filepath.Join(target, media))
		for _, p := range jpegs {
			if got[p] != want[p] {
				t.Errorf("%s: got %+v, want %+v", p, got[p], want[p])
			}
		}
		for p, e := range got {
			if e.Type == "f" && !strings.EqualFold(filepath.Ext(p), ".jpg") {
				t.Errorf("restore --include *.jpg restored %s", p)
			}
		}
	})
	t.Run("find", func(t *testing.T) {
		r.t = t
		var rows []struct{ Path string }
		r.runJSON(&rows, "find", "*.jpg")
		if len(rows) != len(jpegs) {
			t.Errorf("find *.jpg: got %d matches, want %d (.jpg and .JPG: names match regardless of case)", len(rows), len(jpegs))
		}
		lower := 0
		for _, p := range jpegs {
			if filepath.Ext(p) == ".jpg" {
				lower++
			}
		}
		r.runJSON(&rows, "find", "--case-sensitive", "*.jpg")
		if len(rows) != lower {
			t.Errorf("find --case-sensitive *.jpg: got %d matches, want %d", len(rows), lower)
		}
	})
	r.t = t
	var st struct {
		Files       int64 `json:"files"`
		RestoreSize int64 `json:"restore_size"`
	}
	r.runJSON(&st, "stats")
	t.Logf("stats: %+v", st)
}

// TestBackupThroughSymlinkedParent backs up a folder whose parent is a
// symlink (/home -> /data/home on many NAS systems). The snapshot must
// hold the folder's files.
func TestBackupThroughSymlinkedParent(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	genTree(t, filepath.Join(real, "photos"), 18, treeSpec{Small: 10, Dirs: 2})
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(link, "photos")
	want := takeManifest(t, src)
	id := r.backup(src)
	var rows []struct{ Path string }
	res := r.run("--json", "ls", "-R", "latest", src)
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rows) != nil || len(rows) != len(want)-1 {
		t.Fatalf("backup %s (parent is a symlink): the snapshot does not hold its %d entries:\n%v", src, len(want)-1, res)
	}
	r.restoreAndCompare(id, src, want)
}

// TestReadOnlyRepository restores and checks a repository on read-only
// media (here a read-only bind mount; skipped where mounting is not
// allowed). Commands that change the repository fail and say why.
func TestReadOnlyRepository(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	r := newRepo(t)
	src := smallTree(t, 19)
	id := r.backup(src)
	want := takeManifest(t, src)
	ro := &repo{t: t, dir: filepath.Join(t.TempDir(), "ro"), password: r.password}
	if err := os.Mkdir(ro.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := osexec("mount", "--bind", "-o", "ro", r.dir, ro.dir); err != nil {
		t.Skipf("cannot make a read-only bind mount: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := osexec("umount", ro.dir); err != nil {
			t.Errorf("umount %s: %v\n%s", ro.dir, err, out)
		}
	})
	ro.ok("snapshots")
	ro.ok("ls", "-R", "latest")
	ro.ok("dump", "latest", filepath.Join(src, "album-00", "f0000.jpg"))
	if res := ro.ok("check", "--read-data"); !strings.Contains(res.stderr, "read-only") {
		t.Errorf("check on a read-only repository does not warn that it runs without a lock:\n%v", res)
	}
	ro.restoreAndCompare(id, src, want)
	res := ro.run("backup", src)
	if res.code != 1 || !strings.Contains(res.stderr, "read-only") || !strings.Contains(res.stderr, ro.dir) {
		t.Errorf("backup to a read-only repository: got %v, want exit 1 naming %s and read-only", res, ro.dir)
	}
}

func osexec(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// TestFindIgnoresCase: names and path globs match regardless of case by
// default (Unicode case folding: a camera's DSC_0001.JPG is found by
// '*.jpg', Ärger.nef by 'ärger*'); --case-sensitive opts out.
func TestFindIgnoresCase(t *testing.T) {
	src := filepath.Join(t.TempDir(), "Photos")
	for _, name := range []string{"Wedding/DSC_0001.JPG", "Wedding/dsc_0002.jpg", "Wedding/Ärger.NEF", "notes.txt"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := newRepo(t)
	r.backup(src)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"find", "*.jpg"}, []string{"Wedding/DSC_0001.JPG", "Wedding/dsc_0002.jpg"}},
		{[]string{"find", "DSC_*"}, []string{"Wedding/DSC_0001.JPG", "Wedding/dsc_0002.jpg"}},
		{[]string{"find", "ärger.*"}, []string{"Wedding/Ärger.NEF"}},
		{[]string{"find", strings.ToLower(src) + "/wedding/*.nef"}, []string{"Wedding/Ärger.NEF"}},
		{[]string{"find", "--case-sensitive", "*.jpg"}, []string{"Wedding/dsc_0002.jpg"}},
		{[]string{"find", "--case-sensitive", "ärger.*"}, nil},
		{[]string{"find", "*.JPG", "--case-sensitive"}, []string{"Wedding/DSC_0001.JPG"}},
	} {
		var rows []struct{ Path string }
		r.runJSON(&rows, tc.args...)
		var got []string
		for _, row := range rows {
			rel, err := filepath.Rel(src, row.Path)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rel)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("shoebox %s: found %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
