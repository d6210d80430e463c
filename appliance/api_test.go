package appliance

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// TestHoldsFile ingests a card (a folder) into a real repository and
// checks that the daemon then recognises its files by SHA-256, as the
// phone-upload dedup asks, and nothing else.
func TestHoldsFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenDir(filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := vault.Init(ctx, st, vault.InitOptions{Passphrase: "test", ScryptLogN: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	d := New(&Config{StateDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.Repo = repo
	cw := &cardWatcher{d: d, cfg: cards.Config{Library: filepath.Join(dir, "library"), LedgerDir: filepath.Join(dir, "ledgers")}}
	d.cards = cw
	card := filepath.Join(dir, "card", "DCIM", "100CANON")
	os.MkdirAll(card, 0o755)
	photo := []byte("a photo from the card, not really a JPEG")
	os.WriteFile(filepath.Join(card, "IMG_0001.JPG"), photo, 0o644)
	if _, err := cards.Ingest(ctx, cw.cfg, filepath.Join(dir, "card"), "CARD1", cw, nil); err != nil {
		t.Fatal(err)
	}
	if !d.HoldsFile(sha256.Sum256(photo)) {
		t.Error("an ingested, backed-up card file is not recognised")
	}
	if d.HoldsFile(sha256.Sum256([]byte("something else"))) {
		t.Error("an unknown file is recognised")
	}
}
