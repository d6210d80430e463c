package cluster

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// child is this test binary run again as another process, to be killed
// with SIGKILL: it runs only the test named, with env set, and that test
// sees env and plays its part instead. What the child prints on stdout is
// read line by line with line; its stderr is the test's.
type child struct {
	cmd    *exec.Cmd
	out    *bufio.Scanner
	killed bool
}

func startChild(t *testing.T, test, env, value string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		if !c.killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return c
}

// line waits for the child's first line that starts with prefix and
// returns the rest; other lines are logged. It reports false when the
// child ended first.
func (c *child) line(t *testing.T, prefix string) (string, bool) {
	t.Helper()
	for c.out.Scan() {
		if rest, ok := strings.CutPrefix(c.out.Text(), prefix); ok {
			return rest, true
		}
		t.Logf("child: %s", c.out.Text())
	}
	return "", false
}

// kill ends the child with SIGKILL and waits for it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Error(err)
	}
	c.cmd.Wait()
	c.killed = true
}
