package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawPut sends PUT /v1/uploads/{id}/data?offset=N with body.
func (b *testBox) rawPut(tok, id string, off int, body []byte) (int, []byte) {
	b.t.Helper()
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/v1/uploads/%s/data?offset=%d", b.base, id, off), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestUploadRawChunks: the streaming route takes a chunk's bytes as the
// body, keeps what arrived of a chunk cut off, and refuses as every
// route does.
func TestUploadRawChunks(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	viewer := b.user("vic", "viewer", map[string]string{"family": "read"})
	photo := seededBytes(11, 300_000)
	up := b.startUpload(mia, "family", "mias-phone", "raw.jpg", photo)

	if code, raw := b.rawPut("", up.ID, 0, photo[:1000]); code != http.StatusUnauthorized || !bytes.Contains(raw, []byte(`"error"`)) {
		t.Errorf("raw chunk without a credential: HTTP %d %s, want 401", code, raw)
	}
	if code, raw := b.rawPut(viewer, up.ID, 0, photo[:1000]); code != http.StatusForbidden {
		t.Errorf("raw chunk as a viewer: HTTP %d %s, want 403", code, raw)
	}
	req, _ := http.NewRequest("PUT", b.base+"/v1/uploads/"+up.ID+"/data", bytes.NewReader(photo[:10]))
	req.Header.Set("Authorization", "Bearer "+mia)
	if resp, err := b.client.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("raw chunk without an offset: %v %v, want 400", resp.StatusCode, err)
	}

	code, raw := b.rawPut(mia, up.ID, 0, photo[:100_000])
	var st uploadJSON
	if json.Unmarshal(raw, &st); code != http.StatusOK || st.Offset != 100_000 {
		t.Fatalf("first raw chunk: HTTP %d %s", code, raw)
	}
	if code, raw := b.rawPut(mia, up.ID, 0, photo[:100]); code != http.StatusConflict || !bytes.Contains(raw, []byte("at offset 100000")) {
		t.Errorf("raw chunk at the wrong offset: HTTP %d %s, want 409 naming offset 100000", code, raw)
	}
	// A chunk cut off on the way: what arrived is kept.
	pr, pw := io.Pipe()
	req, _ = http.NewRequest("PUT", b.base+"/v1/uploads/"+up.ID+"/data?offset=100000", pr)
	req.ContentLength = 100_000
	req.Header.Set("Authorization", "Bearer "+mia)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := b.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write(photo[100_000:140_000])
	part := filepath.Join(b.state, "gateway", "uploads", up.ID+".part")
	waitFor(t, "the 40000 bytes in the part file", func() bool { fi, err := os.Stat(part); return err == nil && fi.Size() == 140_000 })
	pw.CloseWithError(fmt.Errorf("network gone"))
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for b.must("GET", "/v1/uploads/"+up.ID, mia, nil, &st); st.Offset == 100_000 && time.Now().Before(deadline); b.must("GET", "/v1/uploads/"+up.ID, mia, nil, &st) {
		time.Sleep(20 * time.Millisecond)
	}
	if st.Offset != 140_000 {
		t.Fatalf("after a raw chunk cut off after 40000 bytes: offset %d, want 140000", st.Offset)
	}
	if code, raw := b.rawPut(mia, up.ID, 140_000, photo[140_000:]); code != http.StatusOK {
		t.Fatalf("the rest: HTTP %d %s", code, raw)
	}
	var donePB uploadJSON
	b.must("POST", "/v1/uploads/"+up.ID+"/complete", mia, struct{}{}, &donePB)
	if got, err := os.ReadFile(filepath.Join(b.family, donePB.StoredPath)); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("the file sent raw: %v", err)
	}
}

// stall is a body that sends nothing until released, or closed (as the
// HTTP client does when the box answers before it is sent).
type stall struct {
	release chan struct{}
	closed  chan struct{}
	once    *sync.Once
}

func newStall(release chan struct{}) stall {
	return stall{release, make(chan struct{}), new(sync.Once)}
}

func (s stall) Read(p []byte) (int, error) {
	select {
	case <-s.release:
	case <-s.closed:
	}
	return 0, io.ErrUnexpectedEOF
}

func (s stall) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// TestUploadChunksInFlight: chunks on their way hold memory, so one
// account may have only so many at once (64 MiB of them, counting what
// each door holds), the box only so many in all (128 MiB): the next is
// refused with 429 and Retry-After at once, its body unread, and goes
// through once the others are done.
func TestUploadChunksInFlight(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	const size = 16 << 20
	var ids []string
	for i := range 6 {
		var u uploadJSON
		b.must("POST", "/v1/uploads", mia, map[string]any{"space": "family", "device": "phone", "name": fmt.Sprintf("big%d.mov", i),
			"size": size, "sha256": sumHex([]byte(fmt.Sprint(i)))}, &u)
		ids = append(ids, u.ID)
	}
	send := func(ctx context.Context, id, path, ctype string, body io.Reader, n int64) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "PUT", b.base+path, body)
		req.ContentLength = n
		req.Header.Set("Authorization", "Bearer "+mia)
		req.Header.Set("Content-Type", ctype)
		return b.client.Do(req)
	}
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan error, 4)
	// Four raw chunks of 16 MiB: the account's 64 MiB.
	for _, id := range ids[:4] {
		go func() {
			resp, err := send(ctx, id, "/v1/uploads/"+id+"/data?offset=0", "application/octet-stream", newStall(release), size)
			if err == nil {
				resp.Body.Close()
			}
			held <- err
		}()
	}
	waitFor(t, "the four chunks to hold the account's room", func() bool { return b.g.chunks.held() == 4*size })
	for _, door := range []struct{ name, path, ctype string }{
		{"raw", "/v1/uploads/" + ids[4] + "/data?offset=0", "application/octet-stream"},
		{"JSON", "/v1/uploads/" + ids[4], "application/json"},
	} {
		start := time.Now()
		resp, err := send(ctx, ids[4], door.path, door.ctype, newStall(release), size*4/3+100)
		if err != nil {
			t.Fatalf("%s chunk past the account's cap: %v", door.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "send this chunk again") {
			t.Errorf("%s chunk past the account's cap: HTTP %d, Retry-After %q: %s; want 429 with Retry-After", door.name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s chunk past the account's cap answered after %s: the box waited for its body", door.name, took)
		}
	}
	close(release) // the held chunks end (cut short)
	for range 4 {
		<-held
	}
	// With the room back (once the box has seen the held chunks end), a
	// chunk goes through.
	data := make([]byte, 1<<20)
	code, raw := 0, []byte(nil)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, raw = b.rawPut(mia, ids[5], 0, data); code != http.StatusTooManyRequests {
			break
		}
	}
	if code != http.StatusOK {
		t.Errorf("a chunk after the others ended: HTTP %d %s", code, raw)
	}
}

// TestChunkClaimedTooLarge: a body said to be larger than the request
// may carry is refused (413) before the box makes room for it; without a
// credential it is refused (401) before anything else.
func TestChunkClaimedTooLarge(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	up := b.startUpload(mia, "family", "phone", "a.jpg", seededBytes(30, 100))
	for _, c := range []struct {
		who, tok, path string
		n              int64
		code           int
	}{
		{"nobody", "", "/v1/uploads/" + up.ID, 20 << 20, http.StatusUnauthorized},
		{"mia", mia, "/v1/uploads/" + up.ID, 1 << 40, http.StatusRequestEntityTooLarge},
		{"mia", mia, "/v1/uploads/" + up.ID + "/data?offset=0", 17 << 20, http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequest("PUT", b.base+c.path, newStall(make(chan struct{})))
		req.ContentLength = c.n
		if c.tok != "" {
			req.Header.Set("Authorization", "Bearer "+c.tok)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !json.Valid(body) {
			t.Errorf("%s: PUT %s with Content-Length %d: HTTP %d %s, want %d", c.who, c.path, c.n, resp.StatusCode, body, c.code)
		}
	}
}
