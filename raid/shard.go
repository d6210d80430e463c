package raid

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// A shard file is a header followed by the shard's bytes:
//
//	"SBSH" ‖ version (1) ‖ data (1) ‖ parity (1) ‖ index (1)
//	‖ uint64le(object size) ‖ uint64le(shard length) ‖ uint64le(write sequence)
//	‖ uint64le(xxhash64 of the object) ‖ uint64le(xxhash64 of the shard bytes)
//	‖ uint16le(len(name)) ‖ name ‖ uint32le(CRC-32C of all the header before it)
//
// The header makes every shard self-describing: scrub and rebuild need no
// key and no map, and the object map is rebuilt by reading headers.
// Checksums are xxhash64: they detect bit rot and torn writes, not forgery
// (the vault above authenticates everything it stores).
const (
	shardMagic   = "SBSH"
	shardVersion = 1
	shardFixed   = 4 + 1 + 1 + 1 + 1 + 8*5 + 2
	shardSuffix  = ".shard"
	maxNameLen   = 1024
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// shardHeader describes one shard.
type shardHeader struct {
	Name     string
	Layout   Layout
	Index    int
	ObjSize  int64
	ShardLen int64
	Seq      uint64 // write sequence: the newest complete set wins
	ObjSum   uint64
	ShardSum uint64
}

func (h *shardHeader) encode() []byte {
	b := make([]byte, 0, shardFixed+len(h.Name)+4)
	b = append(b, shardMagic...)
	b = append(b, shardVersion, byte(h.Layout.Data), byte(h.Layout.Parity), byte(h.Index))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.ObjSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.ShardLen))
	b = binary.LittleEndian.AppendUint64(b, h.Seq)
	b = binary.LittleEndian.AppendUint64(b, h.ObjSum)
	b = binary.LittleEndian.AppendUint64(b, h.ShardSum)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h.Name)))
	b = append(b, h.Name...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// parseShardHeader decodes a header from the start of b and returns it
// with its length.
func parseShardHeader(b []byte) (*shardHeader, int, error) {
	if len(b) < shardFixed+4 || string(b[:4]) != shardMagic || b[4] != shardVersion {
		return nil, 0, errShardHeader
	}
	nl := int(binary.LittleEndian.Uint16(b[shardFixed-2:]))
	if nl > maxNameLen || len(b) < shardFixed+nl+4 {
		return nil, 0, errShardHeader
	}
	n := shardFixed + nl
	if crc32.Checksum(b[:n], crcTable) != binary.LittleEndian.Uint32(b[n:]) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", errShardHeader)
	}
	h := &shardHeader{
		Layout:   Layout{Data: int(b[5]), Parity: int(b[6])},
		Index:    int(b[7]),
		ObjSize:  int64(binary.LittleEndian.Uint64(b[8:])),
		ShardLen: int64(binary.LittleEndian.Uint64(b[16:])),
		Seq:      binary.LittleEndian.Uint64(b[24:]),
		ObjSum:   binary.LittleEndian.Uint64(b[32:]),
		ShardSum: binary.LittleEndian.Uint64(b[40:]),
		Name:     string(b[shardFixed : shardFixed+nl]),
	}
	if h.Layout.Data < 1 || h.Index >= h.Layout.Shards() || h.ObjSize < 0 || h.ShardLen < 0 {
		return nil, 0, errShardHeader
	}
	return h, n + 4, nil
}

// shardName is the member-store name of shard i of the write seq of an
// object. The write sequence is part of the name so that an overwrite
// never replaces a shard of the older write: until the new write is
// complete, the old one stays whole on the disks.
func shardName(name string, i int, seq uint64) string {
	return "shards/" + name + shardSuffix + strconv.Itoa(i) + "." + fmt.Sprintf("%016x", seq)
}

// parseShardName splits a member-store name into object name, shard index
// and write sequence.
func parseShardName(s string) (string, int, uint64, bool) {
	s, ok := strings.CutPrefix(s, "shards/")
	if !ok {
		return "", 0, 0, false
	}
	i := strings.LastIndex(s, shardSuffix)
	if i <= 0 {
		return "", 0, 0, false
	}
	is, ss, ok := strings.Cut(s[i+len(shardSuffix):], ".")
	if !ok || len(ss) != 16 {
		return "", 0, 0, false
	}
	idx, err := strconv.Atoi(is)
	if err != nil || idx < 0 || idx > 255 || strconv.Itoa(idx) != is {
		return "", 0, 0, false
	}
	seq, err := strconv.ParseUint(ss, 16, 64)
	if err != nil || fmt.Sprintf("%016x", seq) != ss {
		return "", 0, 0, false
	}
	return s[:i], idx, seq, true
}

func checksum(b []byte) uint64 { return xxhash.Sum64(b) }
