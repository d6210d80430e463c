package appliance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/internal/pathx"
)

// pathBox is a box's folders on disk for the source-path check: photos
// under dir/photos (the config file's source dir/photos/family), the
// state in dir/state, disks dir/disk-*, and links leading into them.
type pathBox struct {
	dir, photos, state string
	cfg                *Config
}

func newPathBox(t testing.TB) *pathBox {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &pathBox{dir: dir, photos: filepath.Join(dir, "photos"), state: filepath.Join(dir, "state")}
	for _, d := range []string{"photos/family/2026", "photos/clients", "state/gateway", "disk-a", "disk-b", "disk-c", "elsewhere"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"photos/to-state":    b.state,                         // absolute, into the state
		"photos/rel-state":   "../state/gateway",              // relative, into the state
		"photos/to-etc":      "/etc",                          // into the system
		"photos/to-family":   "family",                        // harmless, stays inside
		"photos/dangling":    filepath.Join(b.state, "later"), // a target made later
		"photos/loop":        "loop",                          // a loop
		"photos/to-root":     "/",                             // everything
		"photos/to-disk":     "../disk-b",                     // an array disk
		"photos/family/up":   "../..",                         // climbs to dir
		"photos/chain-start": "chain-next",                    // two hops into the state
		"photos/chain-next":  b.state,
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "pass"), []byte("x"), 0o600)
	cfg := fmt.Sprintf("state_dir: %s\ndisks:\n  members: [%s/disk-a, %s/disk-b, %s/disk-c]\nrepository:\n  passphrase_file: %s/pass\nsources:\n  - name: family\n    path: %s/photos/family\n",
		b.state, dir, dir, dir, dir, dir)
	c, err := ParseConfig(filepath.Join(dir, "shoeboxd.yaml"), []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	b.cfg = c
	return b
}

// TestSourcePathCheck: sources may lie only under the allowed roots (by
// default the folder holding the config file's sources), never on the
// box's own folders or the system's, links resolved first.
func TestSourcePathCheck(t *testing.T) {
	b := newPathBox(t)
	if got, want := b.cfg.AllowedSourceRoots(), []string{b.photos}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("default allowed roots %v, want %v", got, want)
	}
	for _, tc := range []struct {
		path string
		want string // "" for allowed, else a fragment of the refusal
	}{
		{b.photos, ""},
		{b.photos + "/clients", ""},
		{b.photos + "/not-yet-made", ""},
		{b.photos + "/to-family", ""},
		{b.photos + "/family/2026/../2026", ""},
		{b.photos + "/", ""},
		{"/", "the root of the file system"},
		{b.dir, "it holds the box's state directory"},
		{b.state, "it is the box's state directory"},
		{b.state + "/gateway", "it lies in the box's state directory"},
		{b.photos + "/to-state", "through symbolic links: " + b.state + ")"},
		{b.photos + "/to-state/gateway", "it lies in the box's state directory"},
		{b.photos + "/rel-state", "it lies in the box's state directory"},
		{b.photos + "/chain-start", "it is the box's state directory"},
		{b.photos + "/dangling", "it lies in the box's state directory"},
		{b.photos + "/dangling/deeper", "it lies in the box's state directory"},
		{b.photos + "/to-etc", "the system folder /etc"},
		{b.photos + "/to-root", "the root of the file system"},
		{b.photos + "/to-disk", "the array disk"},
		{b.photos + "/family/up", "it holds the box's state directory"},
		{b.photos + "/../state", "it is the box's state directory"},
		{b.photos + "/loop", "symbolic links (a loop?)"},
		{b.dir + "/pass", "the repository passphrase file"},
		{b.dir + "/elsewhere", "not under an allowed root (allowed: " + b.photos + "); set source_roots in " + b.dir + "/shoeboxd.yaml"},
		{"/etc/ssl", "it lies in the system folder /etc"},
		{"/proc/self/root", "the root of the file system"},
		{"/proc/sys/kernel", "the system folder /proc"},
		{"/dev/shm", "the system folder /dev"},
		{"/run/user", "the system folder /run"},
		{"/root", "the system folder /root"},
		{"/sys/kernel", "the system folder /sys"},
		{"photos", "must be an absolute path"},
		{b.photos + "/a\x00b", "NUL"},
		{b.photos + "/" + strings.Repeat("x", 300), "too long"},
	} {
		err := b.cfg.CheckSourcePath(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused (%v), want allowed", tc.path, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: allowed, want refused (%s)", tc.path, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: got %v, want it to contain %q", tc.path, err, tc.want)
		case err != nil && !errors.Is(err, ErrBadSource):
			t.Errorf("%s: %v is not an ErrBadSource", tc.path, err)
		case err != nil && !strings.Contains(err.Error(), "NUL") && !strings.Contains(err.Error(), "absolute") &&
			!strings.Contains(err.Error(), "too long") && !strings.Contains(err.Error(), "loop") &&
			!strings.Contains(err.Error(), "allowed: "+b.photos):
			t.Errorf("%s: %v does not name the allowed roots", tc.path, err)
		}
	}
}

// TestSourceRootsConfig: the config file's own sources and source_roots
// go through the same check when the file is read, errors naming key and
// line.
func TestSourceRootsConfig(t *testing.T) {
	b := newPathBox(t)
	base := fmt.Sprintf("state_dir: %s\nrepository: {passphrase_file: %s/pass, path: %s/disk-a}\n", b.state, b.dir, b.dir)
	for _, tc := range []struct{ name, yaml, want string }{
		{"source on the state", "sources:\n  - name: s\n    path: " + b.state + "/gateway\n", "c.yaml:5: sources[0].path: source path " + b.state + "/gateway: it lies in the box's state directory"},
		{"source on /", "sources:\n  - {name: s, path: /}\n", "sources[0].path: source path /: it is the root of the file system"},
		{"source through a link", "sources:\n  - {name: s, path: " + b.photos + "/to-etc}\n", "the system folder /etc"},
		{"source outside the roots", "source_roots: [" + b.photos + "]\nsources:\n  - {name: s, path: " + b.dir + "/elsewhere}\n", "not under an allowed root (allowed: " + b.photos + "); set source_roots in c.yaml"},
		{"root /", "source_roots: [/]\n", "c.yaml:3: source_roots[0]: / would let a source read every folder"},
		{"root in /etc", "source_roots: [/etc/photos]\n", "source_roots[0]: /etc/photos lies in the system folder /etc"},
		{"root relative", "source_roots: [photos]\n", "source_roots[0]: must be an absolute path"},
		{"root on a disk", "source_roots: [" + b.dir + "/disk-a/x]\n", "lies in the repository folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(base+tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	c, err := ParseConfig("c.yaml", []byte(base+"source_roots: ["+b.photos+", "+b.dir+"/elsewhere]\nsources:\n  - {name: s, path: "+b.dir+"/elsewhere/x}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSourcePath(b.photos + "/clients"); err != nil {
		t.Error(err)
	}
	if err := c.CheckSourcePath(b.dir + "/disk-b"); err == nil {
		t.Error("with explicit roots, a folder outside them is allowed")
	}
}

// FuzzSourcePath: whatever the path (.., links, unicode, long names,
// NUL), an allowed one resolves, through the links on disk, to a folder
// under an allowed root and clear of every protected folder.
func FuzzSourcePath(f *testing.F) {
	for _, s := range []string{"family", "to-state", "rel-state/x", "../state", "family/up/state", "dangling/x", "loop",
		"to-etc/passwd", "family/../../disk-a", "фото/日本", "to-family/./2026", "a\x00b", strings.Repeat("ü", 200), "/etc", "", "..",
		"chain-start/gateway", "to-root/proc"} {
		f.Add(s)
	}
	b := newPathBox(f)
	roots := []string{b.photos}
	protectedDirs := []string{"/", b.state, b.dir + "/disk-a", b.dir + "/disk-b", b.dir + "/disk-c", b.dir + "/pass",
		"/proc", "/sys", "/dev", "/etc", "/root", "/run"}
	f.Fuzz(func(t *testing.T, rel string) {
		p := rel
		if !strings.HasPrefix(rel, "/") {
			p = b.photos + "/" + rel
		}
		err := b.cfg.CheckSourcePath(p)
		if err == nil {
			if strings.IndexByte(p, 0) >= 0 {
				t.Fatalf("%q with a NUL byte allowed", p)
			}
			real, rerr := resolve(filepath.Clean(p))
			if rerr != nil {
				t.Fatalf("%q allowed, but it does not resolve: %v", p, rerr)
			}
			ok := false
			for _, r := range roots {
				ok = ok || pathx.Within(real, r)
			}
			if !ok {
				t.Fatalf("%q (resolved %s) allowed outside the roots %v", p, real, roots)
			}
			for _, pr := range protectedDirs {
				if pr == "/" && real == "/" || pr != "/" && (pathx.Within(real, pr) || pathx.Within(pr, real)) {
					t.Fatalf("%q (resolved %s) allowed, touching %s", p, real, pr)
				}
			}
			// Where the folder exists, the kernel agrees with resolve.
			if k, err := filepath.EvalSymlinks(filepath.Clean(p)); err == nil && k != real {
				t.Fatalf("%q: resolve says %s, the kernel %s", p, real, k)
			}
			return
		}
		var pe *SourcePathError
		if !errors.As(err, &pe) || !errors.Is(err, ErrBadSource) {
			t.Fatalf("%q: %v is not a *SourcePathError", p, err)
		}
		if pe.Reason == "" && !strings.Contains(err.Error(), "allowed: "+b.photos) {
			t.Fatalf("%q: %v does not name the allowed roots", p, err)
		}
	})
}

// TestHidePaths: messages name the box's own places by what they are,
// the longer of two paths sharing a prefix first, links included.
func TestHidePaths(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "real-state"), 0o700)
	os.Symlink(filepath.Join(dir, "real-state"), filepath.Join(dir, "state"))
	cfg := &Config{StateDir: filepath.Join(dir, "state"), Disks: DisksConfig{Members: []string{dir + "/disk1", dir + "/disk10"}}}
	d := New(cfg, nil)
	for in, want := range map[string]string{
		dir + "/disk10/shards/x: input/output error":     "array disk 2/shards/x: input/output error",
		dir + "/disk1 vanished; " + dir + "/disk10 ok":   "array disk 1 vanished; array disk 2 ok",
		"create " + dir + "/state/restores/a: no space":  "create STATE/restores/a: no space",
		"lock " + dir + "/real-state/gateway/gateway.db": "lock STATE/gateway/gateway.db",
		"/srv/photos/family/a.jpg: damaged":              "/srv/photos/family/a.jpg: damaged",
	} {
		if got := d.HidePaths(in); got != want {
			t.Errorf("HidePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDiskPathCheck: a replacement disk may not be put on the box's own
// folders, an array disk, / or the system's folders, links resolved.
func TestDiskPathCheck(t *testing.T) {
	b := newPathBox(t)
	for _, tc := range []struct{ path, want string }{
		{b.dir + "/new-disk", ""},
		{"/mnt/disk4", ""},
		{"/", "it is the root of the file system"},
		{b.state, "it is the box's state directory"},
		{b.state + "/gateway/x", "it lies in the box's state directory"},
		{b.dir + "/disk-b", "it is the array disk"},
		{b.photos + "/to-state/x", "it lies in the box's state directory"},
		{b.photos + "/to-etc/x", "it lies in the system folder /etc"},
		{"/etc/shoebox-disk", "it lies in the system folder /etc"},
		{"disk4", "give the absolute path"},
	} {
		err := b.cfg.CheckDiskPath(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused (%v), want allowed", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) || !errors.Is(err, ErrBadDiskPath)):
			t.Errorf("%s: got %v, want an ErrBadDiskPath naming it and containing %q", tc.path, err, tc.want)
		}
	}
}
