package blockdev

import (
	"os"
	"path/filepath"
	"testing"
)

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

	seagate := Identity{Serial: "ZGY5ABCD", WWN: "0x5000c500b1234567", Model: "ST4000VN008-2DR1"}
	tests := []struct {
		name         string
		major, minor uint32
		want         Identity
	}{
		{"SATA disk", 8, 0, seagate},
		{"SATA partition", 8, 1, seagate},
		{"LUKS on a partition", 253, 0, seagate},
		{"SATA known from by-id only", 8, 17, Identity{Serial: "WD-WCC7K1234567", WWN: "0x50014ee2b1234567", Model: "WDC WD40EFRX-68N32N0"}},
		{"NVMe partition", 259, 2, Identity{Serial: "S4EWNX0R123456", WWN: "eui.0025388b91b3c5a1", Model: "Samsung SSD 970 EVO Plus 1TB"}},
		{"virtio", 254, 0, Identity{Serial: "BHYVE-1234"}},
		{"md over two disks", 9, 0, Identity{}},
		{"loop device", 7, 3, Identity{Serial: "loop:/srv/img/disk a.img"}},
		{"unknown device", 8, 99, Identity{}},
	}
	sys := Sysfs{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sys.Identity(tt.major, tt.minor); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDiskIdentity reads a whole disk's own directory, as smart does for
// /sys/block/NAME: a wwid that is no WWN (libata's made-up t10 name) gives
// way to the next attribute, and padding NULs and spaces go at both ends.
func TestDiskIdentity(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"wwid":            "t10.ATA     ST4000VN008-2DR1                        ZGY5ABCD\n",
		"device/wwid":     "naa.5000C500B1234567\n",
		"device/model":    "ST4000VN008-2DR1\x00\x00",
		"device/vpd_pg80": "\x00\x80\x00\x14" + "\x00           ZGY5ABCD",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := Identity{Serial: "ZGY5ABCD", WWN: "0x5000c500b1234567", Model: "ST4000VN008-2DR1"}
	if got := DiskIdentity(dir); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := DiskIdentity(filepath.Join(dir, "missing")); got != (Identity{}) {
		t.Errorf("missing directory: got %+v, want the zero Identity", got)
	}
}
