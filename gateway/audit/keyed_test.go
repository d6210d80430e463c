package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tests of the keyed chain and its anchors: what someone who can write
// the state directory but does not hold the box key can no longer do
// unnoticed.

// writeV1Log writes n unkeyed entries as the earlier version did, with
// their head, and returns them.
func writeV1Log(t *testing.T, dir string, n int) []Entry {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	c := newClock()
	var out []Entry
	var buf bytes.Buffer
	prev := zeroHash
	for i := range n {
		e := Entry{Version: V1, Seq: uint64(i + 1), Time: c.Now(), Actor: "anna", IP: "192.0.2.7", Action: ActionLogin,
			Target: fmt.Sprint(i), Detail: map[string]string{}, Prev: prev}
		e.Hash = sum(e)
		prev = e.Hash
		buf.Write(append(encode(e), '\n'))
		out = append(out, e)
	}
	if err := os.WriteFile(filepath.Join(dir, logName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, headName), encodeHead(head{uint64(n), prev}), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// forge rewrites the log in dir from entry `from` (1-based) on as a
// forger without the key would: every entry from there as an unkeyed
// one, with change applied, hashes recomputed by the documented V1
// recipe, and the head to match.
func forge(t *testing.T, dir string, from uint64, change func(*Entry)) {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(dir, logName))
	var out bytes.Buffer
	prev := zeroHash
	for _, ln := range bytes.SplitAfter(data, []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		e, err := decode(bytes.TrimSuffix(ln, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq >= from {
			change(&e)
			e.Version, e.ActorID, e.Result, e.Prev = V1, "", "", prev
			e.Hash = sum(e)
		}
		prev = e.Hash
		out.Write(append(encode(e), '\n'))
	}
	os.WriteFile(filepath.Join(dir, logName), out.Bytes(), 0o600)
	var n uint64
	for _, ln := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		e, _ := decode(ln)
		n = e.Seq
	}
	os.WriteFile(filepath.Join(dir, headName), encodeHead(head{n, prev}), 0o600)
}

func TestUnkeyedLogContinuedKeyed(t *testing.T) {
	dir := t.TempDir()
	old := writeV1Log(t, dir, 3)
	verifyOK(t, dir, 3)

	l := openTest(t, dir, newClock())
	seq, _ := l.Head()
	if seq != 4 {
		t.Fatalf("head after opening an unkeyed log: %d, want 4 (the audit.keyed entry)", seq)
	}
	es, _ := l.List(Filter{})
	if es[0].Action != ActionAuditKeyed || es[0].Version != V2 || es[0].Detail["unkeyed_entries"] != "3" || es[0].Prev != old[2].Hash {
		t.Fatalf("first keyed entry: %+v", es[0])
	}
	appendN(t, l, 2)
	l.Close()
	rep := verifyOK(t, dir, 6)
	if rep.Unkeyed != 3 {
		t.Errorf("Report.Unkeyed = %d, want 3", rep.Unkeyed)
	}
	// Reopened, it is not marked again.
	l = openTest(t, dir, newClock())
	if seq, _ := l.Head(); seq != 6 {
		t.Errorf("head after a second open: %d, want 6", seq)
	}
}

func TestForgeryWithoutKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   uint64
		anchor bool
		bad    uint64
		reason string
	}{
		// Only the entries after the last keyed one cannot be made
		// unkeyed: an unkeyed entry after a keyed one is refused.
		{"tail rewritten unkeyed", 4, false, 4, "unkeyed although keyed entries come before it"},
		// A whole log rewritten unkeyed looks like an earlier version's:
		// the anchor is what catches it.
		{"whole log rewritten unkeyed, anchored", 1, true, 5, "differs from the copy of the head anchored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, newClock())
			appendN(t, l, 5)
			a := l.Anchor()
			appendN(t, l, 2)
			l.Close()
			forge(t, dir, tc.from, func(e *Entry) { e.Actor = "mallory" })
			var anchor *Anchor
			if tc.anchor {
				anchor = &a
			}
			rep, err := Verify(dir, testKey, anchor)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.BadSeq != tc.bad || !strings.Contains(rep.Reason, tc.reason) {
				t.Fatalf("Verify of the forged log: %+v, want BadSeq %d, reason with %q", rep, tc.bad, tc.reason)
			}
			if _, err := Open(dir, Options{Key: testKey, Anchor: anchor}); !errors.Is(err, ErrTampered) {
				t.Errorf("Open of the forged log: %v, want ErrTampered", err)
			}
		})
	}
	// Keyed with another key: the hashes do not check out.
	dir := t.TempDir()
	l := openTest(t, dir, newClock())
	appendN(t, l, 3)
	l.Close()
	other := bytes.Repeat([]byte{0x11}, 32)
	rep, _ := Verify(dir, other, nil)
	if rep.OK || rep.BadSeq != 1 || !strings.Contains(rep.Reason, "keyed hash does not match") {
		t.Errorf("Verify with another key: %+v", rep)
	}
	if rep, _ := Verify(dir, nil, nil); rep.OK || !strings.Contains(rep.Reason, "needs the chain key") {
		t.Errorf("Verify without a key: %+v", rep)
	}
}

func TestAnchor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l := openTest(t, dir, newClock())
	appendN(t, l, 4)
	a := l.Anchor()
	if a.Seq != 4 {
		t.Fatalf("Anchor = %+v", a)
	}
	appendN(t, l, 2)
	l.Close()

	// Stored and read back; the MAC holds it to the key.
	p := AnchorPath(dir)
	if p != dir+".anchor" {
		t.Errorf("AnchorPath = %s", p)
	}
	if got, err := ReadAnchorFile(p, testKey); got != nil || err != nil {
		t.Fatalf("ReadAnchorFile of none: %v, %v", got, err)
	}
	if err := os.WriteFile(p, EncodeAnchor(testKey, a), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAnchorFile(p, testKey)
	if err != nil || got.Seq != a.Seq || got.Hash != a.Hash || !got.Time.Equal(a.Time) {
		t.Fatalf("ReadAnchorFile = %+v, %v; want %+v", got, err, a)
	}
	raw, _ := os.ReadFile(p)
	for _, edit := range [][]byte{
		bytes.Replace(raw, []byte(`"seq":4`), []byte(`"seq":5`), 1), // raised to hide a cut
		[]byte("{}"),
	} {
		if _, err := ParseAnchor(testKey, edit); !errors.Is(err, ErrTampered) {
			t.Errorf("ParseAnchor(%s): %v, want ErrTampered", edit, err)
		}
	}
	if _, err := ParseAnchor(bytes.Repeat([]byte{1}, 32), raw); !errors.Is(err, ErrTampered) {
		t.Errorf("ParseAnchor with another key: %v, want ErrTampered", err)
	}
	if Latest(nil, &Anchor{Seq: 2}, &a, nil).Seq != 4 || Latest(nil, nil) != nil {
		t.Error("Latest")
	}

	verify := func(what string, wantBad uint64, reason string) {
		t.Helper()
		rep, err := Verify(dir, testKey, &a)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || rep.BadSeq != wantBad || !strings.Contains(rep.Reason, reason) {
			t.Errorf("%s: Verify = %+v, want BadSeq %d, reason with %q", what, rep, wantBad, reason)
		}
		if l, err := Open(dir, Options{Key: testKey, Anchor: &a}); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), reason) {
			if err == nil {
				l.Close()
			}
			t.Errorf("%s: Open = %v, want ErrTampered with %q", what, err, reason)
		}
	}
	if rep, _ := Verify(dir, testKey, &a); !rep.OK || rep.Anchored != 4 {
		t.Fatalf("Verify against its anchor: %+v", rep)
	}
	data, _ := os.ReadFile(filepath.Join(dir, logName))
	lines := bytes.SplitAfter(data, []byte("\n"))

	// Cut back to before the anchor, head and all: only the anchor knows.
	os.WriteFile(filepath.Join(dir, logName), bytes.Join(lines[:3], nil), 0o600)
	e3, _ := decode(bytes.TrimSpace(lines[2]))
	os.WriteFile(filepath.Join(dir, headName), encodeHead(head{3, e3.Hash}), 0o600)
	verify("cut to 3 entries", 4, "entries 4 to 4 were cut off")

	// Deleted, files and all.
	os.Remove(filepath.Join(dir, logName))
	os.Remove(filepath.Join(dir, headName))
	verify("files deleted", 1, "the log was deleted")
	os.RemoveAll(dir)
	verify("directory deleted", 1, "the log was deleted")
}

// TestRecoverAfterFailedHead: a head that cannot be written stops the
// Log (ErrFailed); once it can be written again, the next Append
// completes the repair and carries on, and the log verifies.
func TestRecoverAfterFailedHead(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, newClock())
	appendN(t, l, 2)
	// A directory where the head goes: the rename onto it fails, even for
	// root.
	head := filepath.Join(dir, headName)
	os.Remove(head)
	os.MkdirAll(filepath.Join(head, "in-the-way"), 0o700)
	if _, err := l.Append(Entry{Action: ActionLogin}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append with an unwritable head: %v, want ErrFailed", err)
	}
	if _, err := l.Append(Entry{Action: ActionLogin}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append while the head still cannot be written: %v, want ErrFailed", err)
	}
	os.RemoveAll(head)
	e, err := l.Append(Entry{Action: ActionLogout})
	if err != nil || e.Seq != 4 {
		t.Fatalf("Append after the head can be written again: %+v, %v; want entry 4", e, err)
	}
	l.Close()
	verifyOK(t, dir, 4)
}
