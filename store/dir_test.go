package store_test

import (
	"testing"

	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/store/storetest"
)

func TestDirConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ObjectStore {
		d, err := store.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// plainStore hides Dir's optional capabilities, so the suite also covers
// the in-memory fallback of CreatePending.
type plainStore struct{ store.ObjectStore }

func TestPlainStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ObjectStore {
		d, err := store.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return plainStore{d}
	})
}
