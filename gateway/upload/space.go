package upload

import (
	"fmt"

	"github.com/dustin/go-humanize"
)

// Room on the state disk: uploads never take its reserve, and one account
// never more than its quota (Options.Space, Reserve, Quota).

// room is what uploads may still write now: the free space less the
// reserve and the chunks being written. The caller holds spaceMu.
func (s *Store) room() (room, free int64, err error) {
	free, _, err = s.opt.Space()
	if err != nil {
		return 0, 0, fmt.Errorf("how much space the box has: %w", err)
	}
	return free - s.opt.Reserve - s.writing, free, nil
}

// admit decides whether a new upload of size bytes may start, while the
// account's unfinished uploads still have outstanding bytes to send.
func (s *Store) admit(size, outstanding int64) error {
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
	quota := min(s.opt.Quota(free), max(room, 0))
	if outstanding+size > quota {
		return fmt.Errorf("with this file (%s) your unfinished uploads would have %s to send, over your quota of %s now: %w",
			humanize.IBytes(uint64(size)), humanize.IBytes(uint64(outstanding+size)), humanize.IBytes(uint64(quota)), ErrQuota)
	}
	return nil
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
