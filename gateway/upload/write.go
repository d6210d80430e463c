package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Write appends the chunk of n bytes read from r at offset, which must be
// the session's Offset, makes it durable (fsync) and only then records and
// returns the new offset: an offset the box has returned survives a crash
// or a restart.
//
// If r fails or ends early (a dropped connection), the bytes that did
// arrive are kept: Write returns the new offset together with the error,
// and Status reports it too, so the client resumes from there. If writing
// fails, the chunk is dropped and the session stays at offset; a full disk
// gives ErrFull.
//
// Errors: ErrNotFound, ErrForbidden, ErrBusy, ErrCompleted, ErrTooLarge
// (n over MaxChunkSize), ErrInvalid (the chunk runs past the declared
// size), *OffsetError, ErrFull, and read or write errors.
func (s *Store) Write(ctx context.Context, owner, id string, offset int64, r io.Reader, n int64) (_ int64, err error) {
	if n < 0 {
		return 0, fmt.Errorf("upload %s: chunk of %d bytes: %w", id, n, ErrInvalid)
	}
	if n > s.opt.MaxChunkSize {
		return 0, fmt.Errorf("upload %s: chunk of %d bytes is over the limit of %d: %w; send smaller chunks",
			id, n, s.opt.MaxChunkSize, ErrTooLarge)
	}
	if err := s.lock(id); err != nil {
		return 0, err
	}
	defer s.unlock(id)
	sess, err := s.get(owner, id)
	if err != nil {
		return 0, err
	}
	defer func() { err = s.hidePaths(&sess, err) }()
	if sess.State == StateComplete {
		return sess.Size, fmt.Errorf("upload %s: stored in %s as %s: %w", id, sess.Space, sess.Result.Path, ErrCompleted)
	}
	if offset != sess.Offset {
		return sess.Offset, &OffsetError{ID: id, Offset: offset, Current: sess.Offset}
	}
	if offset+n > sess.Size {
		return sess.Offset, fmt.Errorf("upload %s: chunk of %d bytes at offset %d runs past the end of %q (%d bytes): %w",
			id, n, offset, sess.Name, sess.Size, ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return offset, err
	}

	f, err := s.openPart(s.partPath(id))
	if err != nil {
		return offset, s.writeErr(&sess, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return offset, s.writeErr(&sess, err)
	}
	switch size := fi.Size(); {
	case size > offset: // an unacknowledged tail from an interrupted write
		if err := f.Truncate(offset); err != nil {
			return offset, s.writeErr(&sess, err)
		}
	case size < offset: // acknowledged data went missing: take back what is left
		sess.Offset = size
		if err := s.put(&sess); err != nil {
			return offset, err
		}
		return size, &OffsetError{ID: id, Offset: offset, Current: size}
	}
	if n == 0 {
		return offset, nil
	}
	release, err := s.claim(n)
	if err != nil {
		return offset, fmt.Errorf("upload %s of %q: %w; the first %d bytes are safe: resume from offset %d when the box has room",
			id, sess.Name, err, offset, offset)
	}
	defer release()

	written, rerr, werr := copyAt(ctx, f, offset, r, n)
	if werr == nil {
		werr = f.Sync()
	}
	if werr == nil && offset == 0 { // the part file's directory entry is new
		werr = atomicfile.SyncDir(s.parts)
	}
	if werr != nil {
		// Drop the chunk, keep what was acknowledged.
		if err := f.Truncate(offset); err == nil {
			f.Sync()
		}
		return offset, s.writeErr(&sess, werr)
	}
	if written > 0 {
		sess.Offset = offset + written
		sess.Updated = s.opt.Now()
		if err := s.put(&sess); err != nil {
			// Not acknowledged: the next Write cuts the bytes off again.
			return offset, fmt.Errorf("upload %s: record offset: %w", id, fullErr(err))
		}
	}
	if rerr != nil {
		return sess.Offset, fmt.Errorf("upload %s: chunk cut short after %d of %d bytes (%w); the first %d bytes of %q are safe: resume from offset %d",
			id, written, n, rerr, sess.Offset, sess.Name, sess.Offset)
	}
	return sess.Offset, nil
}

// copyAt copies n bytes from r to f at off. rerr is a read error
// (io.ErrUnexpectedEOF for a short body) or ctx's error, werr a write error.
func copyAt(ctx context.Context, f io.WriterAt, off int64, r io.Reader, n int64) (written int64, rerr, werr error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for written < n {
		if err := ctx.Err(); err != nil {
			return written, err, nil
		}
		b := buf
		if rem := n - written; rem < int64(len(b)) {
			b = b[:rem]
		}
		k, err := r.Read(b)
		if k > 0 {
			if _, werr := f.WriteAt(b[:k], off+written); werr != nil {
				return written, nil, werr
			}
			written += int64(k)
		}
		if errors.Is(err, io.EOF) && written < n {
			return written, io.ErrUnexpectedEOF, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return written, err, nil
		}
	}
	return written, nil, nil
}

// writeErr words a failed write to the part file; the session is at
// sess.Offset.
func (s *Store) writeErr(sess *Session, err error) error {
	if isFull(err) {
		return fmt.Errorf("upload %s of %q: %w (%w): the first %d of %d bytes are safe; free space on the box, then resume from offset %d",
			sess.ID, sess.Name, ErrFull, err, sess.Offset, sess.Size, sess.Offset)
	}
	return fmt.Errorf("upload %s of %q: write: %w; the first %d bytes are safe: resume from offset %d",
		sess.ID, sess.Name, err, sess.Offset, sess.Offset)
}
