package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/store"
)

const testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestClassify: every namespace of docs/FORMAT.md, and the names around
// them that are no repository object's.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		kind objectKind
		id   string
		err  error
	}{
		{"config", kindConfig, "", nil},
		{"keys/" + testID, kindKey, testID, nil},
		{"data/01/" + testID, kindHashed, testID, nil},
		{"index/" + testID, kindHashed, testID, nil},
		{"snapshots/" + testID, kindHashed, testID, nil},
		{"holds/" + testID, kindHashed, testID, nil},
		{"anchors/audit", kindAnchor, "", nil},
		{"anchors/a-1", kindAnchor, "", nil},

		{"locks/" + testID[:32], 0, "", ErrLockName},
		{"locks/anything/at/all", 0, "", ErrLockName},
		{"config2", 0, "", ErrUnknownName},
		{"configs/x", 0, "", ErrUnknownName},
		{"keys/" + strings.ToUpper(testID), 0, "", ErrUnknownName},
		{"keys/" + testID[:63], 0, "", ErrUnknownName},
		{"keys/" + testID + "0", 0, "", ErrUnknownName},
		{"keys/" + testID + "/x", 0, "", ErrUnknownName},
		{"keys/x", 0, "", ErrUnknownName},
		{"data/" + testID, 0, "", ErrUnknownName},
		{"data/ff/" + testID, 0, "", ErrUnknownName},
		{"data/01/" + testID + "/x", 0, "", ErrUnknownName},
		{"index/01/" + testID, 0, "", ErrUnknownName},
		{"snapshots/" + testID[:8], 0, "", ErrUnknownName},
		{"anchors/Audit", 0, "", ErrUnknownName},
		{"anchors/" + strings.Repeat("a", 65), 0, "", ErrUnknownName},
		{"anchors/a/b", 0, "", ErrUnknownName},
		{"tmp/x", 0, "", ErrUnknownName},
		{"", 0, "", store.ErrInvalidName},
		{"/config", 0, "", store.ErrInvalidName},
		{"keys/../config", 0, "", store.ErrInvalidName},
		{"keys/", 0, "", store.ErrInvalidName},
		{".tmp/x", 0, "", store.ErrInvalidName},
		{"config\x00", 0, "", store.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, id, err := classify(tt.name)
			if kind != tt.kind || id != tt.id || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("classify(%q): got %v, %q, %v; want %v, %q, %v", tt.name, kind, id, err, tt.kind, tt.id, tt.err)
			}
		})
	}
}

// FuzzClassify: classify never panics, accepts only clean store names,
// never accepts a lock, and the hash it returns is the name's last
// element.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"config", "keys/" + testID, "data/01/" + testID, "index/" + testID,
		"snapshots/" + testID, "holds/" + testID, "anchors/audit", "locks/x", "../x", "data/01/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		kind, id, err := classify(name)
		if err != nil {
			if kind != 0 || id != "" {
				t.Fatalf("classify(%q): refused (%v) but gave kind %v, id %q", name, err, kind, id)
			}
			return
		}
		if store.CheckName(name) != nil {
			t.Fatalf("classify(%q) accepted a name the store refuses", name)
		}
		if strings.HasPrefix(name, "locks/") {
			t.Fatalf("classify(%q) accepted a lock", name)
		}
		switch kind {
		case kindKey, kindHashed:
			if !isID(id) || !strings.HasSuffix(name, "/"+id) {
				t.Fatalf("classify(%q): id %q is not the name's hash", name, id)
			}
		case kindConfig, kindAnchor:
			if id != "" {
				t.Fatalf("classify(%q): id %q for an object not named by its hash", name, id)
			}
		default:
			t.Fatalf("classify(%q): kind %v", name, kind)
		}
	})
}
