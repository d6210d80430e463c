// Package units reads the durations and sizes people type: in the
// daemon's configuration, in CLI flags and arguments, in API requests and
// in the bench tools. There is one grammar for each, documented once in
// docs/UNITS.md; every caller goes through this package so that "6m" or
// "4T" mean the same thing everywhere.
//
// # Durations
//
// A duration is an optional sign and one or more terms, each a number
// and a unit, written without spaces: "90s", "90m", "12h", "30d", "2w",
// "6mo", "1y", "1y6mo", "1h30m". The units are Go's (ns, us, µs, ms, s,
// m, h — m is always minutes) plus d (24h), w (7d), mo (30d) and y
// (365d). Go's units take decimals as time.ParseDuration does ("1.5h");
// d, w, mo and y take whole numbers. A bare "0" is zero. So every string
// time.ParseDuration accepts is accepted with the same value.
//
// A month and a year are fixed lengths (30 and 365 days), not calendar
// months: a keep-within period is counted back from now, the way restic's
// --keep-within counts.
//
// # Retention periods
//
// restic and borg read "6m" as six months; here it is six minutes, and a
// retention period of six minutes forgets almost everything. ParseRetention
// is ParseDuration for periods that keep data (forget --keep-within, the
// API's policy.within, lock --until +DURATION): it refuses anything below
// MinRetention with an error that says what was read and how to write
// months ("6m is 6 minutes; for months write 6mo").
//
// # Sizes
//
// ParseSize reads an amount of bytes with github.com/dustin/go-humanize's
// ParseBytes: a number, optionally with a decimal part, and an optional
// unit, with or without a space: "12345", "500MB", "500M", "4T", "20GiB",
// "1.5 TB". SI units (k, M, G, T, P and kB, MB, ...) are powers of 1000,
// as disk makers count; IEC units (KiB, MiB, GiB, TiB, ...) are powers of
// 1024. Case does not matter.
package units
