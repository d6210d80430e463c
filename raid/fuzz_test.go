package raid

import (
	"bytes"
	"testing"
	"time"
)

// Fuzz targets for the parsers of bytes read from member disks, which bit
// rot, torn writes and strangers' files can make anything. Run one with
// go test -fuzz FuzzParseShardHeader ./raid/ (CI runs each briefly).

func FuzzParseShardHeader(f *testing.F) {
	h := &shardHeader{Name: "data/ab/abcdef", Layout: Layout{Data: 4, Parity: 2}, Index: 5, ObjSize: 1 << 20,
		ShardLen: 1 << 18, Seq: 42, ObjSum: 7, ShardSum: 9}
	f.Add(h.encode())
	f.Add(append(h.encode(), "shard bytes"...))
	f.Add([]byte("SBSH"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseShardHeader(b)
		if err != nil {
			return
		}
		if n > len(b) || h.Index >= h.Layout.Shards() || h.ObjSize < 0 || h.ShardLen < 0 {
			t.Fatalf("accepted header %+v of length %d from %d bytes", h, n, len(b))
		}
		if enc := h.encode(); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("header %+v re-encodes differently", h)
		}
	})
}

func FuzzParseShardName(f *testing.F) {
	f.Add(shardName("data/ab/abcdef", 3, 1<<60))
	f.Add(shardName("x.shard1", 0, 0))
	f.Add("shards/a.shard01.0000000000000001")
	f.Fuzz(func(t *testing.T, s string) {
		name, idx, seq, ok := parseShardName(s)
		if ok && shardName(name, idx, seq) != s {
			t.Fatalf("%q parses as (%q, %d, %x), which names %q", s, name, idx, seq, shardName(name, idx, seq))
		}
		if name, seq, ok := parseTombName(s); ok && tombName(name, seq) != s {
			t.Fatalf("%q parses as tombstone (%q, %x), which names %q", s, name, seq, tombName(name, seq))
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := encodeManifest(&Manifest{Version: 1, ArrayID: newID(), Generation: 3, Layout: Layout{Data: 2, Parity: 1},
		Created: now, Updated: now, Members: []MemberInfo{{DiskID: newID(), State: StateActive, LabelHash: "ab", Added: now}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"manifest":{},"sha256":""}`))
	lb, _ := jsonIndent(&Label{Version: 1, ArrayID: newID(), DiskID: newID(), Created: now})
	f.Add(lb)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := parseManifest(b); err == nil {
			again, err := encodeManifest(m)
			if err != nil {
				t.Fatal(err)
			}
			if m2, err := parseManifest(again); err != nil || m2.Generation != m.Generation || len(m2.Members) != len(m.Members) {
				t.Fatalf("manifest does not survive a round trip: %v", err)
			}
			for _, mi := range m.Members {
				_ = mi.DiskID[:8] // status shows short IDs
			}
			_ = m.ArrayID[:8]
		}
		if l, err := parseLabel(b); err == nil {
			_, _ = l.ArrayID[:8], l.DiskID[:8]
		}
	})
}
