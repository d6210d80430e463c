package gateway

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// StatusService: the box at a glance (GetStatus) and the restore drills.
// It turns the daemon's state into API messages; the converters shared
// with the other services (ts, sourcePB, opPB) live here too.

type statusService struct {
	pb.UnimplementedStatusServiceServer
	g *Gateway
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func (s *statusService) GetStatus(ctx context.Context, _ *pb.Empty) (*pb.Status, error) {
	d := s.g.d
	st := &pb.Status{Ready: "ok", Time: ts(s.g.now()), OffsiteLagSeconds: -1, Role: d.Configuration().Role}
	if why := d.NotReady(); why != "" {
		st.Ready = why
	}
	p := callerOf(ctx).p
	if s.g.auth.Allowed(p, auth.DisksRead, "") { // viewers see their spaces, not the hardware
		st.Array, st.Disks = s.g.disks(p)
		if c, ok := d.Capacity(); ok {
			st.Capacity = &pb.Capacity{TotalBytes: c.Total, UsedBytes: c.Used, FreeBytes: c.Free, DaysUntilFull: c.DaysUntilFull}
		}
	}
	for _, src := range d.Sources() {
		if !s.g.auth.Allowed(p, auth.BackupsRead, src.Name) {
			continue
		}
		st.Sources = append(st.Sources, sourcePB(src))
		st.Copies = append(st.Copies, copiesOf(d, src))
	}
	for _, a := range d.Alerts().List(false) {
		if s.g.maySeeAlert(p, a) {
			st.Alerts = append(st.Alerts, alertPB(a))
		}
	}
	for _, op := range d.Operations() {
		if s.g.mayWatch(p, op) {
			st.Operations = append(st.Operations, opPB(op))
		}
	}
	return st, nil
}

// copiesOf counts a source's copies for the 3-2-1 rule: the folder
// itself, the box's repository (redundant when on an array), and offsite
// (once a paired unit exists: the cluster issue).
func copiesOf(d Box, src appliance.SourceInfo) *pb.Copies {
	c := &pb.Copies{Source: src.Name, Copies: 1, Where: []string{"source folder " + src.Path}}
	if src.LastSuccess != nil {
		c.Copies++
		where := "box repository"
		if a := d.DiskArray(); a != nil {
			where = "box array " + a.Status().Layout
		}
		c.Where = append(c.Where, where)
	}
	// 3 copies, 2 media, 1 offsite: without an offsite unit the rule is
	// not met however many local disks there are.
	c.Meets_3_2_1 = false
	return c
}

func sourcePB(s appliance.SourceInfo) *pb.Source {
	out := &pb.Source{Name: s.Name, Path: s.Path, Mode: s.Mode, Schedule: s.Schedule, FromConfig: s.FromConfig,
		LastError: s.LastError, LastSnapshot: s.LastSnap, Running: s.Running,
		Retention: &pb.Retention{KeepLast: int32(s.Retention.KeepLast), KeepDaily: int32(s.Retention.KeepDaily),
			KeepWeekly: int32(s.Retention.KeepWeekly), KeepMonthly: int32(s.Retention.KeepMonthly),
			KeepYearly: int32(s.Retention.KeepYearly), LockDays: int32(s.Retention.LockDays), Until: s.Retention.Until}}
	if s.LastSuccess != nil {
		out.LastSuccess = ts(*s.LastSuccess)
	}
	if s.Running {
		p := s.Progress
		out.Progress = &pb.Progress{Kind: "backup", Subject: s.Name, FilesDone: p.Files, BytesDone: p.Bytes,
			FilesTotal: p.TotalFiles, BytesTotal: p.TotalBytes}
	}
	return out
}

// opPB is an operation for the API; its error names the box's places
// (STATE, "array disk N"), not their paths: the daemon keeps it so
// (appliance.Op.Done).
func opPB(op appliance.Operation) *pb.Progress {
	return &pb.Progress{Kind: op.Kind, Subject: op.Subject, FilesDone: op.FilesDone, FilesTotal: op.FilesTotal,
		BytesDone: op.BytesDone, BytesTotal: op.BytesTotal, RateBytesPerSecond: op.Rate, EtaSeconds: int64(op.ETA.Seconds()),
		Started: ts(op.Started), Done: op.Done, Error: op.Error}
}

func (s *statusService) ListDrills(ctx context.Context, _ *pb.Empty) (*pb.ListDrillsResponse, error) {
	ds, err := s.g.d.Drills(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListDrillsResponse{}
	p := callerOf(ctx).p
	for _, d := range ds {
		// A drill restored files of a snapshot: shown to those who may
		// read its space (a snapshot of no space: owners and admins).
		if !s.g.maySee(p, auth.BackupsRead, d.Space) {
			continue
		}
		var failures []string
		for _, f := range d.Failures {
			failures = append(failures, s.g.d.HidePaths(f))
		}
		out.Drills = append(out.Drills, &pb.Drill{Time: ts(d.Time), Snapshot: d.Snapshot, Files: int32(d.Files), Bytes: d.Bytes,
			Seconds: d.Seconds(), Ok: d.OK, Failures: failures, Space: d.Space})
	}
	return out, nil
}

// mayWatch says whether p may see an operation: one on a space they may
// read (a restore of a snapshot without a space counts as one on the
// whole box's data: owners and admins), or box-wide maintenance (scrub,
// rebuild, drills) when they may see the box's disks.
func (g *Gateway) mayWatch(p auth.Principal, op appliance.Operation) bool {
	if op.Space != "" || op.Kind == "restore" {
		return g.auth.Allowed(p, auth.BackupsRead, op.Space)
	}
	return g.auth.Allowed(p, auth.DisksRead, "")
}
