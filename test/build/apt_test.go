// Package build tests the Makefile and the scripts it runs the way a new
// owner runs them on a fresh Debian machine: the make targets that install
// system packages (through scripts/apt-install.sh, with a stand-in apt-get
// on PATH: the real one would change the machine), and the README's claims
// about the source tree.
package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root is the module root.
var root = func() string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return r
}()

// fakeAptGet stands in for apt-get. It records each call's arguments in
// $FAKE_APT_LOG and behaves as $FAKE_APT_MODE says:
//
//	busy    another apt holds the lock for a while: a call without
//	        -o DPkg::Lock::Timeout fails at once, as the real one does; a
//	        call with it waits and succeeds
//	held    another apt holds the lock longer than any timeout
//	broken  the install fails (the package is not in the lists)
//
// A successful install marks its packages installed (for the fake
// dpkg-query) and links the programs $FAKE_APT_PROVIDES names
// ("pkg=prog,...") from the real system into the fake PATH.
const fakeAptGet = `#!/bin/bash
echo "$*" >>"$FAKE_APT_LOG"
wait=no install=no pkgs=()
for a in "$@"; do
	case $a in
	DPkg::Lock::Timeout=*) wait=yes ;;
	install) install=yes ;;
	-*) ;;
	*) [ $install = yes ] && pkgs+=("$a") ;;
	esac
done
lock() {
	echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
	echo "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?" >&2
	exit 100
}
case $FAKE_APT_MODE in
busy)
	[ $wait = yes ] || lock
	echo "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2 ;;
held) lock ;;
broken)
	if [ $install = yes ]; then echo "E: Unable to locate package ${pkgs[0]}" >&2; exit 100; fi ;;
esac
for p in "${pkgs[@]}"; do
	touch "$FAKE_APT_ROOT/installed-$p"
	IFS=, read -ra provides <<<"$FAKE_APT_PROVIDES"
	for pp in "${provides[@]}"; do
		[ "${pp%%=*}" = "$p" ] && ln -sf "$(PATH=$FAKE_APT_REAL_PATH command -v "${pp#*=}")" "$FAKE_APT_ROOT/bin/${pp#*=}"
	done
done
exit 0
`

// fakeDpkgQuery answers dpkg-query -W -f='${Status}' PKG from what the
// fake apt-get installed.
const fakeDpkgQuery = `#!/bin/bash
p=${!#}
if [ -e "$FAKE_APT_ROOT/installed-$p" ]; then printf 'install ok installed'; exit 0; fi
echo "dpkg-query: no packages found matching $p" >&2
exit 1
`

// fakeApt is a machine whose package manager is the stand-in.
type fakeApt struct {
	t    *testing.T
	dir  string
	env  []string
	log  string
	mode string
}

// newFakeApt makes a PATH of every program on the real PATH except the
// hidden ones (the tools "not installed yet"), apt-get, dpkg-query and
// sudo, which are stand-ins (sudo runs its command as is).
func newFakeApt(t *testing.T, mode, provides string, hide ...string) *fakeApt {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{"apt-get": true, "dpkg-query": true, "sudo": true}
	for _, h := range hide {
		skip[h] = true
	}
	realPath := os.Getenv("PATH")
	for _, d := range filepath.SplitList(realPath) {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			dst := filepath.Join(bin, e.Name())
			if skip[e.Name()] {
				continue
			}
			if _, err := os.Lstat(dst); err == nil {
				continue // an earlier PATH entry wins, as in a shell
			}
			if err := os.Symlink(filepath.Join(d, e.Name()), dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, script := range map[string]string{"apt-get": fakeAptGet, "dpkg-query": fakeDpkgQuery, "sudo": "#!/bin/sh\nexec \"$@\"\n"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeApt{t: t, dir: dir, log: filepath.Join(dir, "apt.log"), mode: mode}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "MAKEFLAGS=") && !strings.HasPrefix(kv, "MAKELEVEL=") {
			f.env = append(f.env, kv)
		}
	}
	f.env = append(f.env, "PATH="+bin, "FAKE_APT_ROOT="+dir, "FAKE_APT_LOG="+f.log, "FAKE_APT_MODE="+mode,
		"FAKE_APT_PROVIDES="+provides, "FAKE_APT_REAL_PATH="+realPath)
	return f
}

// run runs a command in the module root on the fake machine and returns
// its exit code and combined output.
func (f *fakeApt) run(name string, args ...string) (int, string) {
	f.t.Helper()
	c := exec.Command(name, args...)
	c.Dir = root
	c.Env = f.env
	out, err := c.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		f.t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return 0, string(out)
}

// calls returns the recorded apt-get calls.
func (f *fakeApt) calls() []string {
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// A failed install stops each caller with what failed and why, never with
// a later, misleading message (make proto-check used to say "generated
// code is stale").
func TestInstallFailureIsReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		hide []string
		cmd  []string
		pkgs string
	}{
		{"proto-check", []string{"protoc"}, []string{"make", "-s", "proto-check"}, "protobuf-compiler libprotobuf-dev"},
		{"unit-check", []string{"systemd-analyze"}, []string{"make", "-s", "unit-check"}, "systemd"},
		{"e2e-smart", []string{"qemu-system-x86_64"}, []string{"bash", "smart/e2e/run.sh", "--prepare"}, "qemu-system-x86"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeApt(t, "broken", "", tc.hide...)
			f.env = append(f.env, "SHOEBOX_E2E_DIR="+t.TempDir())
			code, out := f.run(tc.cmd[0], tc.cmd[1:]...)
			t.Logf("%s said:\n%s", strings.Join(tc.cmd, " "), out)
			if code == 0 {
				t.Fatalf("%s: exit 0 with apt-get failing, want a failure\n%s", strings.Join(tc.cmd, " "), out)
			}
			for _, want := range []string{"could not install " + tc.pkgs, "E: Unable to locate package", "apt-install: next: "} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: output lacks %q:\n%s", strings.Join(tc.cmd, " "), want, out)
				}
			}
			for _, bad := range []string{"generated code is stale", "does not verify", "command not found"} {
				if strings.Contains(out, bad) {
					t.Errorf("%s: output says %q, hiding the install failure:\n%s", strings.Join(tc.cmd, " "), bad, out)
				}
			}
		})
	}
}

// Another apt holding the lock (unattended-upgrades, a second make) is
// waited for: make unit-check installs systemd-analyze and passes, after an
// apt-get update, both with apt's lock timeout.
func TestUnitCheckWaitsForAptLock(t *testing.T) {
	f := newFakeApt(t, "busy", "systemd=systemd-analyze", "systemd-analyze")
	code, out := f.run("make", "-s", "unit-check")
	if code != 0 {
		t.Fatalf("make unit-check: exit %d while another apt held the lock, want 0\n%s", code, out)
	}
	calls := f.calls()
	if len(calls) != 2 || !strings.HasSuffix(calls[0], " update") || !strings.HasSuffix(calls[1], " install systemd") {
		t.Fatalf("apt-get calls %q, want an update, then the install of systemd", calls)
	}
	for _, c := range calls {
		if !strings.Contains(c, "-o DPkg::Lock::Timeout=300") {
			t.Errorf("apt-get %s: no -o DPkg::Lock::Timeout=300: would fail at once on a busy lock", c)
		}
	}
}

// scripts/apt-install.sh on its own: nothing to do when everything is
// installed (no update, no root needed); a lock held past the timeout is
// said to be that.
func TestAptInstall(t *testing.T) {
	t.Run("installed", func(t *testing.T) {
		f := newFakeApt(t, "broken", "")
		if err := os.WriteFile(filepath.Join(f.dir, "installed-protobuf-compiler"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if code, out := f.run("bash", "scripts/apt-install.sh", "protobuf-compiler"); code != 0 || out != "" {
			t.Errorf("exit %d, output %q; want 0 and nothing said", code, out)
		}
		if c := f.calls(); len(c) != 0 {
			t.Errorf("apt-get called %q with everything installed", c)
		}
	})
	t.Run("lock held", func(t *testing.T) {
		f := newFakeApt(t, "held", "")
		f.env = append(f.env, "APT_LOCK_TIMEOUT=7")
		code, out := f.run("bash", "scripts/apt-install.sh", "--for", "make proto", "protobuf-compiler")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, want := range []string{
			"could not install protobuf-compiler for make proto: another package manager held its lock for more than 7s",
			"It is held by process 4242",
			"set APT_LOCK_TIMEOUT",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		for _, c := range f.calls() {
			if !strings.Contains(c, "DPkg::Lock::Timeout=7") {
				t.Errorf("apt-get %s: not APT_LOCK_TIMEOUT's 7 s", c)
			}
		}
	})
}
