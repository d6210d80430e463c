package appliance

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/raid/looptest"
	"github.com/shoebox/shoebox/smart"
	"github.com/shoebox/shoebox/store"
)

func TestSameDrive(t *testing.T) {
	member := raid.DiskStatus{Serial: "ZGY5ABCD", WWN: "0x5000c500b1234567"}
	wwnOnly := raid.DiskStatus{Serial: "0x50014ee2b1234567", WWN: "0x50014ee2b1234567"} // a label whose drive had no serial
	for _, tc := range []struct {
		name        string
		d           raid.DiskStatus
		serial, wwn string
		want        bool
	}{
		{"serial", member, "ZGY5ABCD", "", true},
		{"WWN", member, "", "0x5000c500b1234567", true},
		{"other serial, same WWN", member, "OTHER", "0x5000c500b1234567", true},
		{"other drive", member, "OTHER", "0x5000c500b7654321", false},
		{"WWN kept as the serial", wwnOnly, "", "0x50014ee2b1234567", true},
		{"nothing known", raid.DiskStatus{}, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameDrive(tc.d, tc.serial, tc.wwn); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEvacuateFailingMember wires the poller to a real 2+1 array on four
// loop-device disks: when the disk behind one member turns FAILING, the
// evacuator moves its shards to the others and every object stays whole
// and fully redundant.
func TestEvacuateFailingMember(t *testing.T) {
	ctx := context.Background()
	var paths []string
	for range 4 {
		paths = append(paths, looptest.Ext4(t, 32<<20))
	}
	a, err := raid.Create(paths, raid.Layout{Data: 2, Parity: 1}, raid.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	want := map[string][]byte{}
	for i := range 20 {
		name := fmt.Sprintf("data/%02d/obj", i)
		want[name] = bytes.Repeat([]byte{byte(i)}, 100<<10)
		if err := a.Put(ctx, name, bytes.NewReader(want[name])); err != nil {
			t.Fatal(err)
		}
	}
	victim := a.Status().Disks[1]
	if victim.Serial == "" || victim.Shards == 0 {
		t.Skipf("loop member has no drive identity here (%+v)", victim)
	}
	// A real healthy drive's output carrying the member's serial; then
	// the same drive with its overall status failed.
	dir := t.TempDir()
	record := func(failed bool) smart.Disk {
		return recordedDisk(t, dir, "bay2", "HGST_HUS724020ALE640_28.json", func(j map[string]any) {
			j["serial_number"] = victim.Serial
			delete(j, "wwn")
			if failed {
				j["smart_status"] = map[string]any{"passed": false}
			}
		})
	}
	disk := record(false)
	h, err := smart.OpenHistory(filepath.Join(dir, "history"))
	if err != nil {
		t.Fatal(err)
	}
	p := &smart.Poller{History: h, ArrayErrors: ArrayErrorsOf(a), Discover: func() ([]smart.Disk, error) {
		return []smart.Disk{disk}, nil
	}}
	done := make(chan error, 1)
	ev := &Evacuator{Array: a, Events: p.Subscribe(4), Done: func(_ smart.Event, _ *raid.ScrubReport, err error) { done <- err }}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ev.Serve(cctx)
	sts, err := p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].Verdict.State != smart.OK {
		t.Fatalf("first poll: %s %q, want OK", sts[0].Verdict.State, sts[0].Verdict.Reasons)
	}
	record(true)
	if _, err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("evacuation: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no evacuation after the disk turned FAILING")
	}
	st := a.Status()
	for _, d := range st.Disks {
		if d.DiskID == victim.DiskID && (d.State != raid.StateDraining || d.Shards != 0) {
			t.Errorf("failing member after evacuation: %+v; want draining with no shards", d)
		}
	}
	if st.Degraded != 0 || st.Lost != 0 {
		t.Errorf("after evacuation: %d degraded, %d lost objects", st.Degraded, st.Lost)
	}
	for name, w := range want {
		got, err := store.ReadAll(ctx, a, name)
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("%s after evacuation: %d bytes, %v", name, len(got), err)
		}
	}
	if _, ok := FailingMember(a, smart.Event{To: smart.Failing, Serial: victim.Serial}); ok {
		t.Errorf("FailingMember of a member already draining: got ok, want none")
	}
}
