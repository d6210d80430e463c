package raid_test

import (
	"testing"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/raid/storetest"
)

func TestDirConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) raid.ObjectStore {
		d, err := raid.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// plainStore hides Dir's optional capabilities, so the suite also covers
// the in-memory fallback of CreatePending.
type plainStore struct{ raid.ObjectStore }

func TestPlainStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) raid.ObjectStore {
		d, err := raid.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return plainStore{d}
	})
}
