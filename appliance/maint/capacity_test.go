package maint

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"
)

func TestForecast(t *testing.T) {
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	const gb = 1 << 30
	daily := func(days int, start, perDay int64) []UsageSample {
		var s []UsageSample
		for i := range days {
			s = append(s, UsageSample{Time: now.Add(-time.Duration(days-1-i) * day), Used: start + int64(i)*perDay})
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		samples []UsageSample
		free    int64
		want    float64
		ok      bool
	}{
		{"none", nil, 100 * gb, 0, false},
		{"one sample", daily(1, gb, gb), 100 * gb, 0, false},
		{"less than a day", []UsageSample{{now.Add(-time.Hour), gb}, {now, 2 * gb}}, 100 * gb, 0, false},
		{"flat", daily(10, gb, 0), 100 * gb, 0, false},
		{"shrinking", daily(10, 50*gb, -gb), 100 * gb, 0, false},
		{"steady 1 GiB a day", daily(10, gb, gb), 100 * gb, 100, true},
		{"steady 2 GiB a day", daily(30, gb, 2*gb), 60 * gb, 30, true},
		{"two samples a day apart", []UsageSample{{now.Add(-day), 0}, {now, 10 * gb}}, 100 * gb, 10, true},
		{"old growth ignored", append([]UsageSample{{now.Add(-90 * day), 0}}, daily(10, 50*gb, gb)...), 100 * gb, 100, true},
		{"noisy", []UsageSample{{now.Add(-3 * day), 0}, {now.Add(-2 * day), 1 * gb}, {now.Add(-day), 3 * gb}, {now, 3 * gb}}, 11 * gb, 10, true},
		{"full", daily(10, gb, gb), 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Forecast(tc.samples, tc.free, now)
			if ok != tc.ok || math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("got %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestUsageLogDownsamples(t *testing.T) {
	p := filepath.Join(t.TempDir(), "usage.json")
	l, err := LoadUsageLog(p)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC)
	for i := range 20 * 24 { // hourly for 20 days
		l.Add(UsageSample{Time: start.Add(time.Duration(i) * time.Hour), Used: int64(i)})
	}
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	l, err = LoadUsageLog(p)
	if err != nil {
		t.Fatal(err)
	}
	last := l.Samples[len(l.Samples)-1].Time
	old, recent := 0, 0
	perDay := map[string]int{}
	for _, s := range l.Samples {
		if last.Sub(s.Time) > 7*day {
			old++
			perDay[s.Time.Format(time.DateOnly)]++
		} else {
			recent++
		}
	}
	if recent != 7*24+1 {
		t.Errorf("got %d samples in the last week, want %d", recent, 7*24+1)
	}
	for d, n := range perDay {
		if n != 1 {
			t.Errorf("day %s: got %d samples, want 1", d, n)
		}
	}
	if old < 12 || old > 14 {
		t.Errorf("got %d daily samples older than a week, want about 13", old)
	}
}

func TestCapacityServiceAlerts(t *testing.T) {
	const gb = 1 << 30
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	used, free := int64(100*gb), int64(900*gb)
	var rec recorder
	s := &CapacityService{
		Usage:     func(context.Context) (int64, int64, error) { return used, free, nil },
		StatePath: filepath.Join(t.TempDir(), "usage.json"),
		Alert:     rec.alert, Resolve: rec.resolve,
		Now: func() time.Time { return now },
	}
	check := func() {
		t.Helper()
		if err := s.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	check()
	if len(rec.raised) != 0 {
		t.Fatalf("got alerts %v with 90%% free and no trend", rec.raised)
	}
	// Growing 40 GiB a day: 900 GiB last about three weeks.
	for range 5 {
		now = now.Add(day)
		used += 40 * gb
		free -= 40 * gb
		check()
	}
	if len(rec.raised) == 0 || rec.raised[len(rec.raised)-1] != "low-space/low-space/warning" {
		t.Fatalf("got alerts %v, want a low-space warning", rec.raised)
	}
	// Growth stops and space is freed: resolved.
	free, used = 900*gb, 100*gb
	for range 40 {
		now = now.Add(day)
		check()
	}
	if rec.resolved[len(rec.resolved)-1] != "low-space" {
		t.Fatalf("got resolved %v, want low-space", rec.resolved)
	}
	// Less than 5% free: critical.
	used, free = 960*gb, 40*gb
	check()
	if rec.raised[len(rec.raised)-1] != "low-space/low-space/critical" {
		t.Fatalf("got alerts %v, want a critical low-space alert", rec.raised)
	}
}
