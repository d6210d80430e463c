//go:build unix

package process

import (
	"errors"
	"syscall"
)

// Alive reports whether a process with this ID runs on this host: signal 0
// reaches it, or it exists but belongs to another user (EPERM). Only a
// process known to be gone (ESRCH) is not alive.
func Alive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
