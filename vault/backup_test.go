package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBackupSpecialFiles: FIFOs, sockets and device nodes are recorded,
// never opened (opening a FIFO would block the backup for ever).
func TestBackupSpecialFiles(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"), testEpoch)
	must(t, unix.Mkfifo(filepath.Join(src, "fifo.jpg"), 0o600))
	sock := filepath.Join(src, "sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(t, err)
	defer unix.Close(fd)
	must(t, unix.Bind(fd, &unix.SockaddrUnix{Name: sock}))

	r, _ := newTestRepo(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	snap, err := r.Backup(ctx, BackupOptions{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a.txt": NodeFile, "fifo.jpg": NodeFIFO, "sock": NodeSocket}
	got := map[string]string{}
	err = r.Walk(ctx, snap.Tree, func(p string, n *Node) error {
		if strings.HasPrefix(p, src+"/") {
			got[strings.TrimPrefix(p, src+"/")] = n.Type
		}
		return nil
	})
	must(t, err)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	target := t.TempDir()
	mustRestore(t, r, snap, RestoreOptions{Target: target})
	var st unix.Stat_t
	must(t, unix.Lstat(restoredPath(target, filepath.Join(src, "fifo.jpg")), &st))
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("got mode %o for the restored FIFO, want a FIFO", st.Mode)
	}
}

// TestBackupVanishingFiles deletes files while a backup reads them. When
// each file is removed is up to the scheduler, so the test asserts only
// what must hold whatever the timing: no failure, a valid snapshot, and
// every file in it either whole or reported.
func TestBackupVanishingFiles(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	const n = 300
	content := map[string][]byte{}
	for i := 0; i < n; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%03d.bin", i))
		content[p] = randBytes(uint64(i), 20<<10+i)
		writeFile(t, p, content[p], testEpoch)
	}
	r, store := newTestRepo(t, 1<<20)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Every third file, from the end, as fast as possible.
		for i := n - 1; i >= 0; i -= 3 {
			os.Remove(filepath.Join(src, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%03d.bin", i)))
		}
	}()
	snap, err := r.Backup(ctx, BackupOptions{Paths: []string{src}, Workers: 4})
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	reported := strings.Join(snap.Summary.Errors, "\n")
	files := snapshotFiles(t, r, snap)
	for p, node := range files {
		if node.Error != "" {
			if !strings.Contains(reported, p) {
				t.Errorf("%s: node error %q not in the summary errors", p, node.Error)
			}
			continue
		}
		var b []byte
		for _, id := range node.Content {
			blob, err := r.LoadBlob(ctx, id, nil)
			must(t, err)
			b = append(b, blob...)
		}
		if string(b) != string(content[p]) {
			t.Errorf("%s: got %d bytes, want the original %d", p, len(b), len(content[p]))
		}
	}
	if len(files) < n*2/3 {
		t.Errorf("got %d files in the snapshot, want at least the %d never deleted", len(files), n*2/3)
	}
	res, err := reopen(t, store).Check(ctx, CheckOptions{ReadData: true})
	if err != nil || !res.OK() {
		t.Errorf("Check: %v, %q", err, res.Errors)
	}
}

// TestBackupUnreadableDir: a directory that cannot be read is reported in
// the summary and the rest is backed up. As root, permissions do not stop
// reads; a path longer than PATH_MAX (built with *at system calls) does.
func TestBackupUnreadableDir(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "ok", "a.txt"), []byte("a"), testEpoch)
	fd, err := unix.Open(src, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	must(t, err)
	name := strings.Repeat("x", 200)
	for depth := 0; depth < 25; depth++ { // 25 × 201 bytes > 4096
		must(t, unix.Mkdirat(fd, name, 0o755))
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		unix.Close(fd)
		must(t, err)
		fd = next
	}
	unix.Close(fd)
	r, _ := newTestRepo(t, 0)
	snap, err := r.Backup(context.Background(), BackupOptions{Paths: []string{src}})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if len(snap.Summary.Errors) == 0 || !strings.Contains(snap.Summary.Errors[0], "too long") {
		t.Errorf("got summary errors %q, want the deep directory reported", snap.Summary.Errors)
	}
	if _, err := r.Lookup(context.Background(), snap.Tree, filepath.Join(src, "ok", "a.txt")); err != nil {
		t.Errorf("the readable file is missing: %v", err)
	}
	// Removing the tree needs *at calls too.
	t.Cleanup(func() { exec.Command("rm", "-rf", src).Run() })
}

func TestBackupExcludes(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for _, rel := range []string{"a.jpg", "a.jpg.tmp", "cache/x", "sub/.DS_Store", "sub/b.jpg"} {
		writeFile(t, filepath.Join(src, rel), []byte(rel), testEpoch)
	}
	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}, Excludes: []string{"*.tmp", "cache", ".DS_Store"}})
	var got []string
	for p := range snapshotFiles(t, r, snap) {
		got = append(got, strings.TrimPrefix(p, src+"/"))
	}
	if strings.Join(sortedStrings(got), ",") != "a.jpg,sub/b.jpg" {
		t.Errorf("got %v, want [a.jpg sub/b.jpg]", sortedStrings(got))
	}
}

func sortedStrings(s []string) []string {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return sortedKeys(m)
}

func TestBackupProgress(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	total := int64(0)
	for i := 0; i < 20; i++ {
		b := randBytes(uint64(i), 10000+i)
		total += int64(len(b))
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), b, testEpoch)
	}
	r, _ := newTestRepo(t, 0)
	var mu sync.Mutex
	var last Progress
	calls := 0
	mustBackup(t, r, BackupOptions{Paths: []string{src}, Progress: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		last = p
	}})
	mu.Lock()
	defer mu.Unlock()
	if calls == 0 || !last.Done {
		t.Fatalf("got %d calls, last %+v; want a final call with Done", calls, last)
	}
	if last.Files != 20 || last.Bytes != total {
		t.Errorf("got %d files, %d bytes; want 20, %d", last.Files, last.Bytes, total)
	}
}

// TestBackupCancel cancels backups at different moments: each must fail
// with the cancellation, leave no snapshot, and leave a repository that
// checks clean.
func TestBackupCancel(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for i := 0; i < 200; i++ {
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%03d", i), "f.bin"), randBytes(uint64(i), 30<<10), testEpoch)
	}
	r, store := newTestRepo(t, 1<<20)
	for _, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(delay, cancel)
		snap, err := r.Backup(ctx, BackupOptions{Paths: []string{src}, NoParent: true})
		cancel()
		if err == nil {
			t.Logf("delay %v: the backup finished before the cancellation", delay)
			must(t, r.ForgetIDs(context.Background(), []*Snapshot{snap}))
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("delay %v: got %v, want context.Canceled", delay, err)
		}
	}
	if n, _ := storeSize(t, store, snapshotPrefix); n != 0 {
		t.Errorf("got %d snapshots, want none", n)
	}
	res, err := reopen(t, store).Check(context.Background(), CheckOptions{ReadData: true})
	if err != nil || !res.OK() {
		t.Errorf("Check: %v, %q", err, res.Errors)
	}
	tmp, _ := os.ReadDir(filepath.Join(store.Root(), ".tmp"))
	if len(tmp) != 0 {
		t.Errorf("got %d temporary files left, want none", len(tmp))
	}
	// The repository is still usable.
	mustBackup(t, r, BackupOptions{Paths: []string{src}})
}
