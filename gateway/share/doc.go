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
// package password), an expiry (30 days unless asked, at most a year),
// download on or off (off: previews only — the gateway enforces this
// from Share.Download), and a maximum number of uses (0: no limit).
// Revoking a link keeps its record, so that someone who follows it is
// told it was turned off rather than that it never existed.
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
// (not the caller's address, which a guesser can change); the fifth in a
// row locks the link for 15 minutes. A right password clears the count.
// Opens of one link run one at a time (a striped mutex held from the
// lookup to the recorded outcome), so that parallel guesses cannot get
// past the limit; the store's database belongs to one process (bbolt
// locks its file), so the mutex is enough.
//
// Every successful Open counts one use and adds an Access (time, address,
// what was opened) to the link's access log, which keeps the latest 1000.
//
// # Storage
//
// The store lives in the caller's bbolt database, in three buckets:
//
//	share.links    ID → the link as JSON (with the token's hash and
//	               the password's PHC string)
//	share.tokens   token.Hash(token) → ID
//	share.access   ID → a bucket of use number (8 bytes, big-endian)
//	               → Access as JSON
//
// The Store is safe for concurrent use; the password check runs outside
// any bbolt transaction.
package share
