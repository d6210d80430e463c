package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/shoebox/shoebox/store"
)

func TestAnchor(t *testing.T) {
	ctx := context.Background()
	r, st := newTestRepo(t, 0)
	if _, err := r.Anchor(ctx, "audit"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Anchor before any: %v, want store.ErrNotFound", err)
	}
	for _, v := range []string{"first", "second"} {
		if err := r.PutAnchor(ctx, "audit", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := reopen(t, st).Anchor(ctx, "audit")
		if err != nil || string(got) != v {
			t.Fatalf("Anchor after PutAnchor(%q): %q, %v", v, got, err)
		}
	}
	// Stored encrypted, under anchors/ only.
	raw, err := store.ReadAll(ctx, st, "anchors/audit")
	if err != nil || bytes.Contains(raw, []byte("second")) || !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n")) {
		t.Errorf("anchors/audit: %.40q, %v; want an age file", raw, err)
	}
	for _, bad := range []string{"", "../config", "Audit", "a/b"} {
		if err := r.PutAnchor(ctx, bad, nil); err == nil {
			t.Errorf("PutAnchor(%q) accepted", bad)
		}
	}
	// Damaged: ErrCorrupt.
	st.Put(ctx, "anchors/audit", bytes.NewReader(raw[:len(raw)-5]))
	if _, err := r.Anchor(ctx, "audit"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a damaged anchor: %v, want ErrCorrupt", err)
	}
}
