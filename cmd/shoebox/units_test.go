package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRetentionPeriodsRefuseMinutes: m is minutes in the one grammar of
// docs/UNITS.md, so a restic user's "--keep-within 6m" (six months to
// restic) is refused with the month form, nothing removed, and "6mo"
// keeps the snapshot; lock --until +6m is refused the same way.
func TestRetentionPeriodsRefuseMinutes(t *testing.T) {
	dir := t.TempDir()
	repo, src, pass := filepath.Join(dir, "repo"), filepath.Join(dir, "src"), filepath.Join(dir, "pass")
	for p, b := range map[string]string{pass: "correct horse\n", filepath.Join(src, "a.jpg"): "photo"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, append([]string{"--repo", repo, "--password-file", pass}, args...)...)
	}
	if code, _, stderr := run("init", "--scrypt-logn", "10"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run("backup", src); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"forget", "--keep-within", "6m"}, "keep-within: 6m is 6 minutes, retention period too short (the shortest is 1h0m0s); for months write 6mo"},
		{[]string{"forget", "--keep-within", "30s"}, "keep-within: 30s is 30s, retention period too short"},
		{[]string{"forget", "--keep-within", "6M"}, `keep-within: "6M" is not a duration`},
		{[]string{"lock", "latest", "--until", "+6m"}, "until: 6m is 6 minutes, retention period too short (the shortest is 1h0m0s); for months write 6mo"},
	} {
		code, _, stderr := run(tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want an error containing %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	code, stdout, stderr := run("--json", "forget", "--keep-within", "6mo")
	var rep struct {
		Decisions []struct{ Keep bool }
	}
	if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil || len(rep.Decisions) != 1 || !rep.Decisions[0].Keep {
		t.Errorf("forget --keep-within 6mo: exit %d, %s %s; want the one snapshot kept", code, stdout, stderr)
	}
	if code, stdout, stderr := run("lock", "latest", "--until", "+1y6mo"); code != 0 || !strings.Contains(stdout, "immutable until") {
		t.Errorf("lock --until +1y6mo: exit %d, %s %s", code, stdout, stderr)
	}
}

// TestRaidCapacitySizes: disk sizes are read as everywhere else (SI
// units as disk makers count, IEC units as powers of 1024), and a size
// that is not one names the forms.
func TestRaidCapacitySizes(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		usable int64
	}{
		{[]string{"4T", "4T", "8T"}, 8e12},
		{[]string{"1.5T", "1.5T", "1.5T"}, 3e12},
		{[]string{"2TiB", "2TiB", "2TiB"}, 4 << 40},
		{[]string{"500G", "500GB", "500000000000"}, 1e12},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"--json", "raid", "capacity"}, tc.args...)...)
		var got struct {
			Usable int64 `json:"usable_bytes"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || got.Usable != tc.usable {
			t.Errorf("capacity %v: exit %d, %s %s; want usable %d", tc.args, code, stdout, stderr, tc.usable)
		}
	}
	for _, tc := range []struct{ size, want string }{
		{"4X", `disk size: "4X" is not a size: use bytes with an optional unit`},
		{"0", `disk size "0": a disk holds more than 0 bytes`},
	} {
		code, _, stderr := runCLI(t, "raid", "capacity", "4T", "4T", tc.size)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("capacity 4T 4T %s: exit %d, %q; want an error containing %q", tc.size, code, stderr, tc.want)
		}
	}
}
