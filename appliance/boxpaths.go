package appliance

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// HidePaths replaces the box's own places in a message — the state
// directory (STATE), each array disk ("array disk N", N counting
// disks.members from 1), the repository folder — by those names. Error
// texts and alerts that people who may read a space see pass through it
// (a disk's failure names the disk, not where it is mounted); the
// daemon's log keeps the full text for the owner.
func (d *Daemon) HidePaths(msg string) string {
	d.hideOnce.Do(func() {
		type pair struct{ path, name string }
		var pairs []pair
		add := func(p, name string) {
			if p == "" || !filepath.IsAbs(p) {
				return
			}
			pairs = append(pairs, pair{filepath.Clean(p), name})
			if r, err := resolve(p); err == nil && r != filepath.Clean(p) {
				pairs = append(pairs, pair{r, name})
			}
		}
		c := d.Config
		add(c.StateDir, "STATE")
		for i, m := range c.Disks.Members {
			add(m, fmt.Sprintf("array disk %d", i+1))
		}
		add(c.Repository.Path, "the repository folder")
		// Longer first: /srv/disk10 before /srv/disk1.
		sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i].path) > len(pairs[j].path) })
		var args []string
		for _, p := range pairs {
			args = append(args, p.path, p.name)
		}
		d.hider = strings.NewReplacer(args...)
	})
	return d.hider.Replace(msg)
}
