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
	Path      string    `json:"path"` // where it was stored, relative to the space's folder (Result.Path)
	Space     string    `json:"space"`
	Device    string    `json:"device"`
	Completed time.Time `json:"completed"`
	// StateDisk is set when the file was received onto the box's state
	// disk (the space's folder is on the disk that holds the part
	// files): it counts against its account's quota for QuotaWindow.
	StateDisk bool `json:"state_disk,omitempty"`
}

// History lists the files the account's device has sent, completed after
// since (the zero time for all), oldest first, at most limit of them
// (DefaultHistoryLimit if limit <= 0 or larger). To page, pass the
// Completed time of the last entry as the next since.
//
// Only the account's own history is visible: another account's device
// yields an empty list.
func (s *Store) History(ctx context.Context, owner, device string, since time.Time, limit int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > DefaultHistoryLimit {
		limit = DefaultHistoryLimit
	}
	prefix := historyPrefix(owner, device)
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
