package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReserveAndQuota: uploads never take the disk's reserve, and one
// account's unfinished uploads stay within its quota. The free space is
// the Space hook's (the gateway's tests fill a real disk).
func TestReserveAndQuota(t *testing.T) {
	ctx := context.Background()
	var free atomic.Int64
	free.Store(100 << 20)
	e := newEnv(t, Options{
		Space:   func() (int64, int64, error) { return free.Load(), 1 << 30, nil },
		Reserve: 10 << 20,
		Quota:   func(f int64) int64 { return f / 4 },
	})
	mk := func(owner, name string, size int64) CreateRequest {
		p := photo{rel: name, data: make([]byte, size)}
		p.sum[0], p.sum[1] = byte(size), byte(len(name))
		return e.req(owner, "pixel", p)
	}
	// 25 MiB of quota (a quarter of 100 MiB free).
	a, err := e.s.Create(ctx, mk("u1", "a", 20<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Create(ctx, mk("u1", "b", 6<<20)); !errors.Is(err, ErrQuota) {
		t.Errorf("Create past the quota: %v, want ErrQuota", err)
	}
	if _, err := e.s.Create(ctx, mk("u2", "b", 6<<20)); err != nil {
		t.Errorf("another account, within its quota: %v", err)
	}
	// An unfinished upload counts at its full size, however much of it
	// was sent: its part file will hold all of it.
	if _, err := e.s.Write(ctx, "u1", a.ID, 0, bytes.NewReader(make([]byte, 8<<20)), 8<<20); err != nil {
		t.Fatal(err)
	}
	free.Add(-8 << 20) // 92 MiB free, 8 held: quota 25 MiB, 20 taken
	if _, err := e.s.Create(ctx, mk("u1", "c", 6<<20)); !errors.Is(err, ErrQuota) {
		t.Errorf("Create after sending part of the first: %v, want ErrQuota", err)
	}
	if _, err := e.s.Create(ctx, mk("u1", "c", 5<<20)); err != nil {
		t.Errorf("Create within what the first leaves of the quota: %v", err)
	}

	// The reserve: a chunk that would eat into it is refused whole, the
	// acknowledged part stays.
	free.Store(12 << 20) // 2 MiB above the reserve
	off, err := e.s.Write(ctx, "u1", a.ID, 8<<20, bytes.NewReader(make([]byte, 4<<20)), 4<<20)
	if !errors.Is(err, ErrFull) || off != 8<<20 {
		t.Fatalf("a chunk into the reserve: %d, %v; want 8 MiB and ErrFull", off, err)
	}
	if st, _ := e.s.Status(ctx, "u1", a.ID); st.Offset != 8<<20 {
		t.Errorf("offset after the refused chunk: %d", st.Offset)
	}
	if off, err := e.s.Write(ctx, "u1", a.ID, 8<<20, bytes.NewReader(make([]byte, 1<<20)), 1<<20); err != nil || off != 9<<20 {
		t.Errorf("a chunk that fits: %d, %v", off, err)
	}
	// A file that cannot fit is refused at once.
	if _, err := e.s.Create(ctx, mk("u3", "d", 3<<20)); !errors.Is(err, ErrFull) {
		t.Errorf("Create of a file larger than the room: %v, want ErrFull", err)
	}
}

// gate is a body that blocks until opened.
type gate struct {
	open chan struct{}
	r    *bytes.Reader
}

func (g *gate) Read(p []byte) (int, error) {
	<-g.open
	return g.r.Read(p)
}

// TestReserveParallelChunks: chunks written at once count together:
// room for two means the third waits its turn as ErrFull, whatever the
// free space said before the first two landed.
func TestReserveParallelChunks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{Space: func() (int64, int64, error) { return 18 << 20, 1 << 30, nil }, Reserve: 8 << 20})
	open := make(chan struct{})
	type res struct {
		off int64
		err error
	}
	results := make(chan res, 3)
	var sessions []Session
	var photos []photo
	for i := range 3 {
		p := photo{rel: string(rune('a' + i)), data: make([]byte, 4<<20)}
		p.sum[0] = byte(i)
		sessions = append(sessions, e.create(e.req("u1", "pixel", p)))
		photos = append(photos, p)
	}
	for i, sess := range sessions {
		p := photos[i]
		go func() {
			off, err := e.s.Write(ctx, "u1", sess.ID, 0, &gate{open, bytes.NewReader(p.data)}, 4<<20)
			results <- res{off, err}
		}()
	}
	// The refused one answers at once, before any body is read.
	first := <-results
	if !errors.Is(first.err, ErrFull) {
		t.Fatalf("first answer: %d, %v; want the third chunk refused with ErrFull", first.off, first.err)
	}
	close(open)
	for range 2 {
		if r := <-results; r.err != nil || r.off != 4<<20 {
			t.Errorf("an admitted chunk: %d, %v", r.off, r.err)
		}
	}
}

// TestQuotaCountsReceivedFiles: a file received onto the state disk
// counts against its account's quota for QuotaWindow, as it counted
// while it was arriving, so that finishing uploads does not make room
// for more; a file filed on another disk, or one the space already had,
// takes nothing of the state disk and does not count.
func TestQuotaCountsReceivedFiles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{
		Space:   func() (int64, int64, error) { return 1 << 30, 1 << 30, nil },
		Reserve: 10 << 20,
		Quota:   func(int64) int64 { return 10 << 20 },
	})
	file := func(seed byte, size int) photo {
		p := photo{rel: fmt.Sprintf("IMG_%03d.JPG", seed), data: bytes.Repeat([]byte{seed}, size)}
		p.sum = sha256.Sum256(p.data)
		return p
	}
	e.upload("u1", "pixel", file(1, 6<<20)) // the space's folder is on the state disk here
	if _, err := e.s.Create(ctx, e.req("u1", "ipad", file(2, 6<<20))); !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "24 hours") {
		t.Errorf("Create after a received 6 MiB, from another device, quota 10 MiB: %v, want ErrQuota saying the window", err)
	}
	if _, err := e.s.Create(ctx, e.req("u2", "pixel", file(3, 6<<20))); err != nil {
		t.Errorf("another account: %v", err)
	}
	e.clock.Add(QuotaWindow - time.Second)
	if _, err := e.s.Create(ctx, e.req("u1", "pixel", file(2, 6<<20))); !errors.Is(err, ErrQuota) {
		t.Errorf("Create just inside the window: %v, want ErrQuota", err)
	}
	e.clock.Add(2 * time.Second)
	if _, err := e.s.Create(ctx, e.req("u1", "pixel", file(2, 6<<20))); err != nil {
		t.Errorf("Create once the received file left the window: %v", err)
	}

	// A file the space already held adds nothing.
	e2 := newEnv(t, e.opt)
	p := file(4, 6<<20)
	dir := filepath.Join(e2.inbox, "pixel's phone", "2024", "07")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, p.name()), p.data, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := e2.upload("u1", "pixel", p); !res.Existing {
		t.Fatalf("upload onto an identical file: %+v, want Existing", res)
	}
	if _, err := e2.s.Create(ctx, e2.req("u1", "pixel", file(5, 6<<20))); err != nil {
		t.Errorf("after a file the space already had: %v", err)
	}

	// Nor does a file filed on another disk.
	var a, b syscall.Stat_t
	if syscall.Stat("/dev/shm", &b) != nil || syscall.Stat(os.TempDir(), &a) != nil || a.Dev == b.Dev {
		t.Skip("no second file system at /dev/shm")
	}
	e3 := newEnv(t, e.opt)
	inbox, err := os.MkdirTemp("/dev/shm", "shoebox-inbox-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(inbox) })
	e3.inbox = inbox
	e3.upload("u1", "pixel", file(6, 6<<20))
	if _, err := e3.s.Create(ctx, e3.req("u1", "pixel", file(7, 6<<20))); err != nil {
		t.Errorf("after a file filed on another disk: %v", err)
	}
}
