package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/vault"
)

// TestForgetAndPruneThroughTheDaemon: with the daemon running, the owner
// forgets snapshots by a keep policy and prunes through the API: the
// forgotten snapshot is gone, its data freed, the repository checks
// clean. A locked snapshot is refused by ID and kept by the policy; a
// member may not forget or prune.
func TestForgetAndPruneThroughTheDaemon(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	mia := b.user("mia", "member", map[string]string{"family": "write,share,restore"})
	first := b.backup(map[string][]byte{"a.jpg": seededBytes(1, 300<<10)})
	second := b.backup(map[string][]byte{"a.jpg": seededBytes(2, 300<<10)})
	third := b.backup(map[string][]byte{"a.jpg": seededBytes(3, 300<<10)})
	// The source's watcher backs up once more after each write (finding
	// it unchanged); a forget or prune that meets its lock is answered
	// 503, "try again shortly", and a client does so.
	do := func(method, path, tok string, body any) (int, []byte) {
		t.Helper()
		code, raw := b.do(method, path, tok, body)
		for deadline := time.Now().Add(30 * time.Second); code == http.StatusServiceUnavailable && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			code, raw = b.do(method, path, tok, body)
		}
		return code, raw
	}
	must := func(method, path, tok string, body, out any) {
		t.Helper()
		code, raw := do(method, path, tok, body)
		b.decodeOK(method, path, code, raw, out)
	}
	until := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	b.must("POST", "/v1/snapshots/"+second+"/lock", own, map[string]string{"until": until}, nil)

	for path, body := range map[string]any{"/v1/snapshots/forget": map[string]any{"policy": map[string]int{"last": 1}}, "/v1/repository/prune": struct{}{}} {
		if code, answer := b.do("POST", path, mia, body); code != http.StatusForbidden {
			t.Errorf("POST %s as a member: HTTP %d %s, want 403", path, code, answer)
		}
	}
	if code, body := do("POST", "/v1/snapshots/forget", own, map[string]any{"snapshots": []string{second}}); code != http.StatusBadRequest ||
		!strings.Contains(string(body), "FailedPrecondition") || !strings.Contains(string(body), "immutable until") {
		t.Errorf("forget of a locked snapshot: HTTP %d %s, want 400 FailedPrecondition naming the lock", code, body)
	}
	if code, body := do("POST", "/v1/snapshots/forget", own, map[string]any{}); code != http.StatusBadRequest {
		t.Errorf("forget with neither IDs nor a policy: HTTP %d %s, want 400", code, body)
	}

	var resp struct {
		Decisions []struct {
			ID   string
			Keep bool
		}
		Prune *struct {
			PacksDeleted string `json:"packs_deleted"`
			BytesFreed   string `json:"bytes_freed"`
		}
	}
	must("POST", "/v1/snapshots/forget", own, map[string]any{"policy": map[string]int{"last": 1}, "source": "family", "prune": true}, &resp)
	removed := map[string]bool{}
	for _, d := range resp.Decisions {
		if !d.Keep {
			removed[d.ID] = true
		}
	}
	if !removed[first[:8]] || removed[second[:8]] || removed[third[:8]] || resp.Prune == nil || resp.Prune.BytesFreed == "" || resp.Prune.BytesFreed == "0" {
		t.Errorf("forget --keep-last 1 --prune: removed %v, prune %+v; want %s removed (%s locked, %s the last) and its data freed",
			removed, resp.Prune, first[:8], second[:8], third[:8])
	}
	ctx := context.Background()
	snaps, err := b.d.Repo.Snapshots(ctx)
	if err != nil || len(snaps) != 2 {
		t.Errorf("after forget: %d snapshots (%v), want 2: the locked one and the last", len(snaps), err)
	}
	res, err := b.d.Repo.Check(ctx, vault.CheckOptions{ReadData: true})
	if err != nil || !res.OK() || len(res.Warnings) > 0 {
		t.Errorf("check after forget and prune through the daemon: %+v, %v", res, err)
	}
	// The next backup still works, and prune alone removes nothing a
	// snapshot uses. (It may delete a pack: the watcher's own run after
	// the write finds the source unchanged and makes no snapshot, but the
	// folder trees it wrote, whose times moved, are left for prune.)
	b.backup(map[string][]byte{"b.jpg": seededBytes(4, 1000)})
	must("POST", "/v1/repository/prune", own, map[string]any{}, nil)
	snaps, err = b.d.Repo.Snapshots(ctx)
	if err != nil || len(snaps) != 3 {
		t.Errorf("after the next backup and prune: %d snapshots (%v), want 3", len(snaps), err)
	}
	res, err = b.d.Repo.Check(ctx, vault.CheckOptions{ReadData: true})
	if err != nil || !res.OK() || len(res.Warnings) > 0 {
		t.Errorf("check after a backup and prune through the daemon: %+v, %v", res, err)
	}
}
