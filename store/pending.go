package store

import (
	"bytes"
	"context"
	"io"
)

// Pending is an object being written whose name is known only when it is
// complete (packs are named by the hash of their bytes). Write streams the
// content; Commit makes it durable under its name, atomically; Abort
// discards it. A Pending is used by one goroutine at a time.
type Pending interface {
	io.Writer
	Commit(ctx context.Context, name string) error
	Abort() error
}

// PendingCreator is an optional capability of an ObjectStore that can
// stream an object to its final medium before it has a name, so that the
// writer needs no memory for it.
type PendingCreator interface {
	CreatePending(ctx context.Context) (Pending, error)
}

// CreatePending starts an object in s: on the store itself when it has the
// capability, otherwise in memory, handed to Put at Commit.
func CreatePending(ctx context.Context, s ObjectStore) (Pending, error) {
	if pc, ok := s.(PendingCreator); ok {
		return pc.CreatePending(ctx)
	}
	return &memPending{s: s}, nil
}

type memPending struct {
	s   ObjectStore
	buf bytes.Buffer
}

func (m *memPending) Write(p []byte) (int, error) { return m.buf.Write(p) }

func (m *memPending) Commit(ctx context.Context, name string) error {
	return m.s.Put(ctx, name, bytes.NewReader(m.buf.Bytes()))
}

func (m *memPending) Abort() error {
	m.buf = bytes.Buffer{}
	return nil
}
