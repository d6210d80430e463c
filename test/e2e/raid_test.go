package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// The disk array through the real binary: a repository on
// --repo raid:DIR1,DIR2,... survives lost disks and bit rot, and SIGKILL
// during backup, rebuild and replace leaves an array that `check
// --read-data` accepts, every snapshot restoring byte-identical, and a
// rebuild that completes when run again.

// raidDisks returns n member paths under a fresh temporary directory.
func raidDisks(t *testing.T, n int) []string {
	t.Helper()
	root := t.TempDir()
	var disks []string
	for i := 0; i < n; i++ {
		disks = append(disks, filepath.Join(root, fmt.Sprintf("disk%d", i)))
	}
	return disks
}

// newRaidRepo creates an array on disks with `shoebox raid create` (layout
// flags in create) and a repository with 1 MiB packs on it.
func newRaidRepo(t *testing.T, disks []string, create ...string) *repo {
	t.Helper()
	r := &repo{t: t, dir: "raid:" + strings.Join(disks, ","), password: testPassword}
	r.ok(append(append([]string{"raid", "create", "--allow-same-drive"}, create...), disks...)...)
	var out struct {
		ID       string `json:"id"`
		Recovery string `json:"recovery_identity"`
	}
	r.runJSON(&out, "init", "--scrypt-logn", "10", "--pack-size", strconv.Itoa(1<<20))
	if out.ID == "" {
		t.Fatalf("init on an array printed no ID")
	}
	r.id, r.recovery = out.ID, out.Recovery
	return r
}

// withDisks returns r on another set of the array's disks.
func (r *repo) withDisks(disks []string) *repo {
	c := *r
	c.dir = "raid:" + strings.Join(disks, ",")
	return &c
}

type raidStatus struct {
	State    string `json:"state"`
	Objects  int    `json:"objects"`
	Degraded int    `json:"degraded_objects"`
	Lost     int    `json:"lost_objects"`
	Disks    []struct {
		DiskID  string `json:"disk_id"`
		Path    string `json:"path"`
		State   string `json:"state"`
		Present bool   `json:"present"`
		Shards  int    `json:"shards"`
		Problem string `json:"problem"`
	} `json:"disks"`
}

type raidReport struct {
	Objects       int      `json:"objects"`
	ErrorsFound   int      `json:"errors_found"`
	Repaired      int      `json:"errors_repaired"`
	Degraded      []string `json:"degraded"`
	Unrecoverable []string `json:"unrecoverable"`
}

func (r *repo) raidStatus(disks []string) raidStatus {
	r.t.Helper()
	var st raidStatus
	r.runJSON(&st, append([]string{"raid", "status"}, disks...)...)
	return st
}

func (r *repo) raidRun(args ...string) raidReport {
	r.t.Helper()
	var rep raidReport
	r.runJSON(&rep, append([]string{"raid"}, args...)...)
	return rep
}

// flipShardBits flips a bit in one shard file of about every hundredth
// object on the disks, never two of one object.
func flipShardBits(t *testing.T, disks []string, seed uint64) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0xb17))
	seen := map[string]bool{}
	n := 0
	for _, d := range disks {
		root := filepath.Join(d, "shoebox", "shards")
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			obj := p[len(root):strings.LastIndex(p, ".shard")]
			if seen[obj] || rng.IntN(100) != 0 {
				return nil
			}
			seen[obj] = true
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			i := rng.IntN(len(b))
			b[i] ^= 1 << rng.IntN(8)
			n++
			return os.WriteFile(p, b, 0o600)
		})
	}
	return n
}

// TestRaidRepository backs up the media test set to a 2+2 array, loses a
// disk and flips bits on the others: check and restore pass through the
// array, scrub repairs, replace brings full redundancy back.
func TestRaidRepository(t *testing.T) {
	media := testcorpus.Media(t)
	disks := raidDisks(t, 4)
	r := newRaidRepo(t, disks, "--data", "2", "--parity", "2")
	src := filepath.Join(t.TempDir(), "src")
	genTree(t, src, 11, treeSpec{Big: 2, BigSize: 1 << 20, Small: 40, Dirs: 3, Symlinks: true})
	want := takeManifest(t, src)
	id1 := r.backup(src)
	id2 := r.backup(media)
	wantMedia := takeManifest(t, media)

	if err := os.RemoveAll(disks[1]); err != nil {
		t.Fatal(err)
	}
	survivors := []string{disks[3], disks[0], disks[2]} // any order
	flipped := flipShardBits(t, survivors, 1)
	r = r.withDisks(survivors)
	r.check()
	r.restoreAndCompare(id1, src, want)
	r.restoreAndCompare(id2, media, wantMedia)
	if st := r.raidStatus(survivors); st.State != "degraded" || st.Lost != 0 {
		t.Errorf("status with a disk gone: %+v", st)
	}
	rep := r.raidRun(append([]string{"scrub", "--repair"}, survivors...)...)
	if rep.ErrorsFound < rep.Objects || len(rep.Unrecoverable) != 0 {
		t.Errorf("scrub: %+v; want an error per object (a disk is gone) and %d bit flips found, none unrecoverable", rep, flipped)
	}
	fresh := filepath.Join(filepath.Dir(disks[0]), "fresh")
	r.raidRun(append([]string{"replace", disks[1], fresh}, survivors...)...)
	all := append(survivors, fresh)
	if st := r.raidStatus(all); st.State != "healthy" || st.Degraded != 0 {
		t.Errorf("status after replace: %+v", st)
	}
	r = r.withDisks(all)
	if rep := r.raidRun(append([]string{"scrub"}, all...)...); rep.ErrorsFound != 0 {
		t.Errorf("scrub after replace: %+v", rep)
	}
	r.check()
	r.restoreAndCompare(id2, media, wantMedia)
}

// TestRaidCrashBackup kills backups to a 3+1 array at random instants.
func TestRaidCrashBackup(t *testing.T) {
	disks := raidDisks(t, 4)
	h := &crashHarness{
		t:         t,
		r:         newRaidRepo(t, disks, "--data", "3", "--parity", "1"),
		src:       filepath.Join(t.TempDir(), "src"),
		manifests: map[string]manifest{},
		rng:       rand.New(rand.NewPCG(21, 0xc4a54)),
	}
	r := h.r
	genTree(t, filepath.Join(h.src, "base"), 21, treeSpec{Big: 1, BigSize: 1 << 20, Small: 60, Dirs: 4, Symlinks: true})
	round := func(k int) manifest {
		t.Helper()
		os.RemoveAll(filepath.Join(h.src, fmt.Sprintf("round-%02d", k-1)))
		genTree(t, filepath.Join(h.src, fmt.Sprintf("round-%02d", k)), uint64(500+k), treeSpec{Big: 8, BigSize: 4 << 20, Small: 20, Dirs: 2})
		return takeManifest(t, h.src)
	}
	var d time.Duration
	for k := 0; k < 2; k++ {
		m := round(k)
		var id string
		if dk := timed(func() { id = r.backup(h.src) }); d == 0 || dk < d {
			d = dk
		}
		h.manifests[id] = m
	}
	for k := 2; k < 6; k++ {
		m := round(k)
		h.kill(d, "backup", h.src)
		h.adopt(m)
		h.verify()
		// The array opened by check removed the killed writer's objects
		// with fewer than Data shards and its temporary files. An object
		// the kill caught after Data but before all its shards were
		// written is whole but short of redundancy: scrub repairs it, and
		// a second scrub finds nothing.
		if rep := r.raidRun(append([]string{"scrub", "--repair"}, disks...)...); rep.ErrorsFound != rep.Repaired || len(rep.Unrecoverable) != 0 {
			t.Errorf("scrub --repair after a killed backup: %+v", rep)
		}
		if rep := r.raidRun(append([]string{"scrub"}, disks...)...); rep.ErrorsFound != 0 || len(rep.Degraded) != 0 {
			t.Errorf("second scrub after a killed backup: %+v", rep)
		}
		for _, disk := range disks {
			if tmp, _ := os.ReadDir(filepath.Join(disk, "shoebox", ".tmp")); len(tmp) != 0 {
				t.Errorf("%d temporary files of the killed backup left on %s", len(tmp), disk)
			}
		}
		h.manifests[r.backup(h.src)] = m
		r.ok("forget", "--keep-last", "2", "--prune")
	}
	h.verify()
	h.assertKills()
}

// TestRaidCrashRebuild loses a disk of a 2+1 array of four, then kills
// `raid rebuild` (onto the three left) or `raid replace` at random
// instants: running the same command again completes, the array is fully
// redundant, and the repository checks and restores.
func TestRaidCrashRebuild(t *testing.T) {
	disks := raidDisks(t, 4)
	r := newRaidRepo(t, disks, "--data", "2", "--parity", "1")
	src := filepath.Join(t.TempDir(), "src")
	genTree(t, src, 31, treeSpec{Big: 12, BigSize: 4 << 20, Small: 100, Dirs: 4, Symlinks: true})
	want := takeManifest(t, src)
	id := r.backup(src)
	rng := rand.New(rand.NewPCG(31, 0x4eb))

	// lose removes a disk and returns the others.
	lose := func(gone string) []string {
		t.Helper()
		if err := os.RemoveAll(gone); err != nil {
			t.Fatal(err)
		}
		var rest []string
		for _, d := range disks {
			if d != gone {
				rest = append(rest, d)
			}
		}
		return rest
	}
	healthy := func(disks []string, allPresent bool) {
		t.Helper()
		st := r.raidStatus(disks)
		if st.Degraded != 0 || st.Lost != 0 || (allPresent && st.State != "healthy") {
			t.Fatalf("status: %+v; want every object fully redundant", st)
		}
		rr := r.withDisks(disks)
		rr.check()
		rr.restoreAndCompare(id, src, want)
	}
	// Calibrate on an uninterrupted rebuild of a lost disk's shards; kills
	// land after the time it takes to open the array.
	rest := lose(disks[0])
	base := timed(func() { r.raidStatus(rest) })
	d := timed(func() { r.raidRun(append([]string{"rebuild"}, rest...)...) })
	healthy(rest, false)
	r.raidRun(append([]string{"remove", disks[0]}, rest...)...)
	fresh := disks[0] + "-new"
	r.raidRun(append([]string{"add", fresh}, rest...)...)
	disks = append(rest, fresh)
	healthy(disks, true)

	kills, trials := 0, 0
	kill := func(args ...string) {
		t.Helper()
		delay := base + time.Duration(rng.Int64N(int64(max(d-base, 0))*3/4+1))
		trials++
		killed := r.killAfter(delay, args...)
		if killed {
			kills++
		}
		st := r.raidStatus(args[len(args)-3:])
		t.Logf("trial %d: shoebox %s killed after %v (of ~%v): hit a running process: %v; %d of %d objects left degraded",
			trials, strings.Join(args[:2], " "), delay.Round(time.Millisecond), d.Round(time.Millisecond), killed, st.Degraded, st.Objects)
	}
	for trial := 0; trial < 6; trial++ {
		gone := disks[trial%len(disks)]
		rest := lose(gone)
		if trial%2 == 0 {
			args := append([]string{"raid", "rebuild"}, rest...)
			kill(args...)
			rep := r.raidRun(args[1:]...)
			if len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
				t.Fatalf("rebuild run again: %+v", rep)
			}
			healthy(rest, false)
			r.raidRun(append([]string{"remove", gone}, rest...)...)
			nd := fmt.Sprintf("%s-%d", gone, trial)
			r.raidRun(append([]string{"add", nd}, rest...)...)
			disks = append(rest, nd)
		} else {
			nd := fmt.Sprintf("%s-%d", gone, trial)
			args := append([]string{"raid", "replace", gone, nd}, rest...)
			kill(args...)
			rep := r.raidRun(args[1:]...)
			if len(rep.Degraded)+len(rep.Unrecoverable) != 0 {
				t.Fatalf("replace run again: %+v", rep)
			}
			disks = append(rest, nd)
		}
		healthy(disks, true)
		if rep := r.raidRun(append([]string{"scrub"}, disks...)...); rep.ErrorsFound != 0 {
			t.Errorf("scrub after trial %d: %+v", trial, rep)
		}
	}
	if kills*2 < trials {
		t.Errorf("only %d of %d kills hit a running process", kills, trials)
	}
}
