package smart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/testcorpus"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/raid/looptest"
	"github.com/shoebox/shoebox/smart"
	"github.com/shoebox/shoebox/store"
)

// recordedCopy copies a real smartctl --json file, optionally rewriting
// its serial number, and returns the copy's path.
func recordedCopy(t *testing.T, dir, src, serial string) string {
	t.Helper()
	b, err := os.ReadFile(testcorpus.SMART(t, "smartctl-json", "testdata", src))
	if err != nil {
		t.Fatal(err)
	}
	if serial != "" {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m["serial_number"] = serial
		delete(m, "wwn")
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "disk.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// healthyAndFailing finds, among the real outputs, a drive the policy
// calls OK and one it calls FAILING.
func healthyAndFailing(t *testing.T) (ok, failing string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testcorpus.SMART(t, "smartctl-json", "testdata"), "*.json"))
	if len(files) == 0 {
		t.Fatal("no smartctl test data")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		r, err := smart.ParseSmartctlJSON(b)
		if err != nil {
			continue
		}
		switch smart.Evaluate(r, nil, nil, smart.ArrayErrors{}, time.Now()).State {
		case smart.OK:
			if ok == "" {
				ok = filepath.Base(f)
			}
		case smart.Failing:
			if failing == "" {
				failing = filepath.Base(f)
			}
		}
	}
	if ok == "" || failing == "" {
		t.Fatalf("the SMART corpus has no healthy (%q) or no failing (%q) drive", ok, failing)
	}
	return ok, failing
}

// TestPollerEventsAndHistory polls a recorded disk that goes bad between
// polls: the first poll records OK without an event, the second publishes
// OK→FAILING, and history keeps both readings.
func TestPollerEventsAndHistory(t *testing.T) {
	okFile, failFile := healthyAndFailing(t)
	dir := t.TempDir()
	disk := recordedCopy(t, dir, okFile, "SB-TEST-1")
	h, err := smart.OpenHistory(filepath.Join(dir, "history"))
	if err != nil {
		t.Fatal(err)
	}
	p := &smart.Poller{History: h, Discover: func() ([]smart.Disk, error) {
		return []smart.Disk{{Path: "bay1", Reader: smart.Recorded{File: disk}}}, nil
	}}
	events := p.Subscribe(4)
	sts, err := p.Poll(context.Background())
	if err != nil || len(sts) != 1 || sts[0].Verdict.State != smart.OK {
		t.Fatalf("first poll: %+v, %v; want one OK disk", sts, err)
	}
	select {
	case ev := <-events:
		t.Fatalf("first poll of a healthy disk published %+v", ev)
	default:
	}
	recordedCopy(t, dir, failFile, "SB-TEST-1")
	sts, err = p.Poll(context.Background())
	if err != nil || sts[0].Verdict.State != smart.Failing || len(sts[0].Verdict.Reasons) == 0 {
		t.Fatalf("second poll: %+v, %v; want FAILING with a reason", sts, err)
	}
	select {
	case ev := <-events:
		if ev.From != smart.OK || ev.To != smart.Failing || ev.Serial != "SB-TEST-1" {
			t.Errorf("event %+v, want OK→FAILING of SB-TEST-1", ev)
		}
	default:
		t.Fatal("no event for OK→FAILING")
	}
	d, err := h.Find("SB-TEST-1")
	if err != nil || len(d.Samples) != 2 || d.Samples[1].State != smart.Failing {
		t.Fatalf("history: %+v, %v; want two samples ending FAILING", d, err)
	}
}

// TestEvacuateFailingMember wires the poller to a real 2+1 array on four
// loop-device disks: when the disk behind one member turns FAILING, the
// evacuator moves its shards to the others and every object stays whole
// and fully redundant.
func TestEvacuateFailingMember(t *testing.T) {
	okFile, failFile := healthyAndFailing(t)
	ctx := context.Background()
	var paths []string
	for i := 0; i < 4; i++ {
		paths = append(paths, looptest.Ext4(t, 32<<20))
	}
	a, err := raid.Create(paths, raid.Layout{Data: 2, Parity: 1}, raid.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	want := map[string][]byte{}
	for i := 0; i < 20; i++ {
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
	dir := t.TempDir()
	disk := recordedCopy(t, dir, okFile, victim.Serial)
	h, _ := smart.OpenHistory(filepath.Join(dir, "history"))
	p := &smart.Poller{History: h, ArrayErrors: smart.ArrayErrorsOf(a), Discover: func() ([]smart.Disk, error) {
		return []smart.Disk{{Path: "bay2", Reader: smart.Recorded{File: disk}}}, nil
	}}
	done := make(chan error, 1)
	ev := &smart.Evacuator{Array: a, Events: p.Subscribe(4), Done: func(_ smart.Event, _ *raid.ScrubReport, err error) { done <- err }}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ev.Serve(cctx)
	if _, err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	recordedCopy(t, dir, failFile, victim.Serial)
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
}

// TestPollerPrintouts polls fixtures a person reads about: no reason names
// a Go type (a mistyped field, a file that is not JSON at all), and the
// daemon's INFO lines never carry the serial number, which identifies the
// owner's hardware (WARN lines may: they say which disk to pull).
func TestPollerPrintouts(t *testing.T) {
	dir := t.TempDir()
	garbled := filepath.Join(dir, "garbled.json")
	if err := os.WriteFile(garbled, []byte(`{"model_name": "ST1", "serial_number": "ZA-SECRET-7", "smart_status": {"passed": tru`), 0o600); err != nil {
		t.Fatal(err)
	}
	good := recordedCopy(t, dir, "sat-Seagate_Enterprise_Capacity_3.5_HDD-ST2000NM0008-2F3100-sdl.json", "ZA-SECRET-1")
	var logs bytes.Buffer
	h, err := smart.OpenHistory(filepath.Join(dir, "history"))
	if err != nil {
		t.Fatal(err)
	}
	p := &smart.Poller{History: h, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Discover: func() ([]smart.Disk, error) {
			return []smart.Disk{
				{Path: "bay1", Reader: smart.Recorded{File: filepath.Join("testdata", "ata-smart-support-bool.json")}},
				{Path: "bay2", Reader: smart.Recorded{File: garbled}},
				{Path: "bay3", Reader: smart.Recorded{File: good}},
			}, nil
		}}
	// Two polls: the second turns bay3 from WARNING to FAILING.
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	recordedCopy(t, dir, "nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json", "ZA-SECRET-1")
	sts, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		for _, s := range st.Verdict.Reasons {
			if strings.Contains(s, "Go struct") || strings.Contains(s, "of type") || strings.Contains(s, "unmarshal") {
				t.Errorf("%s: reason %q names Go types", st.Path, s)
			}
		}
	}
	if sts[0].Verdict.State != smart.Failing {
		t.Errorf("smart_support as a bool: %s %q, want FAILING (its status says failed)", sts[0].Verdict.State, sts[0].Verdict.Reasons)
	}
	info := 0
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Level string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Level == "INFO" {
			info++
			if strings.Contains(line, "SECRET") {
				t.Errorf("INFO line names a serial number: %s", line)
			}
		}
	}
	if info == 0 {
		t.Errorf("no INFO line for a disk whose verdict changed:\n%s", logs.String())
	}
}
