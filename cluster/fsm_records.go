package cluster

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/vault"
)

// The records of the Raft catalog. Each is small and fixed in shape: no
// file name, path or other metadata of the owner's photos can be written
// in one. Objects are named by kind and content hash (Object), snapshots
// by their ID; times are whole seconds. docs/CLUSTER.md ("The Raft
// catalog") lists them; docs/FORMAT.md gives their bytes.

// ObjectKind is the kind of a repository object, the folder of its name.
type ObjectKind uint8

// The kinds of object the catalog can name; their numbers are on the wire.
// locks/ is never replicated; anchors/, named and replaced in place, has
// no kind yet (docs/CLUSTER.md).
const (
	KindConfig   ObjectKind = 1 // "config"
	KindKey      ObjectKind = 2 // "keys/<id>"
	KindData     ObjectKind = 3 // "data/<id[0:2]>/<id>"
	KindIndex    ObjectKind = 4 // "index/<id>"
	KindSnapshot ObjectKind = 5 // "snapshots/<id>"
	KindHold     ObjectKind = 6 // "holds/<id>"
)

var kindPrefix = map[ObjectKind]string{
	KindKey:      "keys/",
	KindData:     "data/",
	KindIndex:    "index/",
	KindSnapshot: "snapshots/",
	KindHold:     "holds/",
}

// Object names a repository object by its kind and its ID, the SHA-256 of
// its stored bytes (docs/FORMAT.md). The ID of the one config object is
// all zero. Naming objects this way keeps anything but a content hash out
// of the log.
type Object struct {
	Kind ObjectKind
	ID   vault.ID
}

// ParseObject parses a repository object name ("config", "keys/<id>",
// "data/ab/ab…", "index/<id>", "snapshots/<id>", "holds/<id>"). Any other
// name, locks/ and anchors/ included, is refused with ErrInvalidObject.
func ParseObject(name string) (Object, error) {
	if name == "config" {
		return Object{Kind: KindConfig}, nil
	}
	for kind, prefix := range kindPrefix {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if kind == KindData {
			dir, id, ok := strings.Cut(rest, "/")
			if !ok || len(dir) != 2 || !strings.HasPrefix(id, dir) {
				break
			}
			rest = id
		}
		id, err := vault.ParseID(rest)
		if err != nil || id.String() != rest { // lowercase only: one name per object
			break
		}
		return Object{Kind: kind, ID: id}, nil
	}
	return Object{}, fmt.Errorf("%w: %q", ErrInvalidObject, name)
}

// String returns the object's name in the repository.
func (o Object) String() string {
	switch o.Kind {
	case KindConfig:
		return "config"
	case KindData:
		s := o.ID.String()
		return "data/" + s[:2] + "/" + s
	}
	if p, ok := kindPrefix[o.Kind]; ok {
		return p + o.ID.String()
	}
	return fmt.Sprintf("invalid-object-kind-%d", o.Kind)
}

func (o Object) valid() bool {
	if o.Kind == KindConfig {
		return o.ID == vault.ID{}
	}
	_, ok := kindPrefix[o.Kind]
	return ok
}

// ClusterID identifies a home/offsite pair across all time: it is drawn
// at random when the home unit initialises the catalog and survives
// disaster recovery. Receipts sign it, so that a receipt of one pair is
// worthless to another.
type ClusterID [16]byte

// Role is what a member does in the pair.
type Role uint8

// Roles; their numbers are on the wire.
const (
	RoleHome    Role = 1 // holds the keys, runs the backups, the sole Raft voter
	RoleOffsite Role = 2 // keyless replica, a Raft non-voter
)

func (r Role) String() string {
	switch r {
	case RoleHome:
		return "home"
	case RoleOffsite:
		return "offsite"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Member is a unit of the pair. Applied as a command, it adds the member
// or replaces the one with the same ID.
type Member struct {
	// ID is the unit's Raft server ID.
	ID raft.ServerID
	// Role is home or offsite.
	Role Role
	// Pin is the unit's device ID, the SHA-256 of its certificate's public
	// key (SPKI): the peer's TLS certificate must match it.
	Pin devid.ID
	// Key verifies the receipts the unit signs (an offsite unit's
	// Ed25519 public key); empty for a home unit.
	Key ed25519.PublicKey
}

// Receipt is the offsite unit's signed statement that it holds Object:
// Size bytes whose SHA-256 is Hash, stored (fsynced) at Received by its
// clock. Applied as a command it confirms the object; Apply refuses it
// unless Signer is the pin of an offsite member whose Key verifies Sig
// over SignedBytes.
type Receipt struct {
	Object   Object
	Size     uint64
	Hash     [32]byte
	Received time.Time
	Signer   devid.ID // the signing member's Pin
	Sig      [ed25519.SignatureSize]byte
}

// receiptDomain separates receipt signatures from anything else a unit's
// key signs.
const receiptDomain = "shoebox cluster receipt v1\x00"

// SignedBytes returns the bytes a receipt's signature covers:
//
//	"shoebox cluster receipt v1\x00" ‖ cluster ID (16) ‖ signer pin (32) ‖
//	kind (1) ‖ object ID (32) ‖ size (uint64 big-endian) ‖ hash (32) ‖
//	received (int64 big-endian Unix seconds)
//
// Every field has a fixed length, so no two receipts share these bytes.
func (r *Receipt) SignedBytes(cluster ClusterID) []byte {
	b := make([]byte, 0, len(receiptDomain)+16+32+1+32+8+32+8)
	b = append(b, receiptDomain...)
	b = append(b, cluster[:]...)
	b = append(b, r.Signer[:]...)
	b = append(b, byte(r.Object.Kind))
	b = append(b, r.Object.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Size)
	b = append(b, r.Hash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Received.Unix()))
	return b
}

// Sign sets Signer to pin and signs the receipt with the offsite unit's
// key for the pair cluster. Received is cut to whole seconds, as the
// catalog keeps it.
func (r *Receipt) Sign(cluster ClusterID, pin [32]byte, key ed25519.PrivateKey) {
	r.Received = time.Unix(r.Received.Unix(), 0).UTC()
	r.Signer = pin
	copy(r.Sig[:], ed25519.Sign(key, r.SignedBytes(cluster)))
}

// Verify checks the receipt's signature with the signer's public key.
func (r *Receipt) Verify(cluster ClusterID, key ed25519.PublicKey) bool {
	return len(key) == ed25519.PublicKeySize && ed25519.Verify(key, r.SignedBytes(cluster), r.Sig[:])
}

// Init starts the catalog of a new pair: the first command of the log,
// written by the home unit. It is refused once the catalog has a cluster
// ID.
type Init struct {
	Cluster ClusterID
	Home    Member
}

// RemoveMember removes a member (an offsite unit unpaired).
type RemoveMember struct {
	ID raft.ServerID
}

// NewEpoch starts a new epoch after disaster recovery: the epoch must
// grow, and Revoke (if not empty) is removed from the members, its pin
// with it.
type NewEpoch struct {
	Epoch  uint64
	Revoke raft.ServerID
}

// SnapshotComplete marks a snapshot complete offsite: every object it
// needs (its packs, index files and snapshot file) has a receipt. The
// home unit commits it once it has checked that.
type SnapshotComplete struct {
	Snapshot vault.ID
	At       time.Time
}

// SnapshotIncomplete withdraws a snapshot's complete mark: an object it
// needs lost its receipt (a failed storage challenge, a purge) since the
// mark was set. The home unit commits it when it finds that; the mark is
// set again, with a new time, once every object is confirmed again.
// Withdrawing a mark a snapshot does not have changes nothing.
type SnapshotIncomplete struct {
	Snapshot vault.ID
}

// Hold keeps a snapshot until a date, in plaintext so that the offsite
// unit can enforce it without a key. A hold is never shortened: of two
// holds of one snapshot the later Until wins.
type Hold struct {
	Snapshot vault.ID
	Until    time.Time
}

// DeletionRequest asks the offsite unit to delete an object; At is when
// the home unit asked. The offsite's ledger decides when (and whether) it
// purges. A new receipt for the object cancels the request.
type DeletionRequest struct {
	Object Object
	At     time.Time
}

// Purged records that the offsite unit purged an object: its receipt and
// deletion request are dropped.
type Purged struct {
	Object Object
}

// ChallengeResult is the outcome of a storage challenge: the home unit
// asked for the hash of a random range of Object and compared it with its
// own copy at At. A failed challenge drops the object's receipt, so that
// the object counts as missing and is sent again.
type ChallengeResult struct {
	Object Object
	At     time.Time
	OK     bool
}

// Command is a record the FSM applies: *Init, *Member, *RemoveMember,
// *NewEpoch, *Receipt, *SnapshotComplete, *Hold, *DeletionRequest,
// *Purged, *ChallengeResult, *SnapshotIncomplete.
type Command interface {
	tag() recordTag
	appendBody(b []byte) []byte
}

// recordTag is the type byte of a command or snapshot record (on the wire:
// docs/FORMAT.md).
type recordTag uint8

const (
	tagInit         recordTag = 1
	tagMember       recordTag = 2
	tagRemoveMember recordTag = 3
	tagNewEpoch     recordTag = 4
	tagReceipt      recordTag = 5
	tagComplete     recordTag = 6
	tagHold         recordTag = 7
	tagDeletion     recordTag = 8
	tagPurged       recordTag = 9
	tagChallenge    recordTag = 10
	tagIncomplete   recordTag = 11
	// Snapshot records only.
	tagState       recordTag = 64 // cluster ID and epoch
	tagChallengeOK recordTag = 65 // the last successful challenge
	tagEnd         recordTag = 66 // the record count and a CRC: the snapshot is whole
)

// commandVersion is the first byte of every log entry the catalog writes.
const commandVersion = 1

// EncodeCommand returns the bytes of a log entry: the version byte, the
// record's tag and its body.
func EncodeCommand(c Command) []byte {
	return c.appendBody([]byte{commandVersion, byte(c.tag())})
}

// DecodeCommand parses a log entry written by EncodeCommand. It refuses
// an unknown version or tag, a short or overlong body, and a record out of
// range (an invalid object kind, a role, a name too long) with
// ErrCorruptCommand.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorruptCommand, len(b))
	}
	if b[0] != commandVersion {
		return nil, fmt.Errorf("%w: version %d, this unit reads %d: update it", ErrCorruptCommand, b[0], commandVersion)
	}
	var c Command
	switch recordTag(b[1]) {
	case tagInit:
		c = new(Init)
	case tagMember:
		c = new(Member)
	case tagRemoveMember:
		c = new(RemoveMember)
	case tagNewEpoch:
		c = new(NewEpoch)
	case tagReceipt:
		c = new(Receipt)
	case tagComplete:
		c = new(SnapshotComplete)
	case tagHold:
		c = new(Hold)
	case tagDeletion:
		c = new(DeletionRequest)
	case tagPurged:
		c = new(Purged)
	case tagChallenge:
		c = new(ChallengeResult)
	case tagIncomplete:
		c = new(SnapshotIncomplete)
	default:
		return nil, fmt.Errorf("%w: unknown record type %d", ErrCorruptCommand, b[1])
	}
	if err := decodeBody(c, b[2:]); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeBody fills c from exactly the bytes b.
func decodeBody(c Command, b []byte) error {
	d := &decoder{b: b}
	switch c := c.(type) {
	case *Init:
		d.fixed(c.Cluster[:])
		d.member(&c.Home)
	case *Member:
		d.member(c)
	case *RemoveMember:
		c.ID = d.serverID()
	case *NewEpoch:
		c.Epoch = d.uvarint()
		c.Revoke = d.serverID()
	case *Receipt:
		c.Object = d.object()
		c.Size = d.uvarint()
		d.fixed(c.Hash[:])
		c.Received = d.time()
		d.fixed(c.Signer[:])
		d.fixed(c.Sig[:])
	case *SnapshotComplete:
		d.fixed(c.Snapshot[:])
		c.At = d.time()
	case *Hold:
		d.fixed(c.Snapshot[:])
		c.Until = d.time()
	case *DeletionRequest:
		c.Object = d.object()
		c.At = d.time()
	case *Purged:
		c.Object = d.object()
	case *ChallengeResult:
		c.Object = d.object()
		c.At = d.time()
		c.OK = d.bool()
	case *SnapshotIncomplete:
		d.fixed(c.Snapshot[:])
	case *stateRecord:
		d.fixed(c.Cluster[:])
		c.Epoch = d.uvarint()
	case *endRecord:
		c.Count = d.uvarint()
		var crc [4]byte
		d.fixed(crc[:])
		c.CRC = binary.BigEndian.Uint32(crc[:])
	default:
		panic(fmt.Sprintf("cluster: no decoder for %T", c))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the record", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("%w: record type %d: %w", ErrCorruptCommand, c.tag(), d.err)
	}
	return nil
}

func (c *Init) tag() recordTag { return tagInit }
func (c *Init) appendBody(b []byte) []byte {
	b = append(b, c.Cluster[:]...)
	return appendMember(b, &c.Home)
}

func (m *Member) tag() recordTag             { return tagMember }
func (m *Member) appendBody(b []byte) []byte { return appendMember(b, m) }

func (c *RemoveMember) tag() recordTag             { return tagRemoveMember }
func (c *RemoveMember) appendBody(b []byte) []byte { return appendString(b, string(c.ID)) }

func (c *NewEpoch) tag() recordTag { return tagNewEpoch }
func (c *NewEpoch) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, c.Epoch)
	return appendString(b, string(c.Revoke))
}

func (r *Receipt) tag() recordTag { return tagReceipt }
func (r *Receipt) appendBody(b []byte) []byte {
	b = appendObject(b, r.Object)
	b = binary.AppendUvarint(b, r.Size)
	b = append(b, r.Hash[:]...)
	b = binary.AppendVarint(b, r.Received.Unix())
	b = append(b, r.Signer[:]...)
	return append(b, r.Sig[:]...)
}

func (c *SnapshotComplete) tag() recordTag { return tagComplete }
func (c *SnapshotComplete) appendBody(b []byte) []byte {
	b = append(b, c.Snapshot[:]...)
	return binary.AppendVarint(b, c.At.Unix())
}

func (h *Hold) tag() recordTag { return tagHold }
func (h *Hold) appendBody(b []byte) []byte {
	b = append(b, h.Snapshot[:]...)
	return binary.AppendVarint(b, h.Until.Unix())
}

func (c *DeletionRequest) tag() recordTag { return tagDeletion }
func (c *DeletionRequest) appendBody(b []byte) []byte {
	b = appendObject(b, c.Object)
	return binary.AppendVarint(b, c.At.Unix())
}

func (c *Purged) tag() recordTag             { return tagPurged }
func (c *Purged) appendBody(b []byte) []byte { return appendObject(b, c.Object) }

func (c *ChallengeResult) tag() recordTag { return tagChallenge }
func (c *ChallengeResult) appendBody(b []byte) []byte {
	b = appendObject(b, c.Object)
	b = binary.AppendVarint(b, c.At.Unix())
	if c.OK {
		return append(b, 1)
	}
	return append(b, 0)
}

func (c *SnapshotIncomplete) tag() recordTag             { return tagIncomplete }
func (c *SnapshotIncomplete) appendBody(b []byte) []byte { return append(b, c.Snapshot[:]...) }

// stateRecord and endRecord are written in snapshots only.
type stateRecord struct {
	Cluster ClusterID
	Epoch   uint64
}

func (s *stateRecord) tag() recordTag { return tagState }
func (s *stateRecord) appendBody(b []byte) []byte {
	b = append(b, s.Cluster[:]...)
	return binary.AppendUvarint(b, s.Epoch)
}

// endRecord closes a snapshot: how many records came before it and the
// CRC-32C (Castagnoli) of every byte before it, from the magic on.
type endRecord struct {
	Count uint64
	CRC   uint32
}

func (e *endRecord) tag() recordTag { return tagEnd }
func (e *endRecord) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, e.Count)
	return binary.BigEndian.AppendUint32(b, e.CRC)
}

// maxServerID bounds a Raft server ID in a record.
const maxServerID = 128

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendObject(b []byte, o Object) []byte {
	b = append(b, byte(o.Kind))
	if o.Kind == KindConfig {
		return b
	}
	return append(b, o.ID[:]...)
}

func appendMember(b []byte, m *Member) []byte {
	b = appendString(b, string(m.ID))
	b = append(b, byte(m.Role))
	b = append(b, m.Pin[:]...)
	b = binary.AppendUvarint(b, uint64(len(m.Key)))
	return append(b, m.Key...)
}

// decoder reads a record body; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("short record")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) fixed(dst []byte) { copy(dst, d.take(len(dst))) }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad time")
		return time.Time{}
	}
	d.b = d.b[n:]
	return time.Unix(v, 0).UTC()
}

func (d *decoder) bool() bool {
	b := d.take(1)
	switch {
	case b == nil:
		return false
	case b[0] > 1:
		d.fail("bad flag %d", b[0])
	}
	return b[0] == 1
}

func (d *decoder) serverID() raft.ServerID {
	n := d.uvarint()
	if n > maxServerID {
		d.fail("server ID of %d bytes, at most %d", n, maxServerID)
		return ""
	}
	return raft.ServerID(d.take(int(n)))
}

func (d *decoder) object() Object {
	k := d.take(1)
	if k == nil {
		return Object{}
	}
	o := Object{Kind: ObjectKind(k[0])}
	if o.Kind != KindConfig {
		d.fixed(o.ID[:])
	}
	if d.err == nil && !o.valid() {
		d.fail("object kind %d unknown", o.Kind)
	}
	return o
}

func (d *decoder) member(m *Member) {
	m.ID = d.serverID()
	r := d.take(1)
	if r != nil {
		m.Role = Role(r[0])
		if m.Role != RoleHome && m.Role != RoleOffsite {
			d.fail("role %d unknown", r[0])
		}
	}
	d.fixed(m.Pin[:])
	switch n := d.uvarint(); {
	case d.err != nil:
	case n == 0:
		m.Key = nil
	case n == ed25519.PublicKeySize:
		m.Key = ed25519.PublicKey(bytes.Clone(d.take(int(n)))) // not aliasing the log's buffer
	default:
		d.fail("public key of %d bytes, want %d", n, ed25519.PublicKeySize)
	}
}
