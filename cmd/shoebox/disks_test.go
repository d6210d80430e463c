package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
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
