package upload

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"IMG_0001.HEIC", "IMG_0001.HEIC"},
		{"Ferien am Bodensee – Übersicht 🌅.jpg", "Ferien am Bodensee – Übersicht 🌅.jpg"},
		{"東京タワー.jpg", "東京タワー.jpg"},
		{"../../etc/passwd", "_._etc_passwd"},
		{"..", "unnamed"},
		{".", "unnamed"},
		{"", "unnamed"},
		{"   ", "unnamed"},
		{".hidden.jpg", "hidden.jpg"},
		{"photo...jpg", "photo.jpg"},
		{"a\\b/c.jpg", "a_b_c.jpg"},
		{"tab\there\nnewline\x00nul\x7f.png", "tabherenewlinenul.png"},
		{"invoice\u202egpj.exe", "invoicegpj.exe"},
		{"what?*<>|:\".jpg", "what_______.jpg"},
		{"CON.jpg", "_CON.jpg"},
		{"com1", "_com1"},
		{"console.jpg", "console.jpg"},
		{"bad\xffutf8.jpg", "bad_utf8.jpg"},
		{"trailing. . ", "trailing"},
		{strings.Repeat("ä", 150) + ".jpeg", strings.Repeat("ä", 97) + ".jpeg"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := CleanName(tt.in); got != tt.want {
				t.Errorf("CleanName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWithSuffix(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"IMG_0001.JPG", 1, "IMG_0001.JPG"},
		{"IMG_0001.JPG", 2, "IMG_0001 (2).JPG"},
		{"README", 3, "README (3)"},
		{"archive.tar.gz", 2, "archive.tar (2).gz"},
	} {
		if got := WithSuffix(tt.in, tt.n); got != tt.want {
			t.Errorf("WithSuffix(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"IMG_0001.HEIC", "../x", "..", "a/b\\c", "\x00", "CON", "é\u202e.jpg", strings.Repeat("x", 300) + ".jpg", "\xff\xfe",
		"CON" + strings.Repeat(" ", 250) + "x.jpg", "CON." + strings.Repeat("a", 250), "\u00a0.CON ", strings.Repeat("a", 199) + ".",
		"a.\u200e.b", strings.Repeat("é", 101), strings.Repeat(". ", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := CleanName(in)
		check := func(name string) {
			switch {
			case name == "" || name == "." || name == "..":
				t.Fatalf("CleanName(%q) = %q", in, name)
			case strings.ContainsAny(name, "/\\\x00"), strings.Contains(name, ".."):
				t.Fatalf("CleanName(%q) = %q: separator or ..", in, name)
			case !utf8.ValidString(name) || len(name) > 255:
				t.Fatalf("CleanName(%q) = %q: invalid UTF-8 or too long", in, name)
			}
			for _, r := range name {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("CleanName(%q) = %q: control character", in, name)
				}
			}
		}
		check(got)
		check(WithSuffix(got, 10000))
		if again := CleanName(got); again != got {
			t.Fatalf("CleanName not idempotent: %q → %q → %q", in, got, again)
		}
	})
}
