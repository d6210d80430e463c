package gateway

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/raid"
)

// DiskService: the array and its disks, their health history, and the
// disk operations (scrub, replace, evacuate).

// disks reports the array and each member with its health verdict; where
// a disk is mounted only to those who manage the disks (members see a
// disk's health, not the box's paths).
func (g *Gateway) disks(p auth.Principal) (*pb.ArrayStatus, []*pb.Disk) {
	a := g.d.DiskArray()
	if a == nil {
		return nil, nil
	}
	st := a.Status()
	arr := &pb.ArrayStatus{Id: st.ArrayID, Layout: st.Layout, State: st.State.String(), Objects: int64(st.Objects),
		DegradedObjects: int64(st.Degraded), LostObjects: int64(st.Lost)}
	var out []*pb.Disk
	manager := g.maySee(p, auth.DisksManage, "")
	for _, m := range st.Disks {
		d := diskPB(m, g.d.DiskHealth(m))
		if !manager {
			d.Path, d.Problem = "", g.d.HidePaths(d.Problem)
		}
		out = append(out, d)
	}
	return arr, out
}

func diskPB(m raid.DiskStatus, h appliance.DiskHealth) *pb.Disk {
	return &pb.Disk{Id: m.DiskID, Path: m.Path, Model: m.Model, Serial: m.Serial, State: m.State.String(), Present: m.Present,
		Problem: m.Problem, TotalBytes: int64(m.TotalBytes), FreeBytes: int64(m.FreeBytes), Health: h.State,
		HealthReasons: h.Reasons, TemperatureC: int32(h.Temperature), IoErrors: int64(m.IOErrors), ChecksumErrors: int64(m.ChecksumErrors)}
}

type diskService struct {
	pb.UnimplementedDiskServiceServer
	g *Gateway
}

func (s *diskService) ListDisks(ctx context.Context, _ *pb.Empty) (*pb.ListDisksResponse, error) {
	arr, disks := s.g.disks(callerOf(ctx).p)
	return &pb.ListDisksResponse{Array: arr, Disks: disks}, nil
}

func (s *diskService) DiskHistory(ctx context.Context, r *pb.DiskRequest) (*pb.DiskHistoryResponse, error) {
	samples, err := s.g.d.DiskHistory(r.Id)
	if err != nil {
		return nil, err
	}
	out := &pb.DiskHistoryResponse{}
	for _, x := range samples {
		out.Samples = append(out.Samples, &pb.HealthSample{Time: ts(x.Time), Health: x.State, TemperatureC: int32(x.Temperature),
			Reallocated: x.Reallocated, Pending: x.Pending, MediaErrors: x.MediaErrors})
	}
	return out, nil
}

func (s *diskService) Scrub(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	if err := s.g.d.StartScrub(); err != nil {
		return nil, err
	}
	s.g.record(ctx, "disks.scrub", "array", nil)
	return &pb.Empty{}, nil
}

func (s *diskService) ReplaceDisk(ctx context.Context, r *pb.ReplaceDiskRequest) (*pb.Empty, error) {
	if r.NewPath == "" {
		return nil, status.Error(codes.InvalidArgument, "new_path is required: the folder or mount point of the new disk")
	}
	if err := s.g.d.StartReplace(r.Id, r.NewPath); err != nil {
		return nil, err
	}
	s.g.record(ctx, "disks.replace", r.Id, map[string]string{"new_path": r.NewPath})
	return &pb.Empty{}, nil
}

func (s *diskService) EvacuateDisk(ctx context.Context, r *pb.DiskRequest) (*pb.Empty, error) {
	if err := s.g.d.StartEvacuate(r.Id); err != nil {
		return nil, err
	}
	s.g.record(ctx, "disks.evacuate", r.Id, nil)
	return &pb.Empty{}, nil
}
