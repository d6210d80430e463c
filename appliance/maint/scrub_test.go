package maint

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoebox/shoebox/raid"
)

func newArray(t *testing.T) (*raid.Array, []string) {
	t.Helper()
	root := t.TempDir()
	var paths []string
	for i := range 3 {
		paths = append(paths, filepath.Join(root, fmt.Sprintf("disk%d", i)))
	}
	a, err := raid.Create(paths, raid.Layout{Data: 2, Parity: 1}, raid.Options{AllowSameDrive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	for i := range 4 {
		if err := a.Put(context.Background(), fmt.Sprintf("obj%d", i), bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 100<<10))); err != nil {
			t.Fatal(err)
		}
	}
	return a, paths
}

// corruptShard flips the last byte of the first shard file of a member.
func corruptShard(t *testing.T, member string) {
	t.Helper()
	var shard string
	filepath.WalkDir(filepath.Join(member, "shoebox", "shards"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && shard == "" {
			shard = p
		}
		return nil
	})
	if shard == "" {
		t.Fatal("no shard file")
	}
	b, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(shard, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type recorder struct {
	raised   []string // key/severity
	messages []string
	resolved []string
}

func (r *recorder) alert(kind, key, space string, critical bool, subject, message string) {
	sev := "warning"
	if critical {
		sev = "critical"
	}
	r.raised = append(r.raised, kind+"/"+key+"/"+sev)
	r.messages = append(r.messages, subject+": "+message)
}

func (r *recorder) resolve(key, _ string) { r.resolved = append(r.resolved, key) }

func TestScrubServiceRepairsAndAlerts(t *testing.T) {
	a, paths := newArray(t)
	corruptShard(t, paths[1])
	state := filepath.Join(t.TempDir(), "scrub.json")
	// The last scrub was long ago: one is due now.
	if err := writeJSON(state, ScrubState{Last: time.Now().Add(-40 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	var reports []*raid.ScrubReport
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &ScrubService{Array: a, StatePath: state, Alert: rec.alert, Resolve: rec.resolve,
		OnReport: func(r *raid.ScrubReport) { reports = append(reports, r); cancel() }}
	if err := s.Serve(ctx); err != context.Canceled {
		t.Fatalf("Serve: got %v, want context.Canceled", err)
	}
	if len(reports) != 1 || reports[0].ErrorsFound != 1 || reports[0].Repaired != 1 || len(reports[0].Unrecoverable) != 0 {
		t.Fatalf("got reports %+v, want one scrub repairing 1 shard", reports)
	}
	if len(rec.raised) != 1 || rec.raised[0] != "scrub/scrub/warning" {
		t.Fatalf("got alerts %v, want one scrub warning", rec.raised)
	}
	st, err := LoadScrubState(state)
	if err != nil || time.Since(st.Last) > time.Minute || st.Report == nil {
		t.Fatalf("state %+v, %v: want a fresh last-scrub time and report", st, err)
	}

	// A restart does not scrub again: the next one is a month away.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := s.Serve(ctx2); err != context.DeadlineExceeded {
		t.Fatal(err)
	}
	if len(reports) != 1 {
		t.Fatalf("got %d scrubs after restart, want 1", len(reports))
	}
	next, err := s.Next()
	if err != nil || next.Sub(st.Last) != DefaultScrubEvery {
		t.Fatalf("Next: got %v, %v; want last + %v", next, err, DefaultScrubEvery)
	}

	// A clean scrub resolves the alert.
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !contains(rec.resolved, "scrub") {
		t.Errorf("clean scrub did not resolve the alert: %v", rec.resolved)
	}
}

func TestScrubServiceUnrecoverable(t *testing.T) {
	a, paths := newArray(t)
	// Two of three shards of an object bad: a 2+1 layout cannot rebuild it.
	corruptAll(t, paths[0], "obj2")
	corruptAll(t, paths[1], "obj2")
	corruptAll(t, paths[2], "obj2")
	var rec recorder
	s := &ScrubService{Array: a, StatePath: filepath.Join(t.TempDir(), "scrub.json"), Alert: rec.alert, Resolve: rec.resolve}
	rep, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unrecoverable) != 1 || rep.Unrecoverable[0] != "obj2" {
		t.Fatalf("got unrecoverable %v, want [obj2]", rep.Unrecoverable)
	}
	if len(rec.raised) != 1 || rec.raised[0] != "scrub/scrub/critical" || !bytes.Contains([]byte(rec.messages[0]), []byte("obj2")) {
		t.Fatalf("got alerts %v %v, want a critical alert naming obj2", rec.raised, rec.messages)
	}
}

func corruptAll(t *testing.T, member, object string) {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(member, "shoebox", "shards"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && bytes.HasPrefix([]byte(filepath.Base(p)), []byte(object+".")) {
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
			n++
		}
		return nil
	})
	if n == 0 {
		t.Fatalf("no shard of %s on %s", object, member)
	}
}

func TestScrubFirstRunIsDelayed(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	state := filepath.Join(t.TempDir(), "scrub.json")
	s := &ScrubService{StatePath: state, Now: func() time.Time { return now }}
	next, err := s.Next()
	if err != nil || !next.Equal(now.Add(DefaultFirstScrub)) {
		t.Fatalf("got %v, %v; want %v", next, err, now.Add(DefaultFirstScrub))
	}
	now = now.Add(30 * time.Minute) // a restart keeps the first date
	if next2, _ := s.Next(); !next2.Equal(next) {
		t.Fatalf("after restart got %v, want %v", next2, next)
	}
}
