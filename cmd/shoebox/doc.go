// Command shoebox is the Shoebox command line: backups, restores and
// repository maintenance, directly on a repository (a folder, a USB disk,
// the array's mount), so that recovery needs nothing but this binary;
// daemon-level commands talk to shoeboxd over its API.
//
// # Layout
//
// One file per command group (init.go, backup.go, snapshots.go, …). Each
// command is a runX(ctx, g, opts) function that does the work and writes
// to the writers in g (never os.Stdout): the cobra command only parses
// flags and arguments into opts and calls it, so tests call runX, or the
// whole command line through run, without a terminal.
//
// # Opening the repository
//
// repo.go is the one place that opens the repository: the store from
// --repo or SHOEBOX_REPO (a folder, or raid:DIR1,DIR2,… for an array),
// the passphrase from --password-file, SHOEBOX_PASSWORD_FILE,
// SHOEBOX_PASSWORD or a prompt (or an age identity with --identity-file),
// an array shoeboxd holds opened read-only beside it for the commands
// that only read, and the repository lock (none, shared or exclusive).
// Commands say what they need with withRepo.
//
// # The daemon's API
//
// client.go is the client of shoeboxd's local HTTPS API (status, sources,
// alerts, cards, drills, users, pairing; forget and prune when shoeboxd
// holds the array). Every request carries a context: quick calls have a
// deadline (30 s), forget and prune, which can run for minutes, have none
// but stop on Ctrl-C.
package main
