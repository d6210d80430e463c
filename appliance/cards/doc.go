// Package cards ingests memory cards and answers, per card, "is it safe
// to format this card yet?".
//
// # Ingest
//
// Ingest walks the card (every regular file; hidden and system entries
// such as .Trashes or "System Volume Information" are recorded as skipped,
// anything that is not a regular file is recorded as unreadable), copies
// each file into the library under a folder built from Config.Naming
// ({date}/{camera} from EXIF by default), and verifies each copy: the
// SHA-256 is computed while copying, the copy is fsynced, dropped from the
// page cache where the kernel allows it, read back and hashed again. The
// copy is written to a temporary file and hard-linked into place, so a
// different file with the same name is never overwritten (the new one gets
// a "-1", "-2"... suffix) and an identical one is adopted instead of
// duplicated. Then the copies go to Verifier.Backup.
//
// # Ledger
//
// Each card has a JSON ledger in Config.LedgerDir, written atomically
// (temp, fsync, rename, fsync the folder) every few files, after the copy
// phase and after the backup. An interrupted ingest is resumed by running
// it again. The format is documented in docs/CARDS.md.
//
// # Verdict
//
// Ledger.Verdict re-reads the card if it is present, re-hashes the
// library copies and asks the Verifier which verified copies exist
// (CopyArray: in a snapshot on the redundant array, read back; and
// CopyOffsite) and why copies of a kind cannot count now (a degraded
// array, no offsite unit). A card is SAFE TO FORMAT only when no file is
// missing, changed or unreadable and every file has every copy
// Config.Require names besides the card itself (default: the array, and
// offsite too once an offsite unit is configured). The verdict lists each
// copy (where, which snapshot, verified when) and what is missing.
package cards
