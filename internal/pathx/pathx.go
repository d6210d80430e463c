// Package pathx answers one question about paths, once for the whole
// project: does this path lie within that folder? Paths are compared
// after cleaning, by whole elements ("/srv/photos2" is not within
// "/srv/photos"), without touching the file system: resolve links first
// (filepath.EvalSymlinks) where the answer guards access.
package pathx

import (
	"path/filepath"
	"strings"
)

// Within reports whether p is root or lies below it.
func Within(p, root string) bool {
	p, root = filepath.Clean(p), filepath.Clean(root)
	if p == root {
		return true
	}
	rel, err := filepath.Rel(root, p)
	return err == nil && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Under reports whether p lies strictly below root.
func Under(p, root string) bool {
	return Within(p, root) && filepath.Clean(p) != filepath.Clean(root)
}
