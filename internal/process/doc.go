// Package process tells whether a process of this host still runs, so
// that what a dead process left behind (a repository lock, a temporary
// file of a store) can be recognised as stale.
package process
