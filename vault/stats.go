package vault

import "context"

// Stats describes what the repository holds.
type Stats struct {
	Snapshots int `json:"snapshots"`
	// Files and RestoreSize count every file of every snapshot, as if all
	// were restored.
	Files       int64 `json:"files"`
	RestoreSize int64 `json:"restore_size"`
	Blobs       int   `json:"blobs"`
	RawSize     int64 `json:"raw_size"`    // unique plaintext
	StoredSize  int64 `json:"stored_size"` // unique blobs after compression
	Packs       int   `json:"packs"`
	PackSize    int64 `json:"pack_size"` // bytes of pack files
	// DedupRatio is RestoreSize / RawSize; CompressionRatio RawSize /
	// StoredSize.
	DedupRatio       float64 `json:"dedup_ratio"`
	CompressionRatio float64 `json:"compression_ratio"`
}

// Stats walks every snapshot and the index.
func (r *Repository) Stats(ctx context.Context) (*Stats, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	st := &Stats{Snapshots: len(snaps)}
	for _, s := range snaps {
		if s.Summary != nil {
			st.Files += s.Summary.FilesTotal
			st.RestoreSize += s.Summary.BytesTotal
			continue
		}
		err := r.Walk(ctx, s.Tree, func(p string, n *Node) error {
			if n.Type == NodeFile {
				st.Files++
				st.RestoreSize += int64(n.Size)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, p := range r.index.Packs() {
		st.Packs++
		st.PackSize += p.Size
		for _, b := range p.Blobs {
			st.Blobs++
			st.RawSize += int64(b.RawLen)
			st.StoredSize += int64(b.Length)
		}
	}
	if st.RawSize > 0 {
		st.DedupRatio = float64(st.RestoreSize) / float64(st.RawSize)
	}
	if st.StoredSize > 0 {
		st.CompressionRatio = float64(st.RawSize) / float64(st.StoredSize)
	}
	return st, nil
}
