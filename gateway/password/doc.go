// Package password hashes and checks passwords (user logins, share-link
// passwords) with argon2id, stored as PHC strings:
//
//	$argon2id$v=19$m=47104,t=1,p=1$<salt b64>$<hash b64>
//
// The parameters travel with each hash, so they can be raised later and
// old hashes still verify (Check reports when a rehash is due).
//
// # Memory
//
// argon2id is memory-hard on purpose: each derivation holds its cost
// (46 MiB at Default) for its whole run. Anyone who can reach the sign-in
// page can ask for one, so the package bounds them process-wide: Hash,
// Check and Dummy each take their cost from one memory budget (Limits;
// by default an eighth of the box's RAM, at most 128 MiB: two sign-ins
// at once) and give it back when done. A derivation that does not fit
// waits its turn, first come first served, in a short queue; past its
// places or its wait the caller fails with a *BusyError (ErrBusy) saying
// when to retry, which the gateway answers as 429 with Retry-After.
// Whatever the load, argon2id never holds more than the budget (or, for
// one derivation costlier than the whole budget, that one derivation's
// cost).
//
// # Lanes
//
// Callers come in two lanes, so that signed-in work can never keep
// anyone from signing in. Check and Dummy (sign-in, a share link's
// password: anyone may cause them) have 32 places in the queue and wait
// at most 2 s. Hash (a new password for an account or a share link, by
// someone signed in, or a rehash after a proven password) has 8 places
// of its own and waits at most 5 s, and holds at most half the budget
// at once (one derivation, when that is more); after a hash is let in,
// a sign-in waiting goes before the next one. A hash that must let
// others pass is passed over by the sign-ins behind it. So however many
// hashes are asked for, sign-in keeps half the budget and all of its
// places, and a sign-in waits at most for the derivations running. Which
// signed-in callers may ask for a hash, and how often, is the gateway's
// business (one at a time per account).
package password
