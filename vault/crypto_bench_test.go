package vault

import (
	"bytes"
	"testing"

	"filippo.io/age"
)

// BenchmarkAgeFile measures what a recipient type costs per repository
// file: the public-key work of encrypting (one per pack) and decrypting the
// file key, and the header size (docs/DESIGN.md quotes the results).
func BenchmarkAgeFile(b *testing.B) {
	for _, pq := range []bool{false, true} {
		name := "X25519"
		if pq {
			name = "HybridMLKEM768X25519"
		}
		k, err := NewMasterKey(pq)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/encrypt", func(b *testing.B) {
			for b.Loop() {
				if _, err := seal(nil, k.recipient); err != nil {
					b.Fatal(err)
				}
			}
		})
		file, err := seal(nil, k.recipient)
		if err != nil {
			b.Fatal(err)
		}
		hdr, err := age.ExtractHeader(bytes.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/decrypt-header", func(b *testing.B) {
			for b.Loop() {
				if _, err := age.DecryptHeader(hdr, k.identity); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
