package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/shoebox/shoebox/gateway/preview"
	"github.com/shoebox/shoebox/vault"
)

// Previews for view-only share links are made by package preview: a
// budget from each image's header, one large decode at a time, work that
// stops when the visitor leaves, and an encrypted cache of every verdict
// in STATE/gateway/previews, keyed by the file's content.

// previewMax is the longest side of a preview image, in pixels.
const previewMax = preview.DefaultMaxSide

// newPreviews opens the preview maker, its cache under the gateway's
// state and its keys derived from the box key.
func (g *Gateway) newPreviews() (*preview.Maker, error) {
	return preview.New(preview.Options{Dir: filepath.Join(g.opt.Dir, "previews"), Key: g.boxKey, Now: g.now})
}

// sharePreview serves the preview of file n: what a view-only link
// shows.
func (g *Gateway) sharePreview(w http.ResponseWriter, r *http.Request, n *vault.Node) {
	img, err := g.public.previews.Make(r.Context(), g.previewSource(n))
	switch {
	case errors.Is(err, preview.ErrNoPreview):
		g.sharePage(w, http.StatusNotFound, "No preview for this file.", "")
		return
	case errors.Is(err, preview.ErrBusy):
		w.Header().Set("Retry-After", "5")
		g.sharePage(w, http.StatusServiceUnavailable, "The box is busy making previews. Try again in a few seconds.", "")
		return
	case r.Context().Err() != nil: // the visitor left
		return
	case err != nil:
		g.log.Warn("making a preview for a share link", "err", err)
		g.sharePage(w, http.StatusInternalServerError, "This preview cannot be made right now. Try again later.", "")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(img)
}

// previewSource is file n for package preview: its content identity is
// its list of content blob IDs.
func (g *Gateway) previewSource(n *vault.Node) preview.Source {
	id := make([]byte, 0, len(n.Content)*len(vault.ID{}))
	for _, c := range n.Content {
		id = append(id, c[:]...)
	}
	return preview.Source{ID: id, Open: func(ctx context.Context) (io.Reader, error) {
		return &nodeReader{ctx: ctx, repo: g.d.Repository(), blobs: n.Content}, nil
	}}
}

// nodeReader reads a file from the repository a blob at a time (Dump
// writes it all; a preview reads only what it needs).
type nodeReader struct {
	ctx   context.Context
	repo  *vault.Repository
	blobs []vault.ID
	buf   []byte
	off   int
}

func (r *nodeReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if len(r.blobs) == 0 {
			return 0, io.EOF
		}
		b, err := r.repo.LoadBlob(r.ctx, r.blobs[0], r.buf[:0])
		if err != nil {
			return 0, err
		}
		r.buf, r.off, r.blobs = b, 0, r.blobs[1:]
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}
