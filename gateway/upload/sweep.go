package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"go.etcd.io/bbolt"
)

// Sweep removes sessions idle for SessionTTL (unfinished ones with their
// partial data, and the records of completed ones) and part files that no
// session owns. It skips sessions busy with a request. It returns the
// number of sessions removed. Run it periodically, e.g. hourly.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	now := s.opt.Now()
	var ids []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bSessions).ForEach(func(k, v []byte) error {
			var sess Session
			if err := json.Unmarshal(v, &sess); err != nil || s.expired(sess, now) {
				ids = append(ids, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("sweep uploads: %w", err)
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !validID(id) {
			continue // not ours to judge; never happens
		}
		if s.lock(id) != nil {
			continue
		}
		err := s.db.Update(func(tx *bbolt.Tx) error {
			sess, err := getSession(tx, id)
			if err != nil && !errors.Is(err, ErrNotFound) {
				// Undecodable: drop the record.
				return tx.Bucket(bSessions).Delete([]byte(id))
			}
			if err != nil || !s.expired(sess, now) {
				return errSkip
			}
			if err := deleteOpen(tx, &sess); err != nil {
				return err
			}
			return tx.Bucket(bSessions).Delete([]byte(id))
		})
		if err == nil {
			n++
			if err := os.Remove(s.partPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		} else if err != errSkip {
			errs = append(errs, err)
		}
		s.unlock(id)
	}
	errs = append(errs, s.sweepOrphans(ctx))
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("sweep uploads: %w", err)
	}
	return n, nil
}

// sweepOrphans removes part files without a session (left by a crash
// between removing a session and its file).
func (s *Store) sweepOrphans(ctx context.Context) error {
	ents, err := os.ReadDir(s.parts)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".part")
		if !ok || !validID(id) || ctx.Err() != nil {
			continue
		}
		if s.lock(id) != nil {
			continue
		}
		var orphan bool
		err := s.db.View(func(tx *bbolt.Tx) error {
			orphan = tx.Bucket(bSessions).Get([]byte(id)) == nil
			return nil
		})
		if err == nil && orphan {
			err = os.Remove(s.partPath(id))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		s.unlock(id)
	}
	return errors.Join(errs...)
}
