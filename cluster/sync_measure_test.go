package cluster

import (
	"os"
	"testing"
	"time"
)

// TestSyncMeasure measures a first Sync of a repository of about 64 MiB
// (16 random files of 4 MiB, in the test repository's 1 MiB packs) on
// loopback, a pass with nothing to send, and the same pass by a new
// Replica (nothing cached). It is a measurement, not a check: it runs only with SHOEBOX_MEASURE=1
// (docs/CLUSTER.md, "Replication").
func TestSyncMeasure(t *testing.T) {
	if os.Getenv("SHOEBOX_MEASURE") == "" {
		t.Skip("a measurement: set SHOEBOX_MEASURE=1")
	}
	e := newSyncEnv(t)
	e.files("a", 16, 4<<20)
	e.backup("a")
	start := time.Now()
	rep := e.sync()
	d := time.Since(start)
	t.Logf("first Sync: %d objects, %.1f MB in %v: %.1f MB/s", rep.SentObjects, float64(rep.SentBytes)/1e6, d.Round(time.Millisecond), float64(rep.SentBytes)/1e6/d.Seconds())
	start = time.Now()
	rep = e.sync()
	t.Logf("a pass with nothing to send: %d objects skipped in %v", rep.Skipped, time.Since(start).Round(time.Microsecond))
	e.newReplica() // no cache: the index files read and the trees walked again
	start = time.Now()
	rep = e.sync()
	t.Logf("the same with a new Replica (index files read, trees walked): %v", time.Since(start).Round(time.Microsecond))
}
