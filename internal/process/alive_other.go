//go:build !unix

package process

import "os"

// Alive reports whether a process with this ID runs on this host. Where
// there is no signal 0 (Windows), finding the process opens it, which
// fails once it has exited.
func Alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
