// Package audit keeps the gateway's audit log: an append-only,
// hash-chained record of security-relevant actions (sign-ins and failed
// sign-ins, share links created, used and revoked, restores, downloads,
// deletions, snapshot locks, configuration changes).
//
// The log is tamper-evident, not tamper-proof: someone who can write the
// state directory can rewrite the whole chain, but cannot edit, delete,
// reorder or cut off entries without Verify noticing. Copying the head
// (Report.Head and Report.LastHash) somewhere else — the phone, an offsite
// peer — extends that guarantee to full rewrites.
//
// # Files
//
// Open(dir) keeps two files in dir (the gateway uses STATE/audit):
//
//	audit.log   the entries, one JSON object per line, oldest first
//	head        the last acknowledged entry's seq and hash
//
// Both are mode 0600 in a 0700 directory. One process writes a log at a
// time: Open takes an exclusive flock(2) on audit.log.
//
// # Entries: audit.log
//
// Each line is one entry followed by "\n", in exactly this form (Go's
// encoding/json with the keys in this order, detail keys sorted, no
// spaces, "<", ">" and "&" escaped as \u003c, \u003e, \u0026):
//
//	{"seq":1,"time":"2025-01-02T03:04:05.123456789Z","actor":"anna",
//	 "ip":"192.0.2.7","action":"login","target":"",
//	 "detail":{"client":"phone"},"prev":"0000…0000","hash":"9f2c…"}
//
// (wrapped here; one line in the file). The fields:
//
//	seq     1 for the first entry, then +1 per entry, no gaps
//	time    when the log recorded the entry, RFC 3339 with nanoseconds,
//	        UTC, trailing zeros of the fraction dropped
//	actor   the user name, "" for an anonymous caller (a share link),
//	        "shoebox" for the box itself
//	ip      the client's address, "" for the box itself
//	action  what happened, a dotted name such as "share.created" (see
//	        the Action constants)
//	target  what it happened to: a snapshot ID, a path, a share ID
//	detail  string → string, always present ({} when empty)
//	prev    the previous entry's hash; 64 "0"s for entry 1
//	hash    lowercase hex SHA-256 of the entry's canonical encoding
//
// A line that is valid JSON but not in exactly this form (other spacing,
// key order, escapes or time format) is treated as edited: there is one
// way to write each entry, so a file that verifies is byte for byte the
// file that was written.
//
// # Hash
//
// hash = SHA-256 of the string "shoebox-audit-v1\n" followed by these
// fields, each as a netstring (the decimal byte length, ":", the bytes,
// ","):
//
//	seq (decimal), time (as in the file), actor, ip, action, target,
//	the number of detail pairs (decimal), then each key and its value
//	in byte order of the keys, then prev.
//
// For example seq 1 is "1:1,". The strings are the decoded JSON strings
// in UTF-8. Because prev is hashed, each entry's hash covers every entry
// before it.
//
// # Head
//
// head holds {"seq":N,"hash":"<hash of entry N>"} and a newline; an empty
// log has {"seq":0,"hash":"000…0"}. It is replaced atomically (temporary
// file, fsync, rename, fsync of the directory) after each entry is
// written and fsynced; only then does Append return. The head is what
// lets Verify see that entries were cut off the end of the log.
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
// start a new log.
//
// # Secrets
//
// Append never writes a bearer secret: any gateway token (see package
// token) anywhere in an entry's strings is replaced by token.Redact's
// form, and the values of detail keys that name a password or a secret
// are replaced by "[redacted]".
package audit
