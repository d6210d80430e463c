// Package auth is the account and credential core of the phone API:
// users and their roles, per-space grants, password and TOTP sign-in,
// sessions, API keys, and the brakes on guessing (a per-IP rate limit and
// a per-account lock-out). The gateway turns a bearer token into a
// Principal with Authenticate and asks Allowed before every action.
//
// # Storage
//
// Everything lives in a caller-supplied bbolt database, in buckets whose
// names start with "auth.":
//
//	auth.users     user name → JSON record (immutable account ID, role,
//	               argon2id hash, grants,
//	               sealed TOTP secret, recovery-code MACs, lock-out state)
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
// Login checks, in order: the per-IP limiter (burst 10, then one attempt
// every 6 s), the account lock-out, the password, and, when the account
// has TOTP, the code. An unknown user costs the same argon2id work as a
// wrong password (password.Dummy) and both, like a wrong code, give
// ErrBadCredentials. A right password without a code on a TOTP account
// gives ErrTOTPRequired, so the phone can ask for the code; a wrong
// password never reveals whether the account uses TOTP.
//
// Five consecutive failures lock the account for 15 minutes; each further
// lock-out doubles that, up to 24 hours. A successful sign-in resets both
// counters. Wrong passwords and codes given to SetPassword and DisableTOTP
// count as failures too. The lock-out does not end existing sessions.
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
// ever be allowed (the role's rights with a write grant). At use time the
// key's scopes are intersected with the user's current role and grants,
// so a key never outgrows its user. A zero expiry means no expiry.
//
// RevokeCredential ends a session, API key or enrolment code whatever its
// state; the gateway calls it when one was sent over plain HTTP.
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
// API key. Each credential ended is an event of its own, with its public
// ID.
//
// # Enrolment codes and resets
//
// An enrolment code is a one-time code for an account (10 minutes by
// default, a day at most), traded by a phone for a session once. It
// stands in for the password, not the second factor. CreateEnrolment
// makes one only for the asker's own account, for a new account (Fresh:
// nobody has signed in to it; its other new-account codes end at its
// first sign-in), or when the request comes from the box's local token
// (someone at the box). Anything else would let whoever manages accounts
// become someone else. ListEnrolments and CancelEnrolment manage the
// outstanding ones.
//
// An account may be made without a password (CreateUser with ""): it
// holds the hash of a random one, so sign-in fails like a wrong password,
// and the first SetPassword needs no old one. ResetCredentials, for an
// owner helping someone who lost their password or phone, ends all of
// the account's credentials, turns TOTP off, clears the password, leaves
// a notice (Notify, TakeNotices) for the person's next sign-in and
// returns an enrolment code for them.
//
// # Permissions
//
// Allowed(p, action, space) is least privilege: anything not in this
// table is refused, as is an unknown role or action. Space is the name of
// a backup source ("family", "client-smith"); box-wide actions pass "".
//
//	action          owner admin   member          viewer
//	status.read       ✓     ✓       ✓               ✓
//	alerts.read       ✓     ✓       ✓               ✓
//	cards.read        ✓     ✓       ✓               -
//	disks.read        ✓     ✓       ✓               -
//	backups.read      ✓     ✓       read grant      read grant
//	download          ✓     ✓       read grant      read grant
//	restore           ✓     ✓       read grant      -
//	upload            ✓     ✓       read grant      -
//	shares.manage     ✓     ✓       read grant      -
//	backups.write     ✓     ✓       write grant     -
//	locks.set         ✓     ✓       write grant     -
//	disks.manage      ✓     ✓       -               -
//	alerts.ack        ✓     ✓       -               -
//	users.manage      ✓     ✓ (1)   -               -
//	audit.read        ✓     ✓       -               -
//	settings          ✓     ✓       -               -
//
// "read grant" means a read or a write grant on that space; a write grant
// gives a viewer no more than a read grant. Owners and admins need no
// grants: they may act on every space, and on "" (all spaces) for the
// space actions, which members and viewers may not. Box-wide actions
// ignore the space.
//
// (1) An admin manages every account except an owner's, and cannot make
// anyone owner. Account operations do not know their caller, so the
// gateway calls CheckManage before CreateUser, DeleteUser, SetRole,
// CreateEnrolment, ResetCredentials, Grant and RevokeGrant on someone
// else's account.
//
// # Events
//
// Every sign-in, failure, lock-out and change to an account or credential
// is passed to Options.OnEvent after it is committed, for the audit log.
// Events hold user names, IPs, device names and public IDs: never a
// password, token, TOTP secret or code. A failed sign-in for an unknown
// user does not carry the name typed, which may be a mistyped password.
package auth
