package raid_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
)

func TestAddRebalances(t *testing.T) {
	ctx := context.Background()
	a, paths := newArray(t, 3, raid.Layout{Data: 2, Parity: 1})
	want := map[string][]byte{}
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("data/%02x/obj%d", i, i)
		b := bytes.Repeat([]byte{byte(i)}, 64<<10+i)
		want[name] = b
		if err := a.Put(ctx, name, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	newDisk := filepath.Join(filepath.Dir(paths[0]), "disk-new")
	if err := a.Add(newDisk); err != nil {
		t.Fatal(err)
	}
	moved, err := a.Rebalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	var shards []int
	for _, d := range st.Disks {
		shards = append(shards, d.Shards)
	}
	// 40 objects × 3 shards over 4 disks: 30 each when even.
	if moved < 20 || shards[3] < 25 {
		t.Errorf("after rebalance: moved %d, shards per disk %v; want the new disk near 30", moved, shards)
	}
	if st.Degraded != 0 {
		t.Errorf("rebalance left %d degraded objects", st.Degraded)
	}
	// Everything reads back, also after reopening from the disks.
	a.Close()
	b, err := raid.OpenArray(append(paths, newDisk), raid.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for name, w := range want {
		got, err := store.ReadAll(ctx, b, name)
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("%s after rebalance: %d bytes, %v", name, len(got), err)
		}
	}
	rep, err := b.Scrub(ctx, raid.ScrubOptions{})
	if err != nil || rep.ErrorsFound != 0 {
		t.Fatalf("scrub after rebalance: %+v, %v", rep, err)
	}
}
