package raid

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStatesOnTheWire: the typed states are written as the strings the
// manifest, `shoebox raid status --json` and the API always carried.
func TestStatesOnTheWire(t *testing.T) {
	b, err := json.Marshal(Status{State: ArrayDegraded, Disks: []DiskStatus{{State: StateDraining}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"state":"degraded"`, `"state":"draining"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("got %s, want it to contain %s", b, want)
		}
	}
	var mi MemberInfo
	if err := json.Unmarshal([]byte(`{"disk_id":"d1","state":"failed"}`), &mi); err != nil {
		t.Fatal(err)
	}
	if mi.State != StateFailed {
		t.Errorf("got %q, want %q", mi.State, StateFailed)
	}
	for _, tc := range []struct {
		got  string
		want string
	}{
		{ArrayHealthy.String(), "healthy"},
		{ArrayDegraded.String(), "degraded"},
		{StateActive.String(), "active"},
		{StateDraining.String(), "draining"},
		{StateFailed.String(), "failed"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
