package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Crash safety, as the issue states it: a SIGKILL at any instant of
// backup, forget or prune leaves a repository that `check --read-data`
// accepts and from which every earlier snapshot restores byte-identical;
// the next run cleans up leftovers.
//
// Each trial kills a real shoebox process after a delay drawn from a
// fixed-seed RNG, uniformly over the measured duration of an uninterrupted
// run of the same shape. Repositories use 1 MiB packs so that one backup
// writes dozens of packs and crosses an index flush.

const (
	backupKills = 10
	forgetKills = 5
	pruneKills  = 5
	crashPack   = 1 << 20
)

// crashHarness keeps, per snapshot, the manifest of the source it was
// taken from.
type crashHarness struct {
	t         *testing.T
	r         *repo
	src       string
	manifests map[string]manifest
	rng       *rand.Rand
	kills     int // kills that hit a running process
	trials    int
}

func newCrashHarness(t *testing.T, seed uint64) *crashHarness {
	return &crashHarness{
		t:         t,
		r:         newRepo(t, "--pack-size", strconv.Itoa(crashPack)),
		src:       filepath.Join(t.TempDir(), "src"),
		manifests: map[string]manifest{},
		rng:       rand.New(rand.NewPCG(seed, 0xc4a54)),
	}
}

// kill runs shoebox ARGS and kills it at a random instant of a run that
// would take about d.
func (h *crashHarness) kill(d time.Duration, args ...string) {
	h.t.Helper()
	delay := time.Duration(h.rng.Int64N(int64(d) + 1))
	killed := h.r.killAfter(delay, args...)
	h.trials++
	if killed {
		h.kills++
	}
	h.t.Logf("trial %d: shoebox %s killed after %v (of ~%v): hit a running process: %v",
		h.trials, strings.Join(args, " "), delay.Round(time.Millisecond), d.Round(time.Millisecond), killed)
}

// adopt records the manifest m for snapshots that are not yet known (a
// killed backup may have saved its snapshot just before the kill).
func (h *crashHarness) adopt(m manifest) {
	h.t.Helper()
	for id := range h.r.snapshotIDs() {
		if _, ok := h.manifests[id]; !ok {
			if m == nil {
				h.t.Fatalf("snapshot %.8s appeared out of nowhere", id)
			}
			h.manifests[id] = m
		}
	}
}

// verify runs check --read-data and restores every snapshot, comparing it
// with its source. Warnings about unindexed packs are expected after a
// kill.
func (h *crashHarness) verify() {
	h.t.Helper()
	if c := h.r.check(); len(c.Warnings) > 0 {
		h.t.Logf("check: %d packs, %d warnings, e.g. %s", c.Packs, len(c.Warnings), c.Warnings[0])
	}
	ids := h.r.snapshotIDs()
	for id := range ids {
		m, ok := h.manifests[id]
		if !ok {
			h.t.Fatalf("snapshot %.8s is unknown", id)
		}
		h.r.restoreAndCompare(id, h.src, m)
	}
	for id := range h.manifests {
		if !ids[id] {
			delete(h.manifests, id) // forgotten
		}
	}
}

// cleanedUp runs prune and requires that no leftover remains: no pack
// outside the index, no temporary file, no lock.
func (h *crashHarness) cleanedUp() {
	h.t.Helper()
	h.r.ok("prune")
	c := h.r.check()
	for _, w := range c.Warnings {
		if strings.Contains(w, "not in any index") {
			h.t.Errorf("after prune: check warns: %s", w)
		}
	}
	if tmp := h.r.files(".tmp"); len(tmp) > 0 {
		h.t.Errorf("after the next runs, temporary files of the killed process remain: %v", tmp)
	}
	if locks := h.r.files("locks"); len(locks) > 0 {
		h.t.Errorf("after the next runs, the killed process's lock remains: %v", locks)
		h.r.ok("unlock")
	}
}

func (h *crashHarness) assertKills() {
	h.t.Helper()
	if h.kills*2 < h.trials {
		h.t.Errorf("only %d of %d kills hit a running process: the duration calibration is off", h.kills, h.trials)
	}
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func TestCrashBackup(t *testing.T) {
	h := newCrashHarness(t, 1)
	r := h.r
	genTree(t, filepath.Join(h.src, "base"), 1, treeSpec{Big: 2, BigSize: 2 << 20, Small: 200, Dirs: 8, Symlinks: true})
	// Each round replaces the previous round's folder by ~40 MiB of new
	// data: ~60 new packs and an index flush after 32 of them.
	round := func(k int) manifest {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(h.src, fmt.Sprintf("round-%02d", k-1))); err != nil {
			t.Fatal(err)
		}
		genTree(t, filepath.Join(h.src, fmt.Sprintf("round-%02d", k)), uint64(100+k), treeSpec{Big: 12, BigSize: 5 << 20, Small: 60, Dirs: 3})
		return takeManifest(t, h.src)
	}
	m := round(0)
	h.manifests[r.backup(h.src)] = m
	// Rounds 1 and 2 measure how long a backup of one round's new data
	// takes (the faster of two, as other load only slows a run down).
	var d time.Duration
	for k := 1; k <= 2; k++ {
		m = round(k)
		var id string
		if dk := timed(func() { id = r.backup(h.src) }); d == 0 || dk < d {
			d = dk
		}
		h.manifests[id] = m
	}
	r.ok("forget", "--keep-last", "2", "--prune")

	for k := 3; k < 3+backupKills; k++ {
		m := round(k)
		h.kill(d, "backup", h.src)
		h.adopt(m)
		h.verify()
		// The next backup is not blocked by the killed one's lock and
		// removes its temporary files; prune removes its packs.
		h.manifests[r.backup(h.src)] = m
		h.cleanedUp()
		// Keep the number of snapshots to restore after each kill small.
		r.ok("forget", "--keep-last", "2", "--prune")
	}
	h.verify()
	h.assertKills()
}

func TestCrashForgetPrune(t *testing.T) {
	h := newCrashHarness(t, 2)
	r := h.r
	genTree(t, filepath.Join(h.src, "base"), 2, treeSpec{Big: 1, BigSize: 2 << 20, Small: 80, Dirs: 4, Symlinks: true})
	// Each snapshot adds a folder that stays (keep-k) and one that the
	// next snapshot no longer has (drop-k). Both are written in the same
	// packs, so that forgetting a snapshot leaves packs that prune must
	// repack, not just delete.
	k := 0
	addSnapshot := func() {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(h.src, fmt.Sprintf("drop-%02d", k-1))); err != nil {
			t.Fatal(err)
		}
		genTree(t, filepath.Join(h.src, fmt.Sprintf("keep-%02d", k)), uint64(200+k), treeSpec{Big: 1, BigSize: 256 << 10, Small: 8, Dirs: 2})
		genTree(t, filepath.Join(h.src, fmt.Sprintf("drop-%02d", k)), uint64(300+k), treeSpec{Big: 3, BigSize: 1 << 20, Small: 12, Dirs: 2})
		m := takeManifest(t, h.src)
		id := r.backup(h.src)
		h.manifests[id] = m
		k++
	}
	const keep = "3"
	for i := 0; i < 5; i++ {
		addSnapshot()
	}
	// Calibrate: forget two snapshots and prune in one run, then forget
	// two more, then prune the garbage of two.
	dForgetPrune := timed(func() { r.ok("forget", "--keep-last", keep, "--prune") })
	addSnapshot()
	addSnapshot()
	dForget := timed(func() { r.ok("forget", "--keep-last", keep) })
	dPrune := timed(func() { r.ok("prune") })

	for i := 0; i < forgetKills; i++ {
		addSnapshot()
		addSnapshot()
		args, d := []string{"forget", "--keep-last", keep}, dForget
		if i%2 == 1 {
			args, d = append(args, "--prune"), dForgetPrune
		}
		h.kill(d, args...)
		h.adopt(nil)
		h.verify()
		// The next run finishes the job.
		r.ok(args...)
		if n := len(r.snapshots()); n != 3 {
			t.Fatalf("after forget --keep-last 3: %d snapshots, want 3", n)
		}
		h.cleanedUp()
	}
	for i := 0; i < pruneKills; i++ {
		addSnapshot()
		addSnapshot()
		r.ok("forget", "--keep-last", keep)
		h.kill(dPrune, "prune")
		h.adopt(nil)
		h.verify()
		h.cleanedUp()
	}
	h.verify()
	h.assertKills()
}

// TestInterruptBackup sends SIGINT (Ctrl-C) and SIGTERM to backups at
// random instants: the process must exit on its own, with an error unless
// it had finished, and leave neither a lock nor a temporary file.
func TestInterruptBackup(t *testing.T) {
	h := newCrashHarness(t, 3)
	r := h.r
	const trials = 4
	var d time.Duration
	for k := 0; k < 2+trials; k++ {
		dir := filepath.Join(h.src, fmt.Sprintf("round-%02d", k))
		genTree(t, dir, uint64(400+k), treeSpec{Big: 8, BigSize: 4 << 20, Small: 20, Dirs: 2})
		if k < 2 { // calibrate
			if dk := timed(func() { r.backup(h.src) }); d == 0 || dk < d {
				d = dk
			}
			continue
		}
		sig := []os.Signal{syscall.SIGINT, syscall.SIGTERM}[k%2]
		delay := d/10 + time.Duration(h.rng.Int64N(int64(d*9/10)))
		c := r.command("backup", h.src)
		var out strings.Builder
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		c.Process.Signal(sig)
		timer := time.AfterFunc(30*time.Second, func() { c.Process.Kill() })
		err := c.Wait()
		timer.Stop()
		t.Logf("%v after %v: %v", sig, delay.Round(time.Millisecond), err)
		if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// The signal came before shoebox set up its handler: as a
			// kill, which the crash tests cover.
			t.Logf("%v arrived before shoebox handled signals", sig)
			r.check()
			continue
		}
		if err != nil && !strings.Contains(out.String(), "signal") {
			t.Errorf("backup stopped by %v: output does not say why:\n%s", sig, out.String())
		}
		if locks := r.files("locks"); len(locks) > 0 {
			t.Errorf("backup stopped by %v left its lock: %v", sig, locks)
		}
		if tmp := r.files(".tmp"); len(tmp) > 0 {
			t.Errorf("backup stopped by %v after %v left temporary files: %v", sig, delay.Round(time.Millisecond), tmp)
		}
		r.check()
	}
}
