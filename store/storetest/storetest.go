// Package storetest is the conformance suite every store.ObjectStore passes:
// the plain directory, the disk array and remote stores alike.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/shoebox/shoebox/store"
)

// Run runs the suite against stores made by newStore; each subtest gets a
// fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) store.ObjectStore) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}

	t.Run("PutOpenRoundTrip", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []int{0, 1, 4095, 4096, 1 << 20, 3<<20 + 17} {
			name := fmt.Sprintf("data/%02x/obj-%d", n%256, n)
			want := data(n)
			if err := s.Put(ctx, name, bytes.NewReader(want)); err != nil {
				t.Fatalf("Put %s: %v", name, err)
			}
			got, err := store.ReadAll(ctx, s, name)
			if err != nil {
				t.Fatalf("ReadAll %s: %v", name, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("object %s: got %d bytes, want %d (content differs)", name, len(got), len(want))
			}
			fi, err := s.Stat(ctx, name)
			if err != nil || fi.Size != int64(n) || fi.Name != name {
				t.Fatalf("Stat %s: got %+v, %v; want size %d", name, fi, err, n)
			}
		}
	})

	t.Run("RandomReads", func(t *testing.T) {
		s := newStore(t)
		want := data(1<<20 + 333)
		if err := s.Put(ctx, "obj", bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
		o, err := s.Open(ctx, "obj")
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if o.Size() != int64(len(want)) {
			t.Fatalf("Size: got %d, want %d", o.Size(), len(want))
		}
		for i := 0; i < 50; i++ {
			off := rnd.IntN(len(want))
			n := rnd.IntN(len(want) - off + 1)
			buf := make([]byte, n)
			m, err := o.ReadAt(buf, int64(off))
			if err != nil && !(err == io.EOF && m == n) {
				t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
			}
			if !bytes.Equal(buf[:m], want[off:off+n]) {
				t.Fatalf("ReadAt(%d, %d): wrong bytes", off, n)
			}
		}
		// Reading past the end is io.EOF.
		if _, err := o.ReadAt(make([]byte, 10), int64(len(want))); err != io.EOF {
			t.Fatalf("ReadAt past end: got %v, want io.EOF", err)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		s := newStore(t)
		for i := 0; i < 3; i++ {
			want := data(1000 + i)
			if err := s.Put(ctx, "config", bytes.NewReader(want)); err != nil {
				t.Fatal(err)
			}
			got, err := store.ReadAll(ctx, s, "config")
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("after replace %d: got %d bytes, %v", i, len(got), err)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Open(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Open missing: got %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(ctx, "a/nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat missing: got %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "a/b/nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delete missing: got %v, want ErrNotFound", err)
		}
	})

	t.Run("InvalidNames", func(t *testing.T) {
		s := newStore(t)
		for _, name := range []string{"", "/abs", "a/../b", "../x", "a/", "./a", "a//b", "."} {
			if err := s.Put(ctx, name, bytes.NewReader(nil)); !errors.Is(err, store.ErrInvalidName) {
				t.Errorf("Put(%q): got %v, want ErrInvalidName", name, err)
			}
		}
	})

	t.Run("ListAndDelete", func(t *testing.T) {
		s := newStore(t)
		names := []string{"config", "keys/k1", "keys/k2", "data/00/p1", "data/ff/p2", "snapshots/s1"}
		for _, n := range names {
			if err := s.Put(ctx, n, bytes.NewReader([]byte(n))); err != nil {
				t.Fatal(err)
			}
		}
		list := func(prefix string) []string {
			t.Helper()
			var got []string
			if err := s.List(ctx, prefix, func(fi store.ObjectInfo) error {
				if fi.Size != int64(len(fi.Name)) {
					t.Errorf("List %s: size %d, want %d", fi.Name, fi.Size, len(fi.Name))
				}
				got = append(got, fi.Name)
				return nil
			}); err != nil {
				t.Fatalf("List(%q): %v", prefix, err)
			}
			sort.Strings(got)
			return got
		}
		check := func(prefix string, want ...string) {
			t.Helper()
			got := list(prefix)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("List(%q): got %v, want %v", prefix, got, want)
			}
		}
		check("keys/", "keys/k1", "keys/k2")
		check("data/", "data/00/p1", "data/ff/p2")
		check("data/0", "data/00/p1")
		check("missing/")
		check("", "config", "data/00/p1", "data/ff/p2", "keys/k1", "keys/k2", "snapshots/s1")
		if err := s.Delete(ctx, "keys/k1"); err != nil {
			t.Fatal(err)
		}
		check("keys/", "keys/k2")
		stop := errors.New("stop")
		if err := s.List(ctx, "", func(store.ObjectInfo) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("List with failing callback: got %v, want the callback's error", err)
		}
	})

	t.Run("FailedPutLeavesOldObject", func(t *testing.T) {
		s := newStore(t)
		old := data(5000)
		if err := s.Put(ctx, "obj", bytes.NewReader(old)); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("reader failed")
		r := io.MultiReader(bytes.NewReader(data(3000)), errReader{boom})
		if err := s.Put(ctx, "obj", r); !errors.Is(err, boom) {
			t.Fatalf("Put with failing reader: got %v, want %v", err, boom)
		}
		got, err := store.ReadAll(ctx, s, "obj")
		if err != nil || !bytes.Equal(got, old) {
			t.Fatalf("after failed Put: got %d bytes, %v; want the old object", len(got), err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, "new", bytes.NewReader(data(10))); err == nil {
			t.Fatal("Put with cancelled context succeeded")
		}
		if _, err := s.Stat(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cancelled Put left an object: %v", err)
		}
	})

	t.Run("Pending", func(t *testing.T) {
		s := newStore(t)
		want := data(3<<20 + 5)
		p, err := store.CreatePending(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(want); off += 100000 {
			if _, err := p.Write(want[off:min(off+100000, len(want))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Commit(ctx, "data/ab/pending"); err != nil {
			t.Fatal(err)
		}
		got, err := store.ReadAll(ctx, s, "data/ab/pending")
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("committed pending object: got %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
		p, err = store.CreatePending(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		p.Write(want[:1000])
		if err := p.Abort(); err != nil {
			t.Fatal(err)
		}
		var names []string
		s.List(ctx, "", func(fi store.ObjectInfo) error { names = append(names, fi.Name); return nil })
		if fmt.Sprint(names) != "[data/ab/pending]" {
			t.Fatalf("after Abort: objects %v, want only data/ab/pending", names)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				name := fmt.Sprintf("data/%02x/c%d", i, i)
				want := bytes.Repeat([]byte{byte(i)}, 10000+i)
				if err := s.Put(ctx, name, bytes.NewReader(want)); err != nil {
					errs <- err
					return
				}
				got, err := store.ReadAll(ctx, s, name)
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("read back %s: %v", name, err)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
