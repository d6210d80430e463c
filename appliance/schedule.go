package appliance

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shoebox/shoebox/internal/units"
)

// Schedule says when a scheduled job runs next.
type Schedule interface {
	Next(after time.Time) time.Time
	String() string
}

// ParseSchedule reads "every 6h", "hourly", "daily 02:30" or
// "weekly sun 03:00" (local time).
func ParseSchedule(s string) (Schedule, error) {
	f := strings.Fields(strings.ToLower(s))
	bad := fmt.Errorf("schedule %q: use \"every 6h\", \"hourly\", \"daily 02:30\" or \"weekly sun 03:00\"", s)
	switch {
	case len(f) == 2 && f[0] == "every":
		d, err := units.ParseDuration(f[1])
		if err != nil || d < time.Minute {
			return nil, bad
		}
		return every(d), nil
	case len(f) == 1 && f[0] == "hourly":
		return every(time.Hour), nil
	case len(f) == 2 && f[0] == "daily":
		h, m, ok := clock(f[1])
		if !ok {
			return nil, bad
		}
		return calendar{weekday: -1, hour: h, min: m}, nil
	case len(f) == 3 && f[0] == "weekly":
		days := map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
		wd, ok := days[f[1][:min(3, len(f[1]))]]
		h, m, ok2 := clock(f[2])
		if !ok || !ok2 {
			return nil, bad
		}
		return calendar{weekday: wd, hour: h, min: m}, nil
	}
	return nil, bad
}

func clock(s string) (int, int, bool) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	return h, m, ok && err1 == nil && err2 == nil && h >= 0 && h < 24 && m >= 0 && m < 60
}

type every time.Duration

func (e every) Next(after time.Time) time.Time { return after.Add(time.Duration(e)) }
func (e every) String() string                 { return "every " + time.Duration(e).String() }

type calendar struct{ weekday, hour, min int }

func (c calendar) Next(after time.Time) time.Time {
	t := time.Date(after.Year(), after.Month(), after.Day(), c.hour, c.min, 0, 0, after.Location())
	for !t.After(after) || (c.weekday >= 0 && int(t.Weekday()) != c.weekday) {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

func (c calendar) String() string {
	if c.weekday < 0 {
		return fmt.Sprintf("daily %02d:%02d", c.hour, c.min)
	}
	return fmt.Sprintf("weekly %s %02d:%02d", time.Weekday(c.weekday).String()[:3], c.hour, c.min)
}
