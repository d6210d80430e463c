// Package vault is Shoebox's backup engine: content-defined chunking,
// deduplication, compression, encryption and snapshots of photo libraries,
// stored in any store.ObjectStore. docs/FORMAT.md specifies the bytes.
//
// # Keys
//
// A repository has one age identity (X25519, or hybrid ML-KEM-768 +
// X25519 for long-term archives). Every file of the repository is an age
// file encrypted to it, so the stock age tool can decrypt any of them.
// The identity itself is kept in keys/ files, each encrypted with a
// passphrase (scrypt) or to a recovery identity printed on paper at init.
// The config, encrypted to the identity, holds the secret chunker
// polynomial and the secret key of blob IDs.
//
// # Blobs
//
// Files are cut into chunks of 512 KiB–8 MiB by a Rabin fingerprint
// (restic/chunker) with the repository's secret polynomial. Each chunk is
// a data blob named by its keyed BLAKE3 hash: identical chunks anywhere in
// the library are stored once, and whoever holds only ciphertext cannot
// test for a known photo. Directories are tree blobs (JSON listings with
// full metadata). Tree blobs and blobs of compressible files (sidecars,
// text) are stored as zstd frames; photos, RAW and video are recognised by
// name and magic bytes and stored as they are.
//
// # Packs
//
// Blobs are collected into packs of about 16 MiB, each one age file
// (blobs ‖ header ‖ length). A pack is named by the SHA-256 of its bytes,
// so anyone can verify it without a key. A blob is read with
// age.DecryptReaderAt, which decrypts only the 64 KiB chunks that hold it;
// pack file keys are cached so the public-key work happens once per pack.
// During backup data blobs go at random to one of two open packs, and the
// two are merged at the end, so pack sizes do not reveal chunk boundaries.
//
// # Index
//
// Index files repeat the pack headers; the in-memory Index maps each blob
// ID to its pack, offset and length (about 80 bytes per blob). Since the
// pack headers are the truth, packs no index file lists (a killed backup's,
// or all of them when index files are lost) are indexed from their headers
// when a backup starts and no other backup runs (indexLeftovers), or all
// at once by RepairIndex. A long-running process reads the index files
// again when another process changed them (refreshIndex).
//
// # Backup
//
// Backup walks the paths depth-first, compares every file with the parent
// snapshot (size, mtime, ctime, inode) and sends changed files to a pool of
// workers, one file each, that read, chunk, hash and hand new blobs to the
// saver, which encrypts them into packs streamed to temporary files.
// Directory trees are saved as soon as their children are done, without
// holding up the walk. Memory is bounded by the number of workers and open
// packs, not by the size of the library. The snapshot is written only
// after its packs and their index are durable.
//
// # Restore
//
// Restore recreates the snapshot's absolute paths under a target folder,
// which it opens as an os.Root (or, with RestoreOptions.Root, creates
// inside a root the caller holds: the API's restore folder). Every folder,
// file, link and node is made through that root or through a descriptor
// of its parent folder opened through it (openat, mknodat, fchownat,
// utimensat with AT_SYMLINK_NOFOLLOW), so no symbolic link, already there
// or restored from the snapshot, can lead a restore outside its target;
// whatever stands in a restored entry's way is replaced, never followed.
// Messages name paths as the caller named the target (relative to Root).
//
// # Other systems
//
// The package builds on macOS and Windows too, so the command line can
// restore on a laptop: the Linux calls above live in fsat_linux.go,
// meta_linux.go and sparse_linux.go, and their _other.go fallbacks do the
// same through the os.Root, recording and restoring type, permission
// bits, size and modification time only (docs/DESIGN.md, Portability).
//
// # Safety
//
// Objects are written to a temporary file, synced, renamed and the
// directory synced; nothing is modified in place. Backup, forget and prune
// order their writes so that a kill at any instant leaves a repository
// that check accepts. Shared and exclusive locks keep prune away from
// running backups; immutability holds keep snapshots (and everything they
// reference) from forget and prune until their date.
package vault
