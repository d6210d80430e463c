package appliance

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestSourceSkipUnchangedDefaults: unchanged runs make no snapshot unless
// the source says otherwise; the heartbeat is off, or half of lock_days.
func TestSourceSkipUnchangedDefaults(t *testing.T) {
	for _, tc := range []struct {
		yaml      string
		skip      bool
		heartbeat time.Duration
	}{
		{`{name: a, path: /a}`, true, 0},
		{`{name: a, path: /a, skip_unchanged: false}`, false, 0},
		{`{name: a, path: /a, heartbeat: 24h}`, true, 24 * time.Hour},
		{`{name: a, path: /a, retention: {lock_days: 30}}`, true, 15 * 24 * time.Hour},
		{`{name: a, path: /a, heartbeat: 1h, retention: {lock_days: 30}}`, true, time.Hour},
	} {
		var c SourceConfig
		if err := yaml.Unmarshal([]byte(tc.yaml), &c); err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		skip, hb := c.skipUnchanged()
		if skip != tc.skip || hb != tc.heartbeat {
			t.Errorf("%s: got skip %v, heartbeat %v; want %v, %v", tc.yaml, skip, hb, tc.skip, tc.heartbeat)
		}
	}
}
