// Package audit keeps the gateway's audit log: an append-only chain of
// security-relevant actions (sign-ins and failed sign-ins, share links
// created, used and revoked, restores, downloads, uploads, deletions,
// snapshot locks, people, roles and grants, configuration changes), each
// entry naming who did what to what, from where, and with what result.
//
// The chain is keyed: each entry's hash is an HMAC-SHA-256 with a key
// derived from the box key (ChainKey), over the entry and the previous
// hash. Whoever holds only the log — or can write it without reading the
// box key — cannot edit, delete, reorder, append or rewrite entries
// without Verify noticing. Anchors (copies of the head kept elsewhere:
// the state directory beside the log, the repository on the disk array,
// later the offsite unit) extend that to a log cut short, rewritten with
// the key, or deleted. The log is tamper-evident, not tamper-proof:
// someone who holds the box key and can write every copy of the anchor
// can still rewrite history; only a copy out of their reach (offsite,
// the owner's phone) catches that.
//
// # Files
//
// Open(dir) keeps two files in dir (the gateway uses STATE/gateway/audit):
//
//	audit.log   the entries, one JSON object per line, oldest first
//	head        the last acknowledged entry's seq and hash
//
// Both are mode 0600 in a 0700 directory. One process writes a log at a
// time: Open takes an exclusive flock(2) on audit.log. The state
// directory's anchor is AnchorPath(dir), beside the directory.
//
// # Entries: audit.log
//
// Each line is one entry followed by "\n", in exactly this form (Go's
// encoding/json with the keys in this order, detail keys sorted, no
// spaces, "<", ">" and "&" escaped as \u003c, \u003e, \u0026):
//
//	{"v":2,"seq":1,"time":"2025-01-02T03:04:05.123456789Z","actor":"anna",
//	 "actor_id":"u8f3a…","ip":"192.0.2.7","action":"users.role",
//	 "target":"ben","result":"ok","detail":{"role":"admin"},
//	 "prev":"0000…0000","hash":"9f2c…"}
//
// (wrapped here; one line in the file). The fields:
//
//	v         2: keyed (V2). Lines without it are V1 entries of an
//	          earlier, unkeyed version: the same fields but v, actor_id
//	          and result
//	seq       1 for the first entry, then +1 per entry, no gaps
//	time      when the log recorded the entry, RFC 3339 with nanoseconds,
//	          UTC, trailing zeros of the fraction dropped
//	actor     the user name; "link:<id>" for a share link's visitor;
//	          "root@box" for the CLI on the box; "shoebox" for the box
//	          itself; "" for an unknown caller
//	actor_id  the account's immutable ID when the actor is a person
//	ip        the client's address, "" for the box itself
//	action    what happened, a dotted name such as "share.created" (see
//	          the Action constants)
//	target    what it happened to: a user, a snapshot ID and path, a
//	          share ID
//	result    "ok", or the gRPC code and a short reason
//	          ("PermissionDenied: …"); "" where no request is concerned
//	detail    string → string, always present ({} when empty)
//	prev      the previous entry's hash; 64 "0"s for entry 1
//	hash      lowercase hex: V2 HMAC-SHA-256, V1 SHA-256 (see Hash)
//
// A line that is valid JSON but not in exactly this form (other spacing,
// key order, escapes or time format) is treated as edited: there is one
// way to write each entry, so a file that verifies is byte for byte the
// file that was written.
//
// # Hash
//
// A V2 entry's hash is HMAC-SHA-256, keyed with the chain key, of the
// string "shoebox-audit-v2\n" followed by these fields, each as a
// netstring (the decimal byte length, ":", the bytes, ","):
//
//	seq (decimal), time (as in the file), actor, actor_id, ip, action,
//	target, result, the number of detail pairs (decimal), then each key
//	and its value in byte order of the keys, then prev.
//
// For example seq 1 is "1:1,". The strings are the decoded JSON strings
// in UTF-8. Because prev is covered, each entry's hash covers every entry
// before it. The chain key is HKDF-SHA-256 of the box key (32 bytes, no
// salt, info "shoebox audit chain v2").
//
// A V1 entry's hash is plain SHA-256 of "shoebox-audit-v1\n" and the
// netstrings of seq, time, actor, ip, action, target, the detail count
// and pairs, and prev. Anyone can recompute it, so V1 entries are
// evidence only: Open continues a log whose last entry is V1 with V2
// entries (the first is "audit.keyed", naming how many came before), and
// a V1 entry after a V2 one is tampering.
//
// # Head
//
// head holds {"seq":N,"hash":"<hash of entry N>"} and a newline; an empty
// log has {"seq":0,"hash":"000…0"}. It is replaced atomically (temporary
// file, fsync, rename, fsync of the directory) after each entry is
// written and fsynced; only then does Append return. The head is what
// lets Verify see that entries were cut off the end of the log.
//
// # Anchors
//
// An Anchor is the head (seq and hash) with the time it was taken,
// stored (EncodeAnchor) as one JSON line
//
//	{"seq":N,"hash":"…","time":"…","mac":"…"}
//
// where mac is HMAC-SHA-256 with the chain key of "shoebox-audit-anchor-v1\n"
// and the netstrings of seq, hash and time: nobody without the key can
// make one or raise its seq. Given an anchor, Open and Verify fail a log
// that ends before its seq, has another hash there, or is missing. The
// gateway writes anchors at start, every 100 entries, hourly and when it
// stops, to every place it keeps one. VerifyState checks a log as it lies
// in the box's state directory, with the box key and the anchor kept
// beside it (and, optionally, the repository's copy): what
// `shoebox audit verify` does without the daemon.
//
// # Crashes
//
// A crash can leave two things behind, and Open repairs both, recording
// the repair as an "audit.repaired" entry:
//
//   - an incomplete last line (no final newline) while the head names
//     the entry before it: that entry was never acknowledged, so Open
//     cuts the incomplete bytes off;
//   - a complete, correctly chained last entry that the head does not
//     name yet (the crash came between the fsync of the log and the
//     update of the head): Open keeps the entry and updates the head.
//
// Anything else Verify finds makes Open fail with ErrTampered, leaving
// the files as they are: they are evidence. Move the directory aside to
// start a new log (the gateway does, and raises a critical alert).
//
// # Secrets
//
// Append never writes a bearer secret: any gateway token (see package
// token) anywhere in an entry's strings is replaced by token.Redact's
// form, and the values of detail keys that name a password or a secret
// are replaced by "[redacted]".
package audit
