package vault

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"
)

// Node types.
const (
	NodeFile    = "file"
	NodeDir     = "dir"
	NodeSymlink = "symlink"
	NodeDev     = "dev"
	NodeCharDev = "chardev"
	NodeFIFO    = "fifo"
	NodeSocket  = "socket"
)

// Node is one entry of a directory tree with its full metadata.
type Node struct {
	Name string `json:"name"`
	// RawName holds the exact bytes of a name that is not valid UTF-8
	// (JSON strings cannot carry it); Name then holds a lossy form.
	RawName []byte `json:"raw_name,omitempty"`
	Type    string `json:"type"`
	// Mode is the permission and special bits (st_mode & 07777).
	Mode    uint32    `json:"mode"`
	ModTime time.Time `json:"mtime"`
	ATime   time.Time `json:"atime"`
	CTime   time.Time `json:"ctime"`
	UID     uint32    `json:"uid"`
	GID     uint32    `json:"gid"`
	User    string    `json:"user,omitempty"`
	Group   string    `json:"group,omitempty"`
	Inode   uint64    `json:"inode,omitempty"`
	Device  uint64    `json:"device,omitempty"` // st_dev, to tell hard links apart
	Links   uint64    `json:"links,omitempty"`
	Size    uint64    `json:"size,omitempty"`
	// Content lists the data blobs of a file, in order.
	Content []ID `json:"content,omitempty"`
	// Subtree is the tree blob of a directory.
	Subtree *ID `json:"subtree,omitempty"`
	// LinkTarget of a symlink; RawLinkTarget when it is not valid UTF-8.
	LinkTarget    string  `json:"linktarget,omitempty"`
	RawLinkTarget []byte  `json:"raw_linktarget,omitempty"`
	Rdev          uint64  `json:"rdev,omitempty"`
	Xattrs        []Xattr `json:"xattrs,omitempty"`
	// Error records why a file could not be read completely at backup.
	Error string `json:"error,omitempty"`
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// FileName returns the exact name bytes as a string.
func (n *Node) FileName() string {
	if n.RawName != nil {
		return string(n.RawName)
	}
	return n.Name
}

// Target returns the exact symlink target.
func (n *Node) Target() string {
	if n.RawLinkTarget != nil {
		return string(n.RawLinkTarget)
	}
	return n.LinkTarget
}

// setName stores a name, keeping invalid UTF-8 byte for byte.
func (n *Node) setName(s string) {
	n.Name, n.RawName = s, nil
	if !utf8.ValidString(s) {
		n.Name, n.RawName = string([]rune(s)), []byte(s)
	}
}

func (n *Node) setTarget(s string) {
	n.LinkTarget, n.RawLinkTarget = s, nil
	if !utf8.ValidString(s) {
		n.LinkTarget, n.RawLinkTarget = string([]rune(s)), []byte(s)
	}
}

// Tree is a directory: its nodes sorted by exact name.
type Tree struct {
	Nodes []*Node `json:"nodes"`
}

// Find returns the node with the exact name, or nil.
func (t *Tree) Find(name string) *Node {
	i := sort.Search(len(t.Nodes), func(i int) bool { return t.Nodes[i].FileName() >= name })
	if i < len(t.Nodes) && t.Nodes[i].FileName() == name {
		return t.Nodes[i]
	}
	return nil
}

func (t *Tree) sort() {
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].FileName() < t.Nodes[j].FileName() })
}

// encodeTree serialises a tree (the plaintext of a tree blob).
func encodeTree(t *Tree) ([]byte, error) {
	return json.Marshal(t)
}

// parseTree decodes and checks a tree blob.
func parseTree(b []byte) (*Tree, error) {
	var t Tree
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("tree: %w: %v", ErrCorrupt, err)
	}
	seen := make(map[string]bool, len(t.Nodes))
	for i, n := range t.Nodes {
		if n == nil {
			return nil, fmt.Errorf("tree: null node %d: %w", i, ErrCorrupt)
		}
		name := n.FileName()
		if name == "" || name == "." || name == ".." || containsSlashOrNUL(name) {
			return nil, fmt.Errorf("tree: invalid name %q: %w", name, ErrCorrupt)
		}
		if seen[name] {
			return nil, fmt.Errorf("tree: duplicate name %q: %w", name, ErrCorrupt)
		}
		seen[name] = true
		switch n.Type {
		case NodeDir:
			if n.Subtree == nil {
				return nil, fmt.Errorf("tree: directory %q without subtree: %w", name, ErrCorrupt)
			}
		case NodeFile, NodeSymlink, NodeDev, NodeCharDev, NodeFIFO, NodeSocket:
		default:
			return nil, fmt.Errorf("tree: %q has unknown type %q: %w", name, n.Type, ErrCorrupt)
		}
	}
	t.sort()
	return &t, nil
}

func containsSlashOrNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return true
		}
	}
	return false
}
