package upload

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
	"go.etcd.io/bbolt"
)

// Room on the state disk: uploads never take its reserve, and one account
// never more than its quota (Options.Space, Reserve, Quota).

// QuotaWindow is how long a file received onto the state disk counts
// against its account's quota.
const QuotaWindow = 24 * time.Hour

// room is what uploads may still write now: the free space less the
// reserve and the chunks being written. The caller holds spaceMu.
func (s *Store) room() (room, free int64, err error) {
	free, _, err = s.opt.Space()
	if err != nil {
		return 0, 0, fmt.Errorf("how much space the box has: %w", err)
	}
	return free - s.opt.Reserve - s.writing, free, nil
}

// usage is what one account's uploads take of the state disk.
type usage struct {
	open int   // unfinished uploads
	used int64 // their full sizes, and the files received onto the disk within QuotaWindow
	held int64 // what of used is on the disk already (sent, or received)
}

// admit decides whether a new upload of size bytes may start for an
// account whose uploads take u.
func (s *Store) admit(size int64, u usage) error {
	if s.opt.Space == nil {
		return nil
	}
	s.spaceMu.Lock()
	defer s.spaceMu.Unlock()
	room, free, err := s.room()
	if err != nil {
		return err
	}
	if size > room {
		return fmt.Errorf("%s does not fit: the box takes %s more from phones now, keeping %s free for its own records: %w",
			humanize.IBytes(uint64(size)), humanize.IBytes(uint64(max(room, 0))), humanize.IBytes(uint64(s.opt.Reserve)), ErrFull)
	}
	if s.opt.Quota == nil {
		return nil
	}
	// The quota is of the room the account found: what is free and what
	// its own uploads hold.
	quota := s.opt.Quota(free + u.held)
	if u.used+size > quota {
		return fmt.Errorf("with this file (%s) your uploads would take %s of the box's state disk (unfinished ones, and files received onto it in the last %d hours), over your quota of %s now: %w",
			humanize.IBytes(uint64(size)), humanize.IBytes(uint64(u.used+size)), int(QuotaWindow.Hours()), humanize.IBytes(uint64(quota)), ErrQuota)
	}
	return nil
}

// usage sums what owner's uploads take of the state disk, for the quota:
// its unfinished uploads at their full size (what their part files will
// hold), and the files it received onto the state disk since
// now-QuotaWindow (Entry.StateDisk). Expired sessions, which Sweep is
// about to remove, do not count.
func (s *Store) usage(tx *bbolt.Tx, owner string, now time.Time) usage {
	var u usage
	prefix := []byte(owner + "\x00")
	c := tx.Bucket(bOpen).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		u.open++
		if o, err := getSession(tx, string(v)); err == nil && !s.expired(o, now) {
			u.used += o.Size
			u.held += o.Offset
		}
	}
	// The history is ordered by device, then time: seek each device's
	// window.
	since := uint64(max(now.Add(-QuotaWindow).UnixNano(), 0))
	c = tx.Bucket(bHistory).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		i := bytes.IndexByte(k[len(prefix):], 0)
		if i < 0 {
			k, _ = c.Next() // not a history key; never happens
			continue
		}
		device := bytes.Clone(k[:len(prefix)+i+1]) // owner 0 device 0
		var v []byte
		for k, v = c.Seek(binary.BigEndian.AppendUint64(bytes.Clone(device), since)); k != nil && bytes.HasPrefix(k, device); k, v = c.Next() {
			var e Entry
			if json.Unmarshal(v, &e) == nil && e.StateDisk {
				u.used += e.Size
				u.held += e.Size
			}
		}
		device[len(device)-1] = 1 // past this device's keys
		k, _ = c.Seek(device)
	}
	return u
}

// claim reserves n bytes of room for a chunk about to be written, or
// refuses it (ErrFull) before a byte is read. release gives it back.
func (s *Store) claim(n int64) (release func(), err error) {
	if s.opt.Space == nil {
		return func() {}, nil
	}
	s.spaceMu.Lock()
	defer s.spaceMu.Unlock()
	room, _, err := s.room()
	if err != nil {
		return nil, err
	}
	if n > room {
		return nil, fmt.Errorf("a chunk of %s does not fit: the box takes %s more from phones now, keeping %s free for its own records: %w",
			humanize.IBytes(uint64(n)), humanize.IBytes(uint64(max(room, 0))), humanize.IBytes(uint64(s.opt.Reserve)), ErrFull)
	}
	s.writing += n
	return func() {
		s.spaceMu.Lock()
		s.writing -= n
		s.spaceMu.Unlock()
	}, nil
}
