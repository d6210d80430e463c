package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLockUntilDate: `lock --until DATE` holds the snapshot until the end
// of that day in the box's time zone, and says so with the zone; an
// RFC 3339 time stays exact.
func TestLockUntilDate(t *testing.T) {
	r := newRepo(t)
	src := filepath.Join(t.TempDir(), "photos")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.jpg"), []byte("a photo"), 0o644)
	snap := r.backup(src)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("time zone data: %v", err)
	}
	r.env = append(r.env, "TZ=America/New_York")

	res := r.ok("lock", snap[:8], "--until", "2030-12-31")
	if want := "until 2030-12-31 23:59:59.999 EST (-05:00)"; !strings.Contains(res.stdout, want) {
		t.Errorf("lock --until 2030-12-31 printed %q, want it to say %q", res.stdout, want)
	}
	var rows []snapRow
	r.runJSON(&rows, "snapshots")
	end := time.Date(2030, 12, 31, 23, 59, 59, 999e6, ny)
	if len(rows) != 1 || rows[0].Immutable == nil || !rows[0].Immutable.Equal(end) {
		t.Errorf("snapshot held until %v, want %v (the end of the day in the box's zone)", rows[0].Immutable, end)
	}

	exact := "2031-06-30T12:00:00+02:00"
	res = r.ok("lock", snap[:8], "--until", exact)
	if want := "until 2031-06-30 06:00:00.000 EDT (-04:00)"; !strings.Contains(res.stdout, want) {
		t.Errorf("lock --until %s printed %q, want %q", exact, res.stdout, want)
	}
}

// TestDaemonAddressForms: SHOEBOX_DAEMON takes the daemon's address as
// written in its config's listen (a bare HOST:PORT) as well as a URL;
// plain http:// is refused before any token is sent.
func TestDaemonAddressForms(t *testing.T) {
	b := newBoxDirs(t)
	b.writeConfig("smart: {disabled: true}\n")
	b.start()
	defer b.stop()
	r := &repo{t: t, dir: "raid:" + strings.Join(b.disks, ","), password: testPassword}
	for _, addr := range []string{b.listen, "https://" + b.listen, "https://" + b.listen + "/"} {
		r.env = []string{"SHOEBOX_STATE_DIR=" + b.state, "SHOEBOX_DAEMON=" + addr}
		if res := r.run("status"); res.code != 0 || !strings.Contains(res.stdout, "array") {
			t.Errorf("SHOEBOX_DAEMON=%s: %v", addr, res)
		}
	}
	r.env = []string{"SHOEBOX_STATE_DIR=" + b.state, "SHOEBOX_DAEMON=http://" + b.listen}
	if res := r.run("status"); res.code == 0 || !strings.Contains(res.stderr, "HTTPS only") {
		t.Errorf("SHOEBOX_DAEMON=http://…: %v; want a refusal saying the daemon speaks HTTPS only", res)
	}
}

// TestMakeHelpListsEveryTarget: every target the Makefile declares phony
// is in `make help`, with its description.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	phony := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindSubmatch(mk)
	if phony == nil {
		t.Fatal("no .PHONY line in the Makefile")
	}
	out, err := exec.Command("make", "-s", "-C", "../..", "help").CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, target := range strings.Fields(string(phony[1])) {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(target) + `\s+\S`).Match(out) {
			t.Errorf("make help does not list %s:\n%s", target, out)
		}
	}
}
