package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestArgumentErrors: every command refuses a wrong number of arguments,
// a flag value of the wrong type, a bad duration, size, date or pattern,
// and conflicting flags, with exit 1 and a message that names the
// problem; none of them touches the repository (it stays as it was).
func TestArgumentErrors(t *testing.T) {
	r := newTestRepo(t)
	before := r.must(t, "--json", "snapshots")
	newFakeDaemon(t, nil, nil) // the daemon commands reach the flag checks
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"init", "extra"}, `unknown command "extra" for "shoebox init"`},
		{[]string{"init", "--pack-size", "4096"}, "init: --pack-size 4096 out of range (1 MiB to 1 GiB)"},
		{[]string{"init", "--post-quantum=maybe"}, `invalid argument "maybe" for "--post-quantum"`},
		{[]string{"backup"}, "requires at least 1 arg(s), only received 0"},
		{[]string{"snapshots", "extra"}, `unknown command "extra" for "shoebox snapshots"`},
		{[]string{"ls"}, "accepts between 1 and 2 arg(s), received 0"},
		{[]string{"ls", "latest", "/a", "/b"}, "accepts between 1 and 2 arg(s), received 3"},
		{[]string{"find"}, "accepts 1 arg(s), received 0"},
		{[]string{"find", "[a-"}, `bad pattern "[a-": syntax error in pattern`},
		{[]string{"diff", "latest"}, "accepts 2 arg(s), received 1"},
		{[]string{"restore", "latest"}, "restore: --target DIR is required"},
		{[]string{"restore"}, "accepts 1 arg(s), received 0"},
		{[]string{"restore", "latest", "--target", "x", "--overwrite", "--skip-existing"}, "restore: --overwrite and --skip-existing: choose one"},
		{[]string{"restore", "latest", "--target", "x", "--skip-existing", "--verify"}, "restore: --skip-existing and --verify: choose one"},
		{[]string{"restore", "latest", "--target", "x", "--no-keep"}, "restore: --no-keep goes with --overwrite or --verify"},
		{[]string{"restore", "latest", "--target", "x", "--skip-existing", "--no-keep"}, "restore: --no-keep goes with --overwrite or --verify"},
		{[]string{"dump", "latest"}, "accepts 2 arg(s), received 1"},
		{[]string{"check", "extra"}, `unknown command "extra" for "shoebox check"`},
		{[]string{"check", "--read-data=maybe"}, `invalid argument "maybe" for "--read-data"`},
		{[]string{"forget", "--keep-last", "two"}, `invalid argument "two" for "--keep-last"`},
		{[]string{"forget", "--keep-within", "6m"}, "keep-within: 6m is 6 minutes, retention period too short"},
		{[]string{"forget", "--keep-within", "soon"}, `keep-within: "soon" is not a duration`},
		{[]string{"forget", "latest", "--keep-daily", "7"}, "forget: give snapshot IDs or --keep-… rules, not both"},
		{[]string{"prune", "extra"}, `unknown command "extra" for "shoebox prune"`},
		{[]string{"lock", "latest"}, `required flag(s) "until" not set`},
		{[]string{"lock", "--until", "2099-01-01"}, "accepts 1 arg(s), received 0"},
		{[]string{"lock", "latest", "--until", "someday"}, `bad date "someday": use 2027-06-30, an RFC 3339 time, or a duration`},
		{[]string{"lock", "latest", "--until", "+30m"}, "until: 30m is 30 minutes, retention period too short"},
		{[]string{"unlock", "extra"}, `unknown command "extra" for "shoebox unlock"`},
		{[]string{"stats", "extra"}, `unknown command "extra" for "shoebox stats"`},
		{[]string{"key", "list", "extra"}, `unknown command "extra" for "shoebox key list"`},
		{[]string{"key", "add", "--scrypt-logn", "ten"}, `invalid argument "ten" for "--scrypt-logn"`},
		{[]string{"key", "add-recovery", "extra"}, `unknown command "extra" for "shoebox key add-recovery"`},
		{[]string{"key", "remove"}, "accepts 1 arg(s), received 0"},
		{[]string{"key", "passwd", "extra"}, `unknown command "extra" for "shoebox key passwd"`},
		{[]string{"key", "export-identity", "extra"}, `unknown command "extra" for "shoebox key export-identity"`},
		{[]string{"repair", "index", "extra"}, `unknown command "extra" for "shoebox repair index"`},
		{[]string{"raid", "create", "d1"}, "requires at least 2 arg(s), only received 1"},
		{[]string{"raid", "create", "--parity", "one", "d1", "d2"}, `invalid argument "one" for "--parity"`},
		{[]string{"raid", "status"}, "requires at least 1 arg(s), only received 0"},
		{[]string{"raid", "scrub", "--rate", "fast", "d1"}, `invalid argument "fast" for "--rate"`},
		{[]string{"raid", "add", "d1"}, "requires at least 2 arg(s), only received 1"},
		{[]string{"raid", "replace", "d1", "d2"}, "requires at least 3 arg(s), only received 2"},
		{[]string{"raid", "rebuild"}, "requires at least 1 arg(s), only received 0"},
		{[]string{"raid", "evacuate", "d1"}, "requires at least 2 arg(s), only received 1"},
		{[]string{"raid", "remove", "d1"}, "requires at least 2 arg(s), only received 1"},
		{[]string{"raid", "capacity"}, "requires at least 1 arg(s), only received 0"},
		{[]string{"raid", "capacity", "4T", "4X"}, `disk size: "4X" is not a size`},
		{[]string{"raid", "capacity", "4T", "0"}, `disk size "0": a disk holds more than 0 bytes`},
		{[]string{"disks", "extra"}, `unknown command "extra" for "shoebox disks"`},
		{[]string{"disks", "--evacuate=maybe"}, `invalid argument "maybe" for "--evacuate"`},
		{[]string{"disks", "history"}, "accepts 1 arg(s), received 0"},
		{[]string{"disks", "ack", "a", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"status", "extra"}, `unknown command "extra" for "shoebox status"`},
		{[]string{"sources", "extra"}, `unknown command "extra" for "shoebox sources"`},
		{[]string{"alerts", "extra"}, `unknown command "extra" for "shoebox alerts"`},
		{[]string{"alerts", "ack"}, "accepts 1 arg(s), received 0"},
		{[]string{"cards", "extra"}, `unknown command "extra" for "shoebox cards"`},
		{[]string{"drills", "extra"}, `unknown command "extra" for "shoebox drills"`},
		{[]string{"pair-phone", "extra"}, `unknown command "extra" for "shoebox pair-phone"`},
		{[]string{"pair-phone", "--valid", "ten"}, `invalid argument "ten" for "--valid"`},
		{[]string{"pair-phone", "--list", "--cancel", "enr1"}, "give --list or --cancel, not both"},
		{[]string{"user", "add"}, "accepts 1 arg(s), received 0"},
		{[]string{"user", "add", "anna", "--no-password", "--user-password-file", "pw"}, "give --no-password or --user-password-file, not both"},
		{[]string{"user", "list", "extra"}, `unknown command "extra" for "shoebox user list"`},
		{[]string{"user", "grant", "anna", "family"}, "accepts 3 arg(s), received 2"},
		{[]string{"user", "reset"}, "accepts 1 arg(s), received 0"},
		{[]string{"user", "reset", "anna", "--valid", "ten"}, `invalid argument "ten" for "--valid"`},
		{[]string{"audit", "verify", "extra"}, `unknown command "extra" for "shoebox audit verify"`},
		{[]string{"cluster", "offer", "extra"}, `unknown command "extra" for "shoebox cluster offer"`},
		{[]string{"cluster", "offer", "--replace=maybe"}, `invalid argument "maybe" for "--replace"`},
		{[]string{"cluster", "pair", "--device-id", "X", "--code", "C"}, "accepts 1 arg(s), received 0"},
		{[]string{"cluster", "pair", "a:8444", "b:8444", "--device-id", "X", "--code", "C"}, "accepts 1 arg(s), received 2"},
		{[]string{"cluster", "pair", "a:8444", "--code", "C"}, `required flag(s) "device-id" not set`},
		{[]string{"cluster", "pair", "a:8444", "--device-id", "X"}, `required flag(s) "code" not set`},
		{[]string{"cluster", "unpair", "extra"}, `unknown command "extra" for "shoebox cluster unpair"`},
		{[]string{"cluster", "status", "extra"}, `unknown command "extra" for "shoebox cluster status"`},
		{[]string{"nosuch"}, `unknown command "nosuch" for "shoebox"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := r.run(t, tt.args...)
			if code != ExitError || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q (stdout %q)", code, stderr, ExitError, tt.want, stdout)
			}
		})
	}
	if after := r.must(t, "--json", "snapshots"); after != before {
		t.Errorf("the refused commands changed the snapshots:\n%s\nwas\n%s", after, before)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "..", "x")); err == nil {
		t.Error("a refused restore made its target")
	}
}

// TestRunRestoreConflicts: runRestore, called without cobra, refuses the
// choices for existing files that exclude each other before it opens the
// repository (here: none is given).
func TestRunRestoreConflicts(t *testing.T) {
	g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	target := filepath.Join(t.TempDir(), "target")
	for _, tc := range []struct {
		opts restoreOptions
		want string
	}{
		{restoreOptions{Snapshot: "latest", Overwrite: true, SkipExisting: true}, "--overwrite and --skip-existing: choose one"},
		{restoreOptions{Snapshot: "latest", Overwrite: true, SkipExisting: true, Verify: true}, "--overwrite and --skip-existing and --verify: choose one"},
		{restoreOptions{Snapshot: "latest", Overwrite: true, Verify: true}, "--overwrite and --verify: choose one"},
		{restoreOptions{Snapshot: "latest"}, "--target DIR is required"},
		// The checks passed, the repository is the next thing: none given.
		{restoreOptions{Snapshot: "latest", Overwrite: true}, "no repository given: use --repo DIR or set SHOEBOX_REPO"},
	} {
		if tc.opts.Restore.Target == "" && tc.want != "--target DIR is required" {
			tc.opts.Restore.Target = target
		}
		err := runRestore(t.Context(), g, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("runRestore(%+v): %v; want %q", tc.opts, err, tc.want)
		}
	}
}

// TestDaemonHung: a daemon that accepts the request and never answers
// gives, after the quick calls' deadline, an error that names its
// address and what to check; forget and prune (no deadline) stop when
// the context is cancelled (Ctrl-C) and say the operation may still run.
func TestDaemonHung(t *testing.T) {
	arrived := make(chan string, 16)
	done := make(chan struct{})
	d := newFakeDaemon(t, nil, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leave
		arrived <- r.URL.Path
		select {
		case <-r.Context().Done(): // the client gave up
		case <-done:
		}
		// Never answer: returning would send an empty 200, which the
		// client's transport may still read after its deadline.
		panic(http.ErrAbortHandler)
	})
	t.Cleanup(func() { close(done) }) // before the server closes
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, daemonTimeout: 50 * time.Millisecond}
	err := runGet(t.Context(), g, "/v1/status", printStatus)
	want := "shoeboxd at " + d.addr + " did not answer within 50ms: check that it runs and is not stuck (`systemctl status shoeboxd`, `journalctl -u shoeboxd`), then try again"
	if err == nil || err.Error() != want {
		t.Errorf("status of a hung daemon: %v\nwant %s", err, want)
	}
	for name, call := range map[string]func() error{
		"alerts ack": func() error { return runAlertAck(t.Context(), g, "al1") },
		"pair-phone": func() error { return runPairPhone(t.Context(), g, pairOptions{List: true}) },
		"user add":   func() error { return runUserAdd(t.Context(), g, userAddOptions{Name: "ben", NoPassword: true}) },
		"user grant": func() error {
			return runUserGrant(t.Context(), g, userGrantOptions{Name: "anna", Space: "family", Permissions: "read"})
		},
		"user reset":    func() error { return runUserReset(t.Context(), g, userResetOptions{Name: "ben"}) },
		"cluster offer": func() error { return runClusterOffer(t.Context(), g, clusterOptions{}) },
		"cluster pair": func() error {
			return runClusterPair(t.Context(), g, clusterOptions{Addr: "a:8444", DeviceID: "X", Code: "C"})
		},
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "did not answer within 50ms") {
			t.Errorf("%s on a hung daemon: %v; want the timeout", name, err)
		}
	}

	// forget and prune through the daemon (no repository given, a
	// daemon's state directory found) have no deadline: cancelling the
	// context (Ctrl-C) stops the wait.
	for name, call := range map[string]func(ctx context.Context) error{
		"/v1/snapshots/forget": func(ctx context.Context) error { return runForget(ctx, g, forgetOptions{IDs: []string{"abc"}}) },
		"/v1/repository/prune": func(ctx context.Context) error { return runPrune(ctx, g, pruneOptions{}) },
	} {
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			for p := range arrived {
				if p == name {
					cancel()
					return
				}
			}
		}()
		err := call(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "stopped waiting for shoeboxd at "+d.addr) || !strings.Contains(err.Error(), "may still run there") {
			t.Errorf("%s on a hung daemon, cancelled: %v; want it stopped, and said so", name, err)
		}
	}
}
