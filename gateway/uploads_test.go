package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// uploadJSON is an Upload as REST shows it (int64 as strings).
type uploadJSON struct {
	ID          string `json:"id"`
	Offset      int64  `json:"offset,string"`
	Size        int64  `json:"size,string"`
	AlreadyHave bool   `json:"already_have"`
	Complete    bool   `json:"complete"`
	StoredPath  string `json:"stored_path"`
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// uploadPhoto is the photo the upload tests send (about 116 KB, so that
// it takes several chunks).
func uploadPhoto(t *testing.T) []byte {
	t.Helper()
	return mediaPhotos(t, sharePhotos[0])["altitude.jpg"]
}

// photoTime is the photo's modification time on the phone: it picks the
// inbox's YYYY/MM folder.
var photoTime = time.Date(2025, 7, 14, 10, 30, 0, 0, time.UTC)

// dropChunk sends PUT /v1/uploads/{id} with only the first half of its
// body over a fresh HTTP/1.1 connection, then cuts the connection: a
// phone losing its network mid-chunk.
func (b *testBox) dropChunk(tok, id string, body []byte) {
	b.t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(b.base, "https://"), &tls.Config{RootCAs: b.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		b.t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PUT /v1/uploads/%s HTTP/1.1\r\nHost: box\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		id, tok, len(body))
	w.Write(body[:len(body)/2])
	if err := w.Flush(); err != nil {
		b.t.Fatal(err)
	}
	// Cut once the box is receiving the body (it has made room for it).
	waitFor(b.t, "the box to receive the chunk", func() bool { return b.g.chunks.held() > 0 })
	conn.Close()
}

// waitInSnapshot waits until the newest snapshot of family holds the
// file at p (a path on the box) with size bytes.
func (b *testBox) waitInSnapshot(tok, p string, size int64, within time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		var snaps struct{ Snapshots []struct{ ID string } }
		b.must("GET", "/v1/snapshots?source=family", tok, nil, &snaps)
		if len(snaps.Snapshots) > 0 {
			code, raw := b.do("GET", "/v1/snapshots/"+snaps.Snapshots[0].ID+"/tree?path="+p, tok, nil)
			var tree struct {
				Nodes []struct {
					Name string
					Size int64 `json:",string"`
				}
			}
			if code == http.StatusOK && json.Unmarshal(raw, &tree) == nil && len(tree.Nodes) == 1 &&
				tree.Nodes[0].Name == filepath.Base(p) && tree.Nodes[0].Size == size {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s not in a snapshot of family within %v", p, within)
	return 0
}

// TestUploadResumable sends a real photo in chunks over REST (base64 in
// JSON), loses the connection mid-chunk, is told where to resume, and
// finds the photo filed in the family folder and backed up within
// seconds.
func TestUploadResumable(t *testing.T) {
	t.Parallel()
	photo := uploadPhoto(t)
	b := newTestBox(t)
	own := b.owner()
	const chunk = 40000
	sum := sumHex(photo)

	var up uploadJSON
	b.must("POST", "/v1/uploads", own, map[string]any{"space": "family", "device": "annas-phone", "name": "IMG_0042.JPG",
		"size": len(photo), "sha256": sum, "mtime": photoTime.Format(time.RFC3339), "content_type": "image/jpeg"}, &up)
	if up.ID == "" || up.Offset != 0 || up.Size != int64(len(photo)) || up.AlreadyHave {
		t.Fatalf("create: %+v", up)
	}
	// Asking again (an app that restarted) gives the same upload.
	var again uploadJSON
	b.must("POST", "/v1/uploads", own, map[string]any{"space": "family", "device": "annas-phone", "name": "IMG_0042.JPG",
		"size": len(photo), "sha256": sum, "mtime": photoTime.Format(time.RFC3339)}, &again)
	if again.ID != up.ID {
		t.Errorf("create again: upload %q, want the unfinished %q", again.ID, up.ID)
	}
	put := func(off int) (int, []byte) {
		end := min(off+chunk, len(photo))
		return b.do("PUT", "/v1/uploads/"+up.ID, own, map[string]any{"offset": off, "data": photo[off:end]})
	}

	// The first chunk arrives.
	code, raw := put(0)
	if code != http.StatusOK {
		t.Fatalf("chunk 1: HTTP %d: %s", code, raw)
	}
	json.Unmarshal(raw, &up)
	if up.Offset != chunk {
		t.Fatalf("after chunk 1: offset %d, want %d", up.Offset, chunk)
	}
	// The second is cut off mid-way; the phone does not know what
	// arrived and carries on with the third.
	body, _ := json.Marshal(map[string]any{"offset": chunk, "data": photo[chunk : 2*chunk]})
	b.dropChunk(own, up.ID, body)
	code, raw = put(2 * chunk)
	if code != http.StatusConflict && code != http.StatusPreconditionFailed {
		t.Fatalf("chunk at the wrong offset: HTTP %d, want 409 or 412: %s", code, raw)
	}
	if !bytes.Contains(raw, []byte(fmt.Sprintf("at offset %d", chunk))) {
		t.Errorf("wrong-offset answer does not name the current offset %d: %s", chunk, raw)
	}
	// The box says where to resume: the cut chunk was not acknowledged.
	var st uploadJSON
	b.must("GET", "/v1/uploads/"+up.ID, own, nil, &st)
	if st.Offset != chunk || st.Complete {
		t.Fatalf("after the dropped chunk: %+v, want offset %d", st, chunk)
	}
	// Completing early is refused.
	if code, raw := b.do("POST", "/v1/uploads/"+up.ID+"/complete", own, struct{}{}); code == http.StatusOK {
		t.Fatalf("complete with %d of %d bytes: HTTP %d: %s", st.Offset, len(photo), code, raw)
	}
	for off := int(st.Offset); off < len(photo); off += chunk {
		if code, raw := put(off); code != http.StatusOK {
			t.Fatalf("chunk at %d: HTTP %d: %s", off, code, raw)
		}
	}
	var done uploadJSON
	b.must("POST", "/v1/uploads/"+up.ID+"/complete", own, struct{}{}, &done)
	want := filepath.Join(b.family, "annas-phone", "2025", "07", "IMG_0042.JPG")
	if !done.Complete || done.StoredPath != "annas-phone/2025/07/IMG_0042.JPG" {
		t.Fatalf("complete: %+v, want stored at annas-phone/2025/07/IMG_0042.JPG in family", done)
	}
	got, err := os.ReadFile(want)
	if err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("stored file: %d bytes (%v), want the photo's %d", len(got), err, len(photo))
	}
	if fi, _ := os.Stat(want); !fi.ModTime().Equal(photoTime) {
		t.Errorf("stored file's mtime %v, want %v", fi.ModTime(), photoTime)
	}
	left, _ := filepath.Glob(filepath.Join(b.state, "gateway", "uploads", "*.part"))
	if len(left) != 0 {
		t.Errorf("part files left after completion: %v", left)
	}

	// The continuous source backs it up within seconds.
	took := b.waitInSnapshot(own, want, int64(len(photo)), 30*time.Second)
	t.Logf("uploaded photo in a snapshot %.1f s after completion", took.Seconds())

	// The same file again: the box has it.
	var dup uploadJSON
	b.must("POST", "/v1/uploads", own, map[string]any{"space": "family", "device": "bens-phone", "name": "copy.jpg",
		"size": len(photo), "sha256": sum}, &dup)
	if !dup.AlreadyHave || dup.ID != "" {
		t.Errorf("create of a file the box holds: %+v, want already_have", dup)
	}
	// HaveFiles answers in a batch.
	other := sumHex([]byte("never sent"))
	var have struct{ Have []string }
	b.must("POST", "/v1/uploads/have", own, map[string]any{"space": "family", "device": "annas-phone", "sha256": []string{other, sum}}, &have)
	if len(have.Have) != 1 || have.Have[0] != sum {
		t.Errorf("have: %v, want just %s", have.Have, sum[:12])
	}
	if code, raw := b.do("POST", "/v1/uploads/have", own, map[string]any{"space": "family", "sha256": []string{"nothex"}}); code != http.StatusBadRequest {
		t.Errorf("have with a malformed hash: HTTP %d: %s", code, raw)
	}
	// The device's history.
	var hist struct {
		Files []struct {
			Sha256, Name string
			Size         int64  `json:",string"`
			StoredPath   string `json:"stored_path"`
		}
	}
	b.must("GET", "/v1/devices/annas-phone/uploads", own, nil, &hist)
	if len(hist.Files) != 1 || hist.Files[0].Sha256 != sum || hist.Files[0].Name != "IMG_0042.JPG" ||
		hist.Files[0].Size != int64(len(photo)) || hist.Files[0].StoredPath != done.StoredPath {
		t.Errorf("history: %+v", hist.Files)
	}
	b.must("GET", "/v1/devices/bens-phone/uploads", own, nil, &hist)
	if len(hist.Files) != 0 {
		t.Errorf("another device's history: %+v", hist.Files)
	}
	// The upload is in the audit log.
	found := false
	for _, e := range b.auditEntries(own, "?action=upload") {
		found = found || e.Target == "family:"+done.StoredPath && e.Detail["sha256"] == sum
	}
	if !found {
		t.Error("no audit entry for the upload")
	}
}

// TestUploadChecksumMismatch: data that does not match the declared
// SHA-256 is refused and nothing lands; the upload restarts at 0.
func TestUploadChecksumMismatch(t *testing.T) {
	t.Parallel()
	photo := uploadPhoto(t)
	b := newMemBox(t)
	own := b.owner()
	damaged := bytes.Clone(photo)
	damaged[len(damaged)/2] ^= 0x01
	var up uploadJSON
	b.must("POST", "/v1/uploads", own, map[string]any{"space": "family", "device": "annas-phone", "name": "IMG_0043.JPG",
		"size": len(photo), "sha256": sumHex(photo), "mtime": photoTime.Format(time.RFC3339)}, &up)
	b.must("PUT", "/v1/uploads/"+up.ID, own, map[string]any{"offset": 0, "data": damaged}, nil)
	code, raw := b.do("POST", "/v1/uploads/"+up.ID+"/complete", own, struct{}{})
	if code == http.StatusOK || !bytes.Contains(raw, []byte("SHA-256")) {
		t.Fatalf("complete with damaged data: HTTP %d: %s", code, raw)
	}
	if _, err := os.Stat(filepath.Join(b.family, "annas-phone")); err == nil {
		ents, _ := os.ReadDir(filepath.Join(b.family, "annas-phone", "2025", "07"))
		t.Fatalf("something landed in the family folder: %v", ents)
	}
	var st uploadJSON
	b.must("GET", "/v1/uploads/"+up.ID, own, nil, &st)
	if st.Offset != 0 || st.Complete {
		t.Errorf("after the mismatch: %+v, want offset 0", st)
	}
	// Sent again, right: it lands.
	b.must("PUT", "/v1/uploads/"+up.ID, own, map[string]any{"offset": 0, "data": photo}, nil)
	b.must("POST", "/v1/uploads/"+up.ID+"/complete", own, struct{}{}, &st)
	if got, err := os.ReadFile(filepath.Join(b.family, st.StoredPath)); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("after a good retry: %v", err)
	}
}

// TestUploadGRPC runs the phone's flow over gRPC with raw bytes.
func TestUploadGRPC(t *testing.T) {
	t.Parallel()
	photo := uploadPhoto(t)
	b := newTestBox(t)
	own := b.owner()
	ctx := context.Background()
	c := pb.NewUploadServiceClient(b.grpcConn(own))
	sum := sumHex(photo)
	up, err := c.CreateUpload(ctx, &pb.CreateUploadRequest{Space: "family", Device: "pixel", Name: "PXL_0001.jpg",
		Size: int64(len(photo)), Sha256: sum, Mtime: timestamppb.New(photoTime), ContentType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 50000
	if _, err := c.WriteChunk(ctx, &pb.WriteChunkRequest{Id: up.Id, Offset: 0, Data: photo[:chunk]}); err != nil {
		t.Fatal(err)
	}
	_, err = c.WriteChunk(ctx, &pb.WriteChunkRequest{Id: up.Id, Offset: 2 * chunk, Data: photo[2*chunk:]})
	if s := status.Convert(err); s.Code() != codes.Aborted || !strings.Contains(s.Message(), fmt.Sprintf("at offset %d", chunk)) {
		t.Fatalf("chunk at the wrong offset: %v, want Aborted naming offset %d", err, chunk)
	}
	st, err := c.GetUpload(ctx, &pb.UploadRequest{Id: up.Id})
	if err != nil || st.Offset != chunk {
		t.Fatalf("get upload: %v, %v", st, err)
	}
	for off := st.Offset; off < int64(len(photo)); off += chunk {
		end := min(off+chunk, int64(len(photo)))
		w, err := c.WriteChunk(ctx, &pb.WriteChunkRequest{Id: up.Id, Offset: off, Data: photo[off:end]})
		if err != nil || w.Offset != end {
			t.Fatalf("chunk at %d: %v, %v", off, w, err)
		}
	}
	done, err := c.CompleteUpload(ctx, &pb.UploadRequest{Id: up.Id})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(b.family, "pixel", "2025", "07", "PXL_0001.jpg")
	if done.StoredPath != "pixel/2025/07/PXL_0001.jpg" {
		t.Errorf("stored at %s, want pixel/2025/07/PXL_0001.jpg in family", done.StoredPath)
	}
	if got, err := os.ReadFile(want); err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("stored file differs (%v)", err)
	}
	// Completing again tells the same answer.
	if again, err := c.CompleteUpload(ctx, &pb.UploadRequest{Id: up.Id}); err != nil || again.StoredPath != done.StoredPath {
		t.Errorf("complete again: %v, %v", again, err)
	}
	have, err := c.HaveFiles(ctx, &pb.HaveFilesRequest{Space: "family", Device: "pixel", Sha256: []string{sum}})
	if err != nil || len(have.Have) != 1 {
		t.Errorf("have: %v, %v", have, err)
	}
	hist, err := c.UploadHistory(ctx, &pb.UploadHistoryRequest{Device: "pixel"})
	if err != nil || len(hist.Files) != 1 || hist.Files[0].StoredPath != done.StoredPath {
		t.Errorf("history: %v, %v", hist, err)
	}
	dup, err := c.CreateUpload(ctx, &pb.CreateUploadRequest{Space: "family", Device: "pixel", Name: "again.jpg",
		Size: int64(len(photo)), Sha256: sum})
	if err != nil || !dup.AlreadyHave {
		t.Errorf("create again: %v, %v", dup, err)
	}
	b.waitInSnapshot(own, want, int64(len(photo)), 30*time.Second)
}

// TestUploadAccess: who may upload where. Upload needs the write
// permission on the target space (for a member); a viewer never uploads;
// an upload belongs to the person who started it.
func TestUploadAccess(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	viewer := b.user("grandpa", "viewer", map[string]string{"family": "read"})
	member := b.user("anna", "member", map[string]string{"family": "write", "archive": "write"})
	writer := b.user("ben", "member", map[string]string{"clients": "write"})
	reader := b.user("cleo", "member", map[string]string{"family": "read,share,restore"})
	// Each device sends its own small file.
	photoOf := func(device, space string) []byte { return []byte("a photo from " + device + " for " + space) }
	create := func(tok, space, device string) (int, []byte) {
		data := photoOf(device, space)
		return b.do("POST", "/v1/uploads", tok, map[string]any{"space": space, "device": device, "name": "x.jpg",
			"size": len(data), "sha256": sumHex(data)})
	}

	for _, tc := range []struct {
		who, tok, space string
		want            int
	}{
		{"viewer with a read grant", viewer, "family", http.StatusForbidden},
		{"viewer, space without a grant", viewer, "clients", http.StatusForbidden},
		{"member with a write grant on family", member, "family", http.StatusOK},
		{"member with read, share and restore", reader, "family", http.StatusForbidden},
		{"member, space without a grant", member, "clients", http.StatusForbidden},
		{"member with a write grant", writer, "clients", http.StatusOK},
		{"member with a write grant elsewhere", writer, "family", http.StatusForbidden},
		{"owner", own, "clients", http.StatusOK},
		{"owner, no such space", own, "nowhere", http.StatusNotFound},
	} {
		t.Run(tc.who, func(t *testing.T) {
			code, raw := create(tc.tok, tc.space, "dev-"+tc.who)
			if code != tc.want {
				t.Errorf("upload into %s: HTTP %d, want %d: %s", tc.space, code, tc.want, raw)
			}
		})
	}
	// Nothing a viewer does under /v1/uploads is allowed, their history
	// included.
	if code, raw := b.do("GET", "/v1/devices/x/uploads", viewer, nil); code != http.StatusForbidden {
		t.Errorf("viewer's upload history: HTTP %d: %s", code, raw)
	}

	// Anna's upload is hers: Ben can neither see nor write nor complete it.
	var up uploadJSON
	data := photoOf("annas-phone", "family")
	code, raw := create(member, "family", "annas-phone")
	if code != http.StatusOK || json.Unmarshal(raw, &up) != nil {
		t.Fatalf("create: HTTP %d: %s", code, raw)
	}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/uploads/" + up.ID, nil},
		{"PUT", "/v1/uploads/" + up.ID, map[string]any{"offset": 0, "data": data}},
		{"POST", "/v1/uploads/" + up.ID + "/complete", struct{}{}},
		{"DELETE", "/v1/uploads/" + up.ID, nil},
	} {
		if code, raw := b.do(tc.method, tc.path, writer, tc.body); code != http.StatusForbidden && code != http.StatusNotFound {
			t.Errorf("%s %s as another member: HTTP %d: %s", tc.method, tc.path, code, raw)
		}
	}
	b.must("PUT", "/v1/uploads/"+up.ID, member, map[string]any{"offset": 0, "data": data}, nil)
	// Her grant on family is revoked before she completes: the file does
	// not land in a space she no longer has (though she may still upload
	// elsewhere).
	b.must("DELETE", "/v1/users/anna/grants/family", b.localToken(), nil, nil)
	code, raw = b.do("POST", "/v1/uploads/"+up.ID+"/complete", member, struct{}{})
	if code != http.StatusForbidden {
		t.Errorf("complete after the grant was revoked: HTTP %d: %s", code, raw)
	}
	if _, err := os.Stat(filepath.Join(b.family, "annas-phone")); err == nil {
		t.Error("the upload landed in family after anna lost her grant")
	}
	// Given back, the upload completes.
	b.must("POST", "/v1/users/anna/grants", b.localToken(), map[string]any{"space": "family", "permissions": []string{"write"}}, nil)
	b.must("POST", "/v1/uploads/"+up.ID+"/complete", member, struct{}{}, &up)
	if got, err := os.ReadFile(filepath.Join(b.family, up.StoredPath)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("completed after the grant came back: %v", err)
	}
}
