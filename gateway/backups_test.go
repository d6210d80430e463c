package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/appliance"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

type sourceJSON struct {
	Name         string
	Path         string
	Mode         string
	Schedule     string
	FromConfig   bool   `json:"from_config"`
	LastSnapshot string `json:"last_snapshot"`
	LastError    string `json:"last_error"`
	Running      bool
}

func (b *testBox) sourcesByName(tok string) map[string]sourceJSON {
	b.t.Helper()
	var r struct{ Sources []sourceJSON }
	b.must("GET", "/v1/sources", tok, nil, &r)
	out := map[string]sourceJSON{}
	for _, s := range r.Sources {
		out[s.Name] = s
	}
	return out
}

// seededBytes is n deterministic, incompressible bytes.
func seededBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b) // never fails
	return b
}

// TestSourcesCRUD adds a source through the API, watches it back up,
// changes and removes it, and finds the config file's sources read-only.
func TestSourcesCRUD(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	scans := filepath.Join(b.dir, "scans")
	os.MkdirAll(scans, 0o755)
	os.WriteFile(filepath.Join(scans, "letter.pdf"), []byte("%PDF-1.4 a scanned letter"), 0o644)

	var created sourceJSON
	b.must("POST", "/v1/sources", own, map[string]any{"name": "scans", "path": scans, "mode": "continuous"}, &created)
	if created.Name != "scans" || created.FromConfig || created.Mode != "continuous" {
		t.Fatalf("created: %+v", created)
	}
	// It is listed, and backed up (a continuous source catches up at once).
	deadline := time.Now().Add(30 * time.Second)
	for b.sourcesByName(own)["scans"].LastSnapshot == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the new source was not backed up: %+v", b.sourcesByName(own)["scans"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	var snaps struct {
		Snapshots []struct {
			ID, Source string
			Paths      []string
		}
	}
	b.must("GET", "/v1/snapshots?source=scans", own, nil, &snaps)
	if len(snaps.Snapshots) == 0 || snaps.Snapshots[0].Source != "scans" || snaps.Snapshots[0].Paths[0] != scans {
		t.Fatalf("snapshots of scans: %+v", snaps.Snapshots)
	}
	var tree struct{ Nodes []struct{ Name string } }
	b.must("GET", "/v1/snapshots/"+snaps.Snapshots[0].ID+"/tree?path="+url.QueryEscape(scans), own, nil, &tree)
	if len(tree.Nodes) != 1 || tree.Nodes[0].Name != "letter.pdf" {
		t.Errorf("tree of scans: %+v", tree.Nodes)
	}
	// A second source on a path already protected, or a bad name, is
	// refused with the reason.
	for _, bad := range []map[string]any{
		{"name": "scans", "path": b.dir},
		{"name": "", "path": scans},
		{"name": "elsewhere", "path": filepath.Join(b.dir, "no-such-folder")},
	} {
		if code, raw := b.do("POST", "/v1/sources", own, bad); code != http.StatusBadRequest {
			t.Errorf("create %v: HTTP %d, want 400: %s", bad, code, raw)
		}
	}

	// Update: scheduled now.
	var upd sourceJSON
	b.must("PUT", "/v1/sources/scans", own, map[string]any{"name": "scans", "path": scans, "mode": "scheduled", "schedule": "daily 04:00"}, &upd)
	if upd.Mode != "scheduled" || upd.Schedule != "daily 04:00" {
		t.Errorf("updated: %+v", upd)
	}
	if got := b.sourcesByName(own)["scans"]; got.Mode != "scheduled" {
		t.Errorf("listed after update: %+v", got)
	}
	raw, err := os.ReadFile(filepath.Join(b.state, "sources.json"))
	if err != nil || !bytes.Contains(raw, []byte("daily 04:00")) {
		t.Errorf("sources.json after update: %s (%v)", raw, err)
	}

	// The config file's sources cannot be changed or removed here: a
	// clear refusal, not an internal error.
	for _, tc := range []struct{ method, path string }{{"PUT", "/v1/sources/family"}, {"DELETE", "/v1/sources/family"}} {
		code, raw := b.do(tc.method, tc.path, own, map[string]any{"name": "family", "path": b.family, "mode": "scheduled", "schedule": "daily 01:00"})
		if code != http.StatusBadRequest || !bytes.Contains(raw, []byte("config file")) {
			t.Errorf("%s %s: HTTP %d, want 400 naming the config file: %s", tc.method, tc.path, code, raw)
		}
	}
	if got := b.sourcesByName(own)["family"]; got.Mode != "continuous" || !got.FromConfig {
		t.Errorf("family after the refused changes: %+v", got)
	}
	if code, raw := b.do("DELETE", "/v1/sources/nosuch", own, nil); code != http.StatusNotFound {
		t.Errorf("delete an unknown source: HTTP %d, want 404: %s", code, raw)
	}

	// A member may read but not change sources.
	member := b.user("anna", "member", map[string]string{"scans": "write"})
	if code, raw := b.do("DELETE", "/v1/sources/scans", member, nil); code != http.StatusForbidden {
		t.Errorf("member deletes a source: HTTP %d: %s", code, raw)
	}

	// Delete: gone from the list, its snapshots kept.
	b.must("DELETE", "/v1/sources/scans", own, nil, nil)
	if _, ok := b.sourcesByName(own)["scans"]; ok {
		t.Error("scans still listed after delete")
	}
	b.must("GET", "/v1/snapshots?source=scans", own, nil, &snaps)
	if len(snaps.Snapshots) == 0 {
		t.Error("the deleted source's snapshots are gone")
	}
	if code, raw := b.do("POST", "/v1/sources/scans/run", own, struct{}{}); code != http.StatusNotFound {
		t.Errorf("run a deleted source: HTTP %d: %s", code, raw)
	}
}

// TestBackupProgress runs a backup now and watches it over gRPC
// (WatchProgress) and REST (/v1/progress, JSON lines).
func TestBackupProgress(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := pb.NewBackupServiceClient(b.grpcConn(own)).WatchProgress(ctx, &pb.WatchProgressRequest{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const size = 4 << 20
	os.WriteFile(filepath.Join(b.clients, "invoice.bin"), seededBytes(1, size), 0o644)
	b.must("POST", "/v1/sources/clients/run", own, struct{}{}, nil)

	var last *pb.Progress
	for {
		p, err := stream.Recv()
		if err != nil {
			t.Fatalf("progress stream: %v (last %v)", err, last)
		}
		if p.Kind != "backup" || p.Subject != "clients" || p.Started.AsTime().Before(start.Add(-time.Second)) {
			continue
		}
		last = p
		if p.Done {
			break
		}
	}
	if last.Error != "" || last.BytesTotal < size || last.FilesTotal < 1 || last.BytesDone != last.BytesTotal {
		t.Errorf("finished backup's progress: %v", last)
	}
	if src := b.sourcesByName(own)["clients"]; src.LastSnapshot == "" || src.LastError != "" {
		t.Errorf("clients after run now: %+v", src)
	}

	// REST: newline-delimited JSON, {"result": Progress} per line.
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	req, _ := http.NewRequestWithContext(rctx, "GET", b.base+"/v1/progress", nil)
	req.Header.Set("Authorization", "Bearer "+own)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1/progress: HTTP %d", resp.StatusCode)
	}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil {
		t.Fatalf("/v1/progress: no line within the timeout: %v", err)
	}
	var msg struct {
		Result struct {
			Kind, Subject string
			Done          bool
			BytesTotal    int64 `json:"bytes_total,string"`
		}
	}
	if err := json.Unmarshal(line, &msg); err != nil || msg.Result.Kind == "" {
		t.Fatalf("/v1/progress line %q: %v", line, err)
	}
	rcancel()

	// Without a credential, no stream.
	if code, _ := b.do("GET", "/v1/progress", "", nil); code != http.StatusUnauthorized {
		t.Errorf("/v1/progress without a token: HTTP %d", code)
	}
}

// TestSnapshotsBrowseDiffRestore lists, browses and compares snapshots,
// restores to the box and downloads over REST and gRPC.
func TestSnapshotsBrowseDiffRestore(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	files := map[string][]byte{
		"docs/a.txt":        []byte("alpha\n"),
		"docs/deep/b.bin":   seededBytes(2, 3<<20), // more than one 1 MiB message
		"docs/deep/c.empty": {},
		"photos/x.jpg":      seededBytes(3, 1000),
	}
	first := b.backup(files)
	second := b.backup(map[string][]byte{"docs/new.txt": []byte("added later")})

	// Filtered by source: clients has none of family's snapshots.
	os.WriteFile(filepath.Join(b.clients, "c.txt"), []byte("client"), 0o644)
	b.must("POST", "/v1/sources/clients/run", own, struct{}{}, nil)
	deadline := time.Now().Add(30 * time.Second)
	for b.sourcesByName(own)["clients"].LastSnapshot == "" {
		if time.Now().After(deadline) {
			t.Fatal("clients was not backed up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	type snapJSON struct {
		ID, Source  string
		Files       int64     `json:",string"`
		LockedUntil time.Time `json:"locked_until"`
	}
	var all, fam, cl struct{ Snapshots []snapJSON }
	b.must("GET", "/v1/snapshots", own, nil, &all)
	b.must("GET", "/v1/snapshots?source=family", own, nil, &fam)
	b.must("GET", "/v1/snapshots?source=clients", own, nil, &cl)
	if len(cl.Snapshots) != 1 || cl.Snapshots[0].Source != "clients" || len(fam.Snapshots)+1 != len(all.Snapshots) {
		t.Fatalf("snapshots: %d in all, %d of family, clients %+v", len(all.Snapshots), len(fam.Snapshots), cl.Snapshots)
	}
	for _, s := range fam.Snapshots {
		if s.Source != "family" {
			t.Errorf("family filter lists %+v", s)
		}
	}
	if fam.Snapshots[0].ID != second {
		t.Errorf("newest family snapshot %s, want %s", fam.Snapshots[0].ID, second)
	}

	// Browse.
	var tree struct {
		Path  string
		Nodes []struct {
			Name, Type string
			Size       int64 `json:",string"`
		}
	}
	b.must("GET", "/v1/snapshots/"+first+"/tree?path="+url.QueryEscape(b.family+"/docs/deep"), own, nil, &tree)
	if len(tree.Nodes) != 2 || tree.Nodes[0].Name != "b.bin" || tree.Nodes[0].Size != 3<<20 || tree.Nodes[1].Type != "file" {
		t.Errorf("tree: %+v", tree)
	}
	if code, raw := b.do("GET", "/v1/snapshots/"+first+"/tree?path=/nowhere", own, nil); code != http.StatusNotFound {
		t.Errorf("browse a missing path: HTTP %d: %s", code, raw)
	}

	// Diff: the file added in the second.
	var diff struct {
		Changes []struct{ Path, Change string }
	}
	b.must("GET", "/v1/snapshots/"+first+"/diff/"+second, own, nil, &diff)
	added := false
	for _, c := range diff.Changes {
		if c.Path == b.family+"/docs/new.txt" {
			added = c.Change == "added"
		}
		if strings.HasSuffix(c.Path, ".bin") || strings.HasSuffix(c.Path, "a.txt") {
			t.Errorf("diff lists an unchanged file: %+v", c)
		}
	}
	if !added {
		t.Errorf("diff %s → %s: %+v; want docs/new.txt added", first[:8], second[:8], diff.Changes)
	}

	// Restore a folder into a new folder on the box.
	var rr struct {
		Files  int64 `json:",string"`
		Target string
		Errors []string
	}
	b.must("POST", "/v1/snapshots/"+first+"/restore", own, map[string]any{"path": b.family + "/docs", "target": "docs-back"}, &rr)
	root := filepath.Join(b.state, "restores")
	if rr.Target != "docs-back" || rr.Files != 3 || len(rr.Errors) != 0 {
		t.Errorf("restore: %+v", rr)
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(root, rr.Target, b.family, name))
		switch {
		case strings.HasPrefix(name, "docs/") && (err != nil || !bytes.Equal(got, data)):
			t.Errorf("restored %s: %d bytes (%v), want %d", name, len(got), err, len(data))
		case !strings.HasPrefix(name, "docs/") && err == nil:
			t.Errorf("restored %s, outside the path asked for", name)
		}
	}
	// Not over existing files; not outside the restore folder.
	for _, tc := range []struct {
		target string
		want   int
	}{
		{"docs-back", http.StatusBadRequest},
		{"../../etc", http.StatusBadRequest},
		{"a/../../../tmp", http.StatusBadRequest},
		{"..", http.StatusBadRequest},
	} {
		code, raw := b.do("POST", "/v1/snapshots/"+first+"/restore", own, map[string]any{"path": b.family + "/docs", "target": tc.target})
		if code != tc.want {
			t.Errorf("restore to %q: HTTP %d, want %d: %s", tc.target, code, tc.want, raw)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("restore folder holds %v, want only docs-back", names)
	}

	// Download a file over REST: its exact bytes.
	big := files["docs/deep/b.bin"]
	req, _ := http.NewRequest("GET", b.base+"/v1/snapshots/"+first+"/download?path="+url.QueryEscape(b.family+"/docs/deep/b.bin"), nil)
	req.Header.Set("Authorization", "Bearer "+own)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, big) {
		t.Errorf("REST download: HTTP %d, %d bytes (want %d), equal %v", resp.StatusCode, len(got), len(big), bytes.Equal(got, big))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("REST download: Content-Type %q", ct)
	}
	code, small := b.do("GET", "/v1/snapshots/"+first+"/download?path="+url.QueryEscape(b.family+"/docs/a.txt"), own, nil)
	if code != http.StatusOK || string(small) != "alpha\n" {
		t.Errorf("REST download of a small file: HTTP %d, %q", code, small)
	}
	// A folder as a zip.
	code, zipped := b.do("GET", "/v1/snapshots/"+first+"/download?path="+url.QueryEscape(b.family+"/docs"), own, nil)
	if code != http.StatusOK {
		t.Fatalf("REST download of a folder: HTTP %d: %.200s", code, zipped)
	}
	entries := zipContents(t, zipped)
	for name, data := range files {
		if !strings.HasPrefix(name, "docs/") {
			continue
		}
		if e, ok := entries[name]; !ok || !bytes.Equal(e, data) {
			t.Errorf("zip entry %s: present %v, %d bytes, want %d", name, ok, len(e), len(data))
		}
	}
	if len(entries) != 3 {
		t.Errorf("zip holds %v", keysOf(entries))
	}

	// Download over gRPC: a stream of HttpBody messages.
	conn := b.grpcConn(own)
	dl, err := pb.NewBackupServiceClient(conn).Download(context.Background(), &pb.DownloadRequest{Id: first, Path: b.family + "/docs/deep/b.bin"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	msgs := 0
	for {
		m, err := dl.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs++
		buf.Write(m.Data)
	}
	if !bytes.Equal(buf.Bytes(), big) || msgs < 3 {
		t.Errorf("gRPC download: %d bytes in %d messages, equal %v", buf.Len(), msgs, bytes.Equal(buf.Bytes(), big))
	}
	_, err = drainDownload(pb.NewBackupServiceClient(conn).Download(context.Background(), &pb.DownloadRequest{Id: first, Path: "/nowhere"}))
	if status.Code(err) != codes.NotFound {
		t.Errorf("gRPC download of a missing path: %v", err)
	}

	// Lock until a date: listed with it; an earlier date is refused.
	until := time.Now().AddDate(2, 0, 0).UTC().Truncate(24 * time.Hour)
	var locked snapJSON
	b.must("POST", "/v1/snapshots/"+first+"/lock", own, map[string]string{"until": until.Format("2006-01-02")}, &locked)
	if !locked.LockedUntil.Equal(until) {
		t.Errorf("lock: locked_until %v, want %v", locked.LockedUntil, until)
	}
	b.must("GET", "/v1/snapshots?source=family", own, nil, &fam)
	for _, s := range fam.Snapshots {
		if s.ID == first && !s.LockedUntil.Equal(until) {
			t.Errorf("listed lock %v, want %v", s.LockedUntil, until)
		}
		if s.ID == second && !s.LockedUntil.IsZero() {
			t.Errorf("unlocked snapshot listed with a lock %v", s.LockedUntil)
		}
	}
	for _, earlier := range []string{until.AddDate(0, 0, -1).Format("2006-01-02"), time.Now().AddDate(0, 0, -1).Format("2006-01-02"), "soon"} {
		code, raw := b.do("POST", "/v1/snapshots/"+first+"/lock", own, map[string]string{"until": earlier})
		if code != http.StatusBadRequest {
			t.Errorf("lock until %s: HTTP %d, want 400: %s", earlier, code, raw)
		}
	}
	b.must("POST", "/v1/snapshots/"+first+"/lock", own, map[string]string{"until": until.AddDate(1, 0, 0).Format(time.RFC3339)}, &locked)
	if !locked.LockedUntil.Equal(until.AddDate(1, 0, 0)) {
		t.Errorf("extended lock: %v", locked.LockedUntil)
	}
}

func drainDownload(s pb.BackupService_DownloadClient, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n += len(m.Data)
	}
}

// TestBoxStatus covers status, disks, drills, alerts and a scrub.
func TestBoxStatus(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()

	var st struct {
		Ready   string
		Sources []sourceJSON
		Copies  []struct {
			Source   string
			Copies   int
			Where    []string
			Meets321 *bool `json:"meets_3_2_1"`
		}
		OffsiteLag int64 `json:"offsite_lag_seconds,string"`
		Capacity   *struct {
			Total int64 `json:"total_bytes,string"`
			Used  int64 `json:"used_bytes,string"`
			Free  int64 `json:"free_bytes,string"`
		}
		Array *struct {
			Layout, State string
		}
		Operations []struct{ Kind, Subject string }
	}
	b.must("GET", "/v1/status", own, nil, &st)
	if st.Ready != "ok" || len(st.Sources) != 2 || len(st.Copies) != 2 {
		t.Fatalf("status: %+v", st)
	}
	for _, c := range st.Copies {
		if c.Meets321 == nil || *c.Meets321 {
			t.Errorf("copies of %s: meets_3_2_1 %v, want false (no offsite copy)", c.Source, c.Meets321)
		}
		if c.Source == "family" && (c.Copies != 2 || len(c.Where) != 2) {
			t.Errorf("copies of family (backed up): %+v", c)
		}
		// (clients has never been backed up, but the daemon reports a last
		// success at start-up for stall detection, so its copies are not
		// checked here.)
	}
	if st.OffsiteLag != -1 {
		t.Errorf("offsite_lag_seconds %d, want -1", st.OffsiteLag)
	}
	if st.Capacity == nil || st.Capacity.Total <= 0 || st.Capacity.Free <= 0 || st.Capacity.Used < 0 {
		t.Errorf("capacity: %+v", st.Capacity)
	}
	if st.Array == nil || st.Array.State != "healthy" {
		t.Errorf("array: %+v", st.Array)
	}
	backedUp := false
	for _, op := range st.Operations {
		backedUp = backedUp || op.Kind == "backup" && op.Subject == "family"
	}
	if !backedUp {
		t.Errorf("operations %+v; want the start-up backup of family", st.Operations)
	}

	// Disks: the three folders, health unknown (no SMART).
	var disks struct {
		Array struct{ Layout string }
		Disks []struct {
			ID, Path, Health string
			Present          bool
			Reasons          []string `json:"health_reasons"`
		}
	}
	b.must("GET", "/v1/disks", own, nil, &disks)
	if len(disks.Disks) != 3 {
		t.Fatalf("disks: %+v", disks)
	}
	for i, d := range disks.Disks {
		if d.Health != "UNKNOWN" || !d.Present || len(d.Reasons) == 0 || d.Path != filepath.Join(b.dir, fmt.Sprintf("disk-%c", 'a'+i)) {
			t.Errorf("disk %d: %+v", i, d)
		}
	}
	var drills struct{ Drills []json.RawMessage }
	b.must("GET", "/v1/drills", own, nil, &drills)

	// Alerts: one raised on the box reaches a gRPC stream, is listed,
	// and acknowledged.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := pb.NewAlertServiceClient(b.grpcConn(own)).StreamAlerts(ctx, &pb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *pb.Alert, 16)
	go func() {
		for {
			a, err := stream.Recv()
			if err != nil {
				close(got)
				return
			}
			got <- a
		}
	}()
	// The stream subscribes when the server starts it: raise new alerts
	// until one arrives.
	var heard *pb.Alert
	for i := 0; heard == nil; i++ {
		b.d.Bus.Raise("low-space", fmt.Sprintf("test/%d", i), appliance.Warning, "Space is short", "the box has 5% free")
		select {
		case a, ok := <-got:
			if !ok {
				t.Fatalf("alert stream ended: %v", ctx.Err())
			}
			heard = a
		case <-time.After(200 * time.Millisecond):
		}
	}
	if heard.Kind != "low-space" || heard.Severity != "warning" || heard.Subject != "Space is short" || heard.Acked {
		t.Errorf("streamed alert: %v", heard)
	}
	var alerts struct {
		Alerts []struct {
			ID, Kind string
			Acked    bool
		}
	}
	b.must("GET", "/v1/alerts", own, nil, &alerts)
	listed := false
	for _, a := range alerts.Alerts {
		listed = listed || a.ID == heard.Id
	}
	if !listed {
		t.Fatalf("alert %s not listed: %+v", heard.Id, alerts.Alerts)
	}
	var acked struct {
		ID    string
		Acked bool
	}
	b.must("POST", "/v1/alerts/"+heard.Id+"/ack", own, struct{}{}, &acked)
	if !acked.Acked || acked.ID != heard.Id {
		t.Errorf("ack: %+v", acked)
	}
	if code, raw := b.do("POST", "/v1/alerts/nosuch/ack", own, struct{}{}); code != http.StatusNotFound {
		t.Errorf("ack an unknown alert: HTTP %d: %s", code, raw)
	}
	member := b.user("anna", "member", map[string]string{"family": "read"})
	if code, raw := b.do("POST", "/v1/alerts/"+heard.Id+"/ack", member, struct{}{}); code != http.StatusForbidden {
		t.Errorf("member acks: HTTP %d: %s", code, raw)
	}

	// A scrub, started from the API, shows among the operations.
	b.must("POST", "/v1/array/scrub", own, struct{}{}, nil)
	b.must("GET", "/v1/status", own, nil, &st)
	scrub := false
	for _, op := range st.Operations {
		scrub = scrub || op.Kind == "scrub" && op.Subject == "array"
	}
	if !scrub {
		t.Errorf("operations after POST /v1/array/scrub: %+v", st.Operations)
	}
	if code, raw := b.do("POST", "/v1/array/scrub", member, struct{}{}); code != http.StatusForbidden {
		t.Errorf("member starts a scrub: HTTP %d: %s", code, raw)
	}
	found := false
	for _, e := range b.auditEntries(own, "?action=disks.scrub") {
		found = found || e.Actor == "owner"
	}
	if !found {
		t.Error("no audit entry for the scrub")
	}
}
