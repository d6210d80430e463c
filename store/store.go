package store

import (
	"context"
	"io"
	"time"
)

// ObjectStore keeps named objects. It is the one storage interface of
// Shoebox: a plain directory ([Dir]), the disk array, a remote peer and,
// later, a cloud bucket all implement it, and the vault runs on any of them.
//
// Names are slash-separated relative paths ("data/ab/ab12…"); a name never
// starts with a slash, never contains "." or ".." elements and never ends in
// a slash. The directory part of a name is a namespace that List walks.
//
// All methods are safe for concurrent use.
type ObjectStore interface {
	// Put stores the object read from r under name, atomically and
	// durably: when Put returns nil the whole object survives a power cut;
	// when it fails or the process dies, readers see either the old object
	// or none, never a part. An existing object is replaced.
	Put(ctx context.Context, name string, r io.Reader) error

	// Open returns a handle for random reads of the object. The error wraps
	// ErrNotFound when there is no such object.
	Open(ctx context.Context, name string) (Object, error)

	// Stat returns the size and modification time of an object, or an
	// error that wraps ErrNotFound.
	Stat(ctx context.Context, name string) (ObjectInfo, error)

	// List calls fn for every object whose name starts with prefix, in no
	// particular order. A prefix that names nothing is not an error. If fn
	// returns an error List stops and returns it.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	// Delete removes an object durably. Deleting a missing object returns an
	// error that wraps ErrNotFound.
	Delete(ctx context.Context, name string) error
}

// Object is an open stored object.
type Object interface {
	io.ReaderAt
	io.Closer
	// Size is the object's length in bytes.
	Size() int64
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Reader returns a sequential reader over the whole object.
func Reader(o Object) io.Reader { return io.NewSectionReader(o, 0, o.Size()) }

// ReadAll reads a whole object into memory; it is meant for small objects
// (keys, configuration, snapshots, indexes).
func ReadAll(ctx context.Context, s ObjectStore, name string) ([]byte, error) {
	o, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	buf := make([]byte, o.Size())
	n, err := o.ReadAt(buf, 0)
	if err == io.EOF && int64(n) == o.Size() {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return buf, nil
}
