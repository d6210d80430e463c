package gateway

import (
	"context"
	"strings"
	"testing"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// TestSmoke signs the owner in over REST, backs up a photo, browses the
// snapshot over REST and over gRPC.
func TestSmoke(t *testing.T) {
	t.Parallel()
	b := newTestBox(t)
	own := b.owner()
	var st struct {
		Ready   string
		Sources []struct{ Name string }
	}
	b.must("GET", "/v1/status", own, nil, &st)
	if st.Ready != "ok" || len(st.Sources) != 2 {
		t.Fatalf("status: %+v", st)
	}
	id := b.backup(map[string][]byte{"2026/IMG_0001.JPG": []byte("not really a jpeg")})
	var tree struct{ Nodes []struct{ Name, Type string } }
	b.must("GET", "/v1/snapshots/"+id+"/tree?path="+b.family+"/2026", own, nil, &tree)
	if len(tree.Nodes) != 1 || tree.Nodes[0].Name != "IMG_0001.JPG" {
		t.Fatalf("tree: %+v", tree)
	}
	conn := b.grpcConn(own)
	resp, err := pb.NewBackupServiceClient(conn).ListSnapshots(context.Background(), &pb.ListSnapshotsRequest{Source: "family"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Snapshots) != 2 || !strings.HasPrefix(resp.Snapshots[0].Id, id[:8]) {
		t.Fatalf("gRPC snapshots: %v", resp)
	}
}
