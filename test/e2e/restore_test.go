package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRestoreExistingFiles restores over a folder that already holds the
// files: by default nothing is overwritten (the refusal names the first
// file in the way and the options, and nothing is written); --skip-existing
// leaves them, --verify rewrites only what differs, --overwrite replaces
// them, keeping each old file as NAME.shoebox-old (numbered when that is
// taken) unless --no-keep.
func TestRestoreExistingFiles(t *testing.T) {
	r := newRepo(t)
	src := filepath.Join(t.TempDir(), "photos")
	files := map[string]string{
		"2024/a.jpg":      "photo a, as backed up\n",
		"2024/b.txt":      "notes b\n",
		"2024/raw/c.cr3":  "raw c\n",
		"2024/raw/d.cr3":  "raw d, same size\n",
		"2025/e.heic":     "photo e\n",
		"2025/edit/f.xmp": "sidecar f\n",
	}
	for p, c := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755)
		if err := os.WriteFile(filepath.Join(src, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.backup(src)
	target := filepath.Join(t.TempDir(), "restore")
	r.ok("restore", "latest", "--target", target)
	in := func(p string) string { return filepath.Join(target, src, p) }
	read := func(p string) string {
		b, err := os.ReadFile(in(p))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	inode := func(p string) uint64 {
		fi, err := os.Stat(in(p))
		if err != nil {
			return 0
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	// The owner edits two restored files (one to the same size) and
	// deletes one.
	os.WriteFile(in("2024/a.jpg"), []byte("edited since the restore\n"), 0o644)
	os.WriteFile(in("2024/raw/d.cr3"), []byte("RAW D, SAME SIZE\n"), 0o644)
	os.Remove(in("2025/e.heic"))
	rel := filepath.Join(strings.TrimPrefix(src, "/"), "2024/a.jpg")

	// Default: refused, naming the first file in the way and the options;
	// nothing is written (e.heic is not restored either).
	res := r.run("restore", "latest", "--target", target)
	for _, want := range []string{rel, target, "--overwrite", "--skip-existing", "--verify", "nothing was restored"} {
		if res.code != 1 || !strings.Contains(res.stderr, want) {
			t.Fatalf("restore over existing files: got %v\nwant exit 1 and a message with %q", res, want)
		}
	}
	if got := read("2024/a.jpg"); got != "edited since the restore\n" {
		t.Errorf("refused restore changed a.jpg: %q", got)
	}
	if _, err := os.Stat(in("2025/e.heic")); err == nil {
		t.Errorf("refused restore wrote e.heic")
	}

	type summary struct {
		Files    int64 `json:"files"`
		Same     int64 `json:"same"`
		Replaced int64 `json:"replaced"`
		Skipped  int64 `json:"skipped"`
	}
	run := func(args ...string) summary {
		t.Helper()
		var s summary
		r.runJSON(&s, append([]string{"restore", "latest", "--target", target}, args...)...)
		return s
	}

	// --skip-existing: the edits stay, the missing file comes back.
	if s := run("--skip-existing"); s.Skipped != 5 || s.Files != 1 {
		t.Errorf("--skip-existing: %+v, want 5 skipped, 1 file restored", s)
	}
	if got := read("2024/a.jpg"); got != "edited since the restore\n" {
		t.Errorf("--skip-existing changed a.jpg: %q", got)
	}
	if got := read("2025/e.heic"); got != files["2025/e.heic"] {
		t.Errorf("--skip-existing did not restore the missing e.heic: %q", got)
	}

	// --verify: only the two edited files are rewritten (the old ones
	// kept); the others are compared and left alone.
	bIno := inode("2024/b.txt")
	if s := run("--verify"); s.Same != 4 || s.Replaced != 2 || s.Files != 2 {
		t.Errorf("--verify: %+v, want 4 same, 2 replaced (2 files written)", s)
	}
	for _, p := range []string{"2024/a.jpg", "2024/raw/d.cr3"} {
		if got := read(p); got != files[p] {
			t.Errorf("--verify: %s is %q, want the snapshot's %q", p, got, files[p])
		}
	}
	if got := read("2024/a.jpg.shoebox-old"); got != "edited since the restore\n" {
		t.Errorf("--verify did not keep the edited a.jpg as a.jpg.shoebox-old: %q", got)
	}
	if got := read("2024/raw/d.cr3.shoebox-old"); got != "RAW D, SAME SIZE\n" {
		t.Errorf("--verify did not keep the edited d.cr3 (same size, other content): %q", got)
	}
	if inode("2024/b.txt") != bIno {
		t.Errorf("--verify rewrote b.txt, which was the same")
	}

	// --overwrite: everything replaced; a.jpg.shoebox-old is taken, so
	// the old a.jpg becomes a.jpg.shoebox-old.1.
	os.WriteFile(in("2024/a.jpg"), []byte("edited again\n"), 0o644)
	if s := run("--overwrite"); s.Replaced != 6 || s.Files != 6 {
		t.Errorf("--overwrite: %+v, want 6 replaced", s)
	}
	if got := read("2024/a.jpg.shoebox-old.1"); got != "edited again\n" {
		t.Errorf("--overwrite: a.jpg.shoebox-old.1 is %q, want the replaced a.jpg", got)
	}
	if got := read("2024/a.jpg.shoebox-old"); got != "edited since the restore\n" {
		t.Errorf("--overwrite clobbered the earlier a.jpg.shoebox-old: %q", got)
	}
	if got := read("2024/a.jpg"); got != files["2024/a.jpg"] {
		t.Errorf("--overwrite: a.jpg is %q", got)
	}

	// --overwrite --no-keep: replaced without a copy (the
	// f.xmp.shoebox-old of the last --overwrite stays as it is).
	os.WriteFile(in("2025/edit/f.xmp"), []byte("edited sidecar\n"), 0o644)
	run("--overwrite", "--no-keep")
	if got := read("2025/edit/f.xmp"); got != files["2025/edit/f.xmp"] {
		t.Errorf("--overwrite --no-keep: f.xmp is %q", got)
	}
	if _, err := os.Stat(in("2025/edit/f.xmp.shoebox-old.1")); err == nil {
		t.Errorf("--overwrite --no-keep kept f.xmp.shoebox-old.1")
	}
	if got := read("2025/edit/f.xmp.shoebox-old"); got != files["2025/edit/f.xmp"] {
		t.Errorf("--overwrite --no-keep changed the f.xmp.shoebox-old of the --overwrite before: %q", got)
	}

	// Only one of the options at a time.
	if res := r.run("restore", "latest", "--target", target, "--overwrite", "--verify"); res.code != 1 || !strings.Contains(res.stderr, "--overwrite") {
		t.Errorf("restore --overwrite --verify: %v; want a refusal of two options at once", res)
	}
	// --no-keep alone means nothing: it is refused, not ignored.
	if res := r.run("restore", "latest", "--target", target, "--no-keep"); res.code != 1 || !strings.Contains(res.stderr, "--no-keep") {
		t.Errorf("restore --no-keep: %v; want a refusal (it goes with --overwrite or --verify)", res)
	}
	var any map[string]any
	res = r.run("--json", "restore", "latest", "--target", filepath.Join(t.TempDir(), "new"))
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &any) != nil || any["files"] == nil {
		t.Errorf("restore into a new folder: %v", res)
	}
}
