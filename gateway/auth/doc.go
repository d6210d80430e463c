// Package auth is the account and credential core of the phone API:
// users and their roles, per-space grants, password and TOTP sign-in,
// sessions, API keys, and the brakes on guessing (a pace per address and
// a back-off per address and account; no account ever locks). The
// gateway turns a bearer token into a
// Principal with Authenticate and asks Allowed before every action.
//
// # Storage
//
// Everything lives in a caller-supplied bbolt database, in buckets whose
// names start with "auth.":
//
//	auth.users     user name → JSON record (immutable account ID, role,
//	               argon2id hash, grants (space → permissions),
//	               sealed TOTP secret, recovery-code MACs)
//	auth.sessions  token.Hash(session token) → JSON session record
//	auth.apikeys   token.Hash(API key) → JSON API-key record
//	auth.enrol     token.Hash(enrolment code) → JSON enrolment record
//
// Every credential (session, API key, enrolment code) records the
// immutable ID of its account beside the name, and is dead once the
// account with that name has another ID: deleting an account and making
// a new one with its name gives the new one nothing of the old.
//
// No credential is stored in a usable form. Passwords are argon2id PHC
// strings (package password). Session tokens and API keys are stored by
// token.Hash only. The TOTP secret is sealed with XChaCha20-Poly1305 under
// a key derived from Options.BoxKey, with the user name as additional
// data, so a sealed secret cannot be moved to another account. Recovery
// codes are stored as HMAC-SHA256 under another key derived from the box
// key: they carry about 59 bits, too few for a plain hash to survive an
// offline search, and a copy of the database without the box key is
// useless. Keep the box key outside the database.
//
// # Sign-in
//
// Login checks, in order: the address's pace (burst 10, then one attempt
// every 6 s), the address's back-off on the account named, the password,
// and, when the account has TOTP, the code. Both brakes come before any
// password hashing and key an IPv6 address by its /64 (throttle.Key).
// An unknown user costs the same argon2id work as a wrong password
// (password.Dummy) and both, like a wrong code, give ErrBadCredentials.
// A right password without a code on a TOTP account gives
// ErrTOTPRequired, so the phone can ask for the code; a wrong password
// never reveals whether the account uses TOTP.
//
// No account locks: that let anyone lock anyone out, and told a guesser
// which names exist. Instead, after five failed proofs in a row from one
// address on one account, that address waits 1 s before its next try on
// that account, twice as long after each further failure, up to 15
// minutes (Options.Backoff*), and a throttled event is sent. The person,
// from any other address, is not held up, and the address may still
// sign in to other accounts. An unknown name gets the same back-off, keyed
// the same way, with the same answers. A success clears the address's
// count on that account; a day without failures forgets it. Wrong
// passwords and codes given to SetPassword and DisableTOTP count as
// failures from the caller's address too. The brakes live in memory: a
// restart clears them (they bound guessing speed, not a total).
//
// Every argon2id call goes through package password's process-wide
// memory budget; when it stays full, Login, SetPassword and DisableTOTP
// fail with a *password.BusyError, which counts as no failure.
//
// TOTP codes are 6 digits, SHA-1, 30 s steps (what every authenticator app
// speaks). A code is accepted one step either side of the box's clock. A
// step, once used, is spent: the same code, or a code from an earlier
// step, is refused. Recovery codes (ten, "xxxx-xxxx-xxxx") each work once.
//
// # Sessions and API keys
//
// A session ends 30 days after it was last used or 180 days after it was
// created, whichever comes first (Options.SessionIdle, SessionMax). Its
// last-seen time is written at most once a minute. Sessions, API keys and
// enrolment codes have a short public ID (12 hex characters) used to list
// and revoke them; the token itself is shown once and never again.
//
// An API key carries scopes: a subset of the actions the owner's role can
// ever be allowed (the role's rights with every permission). At use time the
// key's scopes are intersected with the user's current role and grants,
// so a key never outgrows its user. A zero expiry means no expiry.
//
// RevokeCredential ends a session, API key or enrolment code whatever its
// state; the gateway calls it when one was sent over plain HTTP.
//
// # What a credential made
//
// API keys record the session that made them, enrolment codes the
// credential that asked for them (Maker; the box's local token for codes
// made on the box). When a session or API key is revoked — by its
// person (RevokeSession, RevokeAPIKey), by five wrong codes, by a change
// of password or second factor, by a reset, by the account's deletion,
// or by RevokeCredential — what it made ends too, and what that made in
// turn, of any account (an admin's session made a code for a new
// account), each with an event of its own whose Via names the maker's
// account (the gateway ends share links the same way, on these events).
// Logout and a session's natural expiry end nothing else: the person
// ended a device's sign-in, not what they set up with it. Keys and codes
// made before makers were recorded end only with their account's
// credentials.
//
// # Factors
//
// A session records the factors it proved: password, totp or
// recovery_code (at sign-in), enrolment_code (a paired phone). A session
// stored before factors were recorded counts as password-only. The
// Principal says whether the person has two-step sign-in (TOTP) and
// whether the credential proved it (SecondFactor); the gateway refuses a
// person with TOTP whose credential has not, whatever the person's own
// record says. Such a session proves it later with ProveSecondFactor (a
// TOTP or recovery code, spent like one given at sign-in); five wrong
// codes end the session. An API key counts as having the second factor
// when the session that made it had; for a person with TOTP only such a
// session may make one (ErrSecondFactor).
//
// Credentials made before a change to how the person signs in must not
// outlive it. Turning TOTP on or off and changing the password keep the
// session making the change (turning TOTP on marks it as having proved
// TOTP) and end every other session, every enrolment code and, unless
// the password change asks to keep them (recorded in the event), every
// API key (kept keys are kept whichever session made them). Each
// credential ended is an event of its own, with its public ID.
//
// # Enrolment codes and resets
//
// An enrolment code is a one-time code for an account (10 minutes by
// default, a day at most), traded by a phone for a session once. It
// stands in for the password, not the second factor. CreateEnrolment
// makes one only for the asker's own account, for a new account made
// without a password (Fresh and NoPassword: nobody has signed in to it,
// and nobody could; its other new-account codes end at its first
// sign-in), or when the request comes from the box's local token
// (someone at the box); never for a request made with an API key.
// Anything else would let whoever manages accounts, or a script's key,
// become someone else. A change of the account's role ends its codes
// (SetRole), and Enrol refuses, and deletes, a code made for someone
// else whose maker may no longer manage the account (demoted, deleted,
// or the account made owner). ListEnrolments and CancelEnrolment manage
// the outstanding ones.
//
// An account may be made without a password (CreateUser with ""): it
// holds the hash of a random one, so sign-in fails like a wrong password,
// and the first SetPassword needs no old one. ResetCredentials, for an
// owner helping someone who lost their password or phone, ends all of
// the account's credentials, turns TOTP off, clears the password, leaves
// a notice (Notify, TakeNotices) for the person's next sign-in and
// returns an enrolment code for them; it cannot be asked for with an API
// key.
//
// # Permissions
//
// Allowed(p, action, space) is least privilege: anything not in this
// table is refused, as is an unknown role, action or permission. Space is
// the name of a backup source ("family", "client-smith"); box-wide
// actions pass "".
//
// A grant gives a member or viewer permissions on one space: read
// (browse, download, preview), write (upload, run a backup now, lock
// snapshots), share (public links), restore (restore to the box). Every
// permission but read implies read. A viewer may hold read only (Grant
// refuses more, and Can ignores more should a member with more become a
// viewer).
//
//	action          owner admin   member          viewer
//	status.read       ✓     ✓       ✓               ✓
//	alerts.read       ✓     ✓       ✓               ✓
//	cards.read        ✓     ✓       ✓               -
//	disks.read        ✓     ✓       ✓               -
//	backups.read      ✓     ✓       read            read
//	download          ✓     ✓       read            read
//	upload            ✓     ✓       write           -
//	backups.write     ✓     ✓       write           -
//	locks.set         ✓     ✓       write           -
//	shares.manage     ✓     ✓       share           -
//	restore           ✓     ✓       restore         -
//	disks.manage      ✓     ✓       -               -
//	alerts.ack        ✓     ✓       -               -
//	users.manage      ✓     ✓ (1)   -               -
//	audit.read        ✓     ✓       -               -
//	settings          ✓     ✓       -               -
//
// A permission's name means that permission (or, for read, any) held on
// that space. Owners and admins need no grants: they may act on every
// space, and on "" (all spaces) for the space actions, which members and
// viewers may not. Box-wide actions ignore the space.
//
// Grants stored before permissions were split were one word, "read"
// (which then allowed upload, links and restore) or "write"; New turns
// both into read only, sends a grants_migrated event per account and
// logs how many, so that the owner gives back what each person needs.
//
// (1) An admin manages every account except an owner's, and cannot make
// anyone owner. Account operations do not know their caller, so the
// gateway calls CheckManage before CreateUser, DeleteUser, SetRole,
// CreateEnrolment, ResetCredentials, Grant and RevokeGrant on someone
// else's account; Enrol checks the same rule again, by roles, for the
// maker of a code made for someone else.
//
// # Events
//
// Every sign-in, failure, back-off and change to an account or credential
// is passed to Options.OnEvent after it is committed, for the audit log.
// Events hold user names, IPs, device names and public IDs: never a
// password, token, TOTP secret or code. A failed sign-in for an unknown
// user does not carry the name typed, which may be a mistyped password.
package auth
