package audit

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoebox/shoebox/gateway/token"
)

// testKey is the chain key of the tests' logs.
var testKey = bytes.Repeat([]byte{0x5b}, 32)

// clock is a fake time source that moves one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 123456789, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openTest(t *testing.T, dir string, c *clock) *Log {
	t.Helper()
	l, err := Open(dir, Options{Key: testKey, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t *testing.T, l *Log, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := range n {
		e, err := l.Append(Entry{
			Actor:  []string{"anna", "ben"}[i%2],
			IP:     "192.0.2.7",
			Action: []string{ActionLogin, ActionShareCreated, ActionDownload}[i%3],
			Target: fmt.Sprintf("snap%d:/photos/%d.jpg", i, i),
			Detail: map[string]string{"n": fmt.Sprint(i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func verifyOK(t *testing.T, dir string, entries uint64) Report {
	t.Helper()
	rep, err := Verify(dir, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Entries != entries || rep.Head != entries {
		t.Fatalf("Verify = %+v, want OK with %d entries", rep, entries)
	}
	return rep
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := openTest(t, dir, c)
	written := appendN(t, l, 9)

	for i, e := range written {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d: seq %d", i, e.Seq)
		}
		if e.Hash != hashOf(e, testKey) || len(e.Hash) != 64 {
			t.Errorf("entry %d: hash %q", i, e.Hash)
		}
	}
	if written[0].Prev != zeroHash || written[1].Prev != written[0].Hash {
		t.Errorf("chain: prev %q, %q", written[0].Prev, written[1].Prev)
	}

	newest := func(es []Entry) []Entry {
		var out []Entry
		for i := len(es) - 1; i >= 0; i-- {
			out = append(out, es[i])
		}
		return out
	}
	pick := func(keep func(Entry) bool) []Entry {
		var out []Entry
		for _, e := range newest(written) {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []Entry
	}{
		{"all", Filter{}, newest(written)},
		{"limit", Filter{Limit: 2}, newest(written)[:2]},
		{"since", Filter{Since: written[6].Time}, newest(written[6:])},
		{"actor", Filter{Actor: "ben"}, pick(func(e Entry) bool { return e.Actor == "ben" })},
		{"action", Filter{Action: ActionLogin}, pick(func(e Entry) bool { return e.Action == ActionLogin })},
		{"action prefix", Filter{Action: "share."}, pick(func(e Entry) bool { return e.Action == ActionShareCreated })},
		{"combined", Filter{Actor: "anna", Action: ActionLogin, Limit: 1}, pick(func(e Entry) bool { return e.Actor == "anna" && e.Action == ActionLogin })[:1]},
		{"none", Filter{Actor: "nobody"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.List(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("List(%+v) (-want +got):\n%s", tc.f, diff)
			}
		})
	}

	rep, err := l.Verify(nil)
	if err != nil || !rep.OK || rep.Entries != 9 || rep.LastHash != written[8].Hash {
		t.Errorf("(*Log).Verify = %+v, %v", rep, err)
	}
	verifyOK(t, dir, 9)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Action: ActionLogin}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
}

func TestFileFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l := openTest(t, dir, newClock())
	e, err := l.Append(Entry{Actor: "anna", ActorID: "u0123456789abcdef", IP: "192.0.2.7", Action: ActionLogin, Result: ResultOK,
		Detail: map[string]string{"z": "1", "a": "<&>"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, logName))
	want := `{"v":2,"seq":1,"time":"2025-03-01T09:00:01.123456789Z","actor":"anna","actor_id":"u0123456789abcdef","ip":"192.0.2.7",` +
		`"action":"login","target":"","result":"ok","detail":{"a":"\u003c\u0026\u003e","z":"1"},"prev":"` + zeroHash + `","hash":"` + e.Hash + "\"}\n"
	if string(got) != want {
		t.Errorf("log file:\n got %s\nwant %s", got, want)
	}

	// The hash, computed from the package documentation's recipe alone:
	// HMAC-SHA-256 with the chain key, which HKDF derives from the box
	// key.
	var b strings.Builder
	b.WriteString("shoebox-audit-v2\n")
	for _, f := range []string{"1", "2025-03-01T09:00:01.123456789Z", "anna", "u0123456789abcdef", "192.0.2.7", "login", "", "ok",
		"2", "a", "<&>", "z", "1", zeroHash} {
		fmt.Fprintf(&b, "%d:%s,", len(f), f)
	}
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte(b.String()))
	if e.Hash != hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("hash %s, want %s from the documented recipe", e.Hash, hex.EncodeToString(m.Sum(nil)))
	}
	boxKey := bytes.Repeat([]byte{1}, 32)
	ck, _ := ChainKey(boxKey)
	wantKey, _ := hkdf.Key(sha256.New, boxKey, nil, "shoebox audit chain v2", 32)
	if !bytes.Equal(ck, wantKey) {
		t.Errorf("ChainKey = %x, want HKDF-SHA-256(box key, label \"shoebox audit chain v2\")", ck)
	}

	hb, _ := os.ReadFile(filepath.Join(dir, headName))
	if string(hb) != `{"seq":1,"hash":"`+e.Hash+"\"}\n" {
		t.Errorf("head file %s", hb)
	}
	for _, name := range []string{dir, filepath.Join(dir, logName), filepath.Join(dir, headName)} {
		fi, _ := os.Stat(name)
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want no group or other access", name, fi.Mode().Perm())
		}
	}
}

// tamper builds a log of 6 entries, closes it, and hands its files to
// edit.
func tamper(t *testing.T, edit func(lines [][]byte, head []byte) ([][]byte, []byte)) (Report, string) {
	t.Helper()
	dir := t.TempDir()
	l := openTest(t, dir, newClock())
	appendN(t, l, 6)
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, logName))
	hb, _ := os.ReadFile(filepath.Join(dir, headName))
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty piece after the last newline
	lines, hb = edit(lines, hb)
	if err := os.WriteFile(filepath.Join(dir, logName), bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if hb == nil {
		os.Remove(filepath.Join(dir, headName))
	} else if err := os.WriteFile(filepath.Join(dir, headName), hb, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep, dir
}

// rehash recomputes the hashes from entry i (0-based) on, as a forger
// would, keeping the chain intact.
func rehash(t *testing.T, lines [][]byte, i int, change func(*Entry)) [][]byte {
	t.Helper()
	prev := zeroHash
	for j, ln := range lines {
		e, err := decode(bytes.TrimSuffix(ln, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if j >= i {
			if j == i {
				change(&e)
			}
			e.Prev = prev
			e.Hash = hashOf(e, testKey)
			lines[j] = append(encode(e), '\n')
		}
		prev = e.Hash
	}
	return lines
}

func TestVerifyDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, lines [][]byte, head []byte) ([][]byte, []byte)
		bad    uint64
		reason string
		crash  bool
	}{
		{"edited actor", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			ls[2] = bytes.Replace(ls[2], []byte(`"actor":"anna"`), []byte(`"actor":"eve!"`), 1)
			return ls, h
		}, 3, "its keyed hash does not match", false},
		{"edited detail", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			ls[4] = bytes.Replace(ls[4], []byte(`"n":"4"`), []byte(`"n":"9"`), 1)
			return ls, h
		}, 5, "its keyed hash does not match", false},
		{"reformatted", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			ls[1] = bytes.Replace(ls[1], []byte(`"seq":2,`), []byte(`"seq": 2,`), 1)
			return ls, h
		}, 2, "exact form", false},
		{"garbage line", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			ls[3] = []byte("hello\n")
			return ls, h
		}, 4, "not a JSON entry", false},
		{"edited and rehashed", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			e, _ := decode(bytes.TrimSuffix(ls[2], []byte("\n")))
			e.Target = "nothing to see"
			e.Hash = hashOf(e, testKey)
			ls[2] = append(encode(e), '\n')
			return ls, h
		}, 4, "entry 3 was replaced", false},
		{"whole chain rewritten", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return rehash(t, ls, 2, func(e *Entry) { e.Actor = "mallory" }), h
		}, 6, "head does not match", false},
		{"deleted entry", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return append(ls[:2], ls[3:]...), h
		}, 3, "entry 3 is missing", false},
		{"deleted first entry", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return ls[1:], h
		}, 1, "entry 1 is missing", false},
		{"reordered", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			ls[3], ls[4] = ls[4], ls[3]
			return ls, h
		}, 4, "deleted or reordered", false},
		{"duplicated", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return append(ls[:3], ls[2:]...), h
		}, 4, "holds entry 3 again", false},
		{"empty line", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return append(ls[:3], append([][]byte{[]byte("\n")}, ls[3:]...)...), h
		}, 4, "empty line", false},
		{"truncated tail", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return ls[:4], h
		}, 5, "entries 5 to 6 were cut off", false},
		{"emptied log", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return nil, h
		}, 1, "entries 1 to 6 were cut off", false},
		{"cut inside an acknowledged entry", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			ls[5] = ls[5][:40]
			return ls, h
		}, 6, "although it had been recorded", false},
		{"final newline removed", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			ls[5] = bytes.TrimSuffix(ls[5], []byte("\n"))
			return ls, h
		}, 6, "although it had been recorded", false},
		{"head deleted", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return ls, nil
		}, 0, "head file is missing", false},
		{"head damaged", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return ls, []byte(`{"seq":6}`)
		}, 0, "head file is damaged", false},
		{"head hash rewritten", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return ls, encodeHead(head{6, strings.Repeat("ab", 32)})
		}, 6, "head does not match", false},
		{"head seq raised", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			hd, _ := parseHead(h)
			return ls, encodeHead(head{7, hd.Hash})
		}, 7, "cut off the end", false},
		{"head rolled back to hide entries", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			e, _ := decode(bytes.TrimSuffix(ls[2], []byte("\n")))
			return ls, encodeHead(head{3, e.Hash})
		}, 4, "log goes on past the head", false},
		{"torn last line", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			return append(ls, []byte(`{"seq":7,"time":"2025-03-0`)), h
		}, 7, "incomplete last entry, probably a crash", true},
		{"entry not yet in head", func(t *testing.T, ls [][]byte, h []byte) ([][]byte, []byte) {
			e, _ := decode(bytes.TrimSuffix(ls[4], []byte("\n")))
			return ls, encodeHead(head{5, e.Hash})
		}, 6, "written but not acknowledged", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, dir := tamper(t, func(ls [][]byte, h []byte) ([][]byte, []byte) { return tc.edit(t, ls, h) })
			if rep.OK || rep.BadSeq != tc.bad || rep.Crash != tc.crash || !strings.Contains(rep.Reason, tc.reason) {
				t.Fatalf("got %+v, want BadSeq %d, Crash %v, reason with %q", rep, tc.bad, tc.crash, tc.reason)
			}
			if rep.String() != rep.Reason {
				t.Errorf("String() = %q", rep.String())
			}
			// Open refuses what a crash cannot explain, and leaves the
			// files alone.
			before, _ := os.ReadFile(filepath.Join(dir, logName))
			l, err := Open(dir, Options{Key: testKey, Now: newClock().Now})
			if tc.crash {
				if err != nil {
					t.Fatalf("Open after a crash: %v", err)
				}
				l.Close()
				return
			}
			if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), tc.reason) {
				l.Close()
				t.Fatalf("Open: got %v, want ErrTampered with %q", err, tc.reason)
			}
			after, _ := os.ReadFile(filepath.Join(dir, logName))
			if !bytes.Equal(before, after) {
				t.Error("Open changed a tampered log")
			}
		})
	}
}

func TestCrashTornLine(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := openTest(t, dir, c)
	written := appendN(t, l, 4)
	l.Close()

	// A crash in the middle of writing entry 5: part of its line, and
	// the zeros a file system can leave after a power cut.
	good, _ := os.ReadFile(filepath.Join(dir, logName))
	f, _ := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(`{"seq":5,"time":"2025-03-01T09:00:`))
	f.Write(make([]byte, 100))
	f.Close()

	rep, err := Verify(dir, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !rep.Crash || rep.BadSeq != 5 || rep.Entries != 4 || !strings.Contains(rep.Reason, "incomplete last entry, probably a crash") {
		t.Fatalf("Verify = %+v, want a crash at entry 5", rep)
	}

	l = openTest(t, dir, c)
	data, _ := os.ReadFile(filepath.Join(dir, logName))
	if !bytes.HasPrefix(data, good) {
		t.Fatal("repair changed acknowledged entries")
	}
	got, err := l.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Action != ActionAuditRepaired || got[0].Actor != "shoebox" ||
		!strings.Contains(got[0].Detail["reason"], "probably a crash") || got[0].Prev != written[3].Hash {
		t.Fatalf("after repair: %+v", got)
	}
	appendN(t, l, 1)
	verifyOK(t, dir, 6)
}

func TestCrashBeforeHead(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := openTest(t, dir, c)
	appendN(t, l, 3)
	oldHead, _ := os.ReadFile(filepath.Join(dir, headName))
	fourth := appendN(t, l, 1)[0]
	l.Close()
	// The crash came after entry 4 was fsynced, before the head moved.
	os.WriteFile(filepath.Join(dir, headName), oldHead, 0o600)

	l = openTest(t, dir, c)
	if seq, hash := l.Head(); seq != 5 {
		t.Fatalf("Head = %d %s, want 5 (entry 4 kept, then the repair entry)", seq, hash)
	}
	got, _ := l.List(Filter{Limit: 2})
	if got[1].Hash != fourth.Hash || got[0].Action != ActionAuditRepaired {
		t.Fatalf("after repair: %+v", got)
	}
	verifyOK(t, dir, 5)
}

func TestRestartContinuesChain(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := openTest(t, dir, c)
	first := appendN(t, l, 3)
	l.Close()

	l = openTest(t, dir, c)
	if seq, hash := l.Head(); seq != 3 || hash != first[2].Hash {
		t.Fatalf("Head = %d %s, want 3 %s", seq, hash, first[2].Hash)
	}
	next := appendN(t, l, 2)
	if next[0].Seq != 4 || next[0].Prev != first[2].Hash {
		t.Fatalf("first entry after reopen: %+v", next[0])
	}
	got, _ := l.List(Filter{})
	if len(got) != 5 {
		t.Fatalf("%d entries, want 5", len(got))
	}
	l.Close()
	verifyOK(t, dir, 5)
}

func TestEmptyLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	rep, err := Verify(dir, testKey, nil)
	if err != nil || !rep.OK || rep.Entries != 0 {
		t.Fatalf("Verify of a missing directory = %+v, %v", rep, err)
	}
	l := openTest(t, dir, newClock())
	got, err := l.List(Filter{})
	if err != nil || len(got) != 0 {
		t.Fatalf("List = %v, %v", got, err)
	}
	l.Close()
	verifyOK(t, dir, 0)
	// A head without a log file: the log file was never made durable.
	os.Remove(filepath.Join(dir, logName))
	verifyOK(t, dir, 0)
	l = openTest(t, dir, newClock())
	appendN(t, l, 1)
	verifyOK(t, dir, 1)
}

func TestOneWriter(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, newClock())
	if _, err := Open(dir, Options{Key: testKey}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: got %v, want ErrLocked", err)
	}
	l.Close()
	l2, err := Open(dir, Options{Key: testKey})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l2.Close()
}

func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, newClock())
	const workers, each = 8, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := l.Append(Entry{Actor: fmt.Sprint("user", w), Action: ActionDownload, Target: fmt.Sprint(i)}); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					if _, err := l.List(Filter{Limit: 3}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	got, err := l.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != workers*each {
		t.Fatalf("%d entries, want %d", len(got), workers*each)
	}
	perActor := map[string]int{}
	for _, e := range got {
		perActor[e.Actor]++
	}
	for w := range workers {
		if n := perActor[fmt.Sprint("user", w)]; n != each {
			t.Errorf("user%d: %d entries, want %d", w, n, each)
		}
	}
	l.Close()
	verifyOK(t, dir, workers*each)
}

func TestSecretsNeverWritten(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, newClock())
	share, session, key := token.New(token.Share), token.New(token.Session), token.New(token.APIKey)
	e, err := l.Append(Entry{
		Actor:  "anna",
		Action: ActionShareCreated,
		Target: "https://box.local/s/" + share,
		Detail: map[string]string{
			"token":        share,
			"auth":         "Bearer " + session + "!",
			"keys":         key + "," + key,
			"new_password": "hunter2",
			"note":         "not a token: sbl_short",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"token":        token.Redact(share),
		"auth":         "Bearer " + token.Redact(session) + "!",
		"keys":         token.Redact(key) + "," + token.Redact(key),
		"new_password": "[redacted]",
		"note":         "not a token: sbl_short",
	}
	if diff := cmp.Diff(want, e.Detail); diff != "" {
		t.Errorf("detail (-want +got):\n%s", diff)
	}
	if e.Target != "https://box.local/s/"+token.Redact(share) {
		t.Errorf("target %q", e.Target)
	}
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, logName))
	for _, secret := range []string{share, session, key, share[8:], session[8:], key[8:], "hunter2"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the log file holds the secret %q", secret)
		}
	}
	verifyOK(t, dir, 1)
}

func TestInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, newClock())
	e, err := l.Append(Entry{Actor: "an\xffna", Action: ActionLogin, Detail: map[string]string{"k\xfe": "v\xff"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := l.List(Filter{})
	if diff := cmp.Diff([]Entry{e}, got); diff != "" {
		t.Errorf("List (-appended +listed):\n%s", diff)
	}
	l.Close()
	verifyOK(t, dir, 1)
}

func TestAppendNeedsAction(t *testing.T) {
	l := openTest(t, t.TempDir(), newClock())
	if _, err := l.Append(Entry{Actor: "anna"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v, want ErrInvalid", err)
	}
}

// FuzzVerify writes arbitrary bytes as the log of a known head: Verify
// must not panic, and must only say OK for the bytes that were appended.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(dir, Options{Key: testKey, Now: newClock().Now})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 4 {
		if _, err := l.Append(Entry{Actor: "anna", Action: ActionLogin, Target: fmt.Sprint(i), Detail: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
			f.Fatal(err)
		}
	}
	l.Close()
	orig, _ := os.ReadFile(filepath.Join(dir, logName))
	hb, _ := os.ReadFile(filepath.Join(dir, headName))

	f.Add(orig)
	f.Add(orig[:len(orig)-1])
	f.Add(orig[:len(orig)/2])
	f.Add(append(bytes.Clone(orig), orig[:20]...))
	f.Add(bytes.ReplaceAll(orig, []byte("anna"), []byte("eve!")))
	f.Add(bytes.ReplaceAll(orig, []byte(`"target"`), []byte(`"Target"`)))
	f.Add(bytes.ReplaceAll(orig, []byte(`{}`), []byte(`null`)))
	f.Add([]byte{})
	f.Add([]byte("\n\n\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, logName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, headName), hb, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(d, testKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK != bytes.Equal(data, orig) {
			t.Fatalf("Verify = %+v for %q", rep, data)
		}
		if !rep.OK && rep.Reason == "" {
			t.Fatalf("no reason: %+v", rep)
		}
		if rep.Entries > 4 || rep.BadSeq > 5 {
			t.Fatalf("Verify = %+v", rep)
		}
	})
}

// TestKilledWriter kills a real process that is appending as fast as it
// can, and checks that every entry it acknowledged survives and that the
// log opens, verifies and continues.
func TestKilledWriter(t *testing.T) {
	if dir := os.Getenv("AUDIT_TEST_CHILD"); dir != "" {
		l, err := Open(dir, Options{Key: testKey})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for {
			e, err := l.Append(Entry{Actor: "child", Action: ActionDownload, Target: strings.Repeat("x", 300)})
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			fmt.Println(e.Seq) // acknowledged
		}
	}

	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
		cmd.Env = append(os.Environ(), "AUDIT_TEST_CHILD="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var acked uint64
		for sc.Scan() && acked < uint64(20*(round+1)) {
			if _, err := fmt.Sscan(sc.Text(), &acked); err != nil {
				t.Fatalf("child: %s", sc.Text())
			}
		}
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()

		l, err := Open(dir, Options{Key: testKey})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		seq, _ := l.Head()
		if seq < acked {
			t.Fatalf("round %d: head %d, but the child had acknowledged %d", round, seq, acked)
		}
		l.Close()
		rep, err := Verify(dir, testKey, nil)
		if err != nil || !rep.OK {
			t.Fatalf("round %d: Verify = %+v, %v", round, rep, err)
		}
	}
}
