package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDaemonCardDefaultCopies runs the real daemon on file-backed disks
// with the cards config a new owner writes (no required copies named): a
// card whose files are in a verified snapshot on the healthy redundant
// array becomes SAFE TO FORMAT, and the verdict names that copy and says
// offsite is not required. Restarted with a disk of the array gone, the
// same card is not safe, and the verdict says the array is degraded.
func TestDaemonCardDefaultCopies(t *testing.T) {
	b := newBoxDirs(t)
	b.writeConfig(fmt.Sprintf(`cards:
  watch: [%s]
  mount_roots: []
  library: %s
smart:
  disabled: true
`, b.cards, b.library))
	b.start()
	card := filepath.Join(b.cards, "CARD0001")
	os.MkdirAll(filepath.Join(card, "DCIM", "100CANON"), 0o755)
	for i := 0; i < 3; i++ {
		os.WriteFile(filepath.Join(card, "DCIM", "100CANON", fmt.Sprintf("IMG_%04d.CR2", i)), bytes.Repeat([]byte{byte(i + 1)}, 50000), 0o644)
	}
	type verdict struct {
		SafeToFormat bool `json:"safe_to_format"`
		Reason       string
	}
	var vs []verdict
	inserted := time.Now()
	b.waitFor("the card SAFE TO FORMAT with the default config", 60*time.Second, func() bool {
		_, body := b.get("/v1/cards", true)
		vs = cardsOf[verdict](body)
		return len(vs) == 1 && vs[0].SafeToFormat
	})
	t.Logf("card SAFE TO FORMAT %.1f s after it appeared", time.Since(inserted).Seconds())
	if r := vs[0].Reason; !strings.HasPrefix(r, "array: all 3 files, snapshot ") ||
		!strings.Contains(r, "offsite: none, not required (no offsite unit is paired with this box)") {
		t.Errorf("verdict reason %q: want the array copy with its snapshot, offsite not required", r)
	}

	b.stop()
	os.Rename(b.disks[2], b.disks[2]+".pulled")
	b.start()
	b.waitFor("the verdict on the degraded array", 30*time.Second, func() bool {
		_, body := b.get("/v1/cards", true)
		vs = cardsOf[verdict](body)
		return len(vs) == 1 && strings.Contains(vs[0].Reason, "degraded")
	})
	if vs[0].SafeToFormat || !strings.Contains(vs[0].Reason, "3 of 3 files not yet verified on the array (the disk array is degraded: "+b.disks[2]+" missing") {
		t.Errorf("degraded array: safe=%v reason %q", vs[0].SafeToFormat, vs[0].Reason)
	}
}
