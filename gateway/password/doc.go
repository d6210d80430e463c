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
// waits its turn, first come first served. Check and Dummy, which run
// for anyone, wait in a short queue only (32 callers, 2 s); past it
// they fail at once with a *BusyError (ErrBusy) saying when to retry,
// which the gateway answers as 429 with Retry-After. Hash runs only for
// signed-in people and after a proven password, so it waits as long as
// it takes. Whatever the load, argon2id never holds more than the budget
// (or, for one derivation costlier than the whole budget, that one
// derivation's cost).
package password
