// Package upload receives photos and videos from phones: resumable,
// chunked uploads into a source's inbox folder, which the daemon watches
// and backs up within seconds.
//
// # Sessions
//
// A phone starts an upload with Create, declaring the file's name, size,
// SHA-256, modification time and content type, its device, and (filled in
// by the gateway, never by the phone) the user, the target space and the
// inbox folder. If the box already holds a file with that SHA-256 — in its
// own index of received files, or per Options.Known (the daemon's
// repository) — Create says AlreadyHave and no session is made. Create is
// idempotent per user, device and hash: an app that restarted without its
// session ID gets the unfinished session back.
//
// The phone then sends chunks with Write at explicit offsets, like tus: a
// chunk must start at the session's committed offset, else it is refused
// with an *OffsetError carrying the offset to resume from. A chunk is
// written to STATE/uploads/<id>.part and fsynced before its new offset is
// recorded and returned, so an acknowledged byte survives a crash. If the
// connection drops mid-chunk, the bytes that arrived are kept and the
// offset reported (by Write and Status) includes them. If the disk fills,
// the chunk is dropped, the acknowledged part kept, and ErrFull returned.
//
// Complete re-reads the part file and compares its SHA-256 with the
// declared one. On a mismatch nothing is stored, the session restarts at
// offset 0 and, after three failures, is cancelled (the file is probably
// changing on the phone). On a match the file is linked into
//
//	<inbox>/<device name>/<YYYY>/<MM>/<clean name>
//
// (date from the declared modification time, in its own time zone) without
// ever replacing a file: a hard link is atomic and fails if the name
// exists. If the part file is on another file system, it is first copied
// to a hidden ".shoebox-upload-*.tmp" file in the target folder (the
// inbox watcher should skip such names). A name taken by a different file
// gets " (2)", " (3)", …; a name taken by an identical file is the answer.
// The directory is fsynced before the completion is recorded; a crash in
// between is repaired by the next Complete, which finds the identical file.
// A completed session is kept, with its Result, for SessionTTL, so a phone
// that lost the answer can ask again.
//
// Only the session's user may write, complete, cancel or see it
// (ErrForbidden). Session IDs are 128 random bits in base32; an ID that is
// not well formed never reaches a file path.
//
// # Storage
//
// The session metadata lives in the caller's bbolt database, in buckets
// named "upload.*", all JSON values with hashes in hex:
//
//	upload.sessions  id → Session
//	upload.open      user 0x00 device 0x00 sha256(32) → id of the unfinished session
//	upload.received  sha256(32) → Entry: every file the box has received
//	upload.history   user 0x00 device 0x00 completed-unix-ns(8, big endian) sha256(32) → Entry
//
// Sweep removes sessions idle for SessionTTL (default seven days) with
// their part files, and part files no session owns.
//
// # History
//
// History lists a device's received files, oldest first, from a time on,
// so a phone can mark what is safe. Have answers, in batches of up to
// MaxHaveBatch, which hashes the box already holds. The received index and
// Have are box-wide, like the repository's deduplication: a user can learn
// that the box holds a file only by presenting its SHA-256, that is, by
// having the file.
//
// # Concurrency
//
// A Store is safe for concurrent use. Requests for different sessions run
// in parallel; a second request for a session that is busy (typically a
// dead connection the server has not noticed yet) gets ErrBusy and should
// be retried. Several Stores must not share one state directory.
package upload
