package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestRaftLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := newRaftLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug - 4})), hclog.NoLevel)
	l.Info("entering leader state")
	l.Debug("pipelining replication")
	l.Named("snapshot").With("peer", "offsite").Warn("failed to contact", "error", "link down")
	l.Error("failed to heartbeat")
	got := buf.String()
	for _, want := range []string{`level=WARN msg="failed to contact" component=raft.snapshot peer=offsite error="link down"`, `level=ERROR msg="failed to heartbeat" component=raft`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "entering leader state") || strings.Contains(got, "pipelining") {
		t.Errorf("Info and Debug reached the log by default:\n%s", got)
	}
	if l.IsInfo() || !l.IsWarn() {
		t.Errorf("IsInfo %v, IsWarn %v; want false, true by default", l.IsInfo(), l.IsWarn())
	}

	buf.Reset()
	l.SetLevel(hclog.Trace)
	l.Trace("trace line")
	l.StandardLogger(nil).Print("from the standard logger\n")
	if got := buf.String(); !strings.Contains(got, `level=DEBUG-4 msg="trace line"`) || !strings.Contains(got, `level=INFO msg="from the standard logger"`) {
		t.Errorf("after SetLevel(Trace):\n%s", got)
	}
	l.SetLevel(hclog.Off)
	buf.Reset()
	l.Error("nothing")
	if got := buf.String(); got != "" {
		t.Errorf("level Off still logs: %s", got)
	}
}

// TestRaftLogsNoRecordData runs a pair with Raft logging everything and
// checks that no object ID, pin or cluster ID reaches the log, in any
// usual form.
func TestRaftLogsNoRecordData(t *testing.T) {
	ctx := testContext(t)
	// slog's handler serialises the writes of Raft's goroutines; the
	// buffer is read once the node is shut down and they have ended.
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	tune := func(c *NodeConfig) { c.Logger, c.LogLevel = logger, hclog.Trace }
	home, off := startPair(ctx, t, tune)
	applyReceipts(ctx, t, home, 0, 5)
	if err := home.Raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the offsite unit catches up", func() bool { return sameCatalog(t, home, off) })
	cluster := home.FSM.Cluster()
	home.stop()

	got := buf.String()
	if !strings.Contains(got, "entering leader state") {
		t.Fatalf("Raft's messages did not reach the log:\n%s", got)
	}
	secrets := [][]byte{cluster[:], homeMember.Pin[:], offsiteMember.Pin[:], offsiteMember.Key}
	for i := range 5 {
		id := dataObject(i).ID
		secrets = append(secrets, id[:])
	}
	for _, s := range secrets {
		for _, form := range []string{string(s[:8]), hex.EncodeToString(s[:8]), base64.StdEncoding.EncodeToString(s[:9])} {
			if strings.Contains(got, form) {
				t.Errorf("the log holds record data %q", form)
			}
		}
	}
}
