package appliance

import (
	"strings"
	"testing"
	"time"
)

// TestConfigDurationGrammar: the configuration reads durations in the
// grammar of docs/UNITS.md, as the CLI and the API do: m is minutes, mo
// months, y years, and terms combine.
func TestConfigDurationGrammar(t *testing.T) {
	base := "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\nsources:\n  - {name: a, path: /a, mode: scheduled, schedule: every 1d12h, heartbeat: 1y}\n"
	cfg, err := ParseConfig("config.yaml", []byte(base+"scrub: {every: 6mo, first_delay: 1h30m}\nsmart: {every: 90m}\ndrills: {every: 2w}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key       string
		got, want time.Duration
	}{
		{"scrub.every", time.Duration(cfg.Scrub.Every), 180 * 24 * time.Hour},
		{"scrub.first_delay", time.Duration(cfg.Scrub.FirstDelay), 90 * time.Minute},
		{"smart.every", time.Duration(cfg.SMART.Every), 90 * time.Minute},
		{"drills.every", time.Duration(cfg.Drills.Every), 14 * 24 * time.Hour},
		{"sources[0].heartbeat", time.Duration(cfg.Sources[0].Heartbeat), 365 * 24 * time.Hour},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.key, tc.got, tc.want)
		}
	}
	if s, err := ParseSchedule(cfg.Sources[0].Schedule); err != nil || s.String() != "every 36h0m0s" {
		t.Errorf("schedule every 1d12h: got %v, %v, want every 36h0m0s", s, err)
	}
	_, err = ParseConfig("config.yaml", []byte(base+"scrub: {every: 6M}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 5") || !strings.Contains(err.Error(), `"6M" is not a duration`) || !strings.Contains(err.Error(), "6mo (months)") {
		t.Errorf("every: 6M: got %v, want an error naming line 5, the value and the month form", err)
	}
}
