// Package share keeps private share links: a secret URL that lets
// someone without an account see — and, if the owner allows, download —
// one file, one folder or one whole snapshot.
//
// # Links
//
// A link has two names. Its token (token.Share, "sbl_…") is the secret in
// the URL and is shown once, when the link is made; the store keeps only
// token.Hash of it, so a copy of the database opens nothing. Its ID is a
// short public name (8 base32 characters) for the owner's list, the
// access log and the audit log.
//
// Each link carries the owner's choices: an optional password (argon2id,
// package password; at least MinPassword characters, or one NewPassword
// makes), an expiry (30 days unless asked, at most a year), download on
// or off (off: previews only — the gateway enforces this from
// Share.Download), and a maximum number of uses (0: no limit).
// Revoking a link keeps its record, with why, so that someone who
// follows it is told it was turned off rather than that it never
// existed, and its owner sees the reason.
//
// # Ownership
//
// A link belongs to an account by its immutable ID (OwnerID), never by
// name: a name can be taken again by someone new after its account is
// deleted. The name is kept beside it for people to read. Migrate gives
// links stored before IDs existed their owner's ID, and revokes those
// whose owner is gone or whose name now belongs to a newer account.
// List, Revoke and RevokeAll take the account ID; RevokeOrphans turns off
// the links of deleted accounts.
//
// A link also records the credential it was made with (Credential: a
// session's or API key's public ID, or "local" for the box's own token).
// RevokeCredential turns off a credential's links when it is revoked, so
// that a stolen session or key does not live on in the links it made;
// RevokeOwnedExcept turns off an account's links but those of the
// credentials still alive, when the person changes how they sign in (a
// stolen session that signed out is no longer there to revoke).
//
// # Opening a link
//
// Open checks, in this order, and stops at the first failure:
//
//  1. the token is well formed (token.Parse): a mistyped or cut-off link
//     is refused without touching the database (ErrNotFound);
//  2. a link has that token (ErrNotFound);
//  3. it is not revoked, expired or used up (ErrRevoked, ErrExpired,
//     ErrUsedUp);
//  4. it is not locked after wrong passwords (ErrTooManyAttempts, a
//     *LockedError saying until when);
//  5. its password, if it has one: none given is ErrPasswordRequired,
//     a wrong one ErrWrongPassword.
//
// Only a well-formed token that names a real link learns whether a
// password is right. Each wrong password counts against the link
// (not the caller's address, which a guesser can change; the gateway
// limits addresses too); the fifth in a row locks the link for 15
// minutes, and each further wrong one — tried once the lock has ended —
// locks it again for twice as long as the last, up to 24 hours. The count
// is kept with the link, survives restarts and is not cleared by time:
// only the right password clears it. A guesser thus gets about one try a
// day after the first dozen. Opens of one link run one at a time (a
// striped mutex held from the lookup to the recorded outcome), so that
// parallel guesses cannot get past the limit; the store's database
// belongs to one process (bbolt locks its file), so the mutex is enough.
// A wrong password is a *WrongPasswordError and a lock a *LockedError,
// both naming the link, so that the gateway can audit and alert.
//
// Every successful Open counts one use and adds an Access (time, address,
// what was opened, event "used") to the link's access log; each wrong
// password ("password_failed") and each lock ("locked") is logged too,
// with the guesser's address. The log keeps the latest 1000 entries.
//
// # Storage
//
// The store lives in the caller's bbolt database, in three buckets:
//
//	share.links    ID → the link as JSON (with the token's hash and
//	               the password's PHC string)
//	share.tokens   token.Hash(token) → ID
//	share.access   ID → a bucket of entry number (8 bytes, big-endian;
//	               the bucket's sequence) → Access as JSON
//
// The Store is safe for concurrent use; the password check runs outside
// any bbolt transaction.
package share
