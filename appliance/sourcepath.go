package appliance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/shoebox/shoebox/internal/pathx"
)

// What a source may read. A source's folder is backed up with the
// daemon's privileges, and whoever may read its space may browse,
// download and restore what it holds: a source on the state directory
// would hand out box.key, the gateway database and the API token; one
// on / or /etc, /etc/shadow. So a source path must lie under one of the
// roots the owner configured (source_roots), and must neither be, nor
// hold, nor lie in one of the folders the box protects (protectedPaths),
// whatever the configuration says. Symbolic links are resolved first,
// dangling ones included. The same check runs for the config file's
// sources, for those added through the API, and before every backup
// (a folder swapped for a link after it was added).

// systemPaths are never backed up: the kernel's views (/proc, /sys,
// /dev), the system's configuration and secrets (/etc, /root) and
// runtime state (/run, sockets and credentials of running services).
var systemPaths = []string{"/proc", "/sys", "/dev", "/etc", "/root", "/run"}

// maxLinks bounds the symbolic links followed while resolving a path
// (the kernel's own limit is 40).
const maxLinks = 40

// SourcePathError is a source path refused by CheckSourcePath. Its
// message names the path and the allowed roots and says what to do.
type SourcePathError struct {
	Path     string   // as given
	Resolved string   // after symbolic links
	Refused  string   // the protected folder it is, holds or lies in ("" when it is only outside the allowed roots)
	What     string   // what Refused is, for people
	Allowed  []string // the allowed roots
	Config   string   // the configuration file
	Reason   string   // set when the path itself is unusable (not absolute, a NUL byte, a link loop)
}

func (e *SourcePathError) Error() string {
	p := e.Path
	if e.Resolved != "" && e.Resolved != filepath.Clean(e.Path) {
		p += " (through symbolic links: " + e.Resolved + ")"
	}
	allowed := strings.Join(e.Allowed, ", ")
	if allowed == "" {
		allowed = "none"
	}
	switch {
	case e.Reason != "":
		return fmt.Sprintf("source path %q: %s", e.Path, e.Reason)
	case e.Refused != "":
		return fmt.Sprintf("source path %s: %s %s, which sources may never read (nor the state directory, the disks, /, /etc, /proc, /sys, /dev, /root or /run); choose a folder under an allowed root (allowed: %s)",
			p, relation(e.Resolved, e.Refused), e.What+" "+e.Refused, allowed)
	}
	return fmt.Sprintf("source path %s: not under an allowed root (allowed: %s); set source_roots in %s", p, allowed, e.Config)
}

// Public is the error without the box's own paths: what a person who
// may read the source's space (not the box's settings) is shown when a
// backup is refused.
func (e *SourcePathError) Public() string {
	if e.Refused == "" && e.Reason == "" {
		return e.Error()
	}
	return fmt.Sprintf("source path %s now leads into a folder the box protects (a symbolic link?); the backup did not run: check the folder, or ask the box's owner (the box's log has the details)", e.Path)
}

// Unwrap makes a refused path an ErrBadSource.
func (e *SourcePathError) Unwrap() error { return ErrBadSource }

func relation(p, refused string) string {
	switch {
	case p == refused:
		return "it is"
	case pathx.Within(p, refused):
		return "it lies in"
	}
	return "it holds"
}

// protected is a folder (or file) sources may never touch: what it is,
// and how messages name it instead of its path ("" for the system's
// folders, which are no secret).
type protected struct{ path, what, shown string }

// protectedPaths lists the box's own folders and files and the system's,
// each also as it resolves through links.
func (c *Config) protectedPaths() []protected {
	var out []protected
	add := func(p, what, shown string) {
		if p == "" || !filepath.IsAbs(p) {
			return
		}
		out = append(out, protected{filepath.Clean(p), what, shown})
		if r, err := resolve(p); err == nil && r != filepath.Clean(p) {
			out = append(out, protected{r, what, shown})
		}
	}
	add(c.StateDir, "the box's state directory", "STATE")
	for i, m := range c.Disks.Members {
		add(m, "the array disk", fmt.Sprintf("array disk %d", i+1))
	}
	add(c.Repository.Path, "the repository folder", "the repository folder")
	add(c.Repository.PassphraseFile, "the repository passphrase file", "")
	add(c.Alerts.Email.PasswordFile, "the e-mail password file", "")
	if c.file != "" {
		if abs, err := filepath.Abs(c.file); err == nil {
			add(abs, "the configuration file", "")
		}
	}
	for _, p := range systemPaths {
		add(p, "the system folder", "")
	}
	return out
}

// AllowedSourceRoots returns the folders sources may lie under:
// source_roots, or by default the folder holding each of the config
// file's sources (the source itself when that is /) and the card library.
func (c *Config) AllowedSourceRoots() []string {
	if c.SourceRoots != nil {
		return c.SourceRoots
	}
	var out []string
	add := func(p string) {
		if p != "" && filepath.IsAbs(p) && !containsString(out, filepath.Clean(p)) {
			out = append(out, filepath.Clean(p))
		}
	}
	for _, s := range c.Sources {
		if parent := filepath.Dir(filepath.Clean(s.Path)); parent != "/" {
			add(parent)
		} else {
			add(s.Path)
		}
	}
	add(c.Cards.Library)
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckSourcePath says whether a source may read path: nil, or a
// *SourcePathError (an ErrBadSource) naming the path, why, and the
// allowed roots.
func (c *Config) CheckSourcePath(path string) error {
	e := &SourcePathError{Path: path, Allowed: c.AllowedSourceRoots(), Config: c.file}
	if e.Config == "" {
		e.Config = "the configuration file"
	}
	switch {
	case strings.IndexByte(path, 0) >= 0:
		e.Reason = "contains a NUL byte"
		return e
	case !filepath.IsAbs(path):
		e.Reason = "must be an absolute path"
		return e
	}
	r, err := resolve(filepath.Clean(path))
	if err != nil {
		e.Reason = err.Error()
		return e
	}
	e.Resolved = r
	if p, hit := c.protectedHit(r); hit {
		e.Refused, e.What = p.path, p.what
		return e
	}
	for _, root := range e.Allowed {
		rr, err := resolve(root)
		if err == nil && pathx.Within(r, rr) {
			return nil
		}
	}
	return e
}

// protectedHit returns the protected place the resolved path r is,
// holds or lies in (/ itself holds them all).
func (c *Config) protectedHit(r string) (protected, bool) {
	if r == "/" {
		return protected{path: "/", what: "the root of the file system"}, true
	}
	for _, p := range c.protectedPaths() {
		if pathx.Within(r, p.path) || pathx.Within(p.path, r) {
			return p, true
		}
	}
	return protected{}, false
}

// CheckDiskPath says whether a new disk may be mounted at path (a
// replacement through the API): an absolute path that, links resolved,
// neither is, holds nor lies in the state directory, an array disk, the
// repository, the box's secrets or the system's folders. Else an
// ErrBadDiskPath naming the path.
func (c *Config) CheckDiskPath(path string) error {
	if !filepath.IsAbs(path) || strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("%w %q: give the absolute path of the new disk's mount point (e.g. /mnt/disk4)", ErrBadDiskPath, path)
	}
	r, err := resolve(filepath.Clean(path))
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrBadDiskPath, path, err)
	}
	if p, hit := c.protectedHit(r); hit {
		return fmt.Errorf("%w %s: %s %s %s; give the mount point of the new, empty disk (e.g. /mnt/disk4)", ErrBadDiskPath, path, relation(r, p.path), p.what, p.path)
	}
	return nil
}

// resolve returns the absolute path p with every symbolic link on the
// way replaced by where it points, as the kernel would follow it, also a
// link whose target does not exist (yet): a folder created later must
// not lead elsewhere than the check saw. Components that do not exist are
// taken as written. It fails on a link loop or a path the kernel refuses
// (too long).
func resolve(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	todo := strings.Split(p, "/")
	done := "/"
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			done = filepath.Dir(done)
			continue
		}
		next := filepath.Join(done, c)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			// Nothing there (yet): the rest is a plain path below.
			return filepath.Join(append([]string{next}, todo...)...), nil
		}
		if err != nil {
			return "", fmt.Errorf("cannot be resolved: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("more than %d symbolic links (a loop?)", maxLinks)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("cannot be resolved: %w", err)
		}
		if filepath.IsAbs(target) {
			done = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return done, nil
}
