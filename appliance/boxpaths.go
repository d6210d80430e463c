package appliance

import (
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
		var places []protected
		for _, p := range d.Config.protectedPaths() {
			if p.shown != "" {
				places = append(places, p)
			}
		}
		// Longer first: /srv/disk10 before /srv/disk1.
		sort.SliceStable(places, func(i, j int) bool { return len(places[i].path) > len(places[j].path) })
		var args []string
		for _, p := range places {
			args = append(args, p.path, p.shown)
		}
		d.hider = strings.NewReplacer(args...)
	})
	return d.hider.Replace(msg)
}
