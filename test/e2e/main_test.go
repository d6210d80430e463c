// Package e2e tests the real shoebox binary end to end: every command,
// its exit codes and JSON output, decryption of repository files with the
// stock age tool, and crash safety under SIGKILL at random instants.
//
// TestMain builds cmd/shoebox once, without the race detector, so that the
// many processes the crash tests start and kill stay fast even under
// `go test -race`. E2E_TRACE=1 logs every command with its duration.
package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shoeboxBin is the binary under test, built by TestMain.
var shoeboxBin, shoeboxdBin string

// repoRoot is the module root (two levels above this package).
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "shoebox-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shoeboxBin = filepath.Join(dir, "shoebox")
	build := exec.Command("go", "build", "-o", shoeboxBin, "./cmd/shoebox")
	build.Dir = root
	build.Env = append(os.Environ(), "GOFLAGS="+stripRace(os.Getenv("GOFLAGS")))
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shoebox: %v\n%s", err, out)
		return 1
	}
	shoeboxdBin = filepath.Join(dir, "shoeboxd")
	build = exec.Command("go", "build", "-o", shoeboxdBin, "./cmd/shoeboxd")
	build.Dir = root
	build.Env = append(os.Environ(), "GOFLAGS="+stripRace(os.Getenv("GOFLAGS")))
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shoeboxd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// stripRace removes -race from GOFLAGS: the binary under test is built
// without the race detector on purpose.
func stripRace(flags string) string {
	var keep []string
	for _, f := range strings.Fields(flags) {
		if f != "-race" && f != "--race" && f != "-race=true" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

// baseEnv is the environment of every shoebox process: the test's own
// without any SHOEBOX_ variable.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SHOEBOX_") {
			env = append(env, kv)
		}
	}
	return env
}

// result is what one shoebox process did.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int
	dur    time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("shoebox %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// repo is a repository used through the binary.
type repo struct {
	t        *testing.T
	dir      string
	password string
	env      []string // extra environment, after the defaults
	recovery string   // recovery identity printed by init
	id       string
}

const testPassword = "correct horse battery staple"

// newRepo creates a repository with cheap key derivation. extra flags go
// to init (--post-quantum, --pack-size N).
func newRepo(t *testing.T, extra ...string) *repo {
	t.Helper()
	r := &repo{t: t, dir: filepath.Join(t.TempDir(), "repo"), password: testPassword}
	var out struct {
		ID       string `json:"id"`
		Recovery string `json:"recovery_identity"`
	}
	r.runJSON(&out, append([]string{"init", "--scrypt-logn", "10"}, extra...)...)
	if out.ID == "" || !strings.HasPrefix(out.Recovery, "AGE-SECRET-KEY-") {
		t.Fatalf("init printed id %q, recovery %q", out.ID, out.Recovery)
	}
	r.id, r.recovery = out.ID, out.Recovery
	return r
}

func (r *repo) environ() []string {
	env := append(baseEnv(), "SHOEBOX_REPO="+r.dir)
	if r.password != "" {
		env = append(env, "SHOEBOX_PASSWORD="+r.password)
	}
	return append(env, r.env...)
}

// command returns an unstarted shoebox process on the repository.
func (r *repo) command(args ...string) *exec.Cmd {
	c := exec.Command(shoeboxBin, args...)
	c.Env = r.environ()
	return c
}

// run runs shoebox and returns what it did, whatever the exit code.
func (r *repo) run(args ...string) result {
	r.t.Helper()
	return r.runStdin(nil, args...)
}

func (r *repo) runStdin(stdin io.Reader, args ...string) result {
	r.t.Helper()
	c := r.command(args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr, c.Stdin = &stdout, &stderr, stdin
	start := time.Now()
	err := c.Run()
	res := result{args: args, stdout: stdout.String(), stderr: stderr.String(), dur: time.Since(start)}
	if os.Getenv("E2E_TRACE") != "" {
		r.t.Logf("%6dms shoebox %s", res.dur.Milliseconds(), strings.Join(args, " "))
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			r.t.Fatalf("run shoebox %v: %v", args, err)
		}
		res.code = ee.ExitCode()
	}
	return res
}

// ok runs shoebox and fails the test unless it exits 0.
func (r *repo) ok(args ...string) result {
	r.t.Helper()
	res := r.run(args...)
	if res.code != 0 {
		r.t.Fatalf("%v", res)
	}
	return res
}

// runJSON runs shoebox --json ARGS, requires exit 0 and decodes stdout.
func (r *repo) runJSON(v any, args ...string) result {
	r.t.Helper()
	res := r.ok(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(res.stdout), v); err != nil {
		r.t.Fatalf("shoebox --json %s: stdout is not JSON: %v\n%s", strings.Join(args, " "), err, res.stdout)
	}
	return res
}

// backup backs up paths and returns the full snapshot ID.
func (r *repo) backup(args ...string) string {
	r.t.Helper()
	var out struct {
		Snapshot string `json:"snapshot"`
	}
	r.runJSON(&out, append([]string{"backup"}, args...)...)
	if len(out.Snapshot) != 64 {
		r.t.Fatalf("backup printed snapshot %q", out.Snapshot)
	}
	return out.Snapshot
}

type snapRow struct {
	ID        string     `json:"id"`
	ShortID   string     `json:"short_id"`
	Time      time.Time  `json:"time"`
	Paths     []string   `json:"paths"`
	Tags      []string   `json:"tags"`
	Immutable *time.Time `json:"immutable_until"`
}

func (r *repo) snapshots() []snapRow {
	r.t.Helper()
	var rows []snapRow
	r.runJSON(&rows, "snapshots")
	return rows
}

func (r *repo) snapshotIDs() map[string]bool {
	r.t.Helper()
	ids := map[string]bool{}
	for _, s := range r.snapshots() {
		ids[s.ID] = true
	}
	return ids
}

type checkResult struct {
	Snapshots int      `json:"snapshots"`
	Packs     int      `json:"packs"`
	Errors    []string `json:"errors"`
	Warnings  []string `json:"warnings"`
}

// check runs check --read-data and requires it to pass.
func (r *repo) check() checkResult {
	r.t.Helper()
	var c checkResult
	res := r.run("--json", "check", "--read-data")
	if err := json.Unmarshal([]byte(res.stdout), &c); err != nil || res.code != 0 || len(c.Errors) > 0 {
		r.t.Fatalf("check --read-data failed: %v", res)
	}
	return c
}

// files lists the repository files below a folder (data, index, locks…),
// relative to the repository.
func (r *repo) files(dir string) []string {
	r.t.Helper()
	var out []string
	root := filepath.Join(r.dir, dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == root {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(r.dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// restoreAndCompare restores snapshot id and compares every restored file
// under src with the manifest taken when the snapshot was made.
func (r *repo) restoreAndCompare(id, src string, want manifest) {
	r.t.Helper()
	target := filepath.Join(r.t.TempDir(), "restore")
	r.ok("restore", id, "--target", target)
	got := takeManifest(r.t, filepath.Join(target, src))
	if d := diffManifests(want, got); d != "" {
		r.t.Fatalf("snapshot %.8s restored differently from its source:\n%s", id, d)
	}
	if err := os.RemoveAll(target); err != nil {
		r.t.Fatal(err)
	}
}

// entry describes one file system entry in a manifest.
type entry struct {
	Type   string // "f", "d", "l"
	Mode   fs.FileMode
	Size   int64
	SHA256 string
	Target string
	MTime  time.Time // files only
}

// manifest maps slash-separated relative paths to entries.
type manifest map[string]entry

// diffManifests lists the differences between two manifests, at most 20.
func diffManifests(want, got manifest) string {
	var lines []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("missing %s", p))
		case g != w:
			lines = append(lines, fmt.Sprintf("%s: got %+v, want %+v", p, g, w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			lines = append(lines, fmt.Sprintf("unexpected %s", p))
		}
	}
	sort.Strings(lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("… and %d more", len(lines)-20))
	}
	return strings.Join(lines, "\n")
}

// takeManifest describes the tree under root.
func takeManifest(t *testing.T, root string) manifest {
	t.Helper()
	m := manifest{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{Mode: fi.Mode().Perm()}
		switch {
		case fi.Mode().IsRegular():
			e.Type, e.Size, e.MTime = "f", fi.Size(), fi.ModTime().UTC()
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
		case fi.IsDir():
			e.Type = "d"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type, e.Mode = "l", 0
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			e.Type = fi.Mode().Type().String()
		}
		m[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stream is a deterministic, fast byte source (AES-CTR keyed by a seed):
// random-looking data for incompressible files, fast even under -race.
type stream struct{ cipher.Stream }

func newStream(seed uint64) *stream {
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	binary.LittleEndian.PutUint64(key[8:], 0x73686f65626f78) // "shoebox"
	b, _ := aes.NewCipher(key[:])
	return &stream{cipher.NewCTR(b, make([]byte, aes.BlockSize))}
}

func (s *stream) Read(p []byte) (int, error) {
	clear(p)
	s.XORKeyStream(p, p)
	return len(p), nil
}

// treeSpec describes a generated tree.
type treeSpec struct {
	Big      int // files of BigSize bytes ± 25 %
	BigSize  int
	Small    int // files of up to 64 KiB, half of them compressible text
	Dirs     int // small files are spread over this many folders
	Symlinks bool
}

// genTree writes a deterministic tree into dir.
func genTree(t *testing.T, dir string, seed uint64, spec treeSpec) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	src := newStream(seed)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, n int, text bool) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = io.LimitReader(src, int64(n))
		if text {
			r = io.LimitReader(&textReader{rnd: rnd}, int64(n))
		}
		if _, err := io.Copy(f, r); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < spec.Big; i++ {
		n := spec.BigSize*3/4 + rnd.IntN(spec.BigSize/2+1)
		write(filepath.Join(dir, fmt.Sprintf("big-%03d.raw", i)), n, false)
	}
	dirs := max(spec.Dirs, 1)
	for i := 0; i < spec.Small; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("album-%02d", i%dirs))
		ext := []string{".jpg", ".txt", ".xmp", ".json"}[i%4]
		write(filepath.Join(sub, fmt.Sprintf("f%04d%s", i, ext)), rnd.IntN(64<<10), ext != ".jpg")
	}
	if spec.Symlinks {
		if err := os.Symlink("album-00", filepath.Join(dir, "link-to-album")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "empty-dir"), 0o750); err != nil {
			t.Fatal(err)
		}
	}
}

// textReader yields compressible, log-like text.
type textReader struct {
	rnd *rand.Rand
	buf []byte
}

func (r *textReader) Read(p []byte) (int, error) {
	words := []string{"photo", "album", "camera", "lens", "exposure", "iso", "holiday", "family", "raw", "sidecar"}
	for len(r.buf) < len(p) {
		r.buf = fmt.Appendf(r.buf, "%s=%d %s\n", words[r.rnd.IntN(len(words))], r.rnd.IntN(10000), words[r.rnd.IntN(len(words))])
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// killAfter starts a shoebox process, sends it SIGKILL after delay and
// reports whether it was still running at that instant.
func (r *repo) killAfter(delay time.Duration, args ...string) (killed bool) {
	r.t.Helper()
	c := r.command(args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			r.t.Fatalf("shoebox %v failed before it was killed: %v\n%s", args, err, out.String())
		}
		return false
	case <-time.After(delay):
	}
	c.Process.Signal(syscall.SIGKILL)
	err := <-done // reaped: its PID is gone, so its lock is stale
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		r.t.Fatalf("shoebox %v failed before it was killed: %v\n%s", args, err, out.String())
	}
	return false
}
