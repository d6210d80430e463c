package cluster

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoebox/shoebox/vault"
)

// FSM is the Raft catalog: what the pair agrees on about the replica. It
// holds small records only (the cluster ID and epoch, the members and
// their pins, the offsite unit's signed receipts, "snapshot complete
// offsite" marks, holds, deletion requests and challenge results), never
// data, file names or metadata.
//
// Raft calls Apply, Snapshot and Restore from one goroutine; the query
// methods may be called from any goroutine at any time. Apply is
// deterministic: it reads nothing but the log entry and the state (no
// clock, no randomness, no map order), so every unit that applies the same
// log holds the same catalog, and a command it refuses (a receipt with a
// bad signature, say) is refused on every unit, leaving the state as it
// was. Apply returns nil or the error that refused the command; Node.Apply
// hands it back to the caller.
type FSM struct {
	mu sync.RWMutex
	st catalog
}

var _ raft.FSM = (*FSM)(nil)

// catalog is the FSM's state. Its maps are replaced, never shared, when
// a snapshot is taken: Snapshot clones them.
type catalog struct {
	cluster   ClusterID
	epoch     uint64
	members   map[raft.ServerID]Member
	receipts  map[Object]Receipt
	complete  map[vault.ID]time.Time
	holds     map[vault.ID]time.Time
	deletions map[Object]time.Time
	lastChal  *ChallengeResult // the last challenge, failed or not
	lastGood  *ChallengeResult // the last challenge that passed
}

func newCatalog() catalog {
	return catalog{
		members:   map[raft.ServerID]Member{},
		receipts:  map[Object]Receipt{},
		complete:  map[vault.ID]time.Time{},
		holds:     map[vault.ID]time.Time{},
		deletions: map[Object]time.Time{},
	}
}

func (c *catalog) clone() catalog {
	out := *c
	out.members = maps.Clone(c.members)
	out.receipts = maps.Clone(c.receipts)
	out.complete = maps.Clone(c.complete)
	out.holds = maps.Clone(c.holds)
	out.deletions = maps.Clone(c.deletions)
	return out
}

// NewFSM returns an empty catalog, as a unit has before it pairs.
func NewFSM() *FSM { return &FSM{st: newCatalog()} }

// Apply applies a committed log entry. Entries other than commands
// (Raft's own configuration changes, no-ops) are ignored.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := DecodeCommand(l.Data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.apply(c)
}

func (st *catalog) apply(c Command) error {
	if init, ok := c.(*Init); ok {
		return st.init(init)
	}
	if st.cluster == (ClusterID{}) {
		return fmt.Errorf("%T: %w", c, ErrNotInitialized)
	}
	switch c := c.(type) {
	case *Member:
		return st.putMember(*c)
	case *RemoveMember:
		if _, ok := st.members[c.ID]; !ok {
			return fmt.Errorf("remove member %q: %w", c.ID, ErrUnknownMember)
		}
		delete(st.members, c.ID)
	case *NewEpoch:
		if c.Epoch <= st.epoch {
			return fmt.Errorf("new epoch %d, the catalog is at %d: %w", c.Epoch, st.epoch, ErrStaleEpoch)
		}
		if c.Revoke != "" {
			if _, ok := st.members[c.Revoke]; !ok {
				return fmt.Errorf("revoke %q: %w", c.Revoke, ErrUnknownMember)
			}
			delete(st.members, c.Revoke)
		}
		st.epoch = c.Epoch
	case *Receipt:
		if err := st.checkReceipt(c); err != nil {
			return err
		}
		st.receipts[c.Object] = *c
		delete(st.deletions, c.Object) // the object is wanted again
	case *SnapshotComplete:
		if _, ok := st.complete[c.Snapshot]; !ok {
			st.complete[c.Snapshot] = c.At
		}
	case *SnapshotIncomplete:
		delete(st.complete, c.Snapshot)
	case *Hold:
		if until, ok := st.holds[c.Snapshot]; !ok || c.Until.After(until) {
			st.holds[c.Snapshot] = c.Until
		}
	case *DeletionRequest:
		if _, ok := st.deletions[c.Object]; !ok {
			st.deletions[c.Object] = c.At
		}
	case *Purged:
		delete(st.receipts, c.Object)
		delete(st.deletions, c.Object)
		if c.Object.Kind == KindSnapshot {
			delete(st.complete, c.Object.ID)
		}
	case *ChallengeResult:
		r := *c
		st.lastChal = &r
		if r.OK {
			st.lastGood = &r
		} else {
			delete(st.receipts, c.Object) // missing until sent again
		}
	default:
		return fmt.Errorf("%w: %T is not a command", ErrCorruptCommand, c)
	}
	return nil
}

func (st *catalog) init(c *Init) error {
	if st.cluster != (ClusterID{}) {
		return ErrInitialized
	}
	if c.Cluster == (ClusterID{}) {
		return fmt.Errorf("%w: init with a zero cluster ID", ErrInvalidMember)
	}
	if c.Home.Role != RoleHome {
		return fmt.Errorf("%w: init with a %s unit, want the home unit", ErrInvalidMember, c.Home.Role)
	}
	if err := st.putMember(c.Home); err != nil {
		return err
	}
	st.cluster = c.Cluster
	st.epoch = 1
	return nil
}

func (st *catalog) putMember(m Member) error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: no server ID", ErrInvalidMember)
	case m.Pin == [32]byte{}:
		return fmt.Errorf("%w: %q has no pin", ErrInvalidMember, m.ID)
	case m.Role == RoleOffsite && len(m.Key) == 0:
		return fmt.Errorf("%w: offsite unit %q has no receipt key", ErrInvalidMember, m.ID)
	}
	for id, o := range st.members {
		if id != m.ID && o.Pin == m.Pin {
			return fmt.Errorf("%w: %q has the pin of %q", ErrInvalidMember, m.ID, id)
		}
	}
	st.members[m.ID] = m
	return nil
}

func (st *catalog) checkReceipt(r *Receipt) error {
	var signer *Member
	for _, m := range st.members {
		if m.Pin == r.Signer && m.Role == RoleOffsite {
			signer = &m
			break // pins are unique among members
		}
	}
	if signer == nil {
		return fmt.Errorf("receipt for %s: %w", r.Object, ErrUnknownSigner)
	}
	if !r.Verify(st.cluster, signer.Key) {
		return fmt.Errorf("receipt for %s from %q: %w", r.Object, signer.ID, ErrBadSignature)
	}
	if r.Object.Kind != KindConfig && r.Hash != r.Object.ID {
		return fmt.Errorf("%w: %s received with SHA-256 %x", ErrBadReceipt, r.Object, r.Hash)
	}
	return nil
}

// Cluster returns the pair's cluster ID, zero before Init.
func (f *FSM) Cluster() ClusterID {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.cluster
}

// Epoch returns the current epoch: 1 after Init, raised by each recovery.
func (f *FSM) Epoch() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.epoch
}

// Members returns the members, ordered by ID.
func (f *FSM) Members() []Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Member, 0, len(f.st.members))
	for _, m := range f.st.members {
		m.Key = bytes.Clone(m.Key)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Receipt returns the receipt that confirms o, if any.
func (f *FSM) Receipt(o Object) (Receipt, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.st.receipts[o]
	return r, ok
}

// Confirmed reports whether the offsite unit holds o: a valid receipt for
// it was committed and no failed challenge or purge has dropped it since.
func (f *FSM) Confirmed(o Object) bool {
	_, ok := f.Receipt(o)
	return ok
}

// ConfirmedCount returns how many objects are confirmed and their bytes.
func (f *FSM) ConfirmedCount() (objects int, bytes uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, r := range f.st.receipts {
		bytes += r.Size
	}
	return len(f.st.receipts), bytes
}

// CompleteSnapshots returns the snapshots marked complete offsite, in ID
// order.
func (f *FSM) CompleteSnapshots() []vault.ID {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.SortedFunc(maps.Keys(f.st.complete), compareIDs)
}

// SnapshotComplete reports whether a snapshot is marked complete offsite
// and since when.
func (f *FSM) SnapshotComplete(id vault.ID) (time.Time, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.st.complete[id]
	return t, ok
}

// Holds returns every hold, in snapshot ID order, expired ones included.
func (f *FSM) Holds() []Hold {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return listed(f.st.holds,
		func(id vault.ID, until time.Time) Hold { return Hold{Snapshot: id, Until: until} },
		func(a, b Hold) int { return compareIDs(a.Snapshot, b.Snapshot) })
}

// HoldUntil returns the date a snapshot is held until, if it has a hold.
func (f *FSM) HoldUntil(id vault.ID) (time.Time, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.st.holds[id]
	return t, ok
}

// PendingDeletions returns the deletion requests the offsite unit has not
// yet reported purged, oldest first.
func (f *FSM) PendingDeletions() []DeletionRequest {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return listed(f.st.deletions,
		func(o Object, at time.Time) DeletionRequest { return DeletionRequest{Object: o, At: at} },
		func(a, b DeletionRequest) int { return cmp.Or(a.At.Compare(b.At), compareObjects(a.Object, b.Object)) })
}

// listed returns the entries of m as records made by rec, sorted by order.
func listed[K comparable, V, R any](m map[K]V, rec func(K, V) R, order func(a, b R) int) []R {
	out := make([]R, 0, len(m))
	for k, v := range m {
		out = append(out, rec(k, v))
	}
	slices.SortFunc(out, order)
	return out
}

// LastChallenge returns the last storage challenge's result and the last
// one that passed; ok is false for one there has not been.
func (f *FSM) LastChallenge() (last ChallengeResult, lastOK bool, good ChallengeResult, goodOK bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.lastChal != nil {
		last, lastOK = *f.st.lastChal, true
	}
	if f.st.lastGood != nil {
		good, goodOK = *f.st.lastGood, true
	}
	return last, lastOK, good, goodOK
}

func compareIDs(a, b vault.ID) int { return bytes.Compare(a[:], b[:]) }

func compareObjects(a, b Object) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), compareIDs(a.ID, b.ID))
}

// Snapshot captures the catalog for Persist, which runs beside Apply.
// It copies the maps (about a hundred bytes per receipt, done without
// I/O); Persist writes the copy.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{st: f.st.clone()}, nil
}

// snapshotMagic starts a catalog snapshot; the byte after it is the
// snapshot format's version.
const (
	snapshotMagic   = "SBCATLOG"
	snapshotVersion = 1
	// maxRecord bounds one record's body in a snapshot: the largest, a
	// member, is under 300 bytes.
	maxRecord = 1024
)

type fsmSnapshot struct{ st catalog }

// Persist writes the catalog to sink in the format of docs/FORMAT.md:
// every record in a fixed order (state, members, receipts, marks, holds,
// deletions, challenges), each kind sorted, so that equal catalogs give
// equal bytes.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.st.writeTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist the cluster catalog: %w", err)
	}
	return sink.Close()
}

// Release does nothing: the snapshot holds copies.
func (s *fsmSnapshot) Release() {}

func (st *catalog) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var body, rec []byte
	var count uint64
	sum := crc32.Update(0, castagnoli, []byte{snapshotVersion})
	sum = crc32.Update(sum, castagnoli, []byte(snapshotMagic))
	put := func(r Command) {
		body = r.appendBody(body[:0])
		rec = append(rec[:0], byte(r.tag()))
		rec = binary.AppendUvarint(rec, uint64(len(body)))
		rec = append(rec, body...)
		bw.Write(rec) // a write error sticks and is returned by Flush
		sum = crc32.Update(sum, castagnoli, rec)
		count++
	}
	bw.WriteString(snapshotMagic)
	bw.WriteByte(snapshotVersion)
	put(&stateRecord{Cluster: st.cluster, Epoch: st.epoch})
	for _, id := range slices.Sorted(maps.Keys(st.members)) {
		m := st.members[id]
		put(&m)
	}
	for _, o := range slices.SortedFunc(maps.Keys(st.receipts), compareObjects) {
		r := st.receipts[o]
		put(&r)
	}
	for _, id := range slices.SortedFunc(maps.Keys(st.complete), compareIDs) {
		put(&SnapshotComplete{Snapshot: id, At: st.complete[id]})
	}
	for _, id := range slices.SortedFunc(maps.Keys(st.holds), compareIDs) {
		put(&Hold{Snapshot: id, Until: st.holds[id]})
	}
	for _, o := range slices.SortedFunc(maps.Keys(st.deletions), compareObjects) {
		put(&DeletionRequest{Object: o, At: st.deletions[o]})
	}
	if st.lastChal != nil {
		put(st.lastChal)
	}
	if st.lastGood != nil {
		put((*goodChallenge)(st.lastGood))
	}
	put(&endRecord{Count: count, CRC: sum})
	return bw.Flush()
}

// goodChallenge is the snapshot record of the last passed challenge.
type goodChallenge ChallengeResult

func (g *goodChallenge) tag() recordTag { return tagChallengeOK }
func (g *goodChallenge) appendBody(b []byte) []byte {
	return (*ChallengeResult)(g).appendBody(b)
}

// Restore replaces the catalog with a snapshot written by Persist. The
// snapshot is parsed whole before the catalog is replaced; a damaged one
// (bad magic, unknown version or record, a record cut short, no end
// record) is refused with ErrCorruptSnapshot and the catalog is left as it
// was. Receipts are not verified again: the snapshot was written from a
// catalog that verified them, by this unit or by the leader it follows.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readCatalog(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
	return nil
}

func readCatalog(r io.Reader) (catalog, error) {
	st := newCatalog()
	br := bufio.NewReaderSize(r, 64<<10)
	bad := func(format string, a ...any) (catalog, error) {
		return catalog{}, fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, a...))
	}
	head := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return bad("header: %v", err)
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return bad("not a cluster catalog")
	}
	if v := head[len(snapshotMagic)]; v != snapshotVersion {
		return bad("version %d, this unit reads %d: update it", v, snapshotVersion)
	}
	cr := &crcReader{r: br}
	cr.sum = crc32.Update(cr.sum, castagnoli, []byte{head[len(snapshotMagic)]})
	cr.sum = crc32.Update(cr.sum, castagnoli, head[:len(snapshotMagic)])
	body := make([]byte, maxRecord)
	for count := uint64(0); ; count++ {
		sum := cr.sum // of every byte before this record
		tag, err := cr.ReadByte()
		if err != nil {
			return bad("record %d: %v (no end record: cut short?)", count, err)
		}
		n, err := binary.ReadUvarint(cr)
		if err != nil || n > maxRecord {
			return bad("record %d: bad length", count)
		}
		b := body[:n]
		if _, err := io.ReadFull(cr, b); err != nil {
			return bad("record %d: %v", count, err)
		}
		var rec Command
		switch recordTag(tag) {
		case tagState:
			rec = new(stateRecord)
		case tagMember:
			rec = new(Member)
		case tagReceipt:
			rec = new(Receipt)
		case tagComplete:
			rec = new(SnapshotComplete)
		case tagHold:
			rec = new(Hold)
		case tagDeletion:
			rec = new(DeletionRequest)
		case tagChallenge, tagChallengeOK:
			rec = new(ChallengeResult)
		case tagEnd:
			rec = new(endRecord)
		default:
			return bad("record %d: unknown type %d", count, tag)
		}
		if err := decodeBody(rec, b); err != nil {
			return bad("record %d: %v", count, err)
		}
		switch rec := rec.(type) {
		case *stateRecord:
			st.cluster, st.epoch = rec.Cluster, rec.Epoch
		case *Member:
			st.members[rec.ID] = *rec
		case *Receipt:
			st.receipts[rec.Object] = *rec
		case *SnapshotComplete:
			st.complete[rec.Snapshot] = rec.At
		case *Hold:
			st.holds[rec.Snapshot] = rec.Until
		case *DeletionRequest:
			st.deletions[rec.Object] = rec.At
		case *ChallengeResult:
			if recordTag(tag) == tagChallengeOK {
				st.lastGood = rec
			} else {
				st.lastChal = rec
			}
		case *endRecord:
			if rec.Count != count || rec.CRC != sum {
				return bad("%d records with CRC-32C %08x, the end record says %d and %08x", count, sum, rec.Count, rec.CRC)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				return bad("bytes after the end record")
			}
			return st, nil
		}
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcReader reads through a bufio.Reader and sums what it returns.
type crcReader struct {
	r   *bufio.Reader
	sum uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.sum = crc32.Update(c.sum, castagnoli, []byte{b})
	}
	return b, err
}
