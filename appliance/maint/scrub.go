package maint

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shoebox/shoebox/raid"
)

// DefaultScrubEvery is how often a ScrubService scrubs when Every is zero.
const DefaultScrubEvery = 30 * 24 * time.Hour

// DefaultFirstScrub is how long after the schedule is first set up (no
// state file yet) the first scrub runs.
const DefaultFirstScrub = time.Hour

// ScrubState is the scrub schedule kept at ScrubService.StatePath.
type ScrubState struct {
	// Last is when the last scrub finished (zero: never).
	Last time.Time `json:"last"`
	// Next is when a scrub is due when there is no Last.
	Next   time.Time         `json:"next"`
	Report *raid.ScrubReport `json:"report,omitempty"`
}

// LoadScrubState reads the scrub state; a missing file is the zero state.
func LoadScrubState(path string) (ScrubState, error) {
	var st ScrubState
	_, err := readJSON(path, &st)
	return st, err
}

// ScrubService scrubs an array with repair on a schedule: the next scrub
// is due Every after the last one recorded at StatePath, so a restart
// neither scrubs again at once nor forgets a scrub that is due. Without a
// state file the first scrub runs FirstDelay after the service starts.
type ScrubService struct {
	Array      *raid.Array
	Every      time.Duration // default DefaultScrubEvery
	FirstDelay time.Duration // default DefaultFirstScrub
	RateLimit  int64         // bytes per second read (0: unlimited)
	StatePath  string
	Alert      AlertFunc
	Resolve    ResolveFunc
	// OnReport, when set, is called after each scrub from Serve's
	// goroutine. Progress is passed to raid.ScrubOptions (after every
	// object).
	OnReport func(*raid.ScrubReport)
	Progress func(done, total int)
	// Track, when set, is called as each scrub starts, with the subject
	// "array"; the scrub reports its objects to the returned Op.
	Track  func(subject string) Op
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
}

func (s *ScrubService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Next returns when the next scrub is due according to the state file,
// creating the state (due after FirstDelay) when there is none.
func (s *ScrubService) Next() (time.Time, error) {
	st, err := LoadScrubState(s.StatePath)
	if err != nil {
		return time.Time{}, fmt.Errorf("scrub state %s: %w", s.StatePath, err)
	}
	every := s.Every
	if every <= 0 {
		every = DefaultScrubEvery
	}
	if !st.Last.IsZero() {
		return st.Last.Add(every), nil
	}
	if st.Next.IsZero() {
		first := s.FirstDelay
		if first <= 0 {
			first = DefaultFirstScrub
		}
		st.Next = s.now().Add(first)
		if err := writeJSON(s.StatePath, st); err != nil {
			return st.Next, fmt.Errorf("scrub state %s: %w", s.StatePath, err)
		}
	}
	return st.Next, nil
}

// Serve scrubs on the schedule until ctx is done, and returns ctx's
// error. A scrub interrupted by ctx is not recorded: it runs again in
// full at the next start.
func (s *ScrubService) Serve(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	for {
		next, err := s.Next()
		if err != nil {
			// An unreadable state file must not stop scrubbing for ever:
			// scrub, and the new state replaces it.
			log.Warn("scrub schedule state unreadable", "err", err)
		}
		if err := sleepUntil(ctx, s.now, next); err != nil {
			return err
		}
		if _, err := s.Run(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Error("scrub failed", "err", err)
			if err := sleepUntil(ctx, s.now, s.now().Add(time.Hour)); err != nil {
				return err
			}
		}
	}
}

// Run scrubs once now with repair, records the time in the state file,
// and raises or resolves the "scrub" alert.
func (s *ScrubService) Run(ctx context.Context) (*raid.ScrubReport, error) {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	op := track(s.Track, "array")
	progress := func(done, total int) {
		op.Update(int64(done), int64(total), 0, 0)
		if s.Progress != nil {
			s.Progress(done, total)
		}
	}
	rep, err := s.Array.Scrub(ctx, raid.ScrubOptions{Repair: true, RateLimit: s.RateLimit, Progress: progress})
	op.Done(err)
	if err != nil {
		return rep, err
	}
	if err := writeJSON(s.StatePath, ScrubState{Last: s.now(), Report: rep}); err != nil {
		log.Warn("scrub state not saved; the next start scrubs again", "path", s.StatePath, "err", err)
	}
	LogDone(log, "scrub", rep.Duration, "objects", rep.Objects, "errors", rep.ErrorsFound, "repaired", rep.Repaired,
		"degraded", len(rep.Degraded), "unrecoverable", len(rep.Unrecoverable))
	if s.OnReport != nil {
		s.OnReport(rep)
	}
	switch {
	case len(rep.Unrecoverable) > 0:
		s.Alert.raise("scrub", "scrub", "", true,
			fmt.Sprintf("Scrub found %d objects that cannot be recovered", len(rep.Unrecoverable)),
			fmt.Sprintf("The scrub found objects with too few intact copies on the disks to rebuild them: %s. "+
				"Run `shoebox check --read-data` on the repository to see which files and snapshots are affected, "+
				"and back those files up again from their originals.", nameList(rep.Unrecoverable)))
	case len(rep.Degraded) > 0:
		s.Alert.raise("scrub", "scrub", "", false,
			fmt.Sprintf("Scrub could not repair %d objects", len(rep.Degraded)),
			fmt.Sprintf("The scrub found %d damaged shards and repaired %d, but these objects still lack redundancy: %s. "+
				"Check the disks' health (`shoebox raid status`); a full or failing disk prevents the repair.",
				rep.ErrorsFound, rep.Repaired, nameList(rep.Degraded)))
	case rep.ErrorsFound > 0:
		s.Alert.raise("scrub", "scrub", "", false,
			fmt.Sprintf("Scrub repaired %d damaged shards", rep.Repaired),
			fmt.Sprintf("The scrub found %d damaged or missing shards on the disks and rewrote them from parity; no data was lost. "+
				"If this recurs, check the disks' health (`shoebox raid status`).", rep.ErrorsFound))
	default:
		s.Resolve.resolve("scrub", fmt.Sprintf("The last scrub checked %d objects and found no errors.", rep.Objects))
	}
	return rep, nil
}

// nameList names up to ten objects.
func nameList(names []string) string {
	if len(names) <= 10 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
}
