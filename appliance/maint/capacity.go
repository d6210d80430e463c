package maint

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/shoebox/shoebox/raid"
)

// UsageSample is the used space of the array at one time.
type UsageSample struct {
	Time time.Time `json:"time"`
	Used int64     `json:"used"`
}

// ForecastWindow is how far back Forecast looks.
const ForecastWindow = 30 * 24 * time.Hour

const day = 24 * time.Hour

// Forecast fits a least-squares line through the samples of the last
// ForecastWindow before now and returns how many days the free bytes last
// at that growth rate. ok is false when usage is not growing, or when
// there are fewer than two samples or less than a day between the first
// and the last.
func Forecast(samples []UsageSample, free int64, now time.Time) (daysUntilFull float64, ok bool) {
	rate, ok := GrowthRate(samples, now)
	if !ok {
		return 0, false
	}
	return float64(max(free, 0)) / rate, true
}

// GrowthRate returns the least-squares growth of used space in bytes per
// day over the last ForecastWindow; ok as for Forecast.
func GrowthRate(samples []UsageSample, now time.Time) (bytesPerDay float64, ok bool) {
	from := now.Add(-ForecastWindow)
	var n, sx, sy float64
	var first, last time.Time
	for _, s := range samples {
		if s.Time.Before(from) || s.Time.After(now) {
			continue
		}
		if first.IsZero() || s.Time.Before(first) {
			first = s.Time
		}
		if s.Time.After(last) {
			last = s.Time
		}
		n++
		sx += s.Time.Sub(from).Hours() / 24
		sy += float64(s.Used)
	}
	if n < 2 || last.Sub(first) < day {
		return 0, false
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for _, s := range samples {
		if s.Time.Before(from) || s.Time.After(now) {
			continue
		}
		dx := s.Time.Sub(from).Hours()/24 - mx
		sxy += dx * (float64(s.Used) - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return 0, false
	}
	slope := sxy / sxx
	if !(slope > 0) || math.IsInf(slope, 0) {
		return 0, false
	}
	return slope, true
}

// UsageLog is a history of usage samples kept in a JSON file: every
// sample of the last week, then one a day (the last of each UTC day), for
// a year.
type UsageLog struct {
	Path    string        `json:"-"`
	Samples []UsageSample `json:"samples"`
}

// Usage-log retention.
const (
	usageFull = 7 * day
	usageKeep = 366 * day
)

// LoadUsageLog reads the log at path; a missing file is an empty log.
func LoadUsageLog(path string) (*UsageLog, error) {
	l := &UsageLog{Path: path}
	if _, err := readJSON(path, l); err != nil {
		return nil, fmt.Errorf("usage log %s: %w", path, err)
	}
	return l, nil
}

// Add records a sample and downsamples what is older than a week.
func (l *UsageLog) Add(s UsageSample) {
	l.Samples = append(l.Samples, s)
	sort.SliceStable(l.Samples, func(i, j int) bool { return l.Samples[i].Time.Before(l.Samples[j].Time) })
	now := s.Time
	out := l.Samples[:0]
	for i, x := range l.Samples {
		age := now.Sub(x.Time)
		if age > usageKeep {
			continue
		}
		if age > usageFull && i+1 < len(l.Samples) {
			next := l.Samples[i+1]
			if now.Sub(next.Time) > usageFull && sameDay(x.Time, next.Time) {
				continue // a later sample of the same old day stays
			}
		}
		out = append(out, x)
	}
	l.Samples = out
}

func sameDay(a, b time.Time) bool {
	a, b = a.UTC(), b.UTC()
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// Save writes the log atomically.
func (l *UsageLog) Save() error {
	if err := writeJSON(l.Path, l); err != nil {
		return fmt.Errorf("usage log %s: %w", l.Path, err)
	}
	return nil
}

// ArrayUsage returns a usage function for an array of the given layout:
// usable bytes used and free, counting what the layout can store on the
// members' space (raid.UsableCapacity), not raw disk bytes.
func ArrayUsage(a *raid.Array, layout raid.Layout) func(context.Context) (used, free int64, err error) {
	return func(context.Context) (int64, int64, error) {
		st := a.Status()
		var total, avail []int64
		for _, d := range st.Disks {
			if !d.Present {
				continue
			}
			total = append(total, int64(d.TotalBytes))
			avail = append(avail, int64(d.FreeBytes))
		}
		size, _, err := raid.UsableCapacity(total, layout.Data, layout.Parity)
		if err != nil {
			return 0, 0, err
		}
		free, _, err := raid.UsableCapacity(avail, layout.Data, layout.Parity)
		if err != nil {
			return 0, 0, err
		}
		return size - free, free, nil
	}
}

// Capacity defaults.
const (
	DefaultCapacityEvery   = time.Hour
	DefaultLowSpaceDays    = 30
	DefaultLowSpacePercent = 10
)

// CapacityService samples usage every Every into the UsageLog at
// StatePath and raises a "low-space" alert when the forecast says the
// array fills within LowSpaceDays, or when less than LowSpacePercent is
// free (critical below half of that, or when full within a week).
type CapacityService struct {
	// Usage returns used and free bytes (see ArrayUsage).
	Usage           func(ctx context.Context) (used, free int64, err error)
	Every           time.Duration
	StatePath       string
	Alert           AlertFunc
	Resolve         ResolveFunc
	LowSpaceDays    float64
	LowSpacePercent float64
	// OnSample, when set, is called after each sample (metrics); ok is
	// false when there is no forecast.
	OnSample func(used, free int64, daysUntilFull float64, ok bool)
	Now      func() time.Time
	Logger   *slog.Logger
}

func (s *CapacityService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Serve samples until ctx is done and returns ctx's error.
func (s *CapacityService) Serve(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = DefaultCapacityEvery
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	for {
		if err := s.Check(ctx); err != nil {
			log.Warn("capacity check failed", "err", err)
		}
		if err := sleepUntil(ctx, s.now, s.now().Add(every)); err != nil {
			return err
		}
	}
}

// Check takes one sample, saves the log and raises or resolves the
// "low-space" alert.
func (s *CapacityService) Check(ctx context.Context) error {
	used, free, err := s.Usage(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	l, err := LoadUsageLog(s.StatePath)
	if err != nil {
		l = &UsageLog{Path: s.StatePath} // start afresh rather than stop forecasting
	}
	l.Add(UsageSample{Time: now, Used: used})
	saveErr := l.Save()
	days, ok := Forecast(l.Samples, free, now)
	if s.OnSample != nil {
		s.OnSample(used, free, days, ok)
	}
	lowDays := s.LowSpaceDays
	if lowDays <= 0 {
		lowDays = DefaultLowSpaceDays
	}
	lowPct := s.LowSpacePercent
	if lowPct <= 0 {
		lowPct = DefaultLowSpacePercent
	}
	var pct float64 = 100
	if used+free > 0 {
		pct = 100 * float64(free) / float64(used+free)
	}
	soon := ok && days < lowDays
	switch {
	case pct < lowPct || soon:
		critical := pct < lowPct/2 || (ok && days < 7)
		msg := fmt.Sprintf("%s free of %s (%.1f%%).", humanize.IBytes(uint64(max(0, free))), humanize.IBytes(uint64(max(0, used+free))), pct)
		if ok {
			msg += fmt.Sprintf(" At the growth of the last 30 days the array is full in about %.0f days.", math.Floor(days))
		}
		msg += " Add or replace a disk with a larger one, or forget old snapshots (`shoebox forget --prune`)."
		s.Alert.raise("low-space", "low-space", "", critical, "The array is running out of space", msg)
	default:
		s.Resolve.resolve("low-space", fmt.Sprintf("%s free (%.1f%%).", humanize.IBytes(uint64(max(0, free))), pct))
	}
	return saveErr
}
