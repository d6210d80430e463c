package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/testcorpus"
	"github.com/shoebox/shoebox/raid/looptest"
)

// TestDaemonMountedCard inserts a real memory card into the real daemon:
// an ext4 file system on a loop device (needs root; skipped otherwise)
// holding photos from the shared media set, mounted under a configured
// mount root. The daemon ingests it under its file system UUID, backs it
// up and calls it SAFE TO FORMAT; pulled and inserted again, it finds the
// same ledger and copies nothing twice.
func TestDaemonMountedCard(t *testing.T) {
	media := testcorpus.Media(t)
	const uuid = "0b5e8cd2-7d0f-4f57-9a2e-5d1c0ffee123"
	dev := looptest.Ext4Device(t, 32<<20, "-U", uuid, "-L", "EOS_DIGITAL")

	// Fill the card away from the mount root, as a camera would.
	fill := t.TempDir()
	unmount := looptest.Mount(t, dev, fill)
	photos, _ := filepath.Glob(filepath.Join(media, "photoprism", "assets", "examples", "*.jpg"))
	if len(photos) < 3 {
		t.Fatalf("fewer than 3 JPEGs in %s/photoprism/assets/examples", media)
	}
	photos = photos[:min(len(photos), 6)]
	dcim := filepath.Join(fill, "DCIM", "100TEST")
	if err := os.MkdirAll(dcim, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range photos {
		copyFile(t, p, filepath.Join(dcim, filepath.Base(p)))
	}
	unmount()

	b := newBoxDirs(t)
	mountRoot := filepath.Join(b.dir, "media")
	os.MkdirAll(mountRoot, 0o755)
	b.writeConfig(fmt.Sprintf(`cards:
  mount_roots: [%s]
  library: %s
  required_copies: 1
smart:
  disabled: true
`, mountRoot, b.library))
	b.start()

	point := filepath.Join(mountRoot, "EOS_DIGITAL")
	os.MkdirAll(point, 0o755)
	unmount = looptest.Mount(t, dev, point)
	inserted := time.Now()
	type verdict struct {
		Card         string `json:"id"`
		Files        int
		SafeToFormat bool `json:"safe_to_format"`
		Reason       string
	}
	var vs []verdict
	b.waitFor("the card SAFE TO FORMAT", 60*time.Second, func() bool {
		_, body := b.get("/v1/cards", true)
		vs = cardsOf[verdict](body)
		return len(vs) == 1 && vs[0].SafeToFormat
	})
	t.Logf("card SAFE TO FORMAT %.1f s after it was mounted", time.Since(inserted).Seconds())
	if vs[0].Card != uuid || vs[0].Files != len(photos) {
		t.Errorf("got card %q with %d files, want %q with %d", vs[0].Card, vs[0].Files, uuid, len(photos))
	}
	ledger := filepath.Join(b.state, "cards", uuid+".json")
	type ledgerFile struct {
		Started time.Time
		Files   []struct {
			LibraryPath string `json:"library_path"`
		}
	}
	read := func() ledgerFile {
		t.Helper()
		var l ledgerFile
		raw, err := os.ReadFile(ledger)
		if err == nil {
			err = json.Unmarshal(raw, &l)
		}
		if err != nil {
			t.Fatalf("ledger keyed by the UUID: %v", err)
		}
		return l
	}
	first := read()
	if res := b.cli("cards"); res.code != 0 || !strings.Contains(res.stdout, uuid) || !strings.Contains(res.stdout, "SAFE TO FORMAT") {
		t.Errorf("shoebox cards: %v", res)
	}

	// Pulled and inserted again: the same ledger, resumed; nothing copied
	// twice.
	unmount()
	time.Sleep(3 * time.Second) // longer than the daemon's look at the mounts
	looptest.Mount(t, dev, point)
	b.waitFor("the card ingested again", 30*time.Second, func() bool {
		l := read()
		return l.Started.After(first.Started)
	})
	b.waitFor("the card SAFE TO FORMAT again", 30*time.Second, func() bool {
		_, body := b.get("/v1/cards", true)
		vs = cardsOf[verdict](body)
		return len(vs) == 1 && vs[0].SafeToFormat
	})
	again := read()
	for i := range again.Files {
		if again.Files[i].LibraryPath != first.Files[i].LibraryPath {
			t.Errorf("file %d: library path %s, was %s", i, again.Files[i].LibraryPath, first.Files[i].LibraryPath)
		}
	}
	var copies int
	filepath.WalkDir(b.library, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			copies++
		}
		return nil
	})
	if copies != len(photos) {
		t.Errorf("library holds %d files after the card was inserted twice, want %d", copies, len(photos))
	}
	ents, _ := os.ReadDir(filepath.Join(b.state, "cards"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") && e.Name() != uuid+".json" {
			t.Errorf("extra ledger %s", e.Name())
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
