package pathx

import "testing"

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		p, root       string
		within, under bool
	}{
		{"/srv/photos", "/srv/photos", true, false},
		{"/srv/photos/", "/srv/photos", true, false},
		{"/srv/photos/a/b", "/srv/photos", true, true},
		{"/srv/photos2", "/srv/photos", false, false},
		{"/srv", "/srv/photos", false, false},
		{"/srv/photos/../etc", "/srv/photos", false, false},
		{"/srv/photos/..x", "/srv/photos", true, true},
		{"/anything", "/", true, true},
		{"/", "/", true, false},
		{"relative/a", "/srv", false, false},
		{"a/b", "a", true, true},
	} {
		if got := Within(tc.p, tc.root); got != tc.within {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.p, tc.root, got, tc.within)
		}
		if got := Under(tc.p, tc.root); got != tc.under {
			t.Errorf("Under(%q, %q) = %v, want %v", tc.p, tc.root, got, tc.under)
		}
	}
}
