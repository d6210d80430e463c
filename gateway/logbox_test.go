package gateway

import (
	"bytes"
	"io"
	"sync"
	"testing"
)

// newLoggedBox is newTestBox with the daemon's log kept in the returned
// buffer.
func newLoggedBox(t *testing.T, opts ...boxOption) (*testBox, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return newTestBox(t, append(opts, withLog(logs))...), logs
}

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)
