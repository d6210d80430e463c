// Package cluster pairs a home unit with an offsite unit that holds no key
// and replicates the repository to it (docs/CLUSTER.md).
//
// It will hold, in layers of its own: the units' identities and the
// mutually authenticated gRPC transport between them (TLS 1.3, each side
// pinned to the other's device ID), pairing, a Raft group that coordinates
// the pair without carrying data (home the sole voter, offsite a
// non-voter, so a home backup never waits for the link), and the
// replication of packs, index files and snapshots with receipts, storage
// challenges and catch-up.
//
// # The offsite ledger
//
// What is here first is the offsite unit's own line of defence: [Ledger]
// wraps the offsite unit's object store (its disk array, or a directory)
// and is the only way the replication server writes or deletes there. It
// enforces its rules whatever the home unit asks, because the home unit
// may be compromised:
//
//   - config is written once; objects named by their hash (keys/, data/,
//     index/, snapshots/, holds/) are stored only when their bytes hash to
//     their name, so no key file or pack is ever replaced by other bytes;
//     locks/ and unknown names are refused;
//   - a deletion is only a request: the object stays where it is, readable
//     (the replica remains a repository that restores), until the delay
//     (30 days by default, never under 7) has passed and no hold covers
//     it; only then does Purge remove it; the last key file is never
//     deleted;
//   - when more than FreezeAbove (10 %) of the objects are requested for
//     deletion within a rolling day, every further deletion is refused,
//     persistently, until an operator of the offsite unit lifts the
//     freeze, and OnFreeze raises the alert;
//   - a quota bounds the bytes stored, objects awaiting purge included.
//
// The ledger's records (deletion requests, holds, the freeze) are kept in
// a bbolt database in the offsite unit's state directory, out of the home
// unit's reach, and survive restarts and a killed process. Time comes from
// an injected clock.
//
// # Transfer
//
// [ReplicationServer] is the offsite unit's Replication service and
// [Replicator] the home unit's client: one object at a time, resumable
// from an fsynced .partial whose length the sender asks for (the sender
// chooses the offset, the receiver only refuses one that is not what it
// holds), verified against its declared size and SHA-256, stored
// through the Ledger and answered with a signed Receipt that the home
// unit checks before committing it through Raft; a rate.Limiter caps
// the bytes per second, changeable at run time. Challenge checks a
// random range of a stored object, hashed with a fresh nonce, against
// the home unit's own copy.
//
// # Replication
//
// [Replica] drives the offsite copy from the home unit: Sync sends a
// whole repository in order (config, keys, then per snapshot, card
// snapshots first and then the oldest, its packs, the index files that
// list them once every pack they list is confirmed, and its snapshot
// file; then holds), skips what the catalog confirms, commits each
// receipt through Raft and marks a snapshot complete once every object
// it needs is confirmed, withdrawing the mark (SnapshotIncomplete) when
// one loses its receipt. ChallengeOnce checks a random confirmed object
// and commits the result; Progress gives the bytes pending and the lag.
package cluster
