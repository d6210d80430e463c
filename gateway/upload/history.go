package upload

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// DefaultHistoryLimit is the page size History uses for limit <= 0, and
// the largest it serves.
const DefaultHistoryLimit = 1000

// Entry is a received file, as kept in the history and the index of
// received files.
type Entry struct {
	SHA256    Sum       `json:"sha256"`
	Name      string    `json:"name"` // as named on the phone
	Size      int64     `json:"size"`
	Path      string    `json:"path"` // where it was stored
	Space     string    `json:"space"`
	Device    string    `json:"device"`
	Completed time.Time `json:"completed"`
}

// History lists the files the user's device has sent, completed after
// since (the zero time for all), oldest first, at most limit of them
// (DefaultHistoryLimit if limit <= 0 or larger). To page, pass the
// Completed time of the last entry as the next since.
//
// Only the user's own history is visible: another user's device yields an
// empty list.
func (s *Store) History(ctx context.Context, user, device string, since time.Time, limit int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > DefaultHistoryLimit {
		limit = DefaultHistoryLimit
	}
	prefix := historyPrefix(user, device)
	start := prefix
	if !since.IsZero() && since.UnixNano() >= 0 {
		start = binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(since.UnixNano())+1)
	}
	var out []Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bHistory).Cursor()
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode history entry: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload history of device %q: %w", device, err)
	}
	return out, nil
}

// Have reports, for each SHA-256, whether the box already holds that file
// (received by any device, or Options.Known): the same test Create makes,
// so a phone can skip those without creating sessions. It answers at most
// MaxHaveBatch hashes per call (else ErrTooLarge).
func (s *Store) Have(ctx context.Context, sums [][32]byte) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(sums) > MaxHaveBatch {
		return nil, fmt.Errorf("have: %d hashes in one batch, the limit is %d: %w; ask in smaller batches",
			len(sums), MaxHaveBatch, ErrTooLarge)
	}
	out := make([]bool, len(sums))
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bReceived)
		for i, sum := range sums {
			out[i] = b.Get(sum[:]) != nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("have: %w", err)
	}
	if s.opt.Known != nil {
		for i, sum := range sums {
			if !out[i] {
				out[i] = s.opt.Known(sum)
			}
		}
	}
	return out, nil
}

// have is Have for one hash.
func (s *Store) have(sum Sum) (bool, error) {
	r, err := s.Have(context.Background(), [][32]byte{sum})
	if err != nil {
		return false, err
	}
	return r[0], nil
}
