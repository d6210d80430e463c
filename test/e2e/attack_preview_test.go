package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/preview/previewtest"
)

// TestAttackPreviewBombs (finding 4): decompression bombs through a
// view-only share link. A 14000×14000 progressive JPEG and a 16-bit PNG
// of the same size (files of a megabyte or so, gigabytes once decoded),
// beside two real-sized photos and three progressive JPEGs just under
// the decode budget (each a large decode: they take turns), are backed up
// and shared; their previews are
// asked for several times in parallel, and by clients that hang up
// mid-request. The daemon must stay under the attack limits throughout
// (peak RSS 512 MiB, /healthz within 1 s), refuse the bombs and preview
// the photo.
func TestAttackPreviewBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("an attack on a real daemon")
	}
	b := newAttackBox(t, "")
	tok := b.ownerToken()

	files := map[string]func(io.Writer) error{
		"bomb-progressive.jpg": func(w io.Writer) error { return previewtest.ProgressiveJPEG(w, 14000, 14000) },
		"bomb-16bit.png":       func(w io.Writer) error { return previewtest.PNG16(w, 14000, 14000) },
		"photo-24mp.jpg":       func(w io.Writer) error { return previewtest.Photo(w, 6000, 4000) },
		"photo-35mp.jpg":       func(w io.Writer) error { return previewtest.Photo(w, 7000, 5000) },
		// Just under the 160 MiB budget each (15 bytes a pixel): the most
		// a decode may take, three times, to take turns.
		"edge-1.jpg": func(w io.Writer) error { return previewtest.ProgressiveJPEG(w, 3200, 3200) },
		"edge-2.jpg": func(w io.Writer) error { return previewtest.ProgressiveJPEG(w, 3190, 3200) },
		"edge-3.jpg": func(w io.Writer) error { return previewtest.ProgressiveJPEG(w, 3180, 3200) },
	}
	gen := t.TempDir()
	for name, write := range files {
		// Made beside the inbox and moved in whole, so that the watcher
		// never backs up half a file.
		p := filepath.Join(gen, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p, filepath.Join(b.inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	snap := b.snapshotWith(tok, "inbox", b.inbox, len(files))

	links := map[string]string{}
	for name := range files {
		code, raw := b.apiCall(b.client(), "POST", "/v1/shares", tok,
			map[string]any{"snapshot": snap, "path": b.inbox + "/" + name, "download": false})
		var c struct{ Token string }
		if json.Unmarshal(raw, &c); code != http.StatusOK || c.Token == "" {
			t.Fatalf("share %s: HTTP %d: %s", name, code, raw)
		}
		links[name] = "https://" + b.listen + "/s/" + c.Token + "?as=preview"
	}

	h := b.watchHealth()
	type answer struct {
		name string
		code int
		err  error
	}
	answers := make(chan answer, 100)
	var wg sync.WaitGroup
	ask := func(name string, hangUp time.Duration) {
		defer wg.Done()
		jar, _ := cookiejar.New(nil)
		c := b.client()
		c.Jar, c.Timeout = jar, 5*time.Minute
		ctx := context.Background()
		if hangUp > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, hangUp)
			defer cancel()
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", links[name], nil)
		resp, err := c.Do(req)
		if err != nil {
			if hangUp == 0 {
				answers <- answer{name, 0, err}
			}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if hangUp == 0 {
			answers <- answer{name, resp.StatusCode, nil}
		}
	}
	// Each file: four clients at once that wait for the answer, four that
	// hang up after 300 ms; then, once those are done, once more each
	// (from the cache, if the box keeps one).
	for name := range files {
		for range 4 {
			wg.Add(2)
			go ask(name, 0)
			go ask(name, 300*time.Millisecond)
		}
	}
	wg.Wait()
	for name := range files {
		wg.Add(1)
		ask(name, 0)
	}
	close(answers)
	b.checkAttack("preview bombs (14000² progressive JPEG, 14000² 16-bit PNG; 24 and 35 Mpx photos; 3 at the budget)", h)

	want := map[string]int{"bomb-progressive.jpg": http.StatusNotFound, "bomb-16bit.png": http.StatusNotFound,
		"photo-24mp.jpg": http.StatusOK, "photo-35mp.jpg": http.StatusOK,
		"edge-1.jpg": http.StatusOK, "edge-2.jpg": http.StatusOK, "edge-3.jpg": http.StatusOK}
	for a := range answers {
		if a.err != nil || a.code != want[a.name] {
			t.Errorf("%s preview: HTTP %d, %v; want %d", a.name, a.code, a.err, want[a.name])
		}
	}
}

// snapshotWith waits for a snapshot of source whose folder (its path on
// the box, as the snapshot holds it) has at least n entries, and returns
// its ID.
func (b *box) snapshotWith(tok, source, folder string, n int) string {
	b.t.Helper()
	var snap string
	b.waitFor(fmt.Sprintf("a snapshot of %s with %d files", source, n), 2*time.Minute, func() bool {
		_, raw := b.apiCall(b.client(), "GET", "/v1/snapshots?source="+source, tok, nil)
		var l struct{ Snapshots []struct{ ID string } }
		if json.Unmarshal(raw, &l) != nil || len(l.Snapshots) == 0 {
			return false
		}
		_, raw = b.apiCall(b.client(), "GET", "/v1/snapshots/"+l.Snapshots[0].ID+"/tree?path="+folder, tok, nil)
		var tree struct{ Nodes []struct{ Name string } }
		if json.Unmarshal(raw, &tree) != nil || len(tree.Nodes) < n {
			return false
		}
		snap = l.Snapshots[0].ID
		return true
	})
	return snap
}
