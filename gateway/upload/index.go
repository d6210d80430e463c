package upload

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// haveKey names a file in the index of what each space holds:
// HMAC-SHA-256(Options.Key, space 0x00 sha256). Without the key the
// index neither lists the hashes nor says which space holds a file, and
// a lookup answers for one space only.
func (s *Store) haveKey(space string, sum [32]byte) []byte {
	m := hmac.New(sha256.New, s.opt.Key)
	m.Write([]byte(space))
	m.Write([]byte{0})
	m.Write(sum[:])
	return m.Sum(nil)
}

// Have reports, for each SHA-256, whether space already holds that file
// (received by upload from any device, or Options.Known): the same test
// Create makes, so a phone can skip those without creating sessions. It
// answers for space alone: a file another space holds is not "had". It
// answers at most MaxHaveBatch hashes per call (else ErrTooLarge).
func (s *Store) Have(ctx context.Context, space string, sums [][32]byte) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(sums) > MaxHaveBatch {
		return nil, fmt.Errorf("have: %d hashes in one batch, the limit is %d: %w; ask in smaller batches",
			len(sums), MaxHaveBatch, ErrTooLarge)
	}
	out := make([]bool, len(sums))
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bHave)
		for i, sum := range sums {
			out[i] = b.Get(s.haveKey(space, sum)) != nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("have: %w", err)
	}
	if s.opt.Known != nil {
		for i, sum := range sums {
			if !out[i] {
				out[i] = s.opt.Known(space, sum)
			}
		}
	}
	return out, nil
}

// migrate brings the state of earlier versions, which keyed uploads by
// user name and the index of received files by bare SHA-256 (box-wide),
// to this version's:
//
//   - received files go into the per-space index under their space;
//   - unfinished and completed sessions without an owner account ID,
//     with their part files, and the name-keyed open index and history
//     are dropped: a name may since have passed to another account, so
//     they cannot be handed to anyone safely. The files already filed
//     in the spaces stay where they are; a phone that resumes gets
//     "not found", asks again and is told which files the space has.
func (s *Store) migrate(tx *bbolt.Tx) error {
	if old := tx.Bucket(bOldReceived); old != nil {
		have := tx.Bucket(bHave)
		err := old.ForEach(func(_, v []byte) error {
			var e Entry
			if json.Unmarshal(v, &e) != nil || e.Space == "" {
				return nil // nothing to file it under
			}
			return have.Put(s.haveKey(e.Space, e.SHA256), v)
		})
		if err != nil {
			return fmt.Errorf("migrate received files: %w", err)
		}
	}
	for _, b := range [][]byte{bOldReceived, bOldOpen, bOldHistory} {
		if tx.Bucket(b) != nil {
			if err := tx.DeleteBucket(b); err != nil {
				return fmt.Errorf("migrate: drop %s: %w", b, err)
			}
		}
	}
	sessions := tx.Bucket(bSessions)
	var orphans [][]byte
	err := sessions.ForEach(func(k, v []byte) error {
		var sess Session
		if json.Unmarshal(v, &sess) == nil && sess.Owner == "" {
			orphans = append(orphans, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range orphans {
		if err := sessions.Delete(k); err != nil {
			return err
		}
	}
	// Their part files are orphans now: Sweep removes them.
	return nil
}
