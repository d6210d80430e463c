package cluster

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/shoebox/shoebox/vault"
)

// A test pair: fixed keys, pins and cluster ID, so every run is the same.
var (
	testCluster   = ClusterID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	offsiteKey    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	strangerKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	homeMember    = Member{ID: "home", Role: RoleHome, Pin: sha256.Sum256([]byte("home cert"))}
	offsiteMember = Member{ID: "offsite", Role: RoleOffsite, Pin: sha256.Sum256([]byte("offsite cert")),
		Key: offsiteKey.Public().(ed25519.PublicKey)}
	epoch0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
)

func dataObject(i int) Object {
	return Object{Kind: KindData, ID: sha256.Sum256(fmt.Appendf(nil, "pack %d", i))}
}

// signedReceipt is the offsite unit's receipt for o, signed for cluster.
func signedReceipt(cluster ClusterID, o Object, at time.Time) *Receipt {
	r := &Receipt{Object: o, Size: 1000 + uint64(o.ID[0]), Hash: o.ID, Received: at}
	r.Sign(cluster, offsiteMember.Pin, offsiteKey)
	return r
}

// applyAll applies cmds as consecutive log entries and returns Apply's
// answers.
func applyAll(f *FSM, cmds ...Command) []error {
	var errs []error
	for _, c := range cmds {
		errs = append(errs, applyBytes(f, EncodeCommand(c)))
	}
	return errs
}

func applyBytes(f *FSM, b []byte) error {
	res := f.Apply(&raft.Log{Type: raft.LogCommand, Data: b})
	if res == nil {
		return nil
	}
	return res.(error)
}

// pairedFSM is a catalog with Init and the offsite member applied.
func pairedFSM(t *testing.T) *FSM {
	t.Helper()
	f := NewFSM()
	m := offsiteMember
	for _, err := range applyAll(f, &Init{Cluster: testCluster, Home: homeMember}, &m) {
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// snapshotBytes is the catalog as Persist writes it.
func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	f.mu.RLock()
	st := f.st.clone()
	f.mu.RUnlock()
	var b bytes.Buffer
	if err := st.writeTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseObject(t *testing.T) {
	id := sha256.Sum256([]byte("x"))
	hex := vault.ID(id).String()
	for _, tc := range []struct {
		name string
		want Object
	}{
		{"config", Object{Kind: KindConfig}},
		{"keys/" + hex, Object{KindKey, id}},
		{"data/" + hex[:2] + "/" + hex, Object{KindData, id}},
		{"index/" + hex, Object{KindIndex, id}},
		{"snapshots/" + hex, Object{KindSnapshot, id}},
		{"holds/" + hex, Object{KindHold, id}},
	} {
		got, err := ParseObject(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("ParseObject(%q) = %v, %v, want %v", tc.name, got, err, tc.want)
		}
		if s := got.String(); s != tc.name {
			t.Errorf("%v.String() = %q, want %q", got, s, tc.name)
		}
	}
	for _, bad := range []string{
		"", "locks/" + hex, "anchors/audit", "config/x", "keys/" + hex[:10],
		"data/" + hex, "data/zz/" + hex, "data/" + hex[2:4] + "/" + hex,
		"index/" + strings.ToUpper(hex), "snapshots/" + hex + "/x",
		"photos/2024/IMG_0001.JPG", "/etc/passwd", "../" + hex,
	} {
		if o, err := ParseObject(bad); !errors.Is(err, ErrInvalidObject) {
			t.Errorf("ParseObject(%q) = %v, %v, want ErrInvalidObject", bad, o, err)
		}
	}
}

func TestApplyRules(t *testing.T) {
	o := dataObject(1)
	good := signedReceipt(testCluster, o, epoch0)

	badSig := *good
	badSig.Sig[5] ^= 1
	badBody := *good // a signed field changed after signing
	badBody.Size++
	otherCluster := signedReceipt(ClusterID{9}, o, epoch0)
	stranger := *good
	stranger.Sign(testCluster, offsiteMember.Pin, strangerKey) // right pin, wrong key
	unknownPin := *good
	unknownPin.Sign(testCluster, sha256.Sum256([]byte("nobody")), offsiteKey)
	byHome := *good
	byHome.Sign(testCluster, homeMember.Pin, offsiteKey)
	wrongHash := Receipt{Object: o, Size: 5, Hash: sha256.Sum256([]byte("other")), Received: epoch0}
	wrongHash.Sign(testCluster, offsiteMember.Pin, offsiteKey)
	noKey := offsiteMember
	noKey.Key = nil
	samePin := Member{ID: "intruder", Role: RoleOffsite, Pin: offsiteMember.Pin, Key: offsiteMember.Key}

	for _, tc := range []struct {
		name string
		cmd  Command
		want error
	}{
		{"second init", &Init{Cluster: ClusterID{2}, Home: homeMember}, ErrInitialized},
		{"offsite without key", &noKey, ErrInvalidMember},
		{"pin of another member", &samePin, ErrInvalidMember},
		{"member without ID", &Member{Role: RoleHome, Pin: [32]byte{1}}, ErrInvalidMember},
		{"bad signature", &badSig, ErrBadSignature},
		{"field changed after signing", &badBody, ErrBadSignature},
		{"signed for another pair", otherCluster, ErrBadSignature},
		{"signed with another key", &stranger, ErrBadSignature},
		{"unknown signer", &unknownPin, ErrUnknownSigner},
		{"signed as the home unit", &byHome, ErrUnknownSigner},
		{"hash is not the name", &wrongHash, ErrBadReceipt},
		{"remove unknown member", &RemoveMember{ID: "nobody"}, ErrUnknownMember},
		{"epoch does not advance", &NewEpoch{Epoch: 1}, ErrStaleEpoch},
		{"revoke unknown member", &NewEpoch{Epoch: 2, Revoke: "nobody"}, ErrUnknownMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := pairedFSM(t)
			before := snapshotBytes(t, f)
			if err := applyAll(f, tc.cmd)[0]; !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if after := snapshotBytes(t, f); !bytes.Equal(before, after) {
				t.Error("a refused command changed the catalog")
			}
		})
	}

	t.Run("before init", func(t *testing.T) {
		f := NewFSM()
		if err := applyAll(f, good)[0]; !errors.Is(err, ErrNotInitialized) {
			t.Fatalf("got %v, want ErrNotInitialized", err)
		}
	})
	t.Run("corrupt entries", func(t *testing.T) {
		f := pairedFSM(t)
		enc := EncodeCommand(good)
		for _, b := range [][]byte{nil, {commandVersion}, {2, byte(tagReceipt)}, {commandVersion, 200},
			enc[:len(enc)-1], append(enc, 0)} {
			if err := applyBytes(f, b); !errors.Is(err, ErrCorruptCommand) {
				t.Errorf("Apply(%x) = %v, want ErrCorruptCommand", b, err)
			}
		}
		if f.Confirmed(o) {
			t.Error("a corrupt entry confirmed an object")
		}
	})
}

func TestCatalogLifecycle(t *testing.T) {
	f := pairedFSM(t)
	o1, o2 := dataObject(1), dataObject(2)
	snap := sha256.Sum256([]byte("snapshot 1"))
	later := epoch0.Add(24 * time.Hour)
	mustApply := func(cmds ...Command) {
		t.Helper()
		for i, err := range applyAll(f, cmds...) {
			if err != nil {
				t.Fatalf("command %d (%T): %v", i, cmds[i], err)
			}
		}
	}

	mustApply(signedReceipt(testCluster, o1, epoch0), signedReceipt(testCluster, o2, epoch0),
		&SnapshotComplete{Snapshot: snap, At: epoch0}, &SnapshotComplete{Snapshot: snap, At: later},
		&Hold{Snapshot: snap, Until: later}, &Hold{Snapshot: snap, Until: epoch0})
	if !f.Confirmed(o1) || !f.Confirmed(o2) {
		t.Fatal("receipts did not confirm their objects")
	}
	if n, size := f.ConfirmedCount(); n != 2 || size != 2000+uint64(o1.ID[0])+uint64(o2.ID[0]) {
		t.Errorf("ConfirmedCount = %d, %d", n, size)
	}
	if at, ok := f.SnapshotComplete(snap); !ok || !at.Equal(epoch0) {
		t.Errorf("SnapshotComplete = %v, %v, want the first mark's time %v", at, ok, epoch0)
	}
	if got := f.CompleteSnapshots(); !cmp.Equal(got, []vault.ID{snap}) {
		t.Errorf("CompleteSnapshots = %v", got)
	}
	if until, _ := f.HoldUntil(snap); !until.Equal(later) {
		t.Errorf("hold until %v after a shorter hold, want %v (never shortened)", until, later)
	}

	// A withdrawn mark: gone, and set again with the new time.
	other := sha256.Sum256([]byte("snapshot 2"))
	mustApply(&SnapshotComplete{Snapshot: other, At: epoch0}, &SnapshotIncomplete{Snapshot: other},
		&SnapshotIncomplete{Snapshot: other})
	if _, ok := f.SnapshotComplete(other); ok {
		t.Error("a withdrawn mark is still set")
	}
	mustApply(&SnapshotComplete{Snapshot: other, At: later})
	if at, ok := f.SnapshotComplete(other); !ok || !at.Equal(later) {
		t.Errorf("SnapshotComplete after withdrawing = %v, %v; want the new mark's time %v", at, ok, later)
	}
	mustApply(&SnapshotIncomplete{Snapshot: other})

	// Deletions: pending until purged; a new receipt cancels one.
	mustApply(&DeletionRequest{Object: o2, At: later}, &DeletionRequest{Object: o1, At: epoch0},
		&DeletionRequest{Object: o1, At: later})
	want := []DeletionRequest{{o1, epoch0}, {o2, later}}
	if got := f.PendingDeletions(); !cmp.Equal(got, want) {
		t.Errorf("PendingDeletions = %v, want %v", got, want)
	}
	mustApply(signedReceipt(testCluster, o2, later), &Purged{Object: o1},
		&Purged{Object: Object{Kind: KindSnapshot, ID: snap}})
	if got := f.PendingDeletions(); len(got) != 0 {
		t.Errorf("PendingDeletions after a purge and a new receipt = %v, want none", got)
	}
	if f.Confirmed(o1) || !f.Confirmed(o2) {
		t.Errorf("after purging %v: confirmed %v, %v; want false, true", o1, f.Confirmed(o1), f.Confirmed(o2))
	}
	if _, ok := f.SnapshotComplete(snap); ok {
		t.Error("a purged snapshot file is still marked complete")
	}

	// Challenges: a failure drops the receipt, the last good one stays.
	mustApply(&ChallengeResult{Object: o2, At: epoch0, OK: true}, &ChallengeResult{Object: o2, At: later})
	last, ok, good, gok := f.LastChallenge()
	if !ok || last.OK || !last.At.Equal(later) || !gok || !good.OK || !good.At.Equal(epoch0) {
		t.Errorf("LastChallenge = %v %v %v %v", last, ok, good, gok)
	}
	if f.Confirmed(o2) {
		t.Error("an object that failed its challenge is still confirmed")
	}

	// Recovery: the epoch advances and the revoked member is gone.
	mustApply(&NewEpoch{Epoch: 2, Revoke: "home"})
	if f.Epoch() != 2 || len(f.Members()) != 1 || f.Members()[0].ID != "offsite" {
		t.Errorf("after NewEpoch: epoch %d, members %v", f.Epoch(), f.Members())
	}
	mustApply(&RemoveMember{ID: "offsite"})
	if len(f.Members()) != 0 {
		t.Errorf("members %v after removing the last", f.Members())
	}
}

// richFSM is a catalog with every kind of record.
func richFSM(t *testing.T) *FSM {
	t.Helper()
	f := pairedFSM(t)
	var cmds []Command
	for i := range 50 {
		cmds = append(cmds, signedReceipt(testCluster, dataObject(i), epoch0.Add(time.Duration(i)*time.Minute)))
	}
	cfg := Receipt{Object: Object{Kind: KindConfig}, Size: 321, Hash: sha256.Sum256([]byte("config bytes")), Received: epoch0}
	cfg.Sign(testCluster, offsiteMember.Pin, offsiteKey)
	cmds = append(cmds, &cfg,
		&SnapshotComplete{Snapshot: vault.ID{1}, At: epoch0}, &SnapshotComplete{Snapshot: vault.ID{2}, At: epoch0},
		&Hold{Snapshot: vault.ID{1}, Until: epoch0.AddDate(1, 0, 0)},
		&DeletionRequest{Object: dataObject(3), At: epoch0}, &DeletionRequest{Object: dataObject(60), At: epoch0},
		&ChallengeResult{Object: dataObject(4), At: epoch0, OK: true},
		&ChallengeResult{Object: dataObject(5), At: epoch0.Add(time.Hour)},
		&NewEpoch{Epoch: 3})
	for i, err := range applyAll(f, cmds...) {
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	return f
}

// TestSnapshotRoundTrip persists the catalog through Raft's real file
// snapshot store and restores it into an empty one.
func TestSnapshotRoundTrip(t *testing.T) {
	f := richFSM(t)
	store, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 1, newRaftLogger(nil, 0))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := store.Create(raft.SnapshotVersionMax, 42, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Apply beside Persist must not reach the snapshot.
	if err := applyAll(f, signedReceipt(testCluster, dataObject(99), epoch0))[0]; err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	_, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	g := NewFSM()
	if err := g.Restore(rc); err != nil {
		t.Fatal(err)
	}
	if g.Confirmed(dataObject(99)) {
		t.Error("a receipt applied after Snapshot is in the snapshot")
	}
	if err := applyAll(g, signedReceipt(testCluster, dataObject(99), epoch0))[0]; err != nil {
		t.Fatalf("the restored catalog refuses a good receipt: %v", err)
	}
	if diff := cmp.Diff(f.st, g.st, cmp.AllowUnexported(catalog{})); diff != "" {
		t.Errorf("restored catalog differs (-want +got):\n%s", diff)
	}
	if !bytes.Equal(snapshotBytes(t, f), snapshotBytes(t, g)) {
		t.Error("equal catalogs give different snapshot bytes")
	}
}

func TestRestoreRefusesDamage(t *testing.T) {
	good := snapshotBytes(t, richFSM(t))
	flipped := bytes.Clone(good)
	flipped[len(snapshotMagic)+3] ^= 0x10 // a bit of the cluster ID
	badLength := bytes.Clone(good)
	badLength[len(snapshotMagic)+2] = 0xff // the state record's length
	for name, b := range map[string][]byte{
		"empty":            nil,
		"bad magic":        append([]byte("SBCATLOX"), good[8:]...),
		"future version":   append(append([]byte(snapshotMagic), 2), good[9:]...),
		"cut short":        good[:len(good)/2],
		"no end record":    good[:len(good)-3],
		"bytes after end":  append(bytes.Clone(good), 0),
		"length corrupted": badLength,
		"a bit flipped":    flipped,
	} {
		t.Run(name, func(t *testing.T) {
			f := pairedFSM(t)
			before := snapshotBytes(t, f)
			err := f.Restore(io.NopCloser(bytes.NewReader(b)))
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("got %v, want ErrCorruptSnapshot", err)
			}
			if !bytes.Equal(before, snapshotBytes(t, f)) {
				t.Error("a refused snapshot changed the catalog")
			}
		})
	}
}

// randomLog is a log of n commands from a fixed seed: receipts good and
// bad, marks, holds, deletions, purges, challenges and corrupt entries.
func randomLog(seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	at := func() time.Time { return epoch0.Add(time.Duration(rng.IntN(1e6)) * time.Second) }
	obj := func() Object { return dataObject(rng.IntN(40)) }
	log := [][]byte{
		EncodeCommand(&Init{Cluster: testCluster, Home: homeMember}),
		EncodeCommand(&offsiteMember),
	}
	for range n {
		var c Command
		switch rng.IntN(10) {
		case 0, 1, 2:
			c = signedReceipt(testCluster, obj(), at())
		case 3:
			r := signedReceipt(testCluster, obj(), at())
			r.Sig[rng.IntN(len(r.Sig))] ^= 1 << rng.IntN(8)
			c = r
		case 4:
			c = &SnapshotComplete{Snapshot: vault.ID{byte(rng.IntN(8))}, At: at()}
		case 5:
			c = &Hold{Snapshot: vault.ID{byte(rng.IntN(8))}, Until: at()}
		case 6:
			c = &DeletionRequest{Object: obj(), At: at()}
		case 7:
			c = &Purged{Object: obj()}
		case 8:
			c = &ChallengeResult{Object: obj(), At: at(), OK: rng.IntN(2) == 0}
		case 9:
			c = &SnapshotIncomplete{Snapshot: vault.ID{byte(rng.IntN(8))}}
		}
		b := EncodeCommand(c)
		if rng.IntN(20) == 0 {
			b = b[:rng.IntN(len(b))] // a corrupt entry, refused everywhere
		}
		log = append(log, b)
	}
	return log
}

// TestFSMDeterminism: the same log gives the same catalog and the same
// answers, applied whole or restored from a snapshot taken half way.
func TestFSMDeterminism(t *testing.T) {
	for seed := range uint64(5) {
		log := randomLog(seed, 400)
		a, b := NewFSM(), NewFSM()
		var answersA, answersB []string
		for _, e := range log {
			answersA = append(answersA, fmt.Sprint(applyBytes(a, e)))
		}
		for i, e := range log {
			if i == len(log)/2 {
				// b continues from a snapshot of itself, as a unit does after
				// a restart or a snapshot install.
				c := NewFSM()
				if err := c.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, b)))); err != nil {
					t.Fatal(err)
				}
				b = c
			}
			answersB = append(answersB, fmt.Sprint(applyBytes(b, e)))
		}
		if diff := cmp.Diff(answersA, answersB); diff != "" {
			t.Errorf("seed %d: Apply's answers differ (-whole +restored):\n%s", seed, diff)
		}
		if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
			t.Errorf("seed %d: the same log gave different catalogs", seed)
		}
		refused := 0
		for _, s := range answersA {
			if s != "<nil>" {
				refused++
			}
		}
		if refused == 0 || refused == len(answersA) {
			t.Errorf("seed %d: %d of %d entries refused; the log should mix good and bad", seed, refused, len(answersA))
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, b := range randomLog(1, 30) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		again, err := DecodeCommand(EncodeCommand(c))
		if err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", c, err)
		}
		if !cmp.Equal(c, again) {
			t.Fatalf("round trip changed the command: %s", cmp.Diff(c, again))
		}
	})
}

func FuzzRestore(f *testing.F) {
	fsm := NewFSM()
	for _, e := range randomLog(2, 60) {
		applyBytes(fsm, e)
	}
	var b bytes.Buffer
	if err := fsm.st.writeTo(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := readCatalog(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := st.writeTo(&out); err != nil {
			t.Fatal(err)
		}
		again, err := readCatalog(&out)
		if err != nil {
			t.Fatalf("a catalog read from a snapshot does not read back: %v", err)
		}
		if diff := cmp.Diff(st, again, cmp.AllowUnexported(catalog{})); diff != "" {
			t.Fatalf("round trip changed the catalog:\n%s", diff)
		}
	})
}

// TestReceiptSignedBytes pins the signed bytes to docs/FORMAT.md's layout.
func TestReceiptSignedBytes(t *testing.T) {
	o := dataObject(1)
	r := Receipt{Object: o, Size: 0x0102030405060708, Hash: o.ID, Received: time.Unix(0x1122334455, 0), Signer: offsiteMember.Pin}
	var want []byte
	want = append(want, "shoebox cluster receipt v1\x00"...)
	want = append(want, testCluster[:]...)
	want = append(want, offsiteMember.Pin[:]...)
	want = append(want, byte(KindData))
	want = append(want, o.ID[:]...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	want = append(want, o.ID[:]...)
	want = append(want, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55)
	got := r.SignedBytes(testCluster)
	if len(got) != 156 || !bytes.Equal(got, want) {
		t.Errorf("signed bytes (%d)\n%x\nwant (%d)\n%x", len(got), got, len(want), want)
	}
	r.Sign(testCluster, offsiteMember.Pin, offsiteKey)
	if !ed25519.Verify(offsiteMember.Key, want, r.Sig[:]) {
		t.Error("Sign does not sign the documented bytes")
	}
}

// BenchmarkSnapshot measures, for a catalog of 100 000 receipts, what
// Snapshot costs Apply (the maps' copy) and what Persist writes.
//
//	go test -run '^$' -bench BenchmarkSnapshot -benchtime 20x ./cluster/
func BenchmarkSnapshot(b *testing.B) {
	const n = 100_000
	f := NewFSM()
	f.st.cluster = testCluster
	r := signedReceipt(testCluster, dataObject(0), epoch0)
	for i := range n {
		r.Object = dataObject(i)
		f.st.receipts[r.Object] = *r
	}
	b.Run("copy", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("persist", func(b *testing.B) {
		var size int
		for b.Loop() {
			var buf bytes.Buffer
			if err := f.st.writeTo(&buf); err != nil {
				b.Fatal(err)
			}
			size = buf.Len()
		}
		b.ReportMetric(float64(size)/n, "bytes/receipt")
	})
	b.Run("restore", func(b *testing.B) {
		var buf bytes.Buffer
		if err := f.st.writeTo(&buf); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := NewFSM().Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
