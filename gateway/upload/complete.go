package upload

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/internal/atomicfile"
)

// maxClash bounds the " (n)" suffixes tried for one name.
const maxClash = 10000

// Complete checks the received file against its declared SHA-256 and, if
// it matches, moves it into the inbox as
//
//	<inbox>/<device name>/<YYYY>/<MM>/<name>
//
// with the declared modification time. If the name is taken by a
// different file, " (2)", " (3)", … is added before the extension; if it
// is taken by an identical file, that file is the result (Existing). The
// file is recorded in the index of received files and the device's
// history before Complete returns; calling Complete again returns the same
// Result.
//
// On a checksum mismatch nothing lands in the inbox, the upload is reset
// to offset 0 (or, after repeated failures, cancelled) and the error is a
// *ChecksumError.
//
// Errors: ErrNotFound, ErrForbidden, ErrBusy, ErrIncomplete,
// *ChecksumError, ErrFull, and file system errors (the session is then
// unchanged and Complete can be retried).
func (s *Store) Complete(ctx context.Context, owner, id string) (res Result, err error) {
	if err := s.lock(id); err != nil {
		return Result{}, err
	}
	defer s.unlock(id)
	sess, err := s.get(owner, id)
	if err != nil {
		return Result{}, err
	}
	if sess.State == StateComplete {
		return *sess.Result, nil
	}
	if sess.Offset != sess.Size {
		return Result{}, fmt.Errorf("upload %s of %q has %d of %d bytes: %w; resume from offset %d",
			id, sess.Name, sess.Offset, sess.Size, ErrIncomplete, sess.Offset)
	}
	defer func() { err = s.hidePaths(&sess, err) }()
	part := s.partPath(id)
	f, err := s.openPart(part)
	if err != nil {
		return Result{}, s.writeErr(&sess, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() > sess.Size {
		err = f.Truncate(sess.Size)
	}
	f.Close()
	if err != nil {
		return Result{}, fmt.Errorf("upload %s of %q: %w", id, sess.Name, err)
	}
	if fi.Size() < sess.Size { // acknowledged data went missing
		sess.Offset = fi.Size()
		if err := s.put(&sess); err != nil {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("upload %s of %q: only %d of %d bytes are still on the box: %w; resume from offset %d",
			id, sess.Name, sess.Offset, sess.Size, ErrIncomplete, sess.Offset)
	}

	got, err := hashFile(ctx, part)
	if err != nil {
		return Result{}, fmt.Errorf("upload %s of %q: %w", id, sess.Name, err)
	}
	if got != sess.SHA256 {
		return Result{}, s.mismatch(&sess, got)
	}

	res, err = s.place(ctx, &sess, part)
	if err != nil {
		return Result{}, fmt.Errorf("upload %s: store %q in the inbox: %w; the upload is kept, retry Complete when fixed", id, sess.Name, fullErr(err))
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		sess.State = StateComplete
		sess.Result = &res
		sess.Updated = res.Completed
		if err := putSession(tx, &sess); err != nil {
			return err
		}
		if err := deleteOpen(tx, &sess); err != nil {
			return err
		}
		e, err := json.Marshal(Entry{
			SHA256: sess.SHA256, Name: sess.Name, Size: sess.Size, Path: res.Path,
			Space: sess.Space, Device: sess.Device, Completed: res.Completed,
		})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bHave).Put(s.haveKey(sess.Space, sess.SHA256), e); err != nil {
			return err
		}
		return tx.Bucket(bHistory).Put(historyKey(sess.Owner, sess.Device, res.Completed, sess.SHA256), e)
	})
	if err != nil {
		// The file is in the inbox; a retried Complete finds it there.
		return Result{}, fmt.Errorf("upload %s of %q: record completion: %w", id, sess.Name, fullErr(err))
	}
	os.Remove(part)
	return res, nil
}

// mismatch resets or cancels a session whose data has the wrong hash.
func (s *Store) mismatch(sess *Session, got Sum) error {
	cerr := &ChecksumError{ID: sess.ID, Name: sess.Name, Device: sess.DeviceName, Want: sess.SHA256, Got: got}
	sess.Attempts++
	if sess.Attempts >= maxAttempts {
		cerr.Cancelled = true
		if err := s.remove(sess); err != nil {
			return errors.Join(cerr, err)
		}
		return cerr
	}
	if err := os.Truncate(s.partPath(sess.ID), 0); err != nil {
		return errors.Join(cerr, err)
	}
	sess.Offset = 0
	sess.Updated = s.opt.Now()
	if err := s.put(sess); err != nil {
		return errors.Join(cerr, err)
	}
	return cerr
}

// place puts the verified part file into the inbox without ever replacing
// a file: a hard link where it can (atomic and no-clobber), else a copy
// into a temporary file in the target directory and a link or a
// check-then-rename of that. The part file stays until the completion is
// recorded.
func (s *Store) place(ctx context.Context, sess *Session, part string) (Result, error) {
	if fi, err := os.Stat(sess.Inbox); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("the folder of space %q is missing on the box (moved, renamed or its disk not mounted): ask the box's owner to check the source", sess.Space)
	}
	t := sess.ModTime
	if t.IsZero() {
		t = sess.Created
	}
	elems := []string{CleanName(sess.DeviceName), fmt.Sprintf("%04d", t.Year()), fmt.Sprintf("%02d", int(t.Month()))}
	relDir := path.Join(elems...)
	dir, err := mkdirUnder(sess.Inbox, elems...)
	if err != nil {
		return Result{}, err
	}
	if err := os.Chmod(part, 0o640); err != nil {
		return Result{}, err
	}
	if !sess.ModTime.IsZero() {
		if err := os.Chtimes(part, sess.ModTime, sess.ModTime); err != nil {
			return Result{}, err
		}
	}
	name := CleanName(sess.Name)
	res := Result{Size: sess.Size, SHA256: sess.SHA256}
	src, tmp := part, ""
	defer func() {
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	for i := 1; i <= maxClash; i++ {
		cand := WithSuffix(name, i)
		dst := filepath.Join(dir, cand)
		err := os.Link(src, dst)
		if err != nil && !errors.Is(err, fs.ErrExist) && tmp == "" {
			// Another file system, or no hard links: copy next to the target.
			if tmp, err = copyTemp(ctx, part, dir, sess.ModTime); err != nil {
				return Result{}, err
			}
			src = tmp
			err = os.Link(src, dst)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			if err = s.renameNoClobber(src, dst); err == nil {
				tmp = ""
			}
		}
		rel := path.Join(relDir, cand)
		switch {
		case err == nil:
			if err := atomicfile.SyncDir(dir); err != nil {
				return Result{}, err
			}
			res.Path, res.Name, res.Completed = rel, cand, s.opt.Now()
			return res, nil
		case errors.Is(err, fs.ErrExist):
			same, err := sameFile(ctx, dst, sess.Size, sess.SHA256)
			if err != nil {
				return Result{}, err
			}
			if same {
				res.Path, res.Name, res.Completed, res.Existing = rel, cand, s.opt.Now(), true
				return res, nil
			}
		default:
			return Result{}, err
		}
	}
	return Result{}, fmt.Errorf("%d files named like %q in %s already", maxClash, name, relDir)
}

// renameNoClobber renames src to dst unless dst exists, for file systems
// without hard links. Only writers outside this Store can race it.
func (s *Store) renameNoClobber(src, dst string) error {
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	if _, err := os.Lstat(dst); err == nil {
		return fs.ErrExist
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(src, dst)
}

// mkdirUnder makes root/elem… one directory at a time, syncing each
// parent it adds to, and refuses symbolic links below root (the inbox is
// shared; a link there must not send files elsewhere).
func mkdirUnder(root string, elems ...string) (string, error) {
	dir := root
	for _, e := range elems {
		next := filepath.Join(dir, e)
		fi, err := os.Lstat(next)
		switch {
		case err == nil && fi.IsDir():
		case err == nil:
			rel, _ := filepath.Rel(root, next)
			return "", fmt.Errorf("%s in the space's folder is not a folder; move it away", rel)
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(next, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", err
			}
			if err := atomicfile.SyncDir(dir); err != nil {
				return "", err
			}
		default:
			return "", err
		}
		dir = next
	}
	return dir, nil
}

// copyTemp copies src to a hidden temporary file in dir, durably.
func copyTemp(ctx context.Context, src, dir string, mtime time.Time) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, ".shoebox-upload-*.tmp")
	if err != nil {
		return "", err
	}
	name := out.Name()
	_, err = io.Copy(out, ctxReader{ctx, in})
	if err == nil {
		err = out.Chmod(0o640)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(name, mtime, mtime)
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// sameFile reports whether path is a regular file with this size and hash.
func sameFile(ctx context.Context, path string, size int64, sum Sum) (bool, error) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false, nil
	}
	got, err := hashFile(ctx, path)
	if err != nil {
		return false, err
	}
	return got == sum, nil
}

func hashFile(ctx context.Context, path string) (Sum, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sum{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return Sum{}, err
	}
	var sum Sum
	h.Sum(sum[:0])
	return sum, nil
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func historyKey(owner, device string, t time.Time, sum Sum) []byte {
	k := historyPrefix(owner, device)
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	return append(k, sum[:]...)
}

func historyPrefix(owner, device string) []byte {
	k := make([]byte, 0, len(owner)+len(device)+2+8+32)
	k = append(k, owner...)
	k = append(k, 0)
	k = append(k, device...)
	return append(k, 0)
}
