package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// TestDisksCommand drives `shoebox disks` on recorded real drives: the
// verdicts, the history it keeps, and an acknowledgement.
func TestDisksCommand(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testcorpus.SMART(t, "smartctl-json", "testdata"), "*.json"))
	if len(files) == 0 {
		t.Fatal("no recorded SMART data")
	}
	r := &repo{t: t, dir: t.TempDir(), env: []string{"SHOEBOX_STATE_DIR=" + t.TempDir()}}
	args := []string{"--json", "disks"}
	for _, f := range files {
		args = append(args, "--from-smartctl", f)
	}
	var sts []struct {
		Path   string `json:"path"`
		Record struct {
			Serial string `json:"serial"`
		} `json:"record"`
		Verdict struct {
			State   string   `json:"state"`
			Reasons []string `json:"reasons"`
		} `json:"verdict"`
	}
	r.runJSON(&sts, args[1:]...)
	if len(sts) != len(files) {
		t.Fatalf("disks printed %d disks, want %d", len(sts), len(files))
	}
	counts := map[string]int{}
	var warned string
	for _, s := range sts {
		counts[s.Verdict.State]++
		if s.Verdict.State != "OK" && len(s.Verdict.Reasons) == 0 {
			t.Errorf("%s is %s without a reason", s.Path, s.Verdict.State)
		}
		if s.Verdict.State == "WARNING" && warned == "" && s.Record.Serial != "" {
			warned = s.Record.Serial
		}
	}
	if counts["FAILING"] == 0 || counts["OK"] == 0 || counts["WARNING"] == 0 {
		t.Errorf("verdicts %v: want OK, WARNING and FAILING drives among the recorded ones", counts)
	}
	// The human table names each disk and its verdict.
	out := r.ok(append([]string{"disks"}, args[2:]...)...).stdout
	if !strings.Contains(out, "VERDICT") || !strings.Contains(out, "FAILING") {
		t.Errorf("disks table:\n%s", out)
	}
	if warned == "" {
		t.Fatal("no WARNING drive with a serial in the SMART corpus")
	}
	hist := r.ok("disks", "history", warned).stdout
	if strings.Count(hist, "WARNING") < 2 {
		t.Errorf("history of %s after two readings:\n%s", warned, hist)
	}
	r.ok("disks", "ack", warned, "--note", "known since the move")
	var h struct {
		Baseline *struct {
			Note string `json:"note"`
		} `json:"baseline"`
	}
	res := r.ok("--json", "disks", "history", warned)
	if err := json.Unmarshal([]byte(res.stdout), &h); err != nil || h.Baseline == nil || h.Baseline.Note != "known since the move" {
		t.Errorf("history after ack: %s (%v)", res.stdout, err)
	}
	if res := r.run("disks", "ack", "NO-SUCH-DISK"); res.code == 0 || !strings.Contains(res.stderr, "NO-SUCH-DISK") {
		t.Errorf("ack of an unknown disk: %v", res)
	}
}
