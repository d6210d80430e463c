package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreExistingFilesAPI: the API's restore follows the CLI's rule
// for files already in the target (one rule, in the vault): refused by
// default, naming the first file in the way (relative to the target) and
// the choices, with nothing written; "skip", "verify" and "overwrite"
// (keeping the replaced file as NAME.shoebox-old unless no_keep) as the
// request's "existing" says.
func TestRestoreExistingFilesAPI(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	files := map[string][]byte{
		"docs/a.txt":        []byte("alpha\n"),
		"docs/deep/b.bin":   seededBytes(2, 300<<10),
		"docs/deep/c.empty": {},
	}
	snap := b.backup(files)
	type reply struct {
		Files    int64 `json:",string"`
		Same     int64 `json:",string"`
		Replaced int64 `json:",string"`
		Skipped  int64 `json:",string"`
		Target   string
		Errors   []string
	}
	restore := func(body map[string]any) (int, string, reply) {
		t.Helper()
		body["path"] = b.family + "/docs"
		body["target"] = "again"
		var rr reply
		code, raw := b.do("POST", "/v1/snapshots/"+snap+"/restore", own, body)
		if code == http.StatusOK {
			if err := json.Unmarshal(raw, &rr); err != nil {
				t.Fatalf("restore answer: %v: %s", err, raw)
			}
		}
		return code, string(raw), rr
	}
	if code, raw, _ := restore(map[string]any{}); code != http.StatusOK {
		t.Fatalf("first restore: HTTP %d %s", code, raw)
	}
	in := func(p string) string {
		return filepath.Join(b.state, "restores", "again", b.family, p)
	}
	os.WriteFile(in("docs/a.txt"), []byte("edited on the box\n"), 0o600)
	os.Remove(in("docs/deep/c.empty"))

	// Default: refused before anything is written.
	rel := filepath.Join(strings.TrimPrefix(b.family, "/"), "docs/a.txt")
	code, raw, _ := restore(map[string]any{})
	var e struct{ Error string }
	json.Unmarshal([]byte(raw), &e)
	for _, want := range []string{rel, `"overwrite"`, `"skip"`, `"verify"`, `"no_keep"`, "nothing was restored"} {
		if code != http.StatusBadRequest || !strings.Contains(e.Error, want) {
			t.Fatalf("restore over existing files: HTTP %d %s\nwant 400 with %q", code, raw, want)
		}
	}
	if _, err := os.Stat(in("docs/deep/c.empty")); err == nil {
		t.Errorf("a refused restore wrote c.empty")
	}

	if code, raw, rr := restore(map[string]any{"existing": "skip"}); code != http.StatusOK || rr.Skipped != 2 || rr.Files != 1 {
		t.Errorf("existing skip: HTTP %d %s; want 2 skipped, 1 file", code, raw)
	}
	if got, _ := os.ReadFile(in("docs/a.txt")); string(got) != "edited on the box\n" {
		t.Errorf("existing skip changed a.txt: %q", got)
	}
	if code, raw, rr := restore(map[string]any{"existing": "verify"}); code != http.StatusOK || rr.Same != 2 || rr.Replaced != 1 {
		t.Errorf("existing verify: HTTP %d %s; want 2 same, 1 replaced", code, raw)
	}
	if got, _ := os.ReadFile(in("docs/a.txt.shoebox-old")); string(got) != "edited on the box\n" {
		t.Errorf("existing verify did not keep the replaced a.txt: %q", got)
	}
	if code, raw, rr := restore(map[string]any{"existing": "overwrite", "no_keep": true}); code != http.StatusOK || rr.Replaced != 3 {
		t.Errorf("existing overwrite, no_keep: HTTP %d %s; want 3 replaced", code, raw)
	}
	if _, err := os.Stat(in("docs/a.txt.shoebox-old.1")); err == nil {
		t.Errorf("no_keep kept a copy")
	}
	if code, raw, _ := restore(map[string]any{"existing": "merge"}); code != http.StatusBadRequest || !strings.Contains(raw, "merge") || !strings.Contains(raw, "verify") {
		t.Errorf("existing merge: HTTP %d %s; want 400 naming the value and the choices", code, raw)
	}
}
