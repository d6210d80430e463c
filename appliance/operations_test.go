package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/raid"
)

func TestOperationsRateETAAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ops := newOperations()
	ops.now = func() time.Time { return now }

	backup := ops.start(OpBackup, "inbox", "inbox")
	scrub := ops.start(OpScrub, "", "array")
	now = now.Add(10 * time.Second)
	backup.Update(5, 20, 100<<20, 400<<20) // 10 MiB/s, 300 MiB left
	scrub.Update(25, 100, 0, 0)            // objects only

	got := ops.list()
	if len(got) != 2 {
		t.Fatalf("got %d operations, want 2: %+v", len(got), got)
	}
	for _, tc := range []struct {
		op       Operation
		kind     string
		rate     float64
		eta      time.Duration
		finished bool
	}{
		{got[0], OpBackup, 10 << 20, 30 * time.Second, false},
		{got[1], OpScrub, 0, 30 * time.Second, false},
	} {
		if tc.op.Kind != tc.kind || tc.op.Rate != tc.rate || tc.op.ETA != tc.eta || tc.op.Done != tc.finished {
			t.Errorf("got %s rate %v eta %v done %v, want %s rate %v eta %v done %v",
				tc.op.Kind, tc.op.Rate, tc.op.ETA, tc.op.Done, tc.kind, tc.rate, tc.eta, tc.finished)
		}
	}

	backup.Done(nil)
	scrub.Done(errors.New("disk gone"))
	scrub.Done(nil) // ignored
	now = now.Add(30 * time.Second)
	got = ops.list()
	if len(got) != 2 || !got[0].Done || got[0].ETA != 0 || got[1].Error != "disk gone" {
		t.Fatalf("after Done: got %+v, want both done, the scrub with its error", got)
	}
	now = now.Add(keepFinished)
	if got = ops.list(); len(got) != 0 {
		t.Errorf("a minute after the end: got %+v, want none", got)
	}
}

func TestOperationJSON(t *testing.T) {
	op := Operation{Kind: OpRestoreDrill, Subject: "snapshot 1a2b3c4d", FilesDone: 1, FilesTotal: 4, ETA: 90 * time.Second}
	b, err := json.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"restore-drill"`, `"files_done":1`, `"files_total":4`, `"eta_seconds":90`, `"rate_bytes_per_sec":0`, `"done":false`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("got %s, want it to contain %s", b, want)
		}
	}
}

// TestStatusShowsScrub runs a real scrub of a real (folder-backed) array
// through the scrub service as the daemon wires it, and reads it back from
// the daemon's API (what /v1/status shows): in progress while it runs,
// then finished.
func TestStatusShowsScrub(t *testing.T) {
	var paths []string
	for i := 0; i < 3; i++ {
		paths = append(paths, t.TempDir())
	}
	a, err := raid.Create(paths, raid.Layout{Data: 2, Parity: 1}, raid.Options{AllowSameDrive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	const objects = 6
	for i := 0; i < objects; i++ {
		if err := a.Put(ctx, fmt.Sprintf("obj%d", i), bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 10000))); err != nil {
			t.Fatal(err)
		}
	}
	d := New(&Config{StateDir: t.TempDir()}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	d.Array = a
	var during []Operation
	s := &maint.ScrubService{Array: a, StatePath: filepath.Join(t.TempDir(), "scrub.json"),
		Alert: d.alertFunc(), Resolve: d.Bus.Resolve,
		Progress: func(done, total int) {
			if done == objects/2 {
				during = d.Operations()
			}
		},
		Track: func(subject string) maint.Op { return d.StartOperation(OpScrub, "", subject) }}
	if _, err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || during[0].Kind != OpScrub || during[0].Subject != "array" || during[0].Done ||
		during[0].FilesDone != objects/2 || during[0].FilesTotal != objects {
		t.Errorf("status during the scrub: got %+v, want a scrub of the array at %d/%d objects", during, objects/2, objects)
	}
	after := d.Operations()
	if len(after) != 1 || !after[0].Done || after[0].Error != "" || after[0].FilesDone != objects {
		t.Errorf("status after the scrub: got %+v, want it finished with %d objects", after, objects)
	}
}

func TestKeepAllUntilEndOfContractDay(t *testing.T) {
	day := func(s string) time.Time {
		t, _ := time.ParseInLocation("2006-01-02 15:04", s, time.Local)
		return t
	}
	for _, tc := range []struct {
		until string
		now   time.Time
		want  bool
	}{
		{"", day("2031-06-30 12:00"), false},
		{"2031-06-30", day("2031-06-29 23:59"), true},
		{"2031-06-30", day("2031-06-30 23:59"), true}, // the last day is covered
		{"2031-06-30", day("2031-07-01 00:00"), false},
		{"not a date", day("2031-07-01 00:00"), true}, // unreadable: keep
	} {
		if got := keepAll(tc.until, tc.now); got != tc.want {
			t.Errorf("keepAll(%q, %v): got %v, want %v", tc.until, tc.now, got, tc.want)
		}
	}
}

func TestCardsConfigMountRoots(t *testing.T) {
	base := "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string
		err        string
	}{
		{"default", base + "cards: {library: /lib}\n", []string{"/media", "/run/media"}, ""},
		{"off", base + "cards: {library: /lib, mount_roots: []}\n", []string{}, ""},
		{"custom", base + "cards: {library: /lib, mount_roots: [/mnt/cards]}\n", []string{"/mnt/cards"}, ""},
		{"no cards", base, nil, ""},
		{"relative", base + "cards: {library: /lib, mount_roots: [media]}\n", nil, "cards.mount_roots[0]: must be an absolute path"},
		{"no library", base + "cards: {mount_roots: [/media]}\n", nil, "cards.library: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig("config.yaml", []byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.err)) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(cfg.Cards.MountRoots) != fmt.Sprint(tc.want) || (cfg.Cards.MountRoots == nil) != (tc.want == nil) {
				t.Errorf("got %#v, want %#v", cfg.Cards.MountRoots, tc.want)
			}
		})
	}
}

func TestUnderAndCardID(t *testing.T) {
	for _, tc := range []struct {
		path  string
		roots []string
		want  bool
	}{
		{"/media/EOS_DIGITAL", []string{"/media"}, true},
		{"/run/media/ann/EOS_DIGITAL", []string{"/media", "/run/media"}, true},
		{"/media", []string{"/media"}, false},
		{"/mediax/card", []string{"/media"}, false},
		{"/media/card", []string{"/media/"}, true},
		{"/media/card", nil, false},
	} {
		if got := under(tc.path, tc.roots); got != tc.want {
			t.Errorf("under(%q, %q): got %v, want %v", tc.path, tc.roots, got, tc.want)
		}
	}
	for in, want := range map[string]string{"1A2B-3C4D": "1A2B-3C4D", "a/b": "a_b", "..": "", "x\ny": "x_y"} {
		if got := cardID(in); got != want {
			t.Errorf("cardID(%q): got %q, want %q", in, got, want)
		}
	}
}

// TestOperationErrorHidesPaths: an operation's error is kept with the
// box's places named, not their paths (HidePaths), whoever reads it: the
// gateway shows operations to everyone who may read their space.
func TestOperationErrorHidesPaths(t *testing.T) {
	dir := t.TempDir()
	d := New(&Config{StateDir: filepath.Join(dir, "state"), Disks: DisksConfig{Members: []string{dir + "/disk-a", dir + "/disk-b"}}}, nil)
	op := d.StartOperation(OpBackup, "family", "family")
	op.Done(fmt.Errorf("store pack: write %s/disk-b/shoebox/.tmp/p1: no space left on device; %s/state/cache: gone", dir, dir))
	ops := d.Operations()
	want := "store pack: write array disk 2/shoebox/.tmp/p1: no space left on device; STATE/cache: gone"
	if len(ops) != 1 || ops[0].Error != want {
		t.Fatalf("operations: %+v, want one failed with %q", ops, want)
	}
}
