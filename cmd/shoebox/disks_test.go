package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/raid/looptest"
)

// TestDisksFromSmartctlFiles: `disks --from-smartctl FILE` tells a file
// it cannot read (exit 2, the file named) from one that is not smartctl
// JSON (exit 3, the file and the first bad byte named), changes nothing
// (no history is written) for either, and reads smartctl output as other
// tools save it.
func TestDisksFromSmartctlFiles(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("..", "..", "smart", "testdata", "ata-196-vendor-flags.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var le bytes.Buffer
	le.Write([]byte{0xff, 0xfe})
	for _, u := range utf16.Encode([]rune(string(fixture))) {
		binary.Write(&le, binary.LittleEndian, u)
	}
	good := write("good.json", fixture)
	tests := []struct {
		name  string
		file  string
		code  int
		wants []string // in stderr for errors, in stdout otherwise
	}{
		{"missing", filepath.Join(dir, "no-such.json"), 2, []string{"no-such.json", "cannot read"}},
		{"folder", dir, 2, []string{dir, "cannot read"}},
		{"not JSON", write("bad.json", []byte(`{"model_name": "X", "serial_number": }`)), 3, []string{"bad.json", "byte 38"}},
		{"not smartctl output", write("list.json", []byte(`[1, 2, 3]`)), 3, []string{"list.json", "not a JSON object"}},
		{"UTF-8 BOM", write("bom.json", append([]byte("\xef\xbb\xbf"), fixture...)), 0, []string{"ST9500325AS", "OK"}},
		{"UTF-16", write("utf16.json", le.Bytes()), 0, []string{"ST9500325AS", "OK"}},
		{"trailing text", write("trailing.json", append(append([]byte(nil), fixture...), "\n[saved by nas-monitor 2.1]\n"...)), 0, []string{"ST9500325AS", "OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			code, stdout, stderr := runCLI(t, "disks", "--state-dir", state, "--from-smartctl", good, "--from-smartctl", tt.file)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			out := stdout
			if tt.code != 0 {
				out = stderr
				if hist, _ := os.ReadDir(filepath.Join(state, "smart")); len(hist) != 0 {
					t.Errorf("history written for a failed command: %d files", len(hist))
				}
			}
			for _, w := range tt.wants {
				if !strings.Contains(out, w) {
					t.Errorf("output does not name %q:\n%s", w, out)
				}
			}
			if strings.Contains(stderr, "Go struct") || strings.Contains(stderr, "SMART data corrupt") && tt.code == 2 {
				t.Errorf("stderr: %s", stderr)
			}
		})
	}
}

// TestDisksEvacuate: `disks --array --evacuate` empties a FAILING member
// and, as the daemon does (appliance.FailingMember), passes over a
// FAILING disk that is no member of the array (the system disk), instead
// of failing with "no disk in the array".
func TestDisksEvacuate(t *testing.T) {
	failing := func(t *testing.T, serial string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "smart", "testdata", "ata-smart-support-bool.json"))
		if err != nil {
			t.Fatal(err)
		}
		var j map[string]any
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		j["serial_number"] = serial
		delete(j, "wwn")
		b, _ = json.Marshal(j)
		p := filepath.Join(t.TempDir(), "failing.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	array := func(t *testing.T, paths []string, opt raid.Options) raid.DiskStatus {
		t.Helper()
		a, err := raid.Create(paths, raid.Layout{Data: 2, Parity: 1}, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		for i := range 6 {
			if err := a.Put(context.Background(), fmt.Sprintf("obj/%d", i), bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 64<<10))); err != nil {
				t.Fatal(err)
			}
		}
		return a.Status().Disks[1]
	}

	t.Run("not a member", func(t *testing.T) {
		paths := []string{t.TempDir(), t.TempDir(), t.TempDir()}
		array(t, paths, raid.Options{AllowSameDrive: true})
		code, stdout, stderr := runCLI(t, "disks", "--state-dir", t.TempDir(), "--from-smartctl", failing(t, "SYSTEM-DISK-1"),
			"--array", "raid:"+strings.Join(paths, ","), "--evacuate")
		if code != 0 {
			t.Fatalf("exit %d, want 0; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stdout, "FAILING") || strings.Contains(stdout, "moving its data") {
			t.Errorf("stdout: got\n%s\nwant the FAILING disk listed and nothing moved", stdout)
		}
	})

	t.Run("member", func(t *testing.T) {
		var paths []string
		for range 4 {
			paths = append(paths, looptest.Ext4(t, 32<<20))
		}
		victim := array(t, paths, raid.Options{})
		if victim.Serial == "" || victim.Shards == 0 {
			t.Skipf("loop member has no drive identity here (%+v)", victim)
		}
		code, stdout, stderr := runCLI(t, "disks", "--state-dir", t.TempDir(), "--from-smartctl", failing(t, victim.Serial),
			"--array", "raid:"+strings.Join(paths, ","), "--evacuate")
		if code != 0 {
			t.Fatalf("exit %d, want 0; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if want := "raid replace " + victim.Serial; !strings.Contains(stdout, "moving its data") || !strings.Contains(stdout, want) {
			t.Errorf("stdout: got\n%s\nwant the member emptied and %q", stdout, want)
		}
		a, err := raid.OpenArray(paths, raid.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		for _, d := range a.Status().Disks {
			if d.DiskID == victim.DiskID && (d.State != raid.StateDraining || d.Shards != 0) {
				t.Errorf("failing member after --evacuate: %+v; want draining with no shards", d)
			}
		}
	})
}
