package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shoebox/shoebox/raid"
)

func TestAnchor(t *testing.T) {
	ctx := context.Background()
	r, store := newTestRepo(t, 0)
	if _, err := r.Anchor(ctx, "audit"); !errors.Is(err, raid.ErrNotFound) {
		t.Fatalf("Anchor before any: %v, want raid.ErrNotFound", err)
	}
	for _, v := range []string{"first", "second"} {
		if err := r.PutAnchor(ctx, "audit", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := reopen(t, store).Anchor(ctx, "audit")
		if err != nil || string(got) != v {
			t.Fatalf("Anchor after PutAnchor(%q): %q, %v", v, got, err)
		}
	}
	// Stored encrypted, under anchors/ only.
	raw, err := raid.ReadAll(ctx, store, "anchors/audit")
	if err != nil || bytes.Contains(raw, []byte("second")) || !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n")) {
		t.Errorf("anchors/audit: %.40q, %v; want an age file", raw, err)
	}
	for _, bad := range []string{"", "../config", "Audit", "a/b"} {
		if err := r.PutAnchor(ctx, bad, nil); err == nil {
			t.Errorf("PutAnchor(%q) accepted", bad)
		}
	}
	// Damaged: ErrCorrupt.
	store.Put(ctx, "anchors/audit", bytes.NewReader(raw[:len(raw)-5]))
	if _, err := r.Anchor(ctx, "audit"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a damaged anchor: %v, want ErrCorrupt", err)
	}
}
