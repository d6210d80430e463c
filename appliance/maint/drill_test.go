package maint

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

const testPassphrase = "correct horse battery staple"

var testEpoch = time.Date(2024, 5, 17, 12, 0, 0, 0, time.UTC)

// newRepo backs up nfiles generated files into a fresh repository and
// returns the repository directory.
func newRepo(t *testing.T, nfiles int) (string, *vault.Repository) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	storeDir := filepath.Join(root, "repo")
	st, err := store.OpenDir(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := vault.Init(ctx, st, vault.InitOptions{Passphrase: testPassphrase, ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	src := filepath.Join(root, "photos")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range nfiles {
		dir := filepath.Join(src, fmt.Sprintf("day%d", i%3))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1+rng.IntN(300<<10))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("IMG_%04d.CR3", i)
		if i == 0 {
			name = "odd [1] *?.jpg" // glob characters must not confuse the restore
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Backup(ctx, vault.BackupOptions{Paths: []string{src}, Host: "test", Time: testEpoch}); err != nil {
		t.Fatal(err)
	}
	return storeDir, r
}

func reopen(t *testing.T, dir string) *vault.Repository {
	t.Helper()
	st, err := store.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := vault.Open(context.Background(), st, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestDrillPasses(t *testing.T) {
	_, r := newRepo(t, 12)
	scratch := t.TempDir()
	d := &Drill{Repo: r, Scratch: scratch, Files: 5, Rand: rand.New(rand.NewPCG(7, 7)), Now: func() time.Time { return testEpoch }}
	res, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Files != 5 || res.Bytes == 0 || len(res.Failures) != 0 {
		t.Fatalf("got %+v, want a passing drill of 5 files", res)
	}
	if !res.Time.Equal(testEpoch) {
		t.Errorf("got time %v, want %v", res.Time, testEpoch)
	}
	// All files, including the one with glob characters in its name.
	d.Files = 100
	res, err = d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Files != 12 {
		t.Fatalf("got %+v, want a passing drill of all 12 files", res)
	}
	left, _ := os.ReadDir(scratch)
	if len(left) != 0 {
		t.Errorf("scratch not cleaned: %v", left)
	}
}

func TestDrillEmptyRepository(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := vault.Init(ctx, st, vault.InitOptions{Passphrase: testPassphrase, ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &Drill{Repo: r, Scratch: t.TempDir()}
	if _, err := d.Run(ctx); err != ErrNoSnapshots {
		t.Fatalf("got %v, want ErrNoSnapshots", err)
	}
}

// flipPackByte flips one byte in the middle of the largest pack (the
// one holding file data; tree packs are small).
func flipPackByte(t *testing.T, repoDir string) {
	t.Helper()
	var big string
	var size int64
	err := filepath.WalkDir(filepath.Join(repoDir, "data"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err == nil && fi.Size() > size {
			big, size = p, fi.Size()
		}
		return err
	})
	if err != nil || big == "" {
		t.Fatalf("find packs: %v", err)
	}
	b, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(big, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDrillServiceFailsOnCorruptPack(t *testing.T) {
	dir, _ := newRepo(t, 12)
	flipPackByte(t, dir)
	r := reopen(t, dir)

	state := filepath.Join(t.TempDir(), "drills.jsonl")
	type alert struct {
		kind, key string
		critical  bool
		subject   string
		message   string
	}
	var alerts []alert
	var resolved []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var results []DrillResult
	s := &DrillService{
		Drill:     Drill{Repo: r, Scratch: t.TempDir(), Files: 100, Rand: rand.New(rand.NewPCG(1, 1))},
		Every:     time.Hour,
		StatePath: state,
		Alert: func(kind, key, space string, critical bool, subject, message string) {
			alerts = append(alerts, alert{kind, key, critical, subject, message})
		},
		Resolve:  func(key, _ string) { resolved = append(resolved, key) },
		OnResult: func(r DrillResult) { results = append(results, r); cancel() },
	}
	if err := s.Serve(ctx); err != context.Canceled {
		t.Fatalf("Serve: got %v, want context.Canceled", err)
	}
	if len(results) != 1 || results[0].OK || len(results[0].Failures) == 0 {
		t.Fatalf("got results %+v, want one failed drill", results)
	}
	for _, f := range results[0].Failures {
		if !strings.Contains(f, "/photos/day") {
			t.Errorf("failure %q does not name a file", f)
		}
	}
	if len(alerts) != 1 || alerts[0].kind != "drill" || alerts[0].key != "drill" || !alerts[0].critical {
		t.Fatalf("got alerts %+v, want one critical drill alert", alerts)
	}
	if !strings.Contains(alerts[0].message, "IMG_") && !strings.Contains(alerts[0].message, "odd") {
		t.Errorf("alert message does not name the files: %s", alerts[0].message)
	}
	h, err := History(state)
	if err != nil || len(h) != 1 || h[0].OK {
		t.Fatalf("History: got %+v, %v; want the failed drill", h, err)
	}
}

func TestDrillServiceResolvesAndKeepsSchedule(t *testing.T) {
	_, r := newRepo(t, 4)
	state := filepath.Join(t.TempDir(), "drills.jsonl")
	var resolved []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runs := 0
	s := &DrillService{
		Drill:     Drill{Repo: r, Scratch: t.TempDir(), Rand: rand.New(rand.NewPCG(3, 3))},
		Every:     time.Hour,
		StatePath: state,
		Alert: func(kind, key, space string, critical bool, subject, message string) {
			t.Errorf("unexpected alert %s: %s", key, message)
		},
		Resolve:  func(key, _ string) { resolved = append(resolved, key) },
		OnResult: func(DrillResult) { runs++; cancel() },
	}
	if err := s.Serve(ctx); err != context.Canceled {
		t.Fatal(err)
	}
	if runs != 1 || !contains(resolved, "drill") {
		t.Fatalf("got %d runs, resolved %v; want 1 run resolving \"drill\"", runs, resolved)
	}
	// A restart within the hour does not drill again.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := s.Serve(ctx2); err != context.DeadlineExceeded {
		t.Fatal(err)
	}
	if runs != 1 {
		t.Errorf("got %d runs after restart, want 1", runs)
	}
}

func TestHistoryTornLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "h.jsonl")
	for i := range 3 {
		if err := AppendHistory(p, DrillResult{Time: testEpoch.Add(time.Duration(i) * time.Hour), OK: true, Files: i}); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2024-`)
	f.Close()
	h, err := History(p)
	if err != nil || len(h) != 3 || h[2].Files != 2 {
		t.Fatalf("got %+v, %v; want 3 results", h, err)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
