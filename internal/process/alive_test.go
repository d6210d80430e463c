package process

import (
	"os"
	"os/exec"
	"testing"
)

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Errorf("Alive(own PID %d) = false, want true", os.Getpid())
	}
	if !Alive(1) {
		t.Errorf("Alive(1) = false, want true (init runs, as another user or not)")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run a child process: %v", err)
	}
	// Reaped by Run: its PID is gone (and not reused this soon).
	if Alive(cmd.Process.Pid) {
		t.Errorf("Alive(PID %d of a process that exited) = true, want false", cmd.Process.Pid)
	}
}
