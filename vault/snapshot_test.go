package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFindSnapshot(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	writeFile(t, filepath.Join(a, "f"), []byte("a"), testEpoch)
	writeFile(t, filepath.Join(b, "f"), []byte("b"), testEpoch)
	r, _ := newTestRepo(t, 0)
	s1 := mustBackup(t, r, BackupOptions{Paths: []string{a}, Time: testEpoch, Tags: []string{"daily"}})
	s2 := mustBackup(t, r, BackupOptions{Paths: []string{b}, Time: testEpoch.Add(time.Hour)})
	s3 := mustBackup(t, r, BackupOptions{Paths: []string{a}, Time: testEpoch.Add(2 * time.Hour), Host: "other"})

	tests := []struct {
		name    string
		ref     string
		filter  SnapshotFilter
		want    *Snapshot
		wantErr error
	}{
		{"latest", "latest", SnapshotFilter{}, s3, nil},
		{"latest of a host", "latest", SnapshotFilter{Host: "testhost"}, s2, nil},
		{"latest of paths", "latest", SnapshotFilter{Paths: []string{a}, Host: "testhost"}, s1, nil},
		{"latest with a tag", "latest", SnapshotFilter{Tags: []string{"daily"}}, s1, nil},
		{"latest matching nothing", "latest", SnapshotFilter{Host: "nobody"}, nil, ErrNoSnapshot},
		{"full ID", s2.ID().String(), SnapshotFilter{}, s2, nil},
		{"short ID", s2.ID().Short(), SnapshotFilter{}, s2, nil},
		{"upper case prefix", strings.ToUpper(s1.ID().String()[:6]), SnapshotFilter{}, s1, nil},
		{"unknown prefix", "ffffffffff" + strings.Repeat("0", 10), SnapshotFilter{}, nil, ErrNoSnapshot},
		{"ID left out by Only", s2.ID().String(), SnapshotFilter{Only: func(s *Snapshot) bool { return s.ID() != s2.ID() }}, nil, ErrNoSnapshot},
		{"latest of those Only keeps", "latest", SnapshotFilter{Only: func(s *Snapshot) bool { return s.ID() == s1.ID() }}, s1, nil},
		// One hex digit matches about one snapshot in sixteen: a prefix of
		// every snapshot but one is not ambiguous when Only keeps one.
		{"prefix among those Only keeps", "", SnapshotFilter{Only: func(s *Snapshot) bool { return s.ID() == s3.ID() }}, s3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ref == "" {
				tc.ref = s3.ID().String()[:4] // may be shared by s1 or s2: Only decides
			}
			got, err := r.FindSnapshot(ctx, tc.ref, tc.filter)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != tc.want.ID() {
				t.Errorf("got %s, want %s", got.ID().Short(), tc.want.ID().Short())
			}
		})
	}
	if _, err := r.FindSnapshot(ctx, "abc", SnapshotFilter{}); err == nil {
		t.Error("three-digit prefix: got nil error, want one")
	}

	snaps, err := r.Snapshots(ctx)
	must(t, err)
	var ids []ID
	for _, s := range snaps {
		ids = append(ids, s.ID())
	}
	if diff := cmp.Diff([]ID{s1.ID(), s2.ID(), s3.ID()}, ids); diff != "" {
		t.Errorf("Snapshots, oldest first (-want +got):\n%s", diff)
	}
	loaded, err := r.LoadSnapshot(ctx, s1.ID())
	must(t, err)
	if diff := cmp.Diff(s1, loaded, cmp.AllowUnexported(Snapshot{})); diff != "" {
		t.Errorf("LoadSnapshot (-saved +loaded):\n%s", diff)
	}
}

func TestWalkLookup(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for _, rel := range []string{"a/1", "a/2", "b/c/3", "d"} {
		writeFile(t, filepath.Join(src, rel), []byte(rel), testEpoch)
	}
	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})

	var got []string
	err := r.Walk(ctx, snap.Tree, func(p string, n *Node) error {
		if !strings.HasPrefix(p, src+"/") {
			return nil
		}
		got = append(got, strings.TrimPrefix(p, src+"/"))
		if p == filepath.Join(src, "b") {
			return ErrSkipDir
		}
		return nil
	})
	must(t, err)
	if diff := cmp.Diff([]string{"a", "a/1", "a/2", "b", "d"}, got); diff != "" {
		t.Errorf("Walk skipping b (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	if err := r.Walk(ctx, snap.Tree, func(string, *Node) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Walk: got %v, want the callback's error", err)
	}

	for _, tc := range []struct {
		path, typ string
	}{
		{"/", NodeDir},
		{src, NodeDir},
		{src + "/", NodeDir},
		{filepath.Join(src, "b", "c", "3"), NodeFile},
		{filepath.Join(src, "b", "c", "..", "c", "3"), NodeFile},
	} {
		n, err := r.Lookup(ctx, snap.Tree, tc.path)
		if err != nil || n.Type != tc.typ {
			t.Errorf("Lookup(%q): got %v, %v; want a %s", tc.path, n, err, tc.typ)
		}
	}
	for _, p := range []string{filepath.Join(src, "nope"), filepath.Join(src, "d", "below-a-file")} {
		if _, err := r.Lookup(ctx, snap.Tree, p); err == nil {
			t.Errorf("Lookup(%q): got nil error, want one", p)
		}
	}
}

func TestBackupSeveralPaths(t *testing.T) {
	base := t.TempDir()
	a := filepath.Join(base, "x", "a")
	b := filepath.Join(base, "y", "b")
	file := filepath.Join(base, "single.txt")
	writeFile(t, filepath.Join(a, "1"), []byte("1"), testEpoch)
	writeFile(t, filepath.Join(b, "2"), []byte("2"), testEpoch)
	writeFile(t, file, []byte("3"), testEpoch)
	// Not backed up: a sibling of a path.
	writeFile(t, filepath.Join(base, "x", "sibling"), []byte("no"), testEpoch)
	r, _ := newTestRepo(t, 0)
	// Overlapping and repeated paths are allowed.
	snap := mustBackup(t, r, BackupOptions{Paths: []string{b, a, file, a, filepath.Join(a, "1")}})
	var got []string
	for p := range snapshotFiles(t, r, snap) {
		got = append(got, strings.TrimPrefix(p, base+"/"))
	}
	if diff := cmp.Diff([]string{"single.txt", "x/a/1", "y/b/2"}, sortedStrings(got)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	target := t.TempDir()
	mustRestore(t, r, snap, RestoreOptions{Target: target})
	compareTrees(t, a, restoredPath(target, a), compareOpts{noXattrs: true})
	compareTrees(t, b, restoredPath(target, b), compareOpts{noXattrs: true})
	if _, err := os.Stat(restoredPath(target, filepath.Join(base, "x", "sibling"))); !os.IsNotExist(err) {
		t.Errorf("sibling restored: got %v, want not there", err)
	}
}

// TestHardLinksIncremental: hard links stay links when the second backup
// takes their content from the parent.
func TestHardLinksIncremental(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "a"), randBytes(1, 100<<10), testEpoch)
	must(t, os.Link(filepath.Join(src, "a"), filepath.Join(src, "b")))
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.Link(filepath.Join(src, "a"), filepath.Join(src, "sub", "c")))
	fixDirTimes(t, src, testEpoch)
	r, _ := newTestRepo(t, 0)
	mustBackup(t, r, BackupOptions{Paths: []string{src}})
	s2 := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	if s2.Summary.FilesUnchanged != 3 {
		t.Errorf("got %d unchanged, want 3", s2.Summary.FilesUnchanged)
	}
	target := t.TempDir()
	sum := mustRestore(t, r, s2, RestoreOptions{Target: target})
	if sum.Links != 2 {
		t.Errorf("got %d links, want 2", sum.Links)
	}
	compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: true})

	t.Run("include one link only", func(t *testing.T) {
		target := t.TempDir()
		mustRestore(t, r, s2, RestoreOptions{Target: target, Include: []string{filepath.Join(src, "sub")}})
		b, err := os.ReadFile(restoredPath(target, filepath.Join(src, "sub", "c")))
		if err != nil || len(b) != 100<<10 {
			t.Errorf("got %d bytes (%v), want the content", len(b), err)
		}
	})
}

func TestStats(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	data := randBytes(5, 300<<10)
	writeFile(t, filepath.Join(src, "a"), data, testEpoch)
	writeFile(t, filepath.Join(src, "b"), data, testEpoch)
	r, _ := newTestRepo(t, 0)
	mustBackup(t, r, BackupOptions{Paths: []string{src}})
	mustBackup(t, r, BackupOptions{Paths: []string{src}})
	st, err := r.Stats(context.Background())
	must(t, err)
	if st.Snapshots != 2 || st.Files != 4 || st.RestoreSize != 4*int64(len(data)) {
		t.Errorf("got %d snapshots, %d files, %d bytes; want 2, 4, %d", st.Snapshots, st.Files, st.RestoreSize, 4*len(data))
	}
	if st.DedupRatio < 3 {
		t.Errorf("got dedup ratio %.2f, want about 4", st.DedupRatio)
	}
	if st.Packs == 0 || st.PackSize < int64(len(data)) {
		t.Errorf("got %d packs of %d bytes, want the data stored", st.Packs, st.PackSize)
	}
}

// TestBackupThroughSymlinkedParent backs up /…/link/photos where link is a
// symlink to a directory: the path must be a path in the snapshot.
func TestBackupThroughSymlinkedParent(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	real := filepath.Join(base, "real")
	writeFile(t, filepath.Join(real, "photos", "a.jpg"), []byte("a"), testEpoch)
	writeFile(t, filepath.Join(real, "photos", "sub", "b.jpg"), []byte("b"), testEpoch)
	link := filepath.Join(base, "link")
	must(t, os.Symlink(real, link))
	src := filepath.Join(link, "photos")
	r, _ := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	for _, p := range []string{link, src, filepath.Join(src, "sub", "b.jpg")} {
		if _, err := r.Lookup(ctx, snap.Tree, p); err != nil {
			t.Errorf("Lookup(%s): %v", p, err)
		}
	}
	target := t.TempDir()
	mustRestore(t, r, snap, RestoreOptions{Target: target})
	compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: true})
}
