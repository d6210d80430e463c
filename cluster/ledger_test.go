package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/fakeclock"
	"github.com/shoebox/shoebox/store"
)

const day = 24 * time.Hour

// t0 is the test clock's start.
var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// ledgerEnv is a ledger over a real directory store, with a fake clock.
type ledgerEnv struct {
	t      *testing.T
	ctx    context.Context
	root   string // the store's directory
	dir    *store.Dir
	db     string // the ledger's database
	clock  *fakeclock.Clock
	opt    LedgerOptions
	l      *Ledger
	mu     sync.Mutex
	frozen []FreezeInfo // OnFreeze calls
}

func newLedgerEnv(t *testing.T, opt LedgerOptions) *ledgerEnv {
	t.Helper()
	e := &ledgerEnv{t: t, ctx: context.Background(), root: t.TempDir(), clock: fakeclock.New(t0)}
	e.db = filepath.Join(t.TempDir(), "ledger.db")
	opt.Now = e.clock.Now
	opt.OnFreeze = func(f FreezeInfo) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.frozen = append(e.frozen, f)
	}
	e.opt = opt
	e.reopen()
	t.Cleanup(func() { e.l.Close() })
	return e
}

// reopen closes the ledger (if open) and opens it again over the same
// directory and database.
func (e *ledgerEnv) reopen() {
	e.t.Helper()
	if e.l != nil {
		if err := e.l.Close(); err != nil {
			e.t.Fatal(err)
		}
	}
	d, err := store.OpenDir(e.root)
	if err != nil {
		e.t.Fatal(err)
	}
	e.dir = d
	e.l, err = OpenLedger(e.ctx, d, e.db, e.opt)
	if err != nil {
		e.t.Fatal(err)
	}
}

// hashed returns the repository name of data under prefix (keys/, data/,
// index/, snapshots/, holds/): the SHA-256 of its bytes.
func hashed(prefix string, data []byte) string {
	s := sha256.Sum256(data)
	id := hex.EncodeToString(s[:])
	if prefix == "data/" {
		return "data/" + id[:2] + "/" + id
	}
	return prefix + id
}

// put puts data under name and fails the test on an error.
func (e *ledgerEnv) put(name string, data []byte) {
	e.t.Helper()
	if err := e.l.Put(e.ctx, name, bytes.NewReader(data)); err != nil {
		e.t.Fatalf("Put %s: %v", name, err)
	}
}

// putPacks stores n packs of size bytes and returns their names.
func (e *ledgerEnv) putPacks(n, size int) []string {
	e.t.Helper()
	var names []string
	for i := range n {
		b := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, size/2)
		name := hashed("data/", b)
		e.put(name, b)
		names = append(names, name)
	}
	return names
}

func (e *ledgerEnv) read(name string) ([]byte, error) {
	return store.ReadAll(e.ctx, e.dir, name)
}

func (e *ledgerEnv) exists(name string) bool {
	e.t.Helper()
	_, err := e.dir.Stat(e.ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *ledgerEnv) purge() []string {
	e.t.Helper()
	got, err := e.l.Purge(e.ctx)
	if err != nil {
		e.t.Fatalf("Purge: %v", err)
	}
	return got
}

func (e *ledgerEnv) status() LedgerStatus {
	e.t.Helper()
	s, err := e.l.Status()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestLedgerPutRules: what Put accepts and refuses, and that a refusal
// leaves the store as it was.
func TestLedgerPutRules(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{})
	config := []byte("config v1")
	key := []byte("key file")
	e.put("config", config)
	e.put(hashed("keys/", key), key)

	pack := []byte("pack bytes")
	tests := []struct {
		name   string
		data   []byte
		reason error // nil: accepted
	}{
		{"config", config, nil},
		{"config", []byte("another repository's config"), ErrWriteOnce},
		{hashed("keys/", key), key, nil},
		{hashed("keys/", key), []byte("other key bytes"), ErrHashMismatch},
		{hashed("keys/", []byte("new key")), []byte("new key"), nil},
		{hashed("data/", pack), pack, nil},
		{hashed("data/", pack), []byte("ransomware"), ErrHashMismatch},
		{"data/00/" + strings.TrimPrefix(hashed("index/", pack), "index/"), pack, ErrUnknownName},
		{hashed("index/", pack), pack, nil},
		{hashed("snapshots/", pack), pack, nil},
		{hashed("holds/", pack), pack, nil},
		{"anchors/audit", []byte("head 1"), nil},
		{"anchors/audit", []byte("head 2"), nil},
		{"locks/0123456789abcdef0123456789abcdef", []byte("lock"), ErrLockName},
		{"other/thing", []byte("x"), ErrUnknownName},
		{"../escape", []byte("x"), store.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := e.read(tt.name)
			err := e.l.Put(e.ctx, tt.name, bytes.NewReader(tt.data))
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("Put: got %v, want nil", err)
				}
				if got, err := e.read(tt.name); err != nil || !bytes.Equal(got, tt.data) {
					t.Fatalf("stored: got %q, %v; want %q", got, err, tt.data)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !errors.Is(err, tt.reason) {
				t.Fatalf("Put: got %v, want ErrRefused wrapping %v", err, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Errorf("error %q does not name the object", err)
			}
			if after, _ := e.read(tt.name); !bytes.Equal(after, before) {
				t.Fatalf("refused Put changed the object: got %q, want %q", after, before)
			}
		})
	}
	var names []string
	e.dir.List(e.ctx, "", func(fi store.ObjectInfo) error { names = append(names, fi.Name); return nil })
	if s := e.status(); s.Objects != len(names) {
		t.Errorf("Status.Objects: got %d, want %d (%v)", s.Objects, len(names), names)
	}
}

// TestLedgerReplacesDamagedCopy: an object named by its hash whose stored
// copy is damaged is replaced by bytes that match its name (the re-send
// after a failed storage challenge).
func TestLedgerReplacesDamagedCopy(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{})
	pack := bytes.Repeat([]byte("p"), 4096)
	name := hashed("data/", pack)
	e.put(name, pack)
	damaged := bytes.Clone(pack)
	damaged[100] ^= 1
	if err := os.WriteFile(filepath.Join(e.root, name), damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	e.put(name, pack)
	if got, err := e.read(name); err != nil || !bytes.Equal(got, pack) {
		t.Fatalf("after the re-send: got %d bytes (%v), want the original %d", len(got), err, len(pack))
	}
	if s := e.status(); s.Objects != 1 || s.Bytes != int64(len(pack)) {
		t.Errorf("Status: got %d objects, %d bytes; want 1, %d", s.Objects, s.Bytes, len(pack))
	}
}

// TestLedgerDeleteWaitsForDelay: a deleted object stays readable until
// the delay has passed, then Purge removes it; before, the delay counts
// from the first request.
func TestLedgerDeleteWaitsForDelay(t *testing.T) {
	for _, tt := range []struct {
		opt   time.Duration
		delay time.Duration
	}{{0, 30 * day}, {7 * day, 7 * day}, {90 * day, 90 * day}} {
		t.Run(tt.delay.String(), func(t *testing.T) {
			e := newLedgerEnv(t, LedgerOptions{DeleteDelay: tt.opt})
			packs := e.putPacks(20, 1000)
			if err := e.l.RequestDelete(e.ctx, packs[0]); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(day)
			if err := e.l.RequestDelete(e.ctx, packs[0]); err != nil { // again: changes nothing
				t.Fatal(err)
			}
			if _, err := e.read(packs[0]); err != nil {
				t.Fatalf("a deleted object is not readable before purge: %v", err)
			}
			ds, err := e.l.Deletions()
			if err != nil || len(ds) != 1 || ds[0].Name != packs[0] || !ds[0].RequestedAt.Equal(t0) || !ds[0].PurgeAfter.Equal(t0.Add(tt.delay)) {
				t.Fatalf("Deletions: got %+v, %v; want %s requested at %v, purged after %v", ds, err, packs[0], t0, t0.Add(tt.delay))
			}
			e.clock.Add(tt.delay - day - time.Second)
			if got := e.purge(); len(got) != 0 {
				t.Fatalf("Purge a second before the delay: got %v, want nothing", got)
			}
			e.clock.Add(time.Second)
			if got := e.purge(); fmt.Sprint(got) != fmt.Sprint(packs[:1]) {
				t.Fatalf("Purge after the delay: got %v, want %v", got, packs[:1])
			}
			if e.exists(packs[0]) || !e.exists(packs[1]) {
				t.Fatalf("after purge: %s exists %v (want false), %s exists %v (want true)", packs[0], e.exists(packs[0]), packs[1], e.exists(packs[1]))
			}
			if s := e.status(); s.Objects != 19 || s.Bytes != 19*1000 || s.PendingDeletions != 0 {
				t.Errorf("Status after purge: got %+v, want 19 objects of 19000 bytes, none pending", s)
			}
		})
	}
}

// TestLedgerKeepsDeletedOnPut: an object put again while awaiting purge,
// or undeleted by the operator, is kept.
func TestLedgerKeepsDeletedOnPut(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{DeleteDelay: 7 * day})
	packs := e.putPacks(20, 100)
	for _, p := range packs[:2] {
		if err := e.l.RequestDelete(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := e.read(packs[0])
	e.put(packs[0], b)
	if err := e.l.Undelete(e.ctx, packs[1]); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Undelete(e.ctx, packs[2]); !errors.Is(err, ErrNotPending) {
		t.Errorf("Undelete of an object not awaiting purge: got %v, want ErrNotPending", err)
	}
	e.clock.Add(8 * day)
	if got := e.purge(); len(got) != 0 {
		t.Fatalf("Purge: got %v, want nothing", got)
	}
	if s := e.status(); s.Objects != 20 || s.PendingDeletions != 0 {
		t.Errorf("Status: got %+v, want 20 objects, none pending", s)
	}
}

// TestLedgerHolds: an object under a hold is not purged before the hold
// ends, and a hold never shortens.
func TestLedgerHolds(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{FreezeAbove: 1})
	packs := e.putPacks(20, 100)
	held := packs[0]
	if err := e.l.Hold(e.ctx, held, t0.Add(60*day)); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Hold(e.ctx, held, t0.Add(40*day)); err != nil { // shorter: no change
		t.Fatal(err)
	}
	// A hold may come before the object.
	later := []byte("a pack that arrives later")
	if err := e.l.Hold(e.ctx, hashed("data/", later), t0.Add(45*day)); err != nil {
		t.Fatal(err)
	}
	e.put(hashed("data/", later), later)
	if err := e.l.Hold(e.ctx, "locks/x", t0.Add(day)); !errors.Is(err, ErrLockName) {
		t.Errorf("Hold of a lock: got %v, want ErrLockName", err)
	}
	for _, p := range []string{held, hashed("data/", later), packs[1]} {
		if err := e.l.RequestDelete(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if until, err := e.l.HeldUntil(held); err != nil || !until.Equal(t0.Add(60*day)) {
		t.Fatalf("HeldUntil: got %v, %v; want %v", until, err, t0.Add(60*day))
	}
	e.clock.Add(31 * day)
	if got := e.purge(); fmt.Sprint(got) != fmt.Sprint([]string{packs[1]}) {
		t.Fatalf("Purge at day 31: got %v, want only the unheld %s", got, packs[1])
	}
	e.clock.Add(15 * day) // day 46
	if got := e.purge(); fmt.Sprint(got) != fmt.Sprint([]string{hashed("data/", later)}) {
		t.Fatalf("Purge at day 46: got %v, want %s", got, hashed("data/", later))
	}
	e.clock.Add(13*day + 23*time.Hour) // an hour before day 60
	if got := e.purge(); len(got) != 0 {
		t.Fatalf("Purge before the hold ends: got %v, want nothing", got)
	}
	e.clock.Add(time.Hour)
	if got := e.purge(); fmt.Sprint(got) != fmt.Sprint([]string{held}) {
		t.Fatalf("Purge when the hold ends: got %v, want %s", got, held)
	}
	if s := e.status(); s.Holds != 0 {
		t.Errorf("Status.Holds after the holds ended: got %d, want 0", s.Holds)
	}
}

// TestLedgerKeepsLastKey: the last key file is never requested for
// deletion nor purged, and config is never deleted.
func TestLedgerKeepsLastKey(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{FreezeAbove: 1})
	k1, k2 := []byte("key one"), []byte("key two")
	n1, n2 := hashed("keys/", k1), hashed("keys/", k2)
	e.put("config", []byte("config"))
	e.put(n1, k1)
	if err := e.l.RequestDelete(e.ctx, n1); !errors.Is(err, ErrLastKey) || !errors.Is(err, ErrRefused) {
		t.Fatalf("delete the only key: got %v, want ErrRefused wrapping ErrLastKey", err)
	}
	if err := e.l.RequestDelete(e.ctx, "config"); !errors.Is(err, ErrKeepConfig) {
		t.Fatalf("delete config: got %v, want ErrKeepConfig", err)
	}
	e.put(n2, k2)
	if err := e.l.RequestDelete(e.ctx, n1); err != nil {
		t.Fatalf("delete one of two keys: %v", err)
	}
	if err := e.l.RequestDelete(e.ctx, n2); !errors.Is(err, ErrLastKey) {
		t.Fatalf("delete the other key while the first awaits purge: got %v, want ErrLastKey", err)
	}
	if msg := fmt.Sprint(e.l.RequestDelete(e.ctx, n2)); !strings.Contains(msg, n2) || !strings.Contains(msg, "shoebox key add") {
		t.Errorf("message %q does not name the key file and the next step", msg)
	}
	// The other key vanishes from the disk (not through the ledger): the
	// key awaiting purge is now the last one and is kept.
	if err := os.Remove(filepath.Join(e.root, n2)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(31 * day)
	if got := e.purge(); len(got) != 0 {
		t.Fatalf("Purge of the last key file: got %v, want nothing", got)
	}
	if !e.exists(n1) || !e.exists("config") {
		t.Fatal("the last key file or config is gone")
	}
}

// TestLedgerFreeze: more than FreezeAbove of the objects requested for
// deletion within a day freezes every deletion, durably, with one alert,
// until the operator lifts it; requests older than a day do not count.
func TestLedgerFreeze(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{}) // 10 %
	packs := e.putPacks(50, 100)          // 5 deletions a day allowed
	del := func(name string) error { return e.l.RequestDelete(e.ctx, name) }
	for _, p := range packs[:5] {
		if err := del(p); err != nil {
			t.Fatalf("request %s: %v", p, err)
		}
	}
	e.clock.Add(day) // the first five leave the window
	for _, p := range packs[5:10] {
		if err := del(p); err != nil {
			t.Fatalf("request %s on day 2: %v", p, err)
		}
	}
	e.clock.Add(time.Hour)
	err := del(packs[10])
	var fe *FrozenError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFrozen) {
		t.Fatalf("the 6th request within a day: got %v, want ErrFrozen", err)
	}
	want := FreezeInfo{Frozen: true, Since: t0.Add(day + time.Hour), Name: packs[10], Requested: 6, Objects: 50, Above: 0.10}
	if fe.Freeze != want {
		t.Errorf("freeze: got %+v, want %+v", fe.Freeze, want)
	}
	if !strings.Contains(err.Error(), "made 6 of its 50 objects (more than 10 %)") || !strings.Contains(err.Error(), "lift the freeze") {
		t.Errorf("message %q does not say why and what to do", err)
	}
	if len(e.frozen) != 1 || e.frozen[0] != want {
		t.Errorf("OnFreeze calls: got %+v, want one with %+v", e.frozen, want)
	}
	if err := del(packs[11]); !errors.Is(err, ErrFrozen) {
		t.Errorf("request while frozen: got %v, want ErrFrozen", err)
	}
	if len(e.frozen) != 1 {
		t.Errorf("OnFreeze called %d times, want once", len(e.frozen))
	}
	e.put(hashed("data/", []byte("new")), []byte("new")) // replication goes on
	e.clock.Add(60 * day)
	if got, err := e.l.Purge(e.ctx); !errors.Is(err, ErrFrozen) || len(got) != 0 {
		t.Errorf("Purge while frozen: got %v, %v; want nothing and ErrFrozen", got, err)
	}
	e.reopen()
	if err := del(packs[12]); !errors.Is(err, ErrFrozen) {
		t.Errorf("request after a restart: got %v, want ErrFrozen (the freeze is durable)", err)
	}
	if s := e.status(); s.Freeze != want {
		t.Errorf("Status.Freeze after a restart: got %+v, want %+v", s.Freeze, want)
	}
	if err := e.l.Unfreeze(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.purge(); len(got) != 10 {
		t.Errorf("Purge after Unfreeze: got %d objects, want the 10 requested", len(got))
	}
	for _, p := range packs[10:14] { // the day is counted afresh
		if err := del(p); err != nil {
			t.Errorf("request after Unfreeze: %v", err)
		}
	}
}

// TestLedgerQuota: a put that would exceed the quota is refused and
// stores nothing; objects awaiting purge count until they are purged.
func TestLedgerQuota(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{Quota: 10_000, FreezeAbove: 1})
	packs := e.putPacks(4, 2000)
	big := bytes.Repeat([]byte("b"), 2001)
	err := e.l.Put(e.ctx, hashed("data/", big), bytes.NewReader(big))
	var qe *QuotaError
	if !errors.As(err, &qe) || !errors.Is(err, ErrQuota) {
		t.Fatalf("Put over quota: got %v, want ErrQuota", err)
	}
	if qe.Used != 8000 || qe.Limit != 10_000 || qe.Name != hashed("data/", big) || qe.Size < 2001 {
		t.Errorf("QuotaError: got %+v, want 8000 used of 10000, %s of at least 2001 bytes", qe, hashed("data/", big))
	}
	if !strings.Contains(err.Error(), "7.8 KiB used") || !strings.Contains(err.Error(), "raise the offsite unit's quota") {
		t.Errorf("message %q does not give used, limit and next step", err)
	}
	if e.exists(hashed("data/", big)) {
		t.Fatal("a refused put stored the object")
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, ".tmp")); len(ents) != 0 {
		t.Errorf("a refused put left %d temporary files", len(ents))
	}
	e.put(packs[0], bytes.Repeat([]byte{0, 0}, 1000)) // replacing counts once
	if err := e.l.RequestDelete(e.ctx, packs[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Put(e.ctx, hashed("data/", big), bytes.NewReader(big)); !errors.Is(err, ErrQuota) {
		t.Fatalf("Put while the deleted object awaits purge: got %v, want ErrQuota", err)
	}
	e.clock.Add(30 * day)
	e.purge()
	e.put(hashed("data/", big), big)
	if s := e.status(); s.Bytes != 8001 || s.Quota != 10_000 {
		t.Errorf("Status: got %d of %d bytes, want 8001 of 10000", s.Bytes, s.Quota)
	}
}

// TestLedgerOptions: the delay's minimum and freeze_above's range are
// enforced; zero values are the documented defaults.
func TestLedgerOptions(t *testing.T) {
	st, err := store.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []LedgerOptions{
		{DeleteDelay: 7*day - time.Second},
		{DeleteDelay: -1},
		{FreezeAbove: 1.5},
		{FreezeAbove: -0.1},
		{Quota: -1},
	} {
		if l, err := OpenLedger(context.Background(), st, filepath.Join(t.TempDir(), "l.db"), opt); err == nil {
			l.Close()
			t.Errorf("OpenLedger(%+v): got nil, want an error", opt)
		}
	}
	e := newLedgerEnv(t, LedgerOptions{})
	if s := e.status(); s.DeleteDelay != 30*day || s.FreezeAbove != 0.10 || s.Quota != 0 {
		t.Errorf("defaults: got delay %v, freeze_above %g, quota %d; want 720h, 0.1, 0", s.DeleteDelay, s.FreezeAbove, s.Quota)
	}
}

// TestLedgerReopen: deletions, holds, the freeze and the day's requests
// survive closing and opening the ledger again; the counts are the
// store's.
func TestLedgerReopen(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{})
	packs := e.putPacks(30, 100) // 3 deletions a day
	for _, p := range packs[:3] {
		if err := e.l.RequestDelete(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.l.Hold(e.ctx, packs[0], t0.Add(40*day)); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if s := e.status(); s.Objects != 30 || s.Bytes != 3000 || s.PendingDeletions != 3 || s.PendingBytes != 300 || s.Holds != 1 {
		t.Errorf("Status after reopen: got %+v, want 30 objects, 3000 bytes, 3 pending of 300 bytes, 1 hold", s)
	}
	if err := e.l.RequestDelete(e.ctx, packs[3]); !errors.Is(err, ErrFrozen) {
		t.Errorf("4th request of the day after reopen: got %v, want ErrFrozen", err)
	}
	if err := e.l.Unfreeze(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * day)
	if got := e.purge(); fmt.Sprint(got) != fmt.Sprint(slices.Sorted(slices.Values(packs[1:3]))) {
		t.Errorf("Purge after reopen: got %v, want %v", got, slices.Sorted(slices.Values(packs[1:3])))
	}
	e.clock.Add(10 * day)
	if got := e.purge(); fmt.Sprint(got) != fmt.Sprint(packs[:1]) {
		t.Errorf("Purge after the hold: got %v, want %v", got, packs[:1])
	}
}

// TestLedgerConcurrentPuts: puts stream concurrently; the counts add up.
func TestLedgerConcurrentPuts(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{Quota: 1 << 20})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			b := bytes.Repeat([]byte{byte(i)}, 10_000+i)
			if err := e.l.Put(e.ctx, hashed("data/", b), bytes.NewReader(b)); err != nil {
				errs <- err
			}
			if err := e.l.Put(e.ctx, hashed("data/", b), bytes.NewReader(b)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := e.status(); s.Objects != 16 || s.Bytes != 16*10_000+120 {
		t.Errorf("Status: got %d objects of %d bytes, want 16 of %d", s.Objects, s.Bytes, 16*10_000+120)
	}
}

// TestLedgerBusy: a second process (or ledger) cannot open the database
// while one has it.
func TestLedgerBusy(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for bbolt's 5 s lock timeout")
	}
	e := newLedgerEnv(t, LedgerOptions{})
	_, err := OpenLedger(e.ctx, e.dir, e.db, LedgerOptions{})
	if err == nil || !strings.Contains(err.Error(), "another process has it open") {
		t.Fatalf("second OpenLedger: got %v, want an error saying another process has it open", err)
	}
}

// TestLedgerPurgeVanished: an object awaiting purge that vanished from
// the store (a lost disk, a purge killed after the delete) is purged
// from the records without an error, and the counts follow the store.
func TestLedgerPurgeVanished(t *testing.T) {
	e := newLedgerEnv(t, LedgerOptions{})
	packs := e.putPacks(20, 100)
	if err := e.l.RequestDelete(e.ctx, packs[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.root, packs[0])); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	e.clock.Add(30 * day)
	if got := e.purge(); fmt.Sprint(got) != fmt.Sprint(packs[:1]) {
		t.Fatalf("Purge: got %v, want %v", got, packs[:1])
	}
	if s := e.status(); s.Objects != 19 || s.Bytes != 1900 || s.PendingDeletions != 0 {
		t.Errorf("Status: got %+v, want 19 objects of 1900 bytes, none pending", s)
	}
}

// BenchmarkLedgerPut: what the ledger adds to a put of a 16 MiB pack
// (hashing, the name check, one Stat) over the directory store alone.
func BenchmarkLedgerPut(b *testing.B) {
	ctx := context.Background()
	pack := make([]byte, 16<<20)
	for i := range pack {
		pack[i] = byte(i*7 + i>>11)
	}
	name := hashed("data/", pack)
	d, err := store.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("dir", func(b *testing.B) {
		b.SetBytes(int64(len(pack)))
		for b.Loop() {
			if err := d.Put(ctx, name, bytes.NewReader(pack)); err != nil {
				b.Fatal(err)
			}
		}
	})
	l, err := OpenLedger(ctx, d, filepath.Join(b.TempDir(), "ledger.db"), LedgerOptions{Quota: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.Run("ledger", func(b *testing.B) {
		b.SetBytes(int64(len(pack)))
		for b.Loop() {
			if err := l.Put(ctx, name, bytes.NewReader(pack)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
