package vault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox/shoebox/internal/testcorpus"
)

// dataBlobs counts the data blobs in the index.
func dataBlobs(r *Repository) int {
	n := 0
	for _, p := range r.index.Packs() {
		for _, b := range p.Blobs {
			if b.Type == DataBlob {
				n++
			}
		}
	}
	return n
}

func TestDedup(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	photo := randBytes(7, 3<<20)
	writeFile(t, filepath.Join(src, "DSC_0001.NEF"), photo, testEpoch)
	r, _ := newTestRepo(t, 1<<20)
	s1 := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	before := dataBlobs(r)

	// The same bytes under other names, in other directories.
	writeFile(t, filepath.Join(src, "copy of DSC_0001.NEF"), photo, testEpoch)
	writeFile(t, filepath.Join(src, "album", "DSC_0001.NEF"), photo, testEpoch)
	s2 := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	if got := dataBlobs(r); got != before {
		t.Errorf("got %d data blobs after adding duplicates, want %d", got, before)
	}
	if s2.Summary.BytesAdded > 64<<10 {
		t.Errorf("got %d bytes added for duplicates, want only trees", s2.Summary.BytesAdded)
	}
	files := snapshotFiles(t, r, s2)
	want := files[filepath.Join(src, "DSC_0001.NEF")].Content
	for _, name := range []string{"copy of DSC_0001.NEF", "album/DSC_0001.NEF"} {
		got := files[filepath.Join(src, name)].Content
		if strings.Join(idStrings(got), ",") != strings.Join(idStrings(want), ",") {
			t.Errorf("%s: got content %v, want %v", name, idStrings(got), idStrings(want))
		}
	}
	if s2.Parent == nil || *s2.Parent != s1.ID() {
		t.Errorf("got parent %v, want %s", s2.Parent, s1.ID().Short())
	}

	t.Run("duplicate within one backup", func(t *testing.T) {
		// A new repository chunks with another polynomial: count against
		// the chunks of one copy.
		r, _ := newTestRepo(t, 1<<20)
		snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})
		one := snapshotFiles(t, r, snap)[filepath.Join(src, "DSC_0001.NEF")]
		if got, want := dataBlobs(r), len(one.Content); got != want {
			t.Errorf("got %d data blobs, want %d", got, want)
		}
	})
}

func idStrings(ids []ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Short()
	}
	return out
}

// jpegSample returns a real JPEG from the media corpus, or a synthetic one
// (JPEG magic followed by incompressible bytes).
func jpegSample(t *testing.T) []byte {
	t.Helper()
	var found []byte
	if media, err := testcorpus.Path("media"); err == nil {
		filepath.WalkDir(media, func(p string, d os.DirEntry, err error) error {
			if err != nil || found != nil || !strings.EqualFold(filepath.Ext(p), ".jpg") {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && len(b) > 64<<10 {
				found = b
			}
			return nil
		})
	}
	if found != nil {
		return found
	}
	return append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, randBytes(9, 200<<10)...)
}

func TestCompression(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	xmp := []byte(`<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>` + "\n" +
		strings.Repeat(`<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4" xmp:Label="Red"/>`+"\n", 400))
	files := map[string][]byte{
		"IMG_1234.xmp":      xmp,
		"IMG_1234.jpg":      jpegSample(t),
		"notes.txt":         []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 2000)),
		"random.bin":        randBytes(11, 200<<10),
		"compressible.JPEG": []byte(strings.Repeat("z", 100<<10)), // by its name, not tried
	}
	for name, b := range files {
		writeFile(t, filepath.Join(src, name), b, testEpoch)
	}
	r, store := newTestRepo(t, 0)
	snap := mustBackup(t, r, BackupOptions{Paths: []string{src}})
	nodes := snapshotFiles(t, r, snap)
	tests := []struct {
		name string
		zstd bool
	}{
		{"IMG_1234.xmp", true},
		{"notes.txt", true},
		{"IMG_1234.jpg", false},
		{"random.bin", false},
		{"compressible.JPEG", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := nodes[filepath.Join(src, tc.name)]
			if n == nil || len(n.Content) == 0 {
				t.Fatalf("no content for %s", tc.name)
			}
			for _, id := range n.Content {
				loc, _, ok := r.index.lookup(id)
				if !ok {
					t.Fatalf("blob %s not indexed", id.Short())
				}
				if got := loc.flags&flagZstd != 0; got != tc.zstd {
					t.Errorf("blob %s: got zstd %v, want %v", id.Short(), got, tc.zstd)
				}
				if tc.zstd && loc.length >= loc.rawLen/2 {
					t.Errorf("blob %s: got %d stored bytes of %d, want well compressed", id.Short(), loc.length, loc.rawLen)
				}
				if !tc.zstd && loc.length != loc.rawLen {
					t.Errorf("blob %s: got %d stored bytes of %d, want them equal", id.Short(), loc.length, loc.rawLen)
				}
			}
		})
	}
	if snap.Summary.BytesStored >= snap.Summary.BytesAdded {
		t.Errorf("got %d bytes stored of %d added, want fewer", snap.Summary.BytesStored, snap.Summary.BytesAdded)
	}
	target := t.TempDir()
	mustRestore(t, reopen(t, store), snap, RestoreOptions{Target: target})
	compareTrees(t, src, restoredPath(target, src), compareOpts{noXattrs: true})
}

func TestCompressible(t *testing.T) {
	text := []byte(strings.Repeat("<x:xmpmeta>rating 5</x:xmpmeta>\n", 100))
	tests := []struct {
		name string
		head []byte
		want bool
	}{
		{"photo.JPG", text, false},
		{"clip.MOV", text, false},
		{"raw.CR3", text, false},
		{"sidecar.xmp", text, true},
		{"noext", text, true},
		{"noext", []byte{0xFF, 0xD8, 0xFF, 0xE1, 1, 2, 3}, false},
		{"noext", append([]byte{0, 0, 0, 0x18}, []byte("ftypheic....")...), false},
		{"noext", append([]byte("RIFF\x00\x00\x00\x00WEBP"), text...), false},
		{"sound.wav", append([]byte("RIFF\x00\x00\x00\x00WAVE"), text...), true},
		{"noext", randBytes(1, 64<<10), false},
		{"tiny", []byte("ab"), true},
		{"empty", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compressible(tc.name, tc.head); got != tc.want {
				t.Errorf("Compressible(%q, %d bytes) = %v, want %v", tc.name, len(tc.head), got, tc.want)
			}
		})
	}
}
