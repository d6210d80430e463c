package gateway

import (
	"context"

	"github.com/shoebox/shoebox/appliance"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// ClusterService: this unit's side of the pair (docs/CLUSTER.md,
// "Pairing"). The daemon does the work (appliance/cluster.go); this
// turns it into API messages.

type clusterService struct {
	pb.UnimplementedClusterServiceServer
	g *Gateway
}

// clusterStatusPB is the unit's pairing for the API. Replication is not
// built yet: replicating is false and its figures zero or empty ("not
// replicating yet"), never made up.
func clusterStatusPB(st appliance.ClusterStatus) *pb.ClusterStatus {
	out := &pb.ClusterStatus{Role: st.Role, Listen: st.Listen}
	if st.DeviceID != ([32]byte{}) {
		out.DeviceId = st.DeviceID.String()
	}
	if p := st.Peer; p != nil {
		out.Paired = true
		out.PeerDeviceId = p.ID.String()
		out.PeerName = p.Name
		out.PeerAddr = p.Addr
		out.Epoch = p.Epoch
		out.PairedAt = ts(p.PairedAt)
	}
	return out
}

func (s *clusterService) GetClusterStatus(context.Context, *pb.Empty) (*pb.ClusterStatus, error) {
	return clusterStatusPB(s.g.d.ClusterStatus()), nil
}

func (s *clusterService) Offer(_ context.Context, req *pb.OfferRequest) (*pb.PairingOffer, error) {
	o, err := s.g.d.OfferPairing(req.Replace)
	if err != nil {
		return nil, err
	}
	return &pb.PairingOffer{DeviceId: o.DeviceID.String(), Code: o.Code, Expires: ts(o.Expires)}, nil
}

func (s *clusterService) Pair(ctx context.Context, req *pb.PairRequest) (*pb.ClusterStatus, error) {
	if _, err := s.g.d.PairWith(ctx, req.Addr, req.DeviceId, req.Code); err != nil {
		return nil, err
	}
	return clusterStatusPB(s.g.d.ClusterStatus()), nil
}

func (s *clusterService) Unpair(context.Context, *pb.Empty) (*pb.ClusterStatus, error) {
	if err := s.g.d.Unpair(); err != nil {
		return nil, err
	}
	return clusterStatusPB(s.g.d.ClusterStatus()), nil
}
