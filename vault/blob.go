package vault

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// BlobType tells file content from directory trees.
type BlobType uint8

// Blob types.
const (
	DataBlob BlobType = 0
	TreeBlob BlobType = 1
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return "unknown"
}

// Blob flags in pack headers and indexes.
const (
	// flagZstd marks a blob stored as one zstd frame.
	flagZstd uint8 = 1
)

// hasher computes blob IDs: BLAKE3 keyed with the repository's secret hash
// key, so that a holder of ciphertext alone cannot test whether a known
// file is stored.
type hasher struct{ base *blake3.Hasher }

func newHasher(key []byte) hasher {
	h, err := blake3.NewKeyed(key)
	if err != nil {
		panic(err) // the config validated the key length
	}
	return hasher{h}
}

// Sum returns the blob ID of plaintext b.
func (h hasher) Sum(b []byte) ID {
	c := h.base.Clone()
	c.Write(b)
	var id ID
	c.Sum(id[:0])
	return id
}

var (
	zenc     *zstd.Encoder
	zdec     *zstd.Decoder
	zstdOnce sync.Once
)

func zstdCodecs() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		var err error
		zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
		if err != nil {
			panic(err)
		}
		zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			panic(err)
		}
	})
	return zenc, zdec
}

// compress returns the zstd form of b appended to dst, or nil when
// compression does not save at least 1/16 of the size.
func compress(dst, b []byte) []byte {
	enc, _ := zstdCodecs()
	out := enc.EncodeAll(b, dst[:0])
	if len(out) > len(b)-len(b)/16 {
		return nil
	}
	return out
}

// decompress expands a zstd blob whose plaintext has rawLen bytes.
func decompress(dst, b []byte, rawLen int) ([]byte, error) {
	_, dec := zstdCodecs()
	if cap(dst) < rawLen {
		dst = make([]byte, 0, rawLen)
	}
	return dec.DecodeAll(b, dst[:0])
}

// incompressibleExt lists extensions of formats that are already compressed:
// photos, camera RAW (which compresses internally), video, audio, archives.
var incompressibleExt = map[string]bool{
	".jpg": true, ".jpeg": true, ".jpe": true, ".heic": true, ".heif": true, ".avif": true,
	".png": true, ".gif": true, ".webp": true, ".jxl": true,
	".cr2": true, ".cr3": true, ".crw": true, ".nef": true, ".nrw": true, ".arw": true, ".srf": true,
	".sr2": true, ".dng": true, ".raf": true, ".orf": true, ".rw2": true, ".pef": true, ".srw": true,
	".x3f": true, ".3fr": true, ".iiq": true, ".erf": true, ".mef": true, ".mos": true, ".rwl": true,
	".mp4": true, ".m4v": true, ".mov": true, ".mkv": true, ".webm": true, ".avi": true, ".mts": true,
	".m2ts": true, ".3gp": true, ".insv": true, ".lrv": true, ".braw": true, ".r3d": true,
	".mp3": true, ".m4a": true, ".aac": true, ".flac": true, ".ogg": true, ".opus": true,
	".zip": true, ".gz": true, ".tgz": true, ".zst": true, ".xz": true, ".bz2": true, ".7z": true, ".rar": true,
}

// magic prefixes of already-compressed formats, checked on the first bytes.
var incompressibleMagic = [][]byte{
	{0xFF, 0xD8, 0xFF},       // JPEG
	{0x89, 'P', 'N', 'G'},    // PNG
	[]byte("GIF8"),           // GIF
	{0x1A, 0x45, 0xDF, 0xA3}, // Matroska / WebM
	{'P', 'K', 3, 4},         // ZIP and its kin
	{0x1F, 0x8B},             // gzip
	{0x28, 0xB5, 0x2F, 0xFD}, // zstd
	{0xFD, '7', 'z', 'X', 'Z'},
	{'7', 'z', 0xBC, 0xAF},
	[]byte("BZh"),
	[]byte("fLaC"),
	[]byte("OggS"),
	[]byte("ID3"),
	[]byte("FUJIFILMCCD-RAW"),
	[]byte("IIRO"), // Olympus ORF
	{'I', 'I', 'U', 0},
}

// Compressible decides, from a file's name and first bytes, whether its
// blobs are worth trying to compress. Photos, RAW, video and archives are
// stored as they are without spending CPU on a compression attempt; for
// other files a 64 KiB sample decides.
func Compressible(name string, head []byte) bool {
	if incompressibleExt[strings.ToLower(filepath.Ext(name))] {
		return false
	}
	for _, m := range incompressibleMagic {
		if bytes.HasPrefix(head, m) {
			return false
		}
	}
	// ISO base media (MP4, MOV, HEIC, AVIF, CR3): "ftyp" at offset 4.
	if len(head) >= 8 && string(head[4:8]) == "ftyp" {
		return false
	}
	// RIFF (WebP, AVI) carries compressed payloads; WAV does not.
	if len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) != "WAVE" {
		return false
	}
	sample := head
	if len(sample) > 64<<10 {
		sample = sample[:64<<10]
	}
	if len(sample) < 512 {
		return true
	}
	enc, _ := zstdCodecs()
	out := enc.EncodeAll(sample, make([]byte, 0, len(sample)))
	return len(out) < len(sample)-len(sample)/10
}
