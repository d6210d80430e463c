package cards

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/testcorpus"
	"github.com/shoebox/shoebox/raid/looptest"
)

// fakeVerifier stands in for the vault here: the daemon's integration test
// runs the same ingest against the real vault. It records every call and
// reports the copies the test has confirmed.
type fakeVerifier struct {
	mu       sync.Mutex
	backups  [][]string
	verified int
	copies   []string // copies reported for every file
	per      map[string][]string
	fail     error
	// unavailable says why copies of a kind do not count now.
	unavailable map[string]string
}

// verifiedAt is when the fake says it read every copy back.
var verifiedAt = time.Date(2026, 12, 7, 19, 40, 0, 0, time.UTC)

func (f *fakeVerifier) Unavailable(ctx context.Context, where string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unavailable[where]
}

func (f *fakeVerifier) Backup(ctx context.Context, paths []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.backups = append(f.backups, slices.Clone(paths))
	return "snap-" + string(rune('a'+len(f.backups)-1)), nil
}

func (f *fakeVerifier) Verified(ctx context.Context, path string, sum [32]byte, snapshot string) ([]Copy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verified++
	names := f.copies
	if c, ok := f.per[path]; ok {
		names = c
	}
	var out []Copy
	for _, n := range names {
		c := Copy{Where: n, Verified: verifiedAt}
		if n == CopyArray {
			c.Snapshot = snapshot
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeVerifier) confirm(copies ...string) {
	f.mu.Lock()
	f.copies = copies
	f.mu.Unlock()
}

func testConfig(t *testing.T) Config {
	t.Helper()
	d := t.TempDir()
	return Config{Library: filepath.Join(d, "library"), LedgerDir: filepath.Join(d, "ledgers")}
}

var testTime = time.Date(2024, 5, 17, 14, 30, 0, 0, time.Local)

// writeCard makes a card folder from name → content.
func writeCard(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, testTime, testTime); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func smallCard(t *testing.T) string {
	t.Helper()
	return writeCard(t, map[string]string{
		"DCIM/100CANON/IMG_0001.JPG":    "first photo",
		"DCIM/100CANON/IMG_0002.JPG":    "second photo",
		"DCIM/100CANON/IMG_0002.CR2":    "second raw",
		"DCIM/101CANON/IMG_0003.JPG":    "third photo",
		"PRIVATE/M4ROOT/CLIP/C0001.MP4": "a video",
		".Trashes/501/IMG_0000.JPG":     "deleted in camera",
		"System Volume Information/x":   "windows",
	})
}

func ingest(t *testing.T, cfg Config, root, id string, v Verifier) *Ledger {
	t.Helper()
	l, err := Ingest(context.Background(), cfg, root, id, v, nil)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return l
}

// libraryFiles lists the regular files of the library, relative.
func libraryFiles(t *testing.T, lib string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(lib, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(lib, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIngestMediaNotSafeUntilVerified(t *testing.T) {
	media := testcorpus.Media(t)
	cfg := testConfig(t)
	v := &fakeVerifier{}
	var calls, lastDone, lastTotal int
	l, err := Ingest(context.Background(), cfg, media, "media-card", v, func(done, total int) {
		calls++
		lastDone, lastTotal = done, total
	})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scanCard(context.Background(), media)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(l.Files), len(sc.files)+len(sc.odd); got != want {
		t.Errorf("ledger has %d files, want %d", got, want)
	}
	if lastDone != lastTotal || lastTotal != len(l.Files) || calls != len(l.Files) {
		t.Errorf("progress: %d calls, last %d/%d, want %d", calls, lastDone, lastTotal, len(l.Files))
	}
	if len(l.Skipped) == 0 {
		t.Errorf("hidden .photoprism not recorded as skipped")
	}
	for _, f := range l.Files {
		if !f.Copied || !f.Verified || f.Snapshot != "snap-a" || f.Error != "" {
			t.Fatalf("file not ingested: %+v", f)
		}
	}
	if len(v.backups) != 1 || len(v.backups[0]) != len(l.Files) {
		t.Fatalf("backups %d, want one of %d paths", len(v.backups), len(l.Files))
	}
	// Folder naming from EXIF: Canon_40D.jpg was taken 2008-05-30 with a Canon EOS 40D.
	i := slices.IndexFunc(l.Files, func(f File) bool { return strings.HasSuffix(f.CardPath, "/jpg/Canon_40D.jpg") })
	if i < 0 {
		t.Fatal("Canon_40D.jpg not in ledger")
	}
	if got, want := l.Files[i].LibraryPath, "2008-05-30/Canon EOS 40D/Canon_40D.jpg"; got != want {
		t.Errorf("library path %q, want %q", got, want)
	}

	vd := l.Verdict(context.Background(), media, v)
	if vd.SafeToFormat || vd.VerifiedOnBox != 0 || vd.Copied != len(l.Files) || vd.Files != len(l.Files) {
		t.Fatalf("before verification: %+v", vd)
	}
	v.confirm("array")
	// The default requires what the box can deliver: a verified copy on
	// the array. The verdict names each copy and what is missing.
	vd = l.Verdict(context.Background(), media, v)
	wantCopies := fmt.Sprintf("array: all %d files, snapshot snap-a, verified 2026-12-07 19:40 UTC; offsite: none, not required. Every file has its required copies (array); safe to format.", len(l.Files))
	if !vd.SafeToFormat || vd.VerifiedOnBox != len(l.Files) || vd.Reason != wantCopies {
		t.Fatalf("array only, default: safe=%v array=%d reason=%q, want %q", vd.SafeToFormat, vd.VerifiedOnBox, vd.Reason, wantCopies)
	}
	l.require = []string{CopyArray, CopyOffsite}
	vd = l.Verdict(context.Background(), media, v)
	if vd.SafeToFormat || vd.VerifiedOnBox != len(l.Files) || !strings.Contains(vd.Reason, "not yet offsite") {
		t.Fatalf("array only, offsite required: safe=%v array=%d reason=%q", vd.SafeToFormat, vd.VerifiedOnBox, vd.Reason)
	}
	v.confirm("array", "offsite")
	vd = l.Verdict(context.Background(), media, v)
	if !vd.SafeToFormat || vd.Offsite != len(l.Files) || len(vd.Missing)+len(vd.Changed)+len(vd.Unreadable) != 0 {
		t.Fatalf("after verification: %+v", vd)
	}
	t.Log(vd.Reason)

	// The ledger on disk says the same.
	l2, err := Load(cfg, "media-card")
	if err != nil {
		t.Fatal(err)
	}
	if vd2 := l2.Verdict(context.Background(), "", v); !vd2.SafeToFormat {
		t.Errorf("loaded ledger, card gone: %s", vd2.Reason)
	}
}

func verifiedCard(t *testing.T) (Config, string, *Ledger, *fakeVerifier) {
	t.Helper()
	cfg := testConfig(t)
	root := smallCard(t)
	v := &fakeVerifier{}
	l := ingest(t, cfg, root, "card1", v)
	v.confirm("array", "offsite")
	if vd := l.Verdict(context.Background(), root, v); !vd.SafeToFormat {
		t.Fatalf("verified card not safe: %s", vd.Reason)
	}
	return cfg, root, l, v
}

func TestVerdictFaults(t *testing.T) {
	const jpg = "DCIM/100CANON/IMG_0001.JPG"
	tests := []struct {
		name  string
		fault func(t *testing.T, cfg Config, root string, l *Ledger)
		field func(Verdict) []string
		want  string
	}{
		{"changed content same size and mtime", func(t *testing.T, cfg Config, root string, l *Ledger) {
			p := filepath.Join(root, jpg)
			os.WriteFile(p, []byte("FIRST PHOTO"), 0o644)
			os.Chtimes(p, testTime, testTime)
		}, changedOf, jpg},
		{"changed size", func(t *testing.T, cfg Config, root string, l *Ledger) {
			p := filepath.Join(root, jpg)
			os.WriteFile(p, []byte("first photo, edited"), 0o644)
			os.Chtimes(p, testTime, testTime)
		}, changedOf, jpg},
		{"changed mtime", func(t *testing.T, cfg Config, root string, l *Ledger) {
			os.Chtimes(filepath.Join(root, jpg), testTime, testTime.Add(time.Hour))
		}, changedOf, jpg},
		{"new file on card", func(t *testing.T, cfg Config, root string, l *Ledger) {
			os.WriteFile(filepath.Join(root, "DCIM/100CANON/IMG_0009.JPG"), []byte("late"), 0o644)
		}, missingOf, "DCIM/100CANON/IMG_0009.JPG"},
		{"deleted from library", func(t *testing.T, cfg Config, root string, l *Ledger) {
			if err := os.Remove(filepath.Join(cfg.Library, libPath(t, l, jpg))); err != nil {
				t.Fatal(err)
			}
		}, missingOf, jpg},
		{"damaged in library", func(t *testing.T, cfg Config, root string, l *Ledger) {
			p := filepath.Join(cfg.Library, libPath(t, l, jpg))
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			os.WriteFile(p, b, 0o644)
		}, missingOf, jpg},
		{"folder where the file was", func(t *testing.T, cfg Config, root string, l *Ledger) {
			p := filepath.Join(root, jpg)
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}, unreadableOf, jpg},
		{"FIFO on the card", func(t *testing.T, cfg Config, root string, l *Ledger) {
			p := filepath.Join(root, jpg)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip(err)
			}
		}, unreadableOf, jpg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, root, l, v := verifiedCard(t)
			tt.fault(t, cfg, root, l)
			vd := l.Verdict(context.Background(), root, v)
			if vd.SafeToFormat {
				t.Fatalf("safe after fault: %+v", vd)
			}
			if got := tt.field(vd); !slices.Contains(got, tt.want) {
				t.Errorf("got %v, want %s listed; reason %q", got, tt.want, vd.Reason)
			}
			if !strings.Contains(vd.Reason, tt.want) || !strings.HasSuffix(vd.Reason, "keep the card.") {
				t.Errorf("reason %q does not name %s", vd.Reason, tt.want)
			}
		})
	}
}

func changedOf(v Verdict) []string    { return v.Changed }
func missingOf(v Verdict) []string    { return v.Missing }
func unreadableOf(v Verdict) []string { return v.Unreadable }

func libPath(t *testing.T, l *Ledger, card string) string {
	t.Helper()
	for _, f := range l.Files {
		if f.CardPath == card {
			return f.LibraryPath
		}
	}
	t.Fatalf("%s not in ledger", card)
	return ""
}

func TestVerdictCopiesPerFile(t *testing.T) {
	_, root, l, v := verifiedCard(t)
	lib := filepath.Join(l.Library, libPath(t, l, "DCIM/101CANON/IMG_0003.JPG"))
	l.require = []string{CopyArray, CopyOffsite}
	v.per = map[string][]string{lib: {"array", "array"}} // one copy named twice is one copy
	vd := l.Verdict(context.Background(), root, v)
	if vd.SafeToFormat || !strings.Contains(vd.Reason, "1 of 5 files not yet offsite; keep the card.") ||
		!strings.Contains(vd.Reason, "offsite: 4 of 5 files, verified") {
		t.Errorf("got %q", vd.Reason)
	}
	// Copies on a degraded array do not count, and the verdict says why.
	v.per = nil
	l.require = []string{CopyArray}
	v.unavailable = map[string]string{CopyArray: "the disk array is degraded"}
	vd = l.Verdict(context.Background(), root, v)
	if vd.SafeToFormat || !strings.Contains(vd.Reason, "5 of 5 files not yet verified on the array (the disk array is degraded); keep the card.") {
		t.Errorf("degraded array: %q", vd.Reason)
	}
}

func TestIngestUnreadableFiles(t *testing.T) {
	cfg := testConfig(t)
	root := smallCard(t)
	if err := syscall.Mkfifo(filepath.Join(root, "DCIM/100CANON/IMG_0004.JPG"), 0o644); err != nil {
		t.Skip(err)
	}
	v := &fakeVerifier{}
	done := make(chan *Ledger)
	go func() {
		l, err := Ingest(context.Background(), cfg, root, "fifo", v, nil)
		if err != nil {
			t.Error(err)
		}
		done <- l
	}()
	var l *Ledger
	select {
	case l = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ingest hangs on a FIFO")
	}
	v.confirm("array", "offsite")
	vd := l.Verdict(context.Background(), root, v)
	if vd.SafeToFormat || !slices.Equal(vd.Unreadable, []string{"DCIM/100CANON/IMG_0004.JPG"}) || vd.Copied != 5 {
		t.Errorf("got %+v", vd)
	}
	// Without the card the ledger still remembers the file it could not read.
	if vd := l.Verdict(context.Background(), "", v); vd.SafeToFormat {
		t.Errorf("safe without the card: %s", vd.Reason)
	}
}

func TestIngestResumesAfterCancel(t *testing.T) {
	media := testcorpus.Media(t)
	cfg := testConfig(t)
	v := &fakeVerifier{}
	ctx, cancel := context.WithCancel(context.Background())
	var stopped int
	_, err := Ingest(ctx, cfg, media, "resume", v, func(done, total int) {
		if done == total/2 {
			stopped = done
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if len(v.backups) != 0 {
		t.Errorf("backup ran after cancel")
	}
	partial, err := Load(cfg, "resume")
	if err != nil {
		t.Fatal(err)
	}
	var copied int
	for _, f := range partial.Files {
		if f.Copied {
			copied++
		}
	}
	if copied != stopped || !partial.Completed.IsZero() {
		t.Errorf("saved ledger has %d copied, completed %v; want %d, not completed", copied, partial.Completed, stopped)
	}
	before := libraryFiles(t, cfg.Library)

	l, err := Ingest(context.Background(), cfg, media, "resume", v, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := libraryFiles(t, cfg.Library)
	for _, p := range before {
		if !slices.Contains(after, p) {
			t.Errorf("%s vanished", p)
		}
	}
	// A fresh ingest of the same card elsewhere gives the same library.
	fresh := testConfig(t)
	ingest(t, fresh, media, "resume", &fakeVerifier{})
	if got, want := after, libraryFiles(t, fresh.Library); !slices.Equal(got, want) {
		t.Errorf("resumed library differs from a fresh one: %d vs %d files", len(got), len(want))
	}
	if l.Completed.IsZero() || len(v.backups) != 1 {
		t.Errorf("completed %v, backups %d", l.Completed, len(v.backups))
	}
	for _, p := range after {
		if strings.Contains(p, ".shoebox-card-") {
			t.Errorf("temporary file left: %s", p)
		}
	}
}

// A crash after a copy landed but before the ledger was saved: the next
// ingest adopts the identical file instead of making "-1" duplicates.
func TestIngestAdoptsCopiesAfterLostLedger(t *testing.T) {
	cfg := testConfig(t)
	root := smallCard(t)
	v := &fakeVerifier{}
	ingest(t, cfg, root, "c", v)
	before := libraryFiles(t, cfg.Library)
	if err := os.Remove(filepath.Join(cfg.LedgerDir, "c.json")); err != nil {
		t.Fatal(err)
	}
	ingest(t, cfg, root, "c", v)
	if after := libraryFiles(t, cfg.Library); !slices.Equal(before, after) {
		t.Errorf("got %v, want %v", after, before)
	}
	// Ingesting again with the ledger in place copies nothing and backs up nothing.
	ingest(t, cfg, root, "c", v)
	if len(v.backups) != 2 {
		t.Errorf("%d backups, want 2", len(v.backups))
	}
}

func TestIngestNameClash(t *testing.T) {
	cfg := testConfig(t)
	cfg.Naming = "{card}"
	root := writeCard(t, map[string]string{
		"DCIM/100CANON/IMG_0001.JPG": "one",
		"DCIM/101CANON/IMG_0001.JPG": "another one",
		"DCIM/102CANON/IMG_0001.JPG": "yet another",
	})
	// A file of another card already holds the name.
	os.MkdirAll(filepath.Join(cfg.Library, "clash"), 0o755)
	os.WriteFile(filepath.Join(cfg.Library, "clash", "IMG_0001.JPG"), []byte("other card"), 0o644)
	v := &fakeVerifier{}
	l := ingest(t, cfg, root, "clash", v)
	var got []string
	for _, f := range l.Files {
		got = append(got, f.LibraryPath)
	}
	want := []string{"clash/IMG_0001-1.JPG", "clash/IMG_0001-2.JPG", "clash/IMG_0001-3.JPG"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.Library, "clash", "IMG_0001.JPG")); string(b) != "other card" {
		t.Errorf("existing file overwritten: %q", b)
	}
	for _, f := range l.Files {
		b, _ := os.ReadFile(filepath.Join(cfg.Library, f.LibraryPath))
		c, _ := os.ReadFile(filepath.Join(root, f.CardPath))
		if !bytes.Equal(b, c) {
			t.Errorf("%s: copy differs", f.CardPath)
		}
		fi, _ := os.Stat(filepath.Join(cfg.Library, f.LibraryPath))
		if !fi.ModTime().Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", f.LibraryPath, fi.ModTime(), testTime)
		}
	}
	ingest(t, cfg, root, "clash", v)
	if n := len(libraryFiles(t, cfg.Library)); n != 4 {
		t.Errorf("%d library files after a second ingest, want 4", n)
	}
}

func TestIngestSidecarsFollowTheirPhoto(t *testing.T) {
	cfg := testConfig(t)
	media := testcorpus.Media(t)
	jpg, err := os.ReadFile(filepath.Join(media, "exif-py/tests/resources/jpg/Canon_40D.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	root := writeCard(t, map[string]string{
		"DCIM/100CANON/IMG_0001.JPG": string(jpg),
		"DCIM/100CANON/IMG_0001.CR2": "raw without metadata",
		"DCIM/100CANON/IMG_0001.xmp": "<x:xmpmeta/>",
		"DCIM/100CANON/IMG_0002.CR2": "no metadata at all",
	})
	l := ingest(t, cfg, root, "pair", &fakeVerifier{})
	want := map[string]string{
		"DCIM/100CANON/IMG_0001.JPG": "2008-05-30/Canon EOS 40D/IMG_0001.JPG",
		"DCIM/100CANON/IMG_0001.CR2": "2008-05-30/Canon EOS 40D/IMG_0001.CR2",
		"DCIM/100CANON/IMG_0001.xmp": "2008-05-30/Canon EOS 40D/IMG_0001.xmp",
		"DCIM/100CANON/IMG_0002.CR2": testTime.Format("2006-01-02") + "/unknown/IMG_0002.CR2",
	}
	for _, f := range l.Files {
		if f.LibraryPath != want[f.CardPath] {
			t.Errorf("%s: got %s, want %s", f.CardPath, f.LibraryPath, want[f.CardPath])
		}
	}
}

func TestIngestSkipsHiddenAndSystemFiles(t *testing.T) {
	cfg := testConfig(t)
	l := ingest(t, cfg, smallCard(t), "h", &fakeVerifier{})
	var skipped []string
	for _, s := range l.Skipped {
		skipped = append(skipped, s.CardPath)
	}
	if want := []string{".Trashes", "System Volume Information"}; !slices.Equal(skipped, want) {
		t.Errorf("got %v, want %v", skipped, want)
	}
	if len(l.Files) != 5 {
		t.Errorf("%d files, want 5", len(l.Files))
	}
}

func TestIngestBackupFailure(t *testing.T) {
	cfg := testConfig(t)
	root := smallCard(t)
	v := &fakeVerifier{fail: errors.New("array degraded")}
	l, err := Ingest(context.Background(), cfg, root, "bf", v, nil)
	if err == nil || !strings.Contains(err.Error(), "array degraded") {
		t.Fatalf("got %v", err)
	}
	if l == nil || !l.Completed.IsZero() {
		t.Fatalf("ledger %+v", l)
	}
	v.fail = nil
	l = ingest(t, cfg, root, "bf", v)
	if len(v.backups) != 1 || len(v.backups[0]) != 5 || l.Completed.IsZero() {
		t.Errorf("retry: backups %v", v.backups)
	}
}

func TestIngestBusy(t *testing.T) {
	cfg := testConfig(t)
	root := smallCard(t)
	os.MkdirAll(cfg.LedgerDir, 0o755)
	p, _ := ledgerPath(cfg, "busy")
	unlock, err := lockCard(p)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := Ingest(context.Background(), cfg, root, "busy", &fakeVerifier{}, nil); !errors.Is(err, ErrBusy) {
		t.Errorf("got %v, want ErrBusy", err)
	}
}

func TestConfigAndIDs(t *testing.T) {
	root := smallCard(t)
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		id   string
		want error
	}{
		{"no library", func(c *Config) { c.Library = "" }, "x", ErrConfig},
		{"unknown token", func(c *Config) { c.Naming = "{date}/{lens}" }, "x", ErrConfig},
		{"dotdot folder", func(c *Config) { c.Naming = "../{date}" }, "x", ErrConfig},
		{"slash in id", func(c *Config) {}, "a/b", ErrBadCardID},
		{"empty id", func(c *Config) {}, "", ErrBadCardID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mod(&cfg)
			if _, err := Ingest(context.Background(), cfg, root, tt.id, &fakeVerifier{}, nil); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLoadAndList(t *testing.T) {
	cfg := testConfig(t)
	if _, err := Load(cfg, "none"); !errors.Is(err, ErrNoLedger) {
		t.Errorf("got %v, want ErrNoLedger", err)
	}
	if l, err := List(cfg); err != nil || len(l) != 0 {
		t.Errorf("got %v, %v", l, err)
	}
	ingest(t, cfg, smallCard(t), "one", &fakeVerifier{})
	ingest(t, cfg, smallCard(t), "two", &fakeVerifier{})
	ls, err := List(cfg)
	if err != nil || len(ls) != 2 || ls[0].Card != "two" {
		t.Fatalf("got %d ledgers, %v", len(ls), err)
	}
	os.WriteFile(filepath.Join(cfg.LedgerDir, "bad.json"), []byte("{"), 0o644)
	if _, err := List(cfg); err == nil {
		t.Errorf("a damaged ledger was silently left out")
	}
}

// A card pulled in the middle of the copy (here its folder moved away
// after the second file) stops the ingest with ErrCardRemoved, naming the
// card and saying what to do; inserting it again resumes without copying
// anything twice.
func TestIngestCardRemoved(t *testing.T) {
	cfg := testConfig(t)
	card := smallCard(t)
	away := card + ".pulled"
	v := &fakeVerifier{}
	_, err := Ingest(context.Background(), cfg, card, "EOS_DIGITAL", v, func(done, total int) {
		if done == 2 {
			if err := os.Rename(card, away); err != nil {
				t.Fatal(err)
			}
		}
	})
	if !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("got %v, want ErrCardRemoved", err)
	}
	for _, want := range []string{"EOS_DIGITAL", "2 of 5 files copied", "insert the card again", "do not format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to contain %q", err, want)
		}
	}
	if len(v.backups) != 0 {
		t.Errorf("backup ran for a card that was pulled")
	}
	l, err := Load(cfg, "EOS_DIGITAL")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range l.Files {
		if f.Error != "" {
			t.Errorf("%s recorded with error %q; a pulled card is not a bad file", f.CardPath, f.Error)
		}
	}
	if err := os.Rename(away, card); err != nil {
		t.Fatal(err)
	}
	l = ingest(t, cfg, card, "EOS_DIGITAL", v)
	if got := libraryFiles(t, cfg.Library); len(got) != 5 || l.Completed.IsZero() {
		t.Errorf("after inserting it again: library %v, completed %v; want 5 files, completed", got, l.Completed)
	}
}

// The same with a real card: an ext4 file system on a loop device (needs
// root; skipped otherwise), unmounted after the second file.
func TestIngestCardUnmounted(t *testing.T) {
	dev := looptest.Ext4Device(t, 8<<20)
	card := filepath.Join(t.TempDir(), "EOS_DIGITAL")
	if err := os.Mkdir(card, 0o755); err != nil {
		t.Fatal(err)
	}
	unmount := looptest.Mount(t, dev, card)
	for i := 1; i <= 5; i++ {
		p := filepath.Join(card, "DCIM", "100CANON", fmt.Sprintf("IMG_%04d.JPG", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 100000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t)
	_, err := Ingest(context.Background(), cfg, card, "1a2b-3c4d", &fakeVerifier{}, func(done, total int) {
		if done == 2 {
			unmount()
		}
	})
	if !errors.Is(err, ErrCardRemoved) || !strings.Contains(err.Error(), "1a2b-3c4d") || !strings.Contains(err.Error(), "insert the card again") {
		t.Fatalf("got %v, want ErrCardRemoved naming the card and saying what to do", err)
	}
	looptest.Mount(t, dev, card)
	if l := ingest(t, cfg, card, "1a2b-3c4d", &fakeVerifier{}); len(libraryFiles(t, cfg.Library)) != 5 || l.Completed.IsZero() {
		t.Errorf("after mounting it again: %v files, completed %v; want 5, completed", libraryFiles(t, cfg.Library), l.Completed)
	}
}
