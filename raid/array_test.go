package raid_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/store/storetest"
)

// newArray creates an array of n directory members.
func newArray(t *testing.T, n int, layout raid.Layout) (*raid.Array, []string) {
	t.Helper()
	root := t.TempDir()
	var paths []string
	for i := 0; i < n; i++ {
		paths = append(paths, filepath.Join(root, fmt.Sprintf("disk%d", i)))
	}
	a, err := raid.Create(paths, layout, raid.Options{AllowSameDrive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, paths
}

func TestArrayConformance(t *testing.T) {
	for _, tc := range []struct {
		disks  int
		layout raid.Layout
	}{
		{2, raid.Mirror(2)},
		{3, raid.Layout{Data: 2, Parity: 1}},
		{4, raid.Layout{Data: 2, Parity: 2}},
		{6, raid.Layout{Data: 4, Parity: 2}},
	} {
		t.Run(fmt.Sprintf("%s_on_%d", tc.layout, tc.disks), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.ObjectStore {
				a, _ := newArray(t, tc.disks, tc.layout)
				return a
			})
		})
	}
}
