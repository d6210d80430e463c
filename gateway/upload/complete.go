package upload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
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

	res, onState, err := s.place(ctx, &sess, part)
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
			Space: sess.Space, Device: sess.Device, Completed: res.Completed, StateDisk: onState,
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

// place puts the verified part file into the space's folder without
// ever replacing a file: a hard link where it can (atomic and
// no-clobber), else a copy into a temporary file in the target folder
// and a link or a check-then-rename of that. The part file stays until
// the completion is recorded. onState reports whether the file is new on
// the state disk (its folder is on the part files' disk).
//
// Every step inside the space's folder goes through an os.Root: the
// folders are made through one opened at the space's folder, and the
// file is linked, copied and compared through one opened at its own
// folder once that is made, so a symbolic link put (or swapped) anywhere
// below the space's folder cannot send the file, or a check, elsewhere
// on the box.
func (s *Store) place(ctx context.Context, sess *Session, part string) (res Result, onState bool, err error) {
	root, err := os.OpenRoot(sess.Inbox)
	if err != nil {
		return Result{}, false, fmt.Errorf("the folder of space %q is missing on the box (moved, renamed or its disk not mounted): ask the box's owner to check the source", sess.Space)
	}
	defer root.Close()
	t := sess.ModTime
	if t.IsZero() {
		t = sess.Created
	}
	elems := []string{CleanName(sess.DeviceName), fmt.Sprintf("%04d", t.Year()), fmt.Sprintf("%02d", int(t.Month()))}
	relDir := path.Join(elems...)
	folder, err := mkdirUnder(root, elems...)
	if err != nil {
		return Result{}, false, err
	}
	defer folder.Close()
	dir, err := folder.Open(".")
	if err != nil {
		return Result{}, false, err
	}
	defer dir.Close()
	if s.beforeLink != nil {
		s.beforeLink()
	}
	if err := os.Chmod(part, 0o640); err != nil {
		return Result{}, false, err
	}
	if !sess.ModTime.IsZero() {
		if err := os.Chtimes(part, sess.ModTime, sess.ModTime); err != nil {
			return Result{}, false, err
		}
	}
	name := CleanName(sess.Name)
	res = Result{Size: sess.Size, SHA256: sess.SHA256}
	tmp := "" // a copy of the part file in the folder, when it could not be linked
	defer func() {
		if tmp != "" {
			folder.Remove(tmp)
		}
	}()
	for i := 1; i <= maxClash; i++ {
		cand := WithSuffix(name, i)
		rel := path.Join(relDir, cand)
		var err error
		if tmp == "" {
			err = linkInto(part, dir, cand)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				// Another file system, or no hard links: copy next to the target.
				if tmp, err = copyTemp(ctx, part, folder, sess.ModTime); err != nil {
					return Result{}, false, err
				}
			}
		}
		if tmp != "" {
			err = folder.Link(tmp, cand)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				if err = s.renameNoClobber(folder, tmp, cand); err == nil {
					tmp = ""
				}
			}
		}
		switch {
		case err == nil:
			if err := dir.Sync(); err != nil {
				return Result{}, false, err
			}
			res.Path, res.Name, res.Completed = rel, cand, s.opt.Now()
			return res, s.onStateDisk(dir), nil
		case errors.Is(err, fs.ErrExist):
			same, err := sameFile(ctx, folder, cand, sess.Size, sess.SHA256)
			if err != nil {
				return Result{}, false, err
			}
			if same {
				res.Path, res.Name, res.Completed, res.Existing = rel, cand, s.opt.Now(), true
				return res, false, nil
			}
		default:
			return Result{}, false, err
		}
	}
	return Result{}, false, fmt.Errorf("%d files named like %q in %s already", maxClash, name, relDir)
}

// linkInto hard-links the file at src as name in the open folder dir
// (linkat(2) relative to the folder's descriptor). It fails with an
// error matching fs.ErrExist if name exists, even as a symbolic link.
func linkInto(src string, dir *os.File, name string) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Linkat(unix.AT_FDCWD, src, int(fd), name, 0) }); err != nil {
		return err
	}
	if lerr != nil {
		return &os.LinkError{Op: "link", Old: src, New: name, Err: lerr}
	}
	return nil
}

// onStateDisk reports whether dir is on the file system that holds the
// part files (the state disk).
func (s *Store) onStateDisk(dir *os.File) bool {
	a, err1 := dir.Stat()
	b, err2 := os.Stat(s.parts)
	if err1 != nil || err2 != nil {
		return true // count it: better a quota too strict than a disk filled
	}
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return !ok1 || !ok2 || sa.Dev == sb.Dev
}

// renameNoClobber renames src to dst (both in the folder root) unless dst exists,
// for file systems without hard links. Only writers outside this Store
// can race it.
func (s *Store) renameNoClobber(root *os.Root, src, dst string) error {
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	if _, err := root.Lstat(dst); err == nil {
		return fs.ErrExist
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return root.Rename(src, dst)
}

// mkdirUnder makes elem… below root one folder at a time, syncing each
// parent it adds to, and returns an os.Root at the last one. It refuses anything
// below root that is not a folder, symbolic links included (the space's
// folder is shared; a link there must not send files elsewhere, and root
// would refuse one that leads out anyway).
func mkdirUnder(root *os.Root, elems ...string) (*os.Root, error) {
	dir := "."
	for _, e := range elems {
		next := path.Join(dir, e)
		fi, err := root.Lstat(next)
		switch {
		case err == nil && fi.IsDir():
		case err == nil:
			return nil, fmt.Errorf("%s in the space's folder is not a folder; move it away", next)
		case errors.Is(err, fs.ErrNotExist):
			if err := root.Mkdir(next, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, err
			}
			if err := syncIn(root, dir); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		dir = next
	}
	return root.OpenRoot(dir)
}

// syncIn fsyncs the folder dir of root.
func syncIn(root *os.Root, dir string) error {
	f, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// copyTemp copies src to a hidden temporary file in the folder dir,
// durably, and returns its name there.
func copyTemp(ctx context.Context, src string, dir *os.Root, mtime time.Time) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	var out *os.File
	var name string
	for range 100 {
		name = ".shoebox-upload-" + rand.Text()[:10] + ".tmp"
		if out, err = dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", err
	}
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
		err = dir.Chtimes(name, mtime, mtime)
	}
	if err != nil {
		dir.Remove(name)
		return "", err
	}
	return name, nil
}

// sameFile reports whether name in the folder root is a regular file
// with this size and hash.
func sameFile(ctx context.Context, root *os.Root, name string, size int64, sum Sum) (bool, error) {
	fi, err := root.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false, nil
	}
	f, err := root.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	got, err := hashReader(ctx, f)
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
	return hashReader(ctx, f)
}

func hashReader(ctx context.Context, r io.Reader) (Sum, error) {
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
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
