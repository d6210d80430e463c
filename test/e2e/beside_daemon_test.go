package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCLIBesideDaemon runs the real CLI's reading commands against the
// array a real shoeboxd holds while it keeps backing up a watched folder
// and applying its retention (keep_last 1 forgets a snapshot after every
// backup): snapshots, ls, find, restore, check --read-data, stats and dump
// all work, and see a consistent repository. Commands that write get an
// error that says the daemon owns the repository and what to do instead.
func TestCLIBesideDaemon(t *testing.T) {
	b := newBoxDirs(t)
	b.writeConfig(fmt.Sprintf(`sources:
  - name: inbox
    path: %s
    settle: 300ms
    retention: {keep_last: 1}
smart:
  disabled: true
`, b.inbox))
	os.MkdirAll(filepath.Join(b.inbox, "2026"), 0o755)
	photo := filepath.Join(b.inbox, "2026", "DSC_0001.JPG")
	content := bytes.Repeat([]byte("a photo "), 300000)
	if err := os.WriteFile(photo, content, 0o644); err != nil {
		t.Fatal(err)
	}
	b.start()
	b.waitFor("the photo in a snapshot", 60*time.Second, func() bool {
		res := b.cli("ls", "latest", "-R", b.inbox)
		return res.code == 0 && strings.Contains(res.stdout, "DSC_0001.JPG")
	})

	// The daemon keeps backing up (a new file every 600 ms, each settled
	// after 300 ms) and forgetting (keep_last 1) while the CLI reads.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(600 * time.Millisecond):
			}
			os.WriteFile(filepath.Join(b.inbox, "2026", fmt.Sprintf("new-%04d.jpg", i)), bytes.Repeat([]byte{byte(i)}, 100000+i), 0o644)
		}
	}()
	stopWriting := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopWriting()

	out := t.TempDir()
	for round := 0; round < 3; round++ {
		var snaps []map[string]any
		res := b.cli("--json", "snapshots")
		if res.code != 0 || json.Unmarshal([]byte(res.stdout), &snaps) != nil || len(snaps) == 0 {
			t.Errorf("snapshots beside the daemon: %v", res)
		}
		if res := b.cli("ls", "latest", "-R", b.inbox); res.code != 0 || !strings.Contains(res.stdout, "DSC_0001.JPG") {
			t.Errorf("ls beside the daemon: %v", res)
		}
		if res := b.cli("find", "DSC_0001.JPG"); res.code != 0 || !strings.Contains(res.stdout, photo) {
			t.Errorf("find beside the daemon: %v", res)
		}
		target := filepath.Join(out, fmt.Sprint(round))
		if res := b.cli("restore", "latest", "--target", target, "--include", photo); res.code != 0 {
			t.Errorf("restore beside the daemon: %v", res)
		} else if got, err := os.ReadFile(filepath.Join(target, photo)); err != nil || !bytes.Equal(got, content) {
			t.Errorf("restored beside the daemon: %d bytes (%v), want %d", len(got), err, len(content))
		}
		if res := b.cli("check", "--read-data"); res.code != 0 {
			t.Errorf("check --read-data beside the daemon: %v", res)
		}
		if res := b.cli("stats"); res.code != 0 || !strings.Contains(res.stdout, "snapshots") {
			t.Errorf("stats beside the daemon: %v", res)
		}
		if res := b.cli("dump", "latest", photo); res.code != 0 || res.stdout != string(content) {
			t.Errorf("dump beside the daemon: exit %d, %d bytes, stderr %s", res.code, len(res.stdout), res.stderr)
		}
		if t.Failed() {
			t.Fatalf("daemon log:\n%s", b.log)
		}
	}

	// And the other reading commands.
	if res := b.cli("diff", "latest", "latest"); res.code != 0 {
		t.Errorf("diff beside the daemon: %v", res)
	}
	if res := b.cli("key", "list"); res.code != 0 {
		t.Errorf("key list beside the daemon: %v", res)
	}

	// Commands that write: refused, saying who owns the repository and
	// what to run instead.
	keyFile := filepath.Join(b.dir, "newpass")
	os.WriteFile(keyFile, []byte("another passphrase\n"), 0o600)
	for _, tc := range []struct {
		args    []string
		instead string
	}{
		{[]string{"backup", b.dir}, "sources"},
		{[]string{"init"}, "already"},
		{[]string{"key", "add"}, "systemctl stop shoeboxd"},
		{[]string{"unlock"}, "systemctl stop shoeboxd"},
	} {
		r := &repo{t: t, dir: "raid:" + strings.Join(b.disks, ","), password: testPassword,
			env: []string{"SHOEBOX_STATE_DIR=" + b.state, "SHOEBOX_DAEMON=https://" + b.listen, "SHOEBOX_NEW_PASSWORD_FILE=" + keyFile}}
		res := r.run(tc.args...)
		if res.code == 0 || !strings.Contains(res.stderr, "shoeboxd") || !strings.Contains(res.stderr, tc.instead) {
			t.Errorf("%s beside the daemon: %v\nwant an error naming shoeboxd and %q", tc.args[0], res, tc.instead)
		}
	}

	// forget and prune go through the daemon (docs/DAEMON.md), and say so.
	for _, args := range [][]string{{"forget", "--keep-last", "1", "--dry-run"}, {"prune", "--dry-run"}} {
		r := &repo{t: t, dir: "raid:" + strings.Join(b.disks, ","), password: testPassword,
			env: []string{"SHOEBOX_STATE_DIR=" + b.state, "SHOEBOX_DAEMON=https://" + b.listen}}
		// The daemon's own retention or backup may hold the repository
		// at that moment: the command says so and is run again.
		res := r.run(args...)
		for deadline := time.Now().Add(30 * time.Second); res.code != 0 && strings.Contains(res.stderr, "try again") && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			res = r.run(args...)
		}
		if res.code != 0 || !strings.Contains(res.stderr, "ran through it") {
			t.Errorf("%s beside the daemon: %v\nwant it run through shoeboxd, saying so", args[0], res)
		}
	}

	// The daemon went on backing up throughout, and its retention
	// (keep_last 1) is applied once the CLI's reads are done.
	stopWriting()
	b.waitFor("a backup after the CLI's reads", 30*time.Second, func() bool {
		res := b.cli("ls", "latest", "-R", b.inbox)
		return res.code == 0 && strings.Count(res.stdout, "new-") >= 5
	})
	b.waitFor("retention after the CLI's reads", 30*time.Second, func() bool {
		var snaps []map[string]any
		res := b.cli("--json", "snapshots")
		return res.code == 0 && json.Unmarshal([]byte(res.stdout), &snaps) == nil && len(snaps) == 1
	})
}
