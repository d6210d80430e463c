// Package upload receives photos and videos from phones: resumable,
// chunked uploads into a source's inbox folder, which the daemon watches
// and backs up within seconds.
//
// # Sessions
//
// A phone starts an upload with Create, declaring the file's name, size,
// SHA-256, modification time and content type, its device, and (filled in
// by the gateway, never by the phone) the owner — the account's immutable
// ID, never its name, which a later account may be given —, the target
// space and the space's folder (the inbox). If the target space already
// holds a file with that SHA-256 — in the index of files received into
// it, or per Options.Known — Create says AlreadyHave and no session is
// made. Create is idempotent per owner, device and hash: an app that
// restarted without its session ID gets the unfinished session back.
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
// inbox watcher should skip such names). The inbox is shared (a file
// share, the phone's own folder), so nothing there is trusted: the
// folders are made through an os.Root opened at the inbox, refusing
// anything below it that is not a folder, and the file is linked, copied
// and compared through an os.Root opened at its own folder once that is
// made. A folder swapped for a symbolic link after the checks cannot
// send the file elsewhere: it lands in the folder that was checked. A name taken by a different file
// gets " (2)", " (3)", …; a name taken by an identical file is the answer.
// The directory is fsynced before the completion is recorded; a crash in
// between is repaired by the next Complete, which finds the identical file.
// A completed session is kept, with its Result, for SessionTTL, so a phone
// that lost the answer can ask again.
//
// Only the session's owner may write, complete, cancel or see it
// (ErrForbidden). Session IDs are 128 random bits in base32; an ID that is
// not well formed never reaches a file path. DeleteOwner removes an
// account's sessions, part files and history when the account goes.
//
// Where a file landed (Result.Path, Entry.Path) is relative to the
// space's folder, and errors name the space and paths inside it, never
// the box's own paths (the inbox's place on the box, the state
// directory): those are not a member's business.
//
// # Room
//
// Part files live on the state disk. With Options.Space set, uploads
// never take the disk's reserve (Options.Reserve): Create refuses a file
// that could not fit above it, and Write refuses a chunk that would reach
// into it — counting the chunks being written at that moment — with
// ErrFull before reading a byte of it. Options.Quota bounds what one
// account's uploads take of the state disk (ErrQuota at Create): its
// unfinished uploads at their full size, and the files it received onto
// the state disk (a space whose folder is on that disk: the part file
// was linked there) in the last QuotaWindow, 24 hours. Files filed on
// another disk, and files a space already had, do not count. A window
// rather than a total of what is still there: files in a space's folder
// are moved and deleted over file shares without the box being told,
// and the window forgets on its own; the reserve (with the gateway's
// margin above it) is what keeps the disk from filling, the quota keeps
// one account from taking all of it in a day.
//
// # Storage
//
// The session metadata lives in the caller's bbolt database, in buckets
// named "upload.*", all JSON values with hashes in hex:
//
//	upload.sessions    id → Session
//	upload.open.v2     owner 0x00 device 0x00 sha256(32) → id of the unfinished session
//	upload.have        HMAC-SHA-256(Key, space 0x00 sha256(32)) → Entry: the files each space received
//	upload.history.v2  owner 0x00 device 0x00 completed-unix-ns(8, big endian) sha256(32) → Entry
//
// An Entry's "state_disk" is set when the file was received onto the
// state disk; the quota sums the history's entries of the window.
//
// Sweep removes sessions idle for SessionTTL (default seven days) with
// their part files, and part files no session owns.
//
// # History
//
// History lists a device's received files, oldest first, from a time on,
// so a phone can mark what is safe. Have answers, in batches of up to
// MaxHaveBatch, which hashes a space already holds. The index behind Have
// and Create's AlreadyHave is per space, keyed with Options.Key: a file in
// another space is not "had" (an upload that finished at once would tell
// a member that a space they cannot see holds the file), and a copy of
// the database shows neither the hashes nor which space holds what. The
// repository below still stores identical content once, box-wide; only
// the question "do you have this?" is per space.
//
// # Migration
//
// Earlier versions keyed sessions, the open index and histories by user
// name, and the index of received files by bare SHA-256. New moves the
// received files into the per-space index (each entry names its space)
// and drops the rest: a name may since belong to another account, so
// those records cannot be handed to anyone safely. Their part files go
// with the next Sweep; files already filed stay in the spaces.
//
// # Concurrency
//
// A Store is safe for concurrent use. Requests for different sessions run
// in parallel; a second request for a session that is busy (typically a
// dead connection the server has not noticed yet) gets ErrBusy and should
// be retried. Several Stores must not share one state directory.
package upload
