package blockdev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/raid/looptest"
)

func TestIsMountPoint(t *testing.T) {
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		want bool
	}{
		{"root", func(*testing.T) string { return "/" }, true},
		{"plain directory", func(t *testing.T) string { return t.TempDir() }, false},
		{"subdirectory of a mount", func(t *testing.T) string {
			dir := filepath.Join(looptest.Tmpfs(t, 1<<20), "sub")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, false},
		{"tmpfs", func(t *testing.T) string { return looptest.Tmpfs(t, 1<<20) }, true},
		{"symlink to a tmpfs", func(t *testing.T) string {
			link := filepath.Join(t.TempDir(), "disk")
			if err := os.Symlink(looptest.Tmpfs(t, 1<<20), link); err != nil {
				t.Fatal(err)
			}
			return link
		}, true},
		{"bind mount on the same device", func(t *testing.T) string {
			// SetReadOnly bind-mounts a plain directory on itself:
			// st_dev stays its parent's, only mountinfo knows.
			dir := t.TempDir()
			looptest.SetReadOnly(t, dir)
			return dir
		}, true},
		{"ext4 on a loop device", func(t *testing.T) string { return looptest.Ext4(t, 8<<20) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IsMountPoint(tt.dir(t))
			if err != nil {
				t.Fatalf("IsMountPoint: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIsMountPointMissing(t *testing.T) {
	if _, err := IsMountPoint(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("got nil error for a missing directory, want one")
	}
}

func TestDeviceOf(t *testing.T) {
	dir := t.TempDir()
	a, err := DeviceOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DeviceOf(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("DeviceOf a directory and its parent on one file system: got %d and %d, want equal", a, b)
	}
	m, err := DeviceOf(looptest.Tmpfs(t, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if m == a {
		t.Errorf("DeviceOf a tmpfs: got %d, the same as %s", m, dir)
	}
}

func TestDriveIdentityNoDrive(t *testing.T) {
	for _, dir := range []string{"/", "/proc", looptest.Tmpfs(t, 1<<20)} {
		id, err := DriveIdentity(dir)
		if err != nil {
			t.Errorf("DriveIdentity(%s): got error %v, want nil", dir, err)
		}
		t.Logf("%s: %+v", dir, id)
	}
	if _, err := DriveIdentity(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("DriveIdentity of a missing path: got nil error, want one")
	}
}

func TestDriveIdentityLoop(t *testing.T) {
	disk := looptest.Ext4(t, 8<<20)
	a, b := filepath.Join(disk, "a"), filepath.Join(disk, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	idA, err := DriveIdentity(a)
	if err != nil {
		t.Fatal(err)
	}
	idB, err := DriveIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	serialA, serialB := idA.Serial, idB.Serial
	if !strings.HasPrefix(serialA, "loop:/") || serialA != serialB {
		t.Errorf("two directories on one loop device: got serials %q and %q, want the same loop:/… serial", serialA, serialB)
	}

	o, err := DriveIdentity(looptest.Ext4(t, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	other := o.Serial
	if other == serialA || !strings.HasPrefix(other, "loop:/") {
		t.Errorf("a second loop device: got serial %q, want a loop:/… serial other than %q", other, serialA)
	}
}
