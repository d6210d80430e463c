package smart

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDownsample(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var s []Sample
	// A sample every 10 minutes for 90 days, OK throughout except a
	// WARNING spell 40 days ago.
	for d := 90 * 24 * time.Hour; d >= 0; d -= 10 * time.Minute {
		st := OK
		if d > 40*24*time.Hour-30*time.Minute && d <= 40*24*time.Hour {
			st = Warning
		}
		s = append(s, Sample{Time: now.Add(-d), State: st})
	}
	got := downsample(s, now)
	var recent, hourly, daily, warnings int
	for _, x := range got {
		age := now.Sub(x.Time)
		switch {
		case age <= 48*time.Hour:
			recent++
		case age <= 30*24*time.Hour:
			hourly++
		default:
			daily++
		}
		if x.State == Warning {
			warnings++
		}
	}
	if recent != 48*6+1 {
		t.Errorf("last 48 h: got %d samples, want every one (%d)", recent, 48*6+1)
	}
	if hourly < 28*24-2 || hourly > 28*24+2 {
		t.Errorf("2-30 days: got %d samples, want about one an hour (%d)", hourly, 28*24)
	}
	if daily < 60 || daily > 66 {
		t.Errorf("older than 30 days: got %d samples, want about one a day plus state changes", daily)
	}
	if warnings == 0 {
		t.Error("the WARNING spell was thinned away; state changes must be kept")
	}
	// Downsampling is stable: doing it again keeps the same samples.
	if again := downsample(append([]Sample(nil), got...), now); len(again) != len(got) {
		t.Errorf("second downsample: %d samples, want %d", len(again), len(got))
	}
}

func TestHistoryAckAndDamage(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &Record{Device: "/dev/sda", Serial: "WD-123 456", Model: "WDC"}
	if _, err := h.Ack(Key(r), ""); err == nil {
		t.Error("Ack of a disk without readings succeeded")
	}
	for i := 0; i < 3; i++ {
		s := Sample{Time: time.Now().Add(time.Duration(i) * time.Minute), State: Warning, Counters: map[string]uint64{"5": uint64(10 + i)}}
		if err := h.Append(r, s); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Ack("WD-123_456", "known since the move")
	if err != nil {
		t.Fatal(err)
	}
	if b.Counters["5"] != 12 {
		t.Errorf("baseline counters %v, want the latest (5=12)", b.Counters)
	}
	for _, ref := range []string{"WD-123 456", "/dev/sda", "sda", "WD-123_456"} {
		d, err := h.Find(ref)
		if err != nil || d.Baseline == nil || len(d.Samples) != 3 {
			t.Errorf("Find(%q): %+v, %v", ref, d, err)
		}
	}
	// A damaged file starts a fresh history rather than stopping checks.
	if err := os.WriteFile(filepath.Join(dir, "WD-123_456.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := h.Load("WD-123_456")
	if err != nil || len(d.Samples) != 0 {
		t.Errorf("damaged history: %+v, %v; want an empty one", d, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "WD-123_456.json.damaged")); err != nil {
		t.Errorf("damaged history not kept aside: %v", err)
	}
}
