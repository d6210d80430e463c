package mountinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/disk-A`:       "/mnt/disk-A",
		`/media/My\040Card`: "/media/My Card",
		`/a\011b\012c\134d`: "/a\tb\nc\\d",
		`/trailing\04`:      `/trailing\04`,
		`/not\999octal`:     `/not\999octal`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mountinfo")
	const info = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
36 35 98:0 /mnt1 /mnt/parent\040dir rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue
50 27 0:45 / /tmp/x rw - tmpfs tmpfs rw,size=1024k
`
	if err := os.WriteFile(p, []byte(info), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{ID: 27, Dev: 254 << 8, Point: "/", FSType: "ext4", Source: "/dev/vda"},
		{ID: 36, Dev: 98 << 8, Point: "/mnt/parent dir", FSType: "ext3", Source: "/dev/root"},
		{ID: 50, Dev: 45, Point: "/tmp/x", FSType: "tmpfs", Source: "tmpfs"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
