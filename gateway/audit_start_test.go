package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/audit"
)

// closedGateway starts a gateway on dir (a new one when dir is empty),
// records an owner's action on mia, and closes it.
func closedGateway(t *testing.T, dir string) {
	t.Helper()
	g, err := New(Options{Dir: dir, Params: &fastParams})
	if err != nil {
		t.Fatal(err)
	}
	g.recordAs("owner", "192.0.2.1", "users.create", "mia", nil)
	g.recordAs("owner", "192.0.2.1", audit.ActionDownload, "1a2b3c4d:/photos", nil)
	g.Close()
}

// restartOnTampered starts a gateway on dir, whose audit log was changed
// after it was written, and checks that it serves, kept the log aside
// unchanged, and started a new chain saying why. It returns where the
// old log is kept.
func restartOnTampered(t *testing.T, dir string) string {
	t.Helper()
	tampered, _ := os.ReadFile(filepath.Join(dir, "audit", "audit.log"))
	g, err := New(Options{Dir: dir, Params: &fastParams})
	if err != nil {
		t.Fatalf("the gateway must start on a tampered audit log: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	kept, _ := filepath.Glob(filepath.Join(dir, "audit.failed-*"))
	if len(kept) != 1 {
		t.Fatalf("the tampered log was not kept aside at start: kept %v", kept)
	}
	if old, _ := os.ReadFile(filepath.Join(kept[0], "audit.log")); string(old) != string(tampered) {
		t.Error("the kept log was changed")
	}
	es, err := g.audit.List(audit.Filter{})
	if err != nil || len(es) == 0 || es[len(es)-1].Action != "audit.failed_verification" || es[len(es)-1].Target != kept[0] {
		t.Fatalf("new log: %+v, %v", es, err)
	}
	if rep, err := audit.Verify(filepath.Join(dir, "audit"), chainKeyOf(t, dir), nil); err != nil || !rep.OK {
		t.Errorf("the new log: %+v, %v", rep, err)
	}
	return kept[0]
}

// TestTamperedAuditLogKeptAside: a gateway starting on an audit log that
// fails verification keeps serving, moves the old log aside unchanged,
// and starts a new chain that says so.
func TestTamperedAuditLogKeptAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	closedGateway(t, dir)
	logFile := filepath.Join(dir, "audit", "audit.log")
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "1a2b3c4d:/photos", "1a2b3c4d:/other", 1)
	if err := os.WriteFile(logFile, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	kept := restartOnTampered(t, dir)
	if rep, _ := audit.Verify(kept, chainKeyOf(t, dir), nil); rep.OK {
		t.Error("the kept log verifies; it should still show the edit")
	}
}

// slowAnchor is an anchor store on a slow disk: put waits for release.
type slowAnchor struct {
	started, release chan struct{}
	done             func()
}

func (slowAnchor) where() string { return "a slow disk" }

func (s slowAnchor) put(context.Context, []byte) error {
	close(s.started)
	<-s.release
	s.done()
	return nil
}

func (slowAnchor) get(context.Context) ([]byte, error) { return nil, nil }

// TestCloseWaitsForAnchor: the audit log is anchored in the background
// every anchorEvery entries; Close waits for that write to end before it
// closes the log and the database, so that a stop never cuts an anchor
// short or writes one after the log is gone.
func TestCloseWaitsForAnchor(t *testing.T) {
	t.Parallel()
	g, err := New(Options{Dir: t.TempDir(), Params: &fastParams})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	event := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	slow := slowAnchor{started: make(chan struct{}), release: make(chan struct{}), done: func() { event("anchor written") }}
	g.anchors.stores = append(g.anchors.stores, slow)
	for i := 0; i <= anchorEvery; i++ {
		g.recordAs("owner", "192.0.2.1", "users.create", fmt.Sprint("u", i), nil)
	}
	<-slow.started
	closed := make(chan struct{})
	go func() {
		g.Close()
		event("closed")
		close(closed)
	}()
	time.Sleep(50 * time.Millisecond) // Close, were it not to wait, is done by now
	close(slow.release)
	<-closed
	if want := []string{"anchor written", "closed"}; !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q: Close returned while the background anchor was being written", events, want)
	}
	g.Close() // a second Close is harmless
}
