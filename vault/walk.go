package vault

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

// WalkFunc is called for every node under a tree with its slash-separated
// absolute path in the snapshot ("/home/ann/photos/a.jpg").
type WalkFunc func(p string, n *Node) error

// Walk visits every node of a tree depth-first in name order.
func (r *Repository) Walk(ctx context.Context, tree ID, fn WalkFunc) error {
	return r.walk(ctx, tree, "/", fn)
}

func (r *Repository) walk(ctx context.Context, id ID, dir string, fn WalkFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := r.LoadTree(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for _, n := range t.Nodes {
		p := path.Join(dir, n.FileName())
		err := fn(p, n)
		if errors.Is(err, ErrSkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if n.Type == NodeDir && n.Subtree != nil {
			if err := r.walk(ctx, *n.Subtree, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Lookup finds the node at an absolute path in a snapshot tree. The root
// itself is returned as a directory node with the tree as subtree.
func (r *Repository) Lookup(ctx context.Context, tree ID, p string) (*Node, error) {
	p = path.Clean("/" + p)
	n := &Node{Name: "/", Type: NodeDir, Subtree: &tree}
	if p == "/" {
		return n, nil
	}
	for _, c := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if n.Type != NodeDir || n.Subtree == nil {
			return nil, fmt.Errorf("%s: not a directory in the snapshot", p)
		}
		t, err := r.LoadTree(ctx, *n.Subtree)
		if err != nil {
			return nil, err
		}
		if n = t.Find(c); n == nil {
			return nil, fmt.Errorf("%s: no such file or directory in the snapshot", p)
		}
	}
	return n, nil
}

// Change is one difference between two snapshots.
type Change struct {
	Path string `json:"path"`
	// Kind is "+" (added), "-" (removed), "M" (content changed), "U"
	// (metadata only) or "T" (type changed).
	Kind string `json:"kind"`
}

// Diff compares two trees and calls fn for each difference, in path order.
func (r *Repository) Diff(ctx context.Context, a, b ID, fn func(Change) error) error {
	return r.diff(ctx, &a, &b, "/", fn)
}

func (r *Repository) diff(ctx context.Context, a, b *ID, dir string, fn func(Change) error) error {
	if a != nil && b != nil && *a == *b {
		return nil
	}
	load := func(id *ID) (*Tree, error) {
		if id == nil {
			return &Tree{}, nil
		}
		return r.LoadTree(ctx, *id)
	}
	ta, err := load(a)
	if err != nil {
		return err
	}
	tb, err := load(b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ta.Nodes) || j < len(tb.Nodes) {
		var na, nb *Node
		switch {
		case j >= len(tb.Nodes) || (i < len(ta.Nodes) && ta.Nodes[i].FileName() < tb.Nodes[j].FileName()):
			na = ta.Nodes[i]
			i++
		case i >= len(ta.Nodes) || tb.Nodes[j].FileName() < ta.Nodes[i].FileName():
			nb = tb.Nodes[j]
			j++
		default:
			na, nb = ta.Nodes[i], tb.Nodes[j]
			i++
			j++
		}
		name := ""
		if na != nil {
			name = na.FileName()
		} else {
			name = nb.FileName()
		}
		p := path.Join(dir, name)
		switch {
		case na == nil:
			if err := r.diffSide(ctx, nb, p, "+", fn); err != nil {
				return err
			}
		case nb == nil:
			if err := r.diffSide(ctx, na, p, "-", fn); err != nil {
				return err
			}
		case na.Type != nb.Type:
			if err := fn(Change{Path: p, Kind: "T"}); err != nil {
				return err
			}
		case na.Type == NodeDir:
			if !sameMeta(na, nb) {
				if err := fn(Change{Path: p + "/", Kind: "U"}); err != nil {
					return err
				}
			}
			if err := r.diff(ctx, na.Subtree, nb.Subtree, p, fn); err != nil {
				return err
			}
		case !sameContent(na, nb):
			if err := fn(Change{Path: p, Kind: "M"}); err != nil {
				return err
			}
		case !sameMeta(na, nb):
			if err := fn(Change{Path: p, Kind: "U"}); err != nil {
				return err
			}
		}
	}
	return nil
}

// diffSide reports a node and, for a directory, everything below it.
func (r *Repository) diffSide(ctx context.Context, n *Node, p, kind string, fn func(Change) error) error {
	if n.Type != NodeDir {
		return fn(Change{Path: p, Kind: kind})
	}
	if err := fn(Change{Path: p + "/", Kind: kind}); err != nil {
		return err
	}
	return r.walk(ctx, *n.Subtree, p, func(q string, c *Node) error {
		if c.Type == NodeDir {
			q += "/"
		}
		return fn(Change{Path: q, Kind: kind})
	})
}

func sameContent(a, b *Node) bool {
	if a.Size != b.Size || len(a.Content) != len(b.Content) || a.Target() != b.Target() {
		return false
	}
	for i := range a.Content {
		if a.Content[i] != b.Content[i] {
			return false
		}
	}
	return true
}

func sameMeta(a, b *Node) bool {
	if a.Mode != b.Mode || !a.ModTime.Equal(b.ModTime) || a.UID != b.UID || a.GID != b.GID || len(a.Xattrs) != len(b.Xattrs) {
		return false
	}
	for i := range a.Xattrs {
		if a.Xattrs[i].Name != b.Xattrs[i].Name || string(a.Xattrs[i].Value) != string(b.Xattrs[i].Value) {
			return false
		}
	}
	return true
}

// samePaths reports whether the paths hold the same in trees a and b:
// the same content, and the metadata Diff compares (not access or change
// times, which reading or a restore drill moves on, nor the folders above
// the paths, whose times change as their neighbours do).
func (r *Repository) samePaths(ctx context.Context, a, b ID, paths []string) (bool, error) {
	for _, p := range paths {
		na, err := r.Lookup(ctx, a, p)
		if err != nil {
			return false, nil // not in the parent
		}
		nb, err := r.Lookup(ctx, b, p)
		if err != nil {
			return false, err
		}
		if na.Type != nb.Type || !sameMeta(na, nb) || !sameContent(na, nb) {
			return false, nil
		}
		if na.Type != NodeDir {
			continue
		}
		err = r.diff(ctx, na.Subtree, nb.Subtree, p, func(Change) error { return errChanged })
		if errors.Is(err, errChanged) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}
