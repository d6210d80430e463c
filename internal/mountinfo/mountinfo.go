// Package mountinfo reads what /proc/self/mountinfo says.
package mountinfo

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Unescape undoes the octal escapes (\040 for a space, \011, \012, \134)
// that the kernel writes in mountinfo paths.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mount is one line of a mountinfo file.
type Mount struct {
	ID     int    // unique per mount; a remount of the same device gets a new one
	Dev    uint64 // st_dev of the mounted file system, from the major:minor field
	Point  string // mount point
	FSType string // "ext4", "vfat", "tmpfs"
	Source string // what was mounted ("/dev/sdb1", "tmpfs")
}

// Read parses a /proc/PID/mountinfo file:
//
//	36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw
func Read(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := Mount{Point: Unescape(fields[4])}
		m.ID, _ = strconv.Atoi(fields[0])
		if maj, min, ok := strings.Cut(fields[2], ":"); ok {
			a, err1 := strconv.ParseUint(maj, 10, 32)
			b, err2 := strconv.ParseUint(min, 10, 32)
			if err1 == nil && err2 == nil {
				m.Dev = unix.Mkdev(uint32(a), uint32(b))
			}
		}
		for i := 5; i+2 < len(fields); i++ {
			if fields[i] == "-" {
				m.FSType = fields[i+1]
				m.Source = Unescape(fields[i+2])
				break
			}
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return mounts, nil
}
