package raid

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
		serial, wwn, model, err := DriveIdentity(dir)
		if err != nil {
			t.Errorf("DriveIdentity(%s): got error %v, want nil", dir, err)
		}
		t.Logf("%s: serial %q, wwn %q, model %q", dir, serial, wwn, model)
	}
	if _, _, _, err := DriveIdentity(filepath.Join(t.TempDir(), "missing")); err == nil {
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
	serialA, _, _, err := DriveIdentity(a)
	if err != nil {
		t.Fatal(err)
	}
	serialB, _, _, err := DriveIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(serialA, "loop:/") || serialA != serialB {
		t.Errorf("two directories on one loop device: got serials %q and %q, want the same loop:/… serial", serialA, serialB)
	}

	other, _, _, err := DriveIdentity(looptest.Ext4(t, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	if other == serialA || !strings.HasPrefix(other, "loop:/") {
		t.Errorf("a second loop device: got serial %q, want a loop:/… serial other than %q", other, serialA)
	}
}

// TestSysfsIdentity runs the sysfs walk on copies of the layouts the kernel
// shows for drives this machine does not have: SATA, NVMe, LUKS over a
// partition, md RAID over two disks, virtio, and udev's by-id links.
func TestSysfsIdentity(t *testing.T) {
	root := t.TempDir()
	const (
		sda  = "sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda"
		sdb  = "sys/devices/pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb"
		nvme = "sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0"
		vda  = "sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda"
		virt = "sys/devices/virtual/block"
	)
	vpd := "\x00\x80\x00\x14" + "            ZGY5ABCD"
	files := map[string]string{
		sda + "/dev":                          "8:0\n",
		sda + "/device/model":                 "ST4000VN008-2DR1\n",
		sda + "/device/vpd_pg80":              vpd,
		sda + "/device/wwid":                  "naa.5000C500B1234567\n",
		sda + "/sda1/partition":               "1\n",
		sdb + "/device/wwid":                  "t10.ATA     WDC WD40EFRX-68N32N0                    WD-WCC7K1234567\n",
		sdb + "/sdb1/partition":               "1\n",
		nvme + "/serial":                      "S4EWNX0R123456      \n",
		nvme + "/model":                       "Samsung SSD 970 EVO Plus 1TB            \n",
		nvme + "/nvme0n1/wwid":                "eui.0025388b91b3c5a1\n",
		nvme + "/nvme0n1/nvme0n1p2/partition": "2\n",
		vda + "/serial":                       "\n",
		virt + "/dm-0/dm/name":                "luks-data\n",
		virt + "/md0/md/level":                "raid1\n",
		virt + "/loop3/loop/backing_file":     "/srv/img/disk a.img\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"sys/dev/block/8:0":        "../../../" + sda,
		"sys/dev/block/8:1":        "../../../" + sda + "/sda1",
		"sys/dev/block/8:17":       "../../../" + sdb + "/sdb1",
		"sys/dev/block/259:2":      "../../../" + nvme + "/nvme0n1/nvme0n1p2",
		"sys/dev/block/254:0":      "../../../" + vda,
		"sys/dev/block/253:0":      "../../../" + virt + "/dm-0",
		"sys/dev/block/9:0":        "../../../" + virt + "/md0",
		"sys/dev/block/7:3":        "../../../" + virt + "/loop3",
		nvme + "/nvme0n1/device":   "../../nvme0",
		virt + "/dm-0/slaves/sda1": "../../../../../../" + sda + "/sda1",
		virt + "/md0/slaves/sda1":  "../../../../../../" + sda + "/sda1",
		virt + "/md0/slaves/sdb1":  "../../../../../../" + sdb + "/sdb1",
		"dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567":       "../../sdb",
		"dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567-part1": "../../sdb1",
		"dev/disk/by-id/wwn-0x50014ee2b1234567":                         "../../sdb",
		"dev/disk/by-id/virtio-BHYVE-1234":                              "../../vda",
		"dev/disk/by-id/ata-ST4000VN008-2DR1_OTHERDISK":                 "../../sdc",
	}
	for name, target := range links {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}

	seagate := driveID{serial: "ZGY5ABCD", wwn: "0x5000c500b1234567", model: "ST4000VN008-2DR1"}
	tests := []struct {
		name         string
		major, minor uint32
		want         driveID
	}{
		{"SATA disk", 8, 0, seagate},
		{"SATA partition", 8, 1, seagate},
		{"LUKS on a partition", 253, 0, seagate},
		{"SATA known from by-id only", 8, 17, driveID{serial: "WD-WCC7K1234567", wwn: "0x50014ee2b1234567", model: "WDC WD40EFRX-68N32N0"}},
		{"NVMe partition", 259, 2, driveID{serial: "S4EWNX0R123456", wwn: "eui.0025388b91b3c5a1", model: "Samsung SSD 970 EVO Plus 1TB"}},
		{"virtio", 254, 0, driveID{serial: "BHYVE-1234"}},
		{"md over two disks", 9, 0, driveID{}},
		{"loop device", 7, 3, driveID{serial: "loop:/srv/img/disk a.img"}},
		{"unknown device", 8, 99, driveID{}},
	}
	sys := sysfs{sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sys.identity(tt.major, tt.minor); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
