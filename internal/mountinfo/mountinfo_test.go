package mountinfo

import "testing"

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
