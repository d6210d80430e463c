package appliance

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// TestCardSafeOnRedundantArray ingests a card (a folder) into a real
// repository on a real array of three folder-backed disks, with the
// default cards config: SAFE TO FORMAT once the card's files are in a
// snapshot on the healthy array and read back, even when a later card
// snapshot does not hold them; the verdict names the copy (array, which
// snapshot, verified when) and says offsite is not required. With a disk
// of the array gone, the same card is not safe and the verdict says why:
// the positive answer cached before does not survive the change.
func TestCardSafeOnRedundantArray(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var disks []string
	for _, n := range []string{"disk1", "disk2", "disk3"} {
		disks = append(disks, filepath.Join(dir, n))
		os.MkdirAll(disks[len(disks)-1], 0o755)
	}
	a, err := raid.Create(disks, raid.Layout{Data: 2, Parity: 1}, raid.Options{AllowSameDrive: true})
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := vault.Init(ctx, a, vault.InitOptions{Passphrase: "test", ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("shoeboxd.yaml", []byte("state_dir: "+dir+"\nrepository: {passphrase_file: /p}\ndisks: {members: ["+strings.Join(disks, ", ")+"]}\ncards: {library: "+filepath.Join(dir, "library")+", watch: ["+filepath.Join(dir, "cards")+"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.Array, d.Repo = a, repo
	cw := &cardWatcher{d: d, cfg: cards.Config{Library: cfg.Cards.Library, LedgerDir: filepath.Join(dir, "ledgers"),
		Require: cfg.Cards.Requirement(cfg.OffsiteConfigured())}}
	d.cards = cw
	card := filepath.Join(dir, "cards", "CARD1")
	os.MkdirAll(filepath.Join(card, "DCIM", "100CANON"), 0o755)
	os.WriteFile(filepath.Join(card, "DCIM", "100CANON", "IMG_0001.CR2"), []byte("raw photo one"), 0o644)
	os.WriteFile(filepath.Join(card, "DCIM", "100CANON", "IMG_0002.CR2"), []byte("raw photo two"), 0o644)
	l, err := cards.Ingest(ctx, cw.cfg, card, "CARD1", cw, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A later card snapshot that does not hold this card's files.
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "x.jpg"), []byte("another card's photo"), 0o644)
	if _, err := repo.Backup(ctx, vault.BackupOptions{Paths: []string{other}, Tags: []string{"cards"}}); err != nil {
		t.Fatal(err)
	}

	vd := l.Verdict(ctx, card, cw)
	snap := l.Files[0].Snapshot
	if !vd.SafeToFormat || vd.VerifiedOnBox != 2 || len(snap) < 8 ||
		!strings.HasPrefix(vd.Reason, "array: all 2 files, snapshot "+snap[:8]+", verified ") ||
		!strings.Contains(vd.Reason, "offsite: none, not required (no offsite unit is paired with this box). Every file has its required copies (array); safe to format.") {
		t.Fatalf("default config, healthy array: safe=%v reason %q", vd.SafeToFormat, vd.Reason)
	}

	// A disk of the array gone: the array reopens degraded.
	repo.Close()
	os.Rename(disks[2], disks[2]+".pulled")
	a2, err := raid.OpenArray(disks, raid.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	repo2, err := vault.Open(ctx, a2, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer repo2.Close()
	d.Array, d.Repo = a2, repo2
	vd = l.Verdict(ctx, card, cw)
	want := "2 of 2 files not yet verified on the array (the disk array is degraded: " + disks[2] + " missing; a copy on it is not redundant until the disk is back or replaced); keep the card."
	if vd.SafeToFormat || !strings.Contains(vd.Reason, want) {
		t.Errorf("degraded array: safe=%v reason %q, want it to contain %q", vd.SafeToFormat, vd.Reason, want)
	}
}
