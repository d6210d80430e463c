package store

import "errors"

var (
	// ErrNotFound means the named object does not exist. Every store's
	// Open, Stat and Delete wrap it for a missing object.
	ErrNotFound = errors.New("object not found")
	// ErrInvalidName means an object name is not a clean relative path
	// (CheckName).
	ErrInvalidName = errors.New("invalid object name")
	// ErrReadOnly is wrapped by writes to a store opened read-only,
	// because another process owns it (a disk array beside shoeboxd).
	ErrReadOnly = errors.New("store opened read-only")
)
