package gateway

import (
	"cmp"
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/raid"
)

// The box-facing services: status, disks, alerts and cards. They turn
// the daemon's state into API messages.

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
	st := &pb.Status{Ready: "ok", Time: ts(s.g.now()), OffsiteLagSeconds: -1}
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
	for _, a := range d.Bus.List(false) {
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
func copiesOf(d *appliance.Daemon, src appliance.SourceInfo) *pb.Copies {
	c := &pb.Copies{Source: src.Name, Copies: 1, Where: []string{"source folder " + src.Path}}
	if src.LastSuccess != nil {
		c.Copies++
		where := "box repository"
		if d.Array != nil {
			where = "box array " + d.Array.Status().Layout
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

func alertPB(a appliance.Alert) *pb.Alert {
	return &pb.Alert{Id: a.ID, Key: a.Key, Kind: a.Kind, Severity: string(a.Severity), Subject: a.Subject,
		Message: a.Message, First: ts(a.First), Last: ts(a.Last), Count: int32(a.Count), Acked: a.Acked, Resolved: a.Resolved, Space: a.Space}
}

// disks reports the array and each member with its health verdict; where
// a disk is mounted only to those who manage the disks (members see a
// disk's health, not the box's paths).
func (g *Gateway) disks(p auth.Principal) (*pb.ArrayStatus, []*pb.Disk) {
	a := g.d.Array
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

type alertService struct {
	pb.UnimplementedAlertServiceServer
	g *Gateway
}

// boxAlertAction is what a person must be allowed, box-wide, to see a
// box-wide alert (one without a space) of a kind: the disks' and the
// array's health to those who see the disks (members; not viewers),
// cards to those who see the cards. Every other box-wide kind (the
// audit log, services restarting, drills that could not run or that
// restored a snapshot of no space, and kinds added later) goes to those
// who may acknowledge alerts: owners and admins.
var boxAlertAction = map[string]auth.Action{
	"disk": auth.DisksRead, "array-degraded": auth.DisksRead, "scrub": auth.DisksRead, "low-space": auth.DisksRead,
	"card": auth.CardsRead,
}

// spaceAlertAction is what a person must be allowed in an alert's space
// to see it, for the kinds where reading the space is not enough: a
// locked share link's alert names the visitor's address, and is for
// those who manage the space's links.
var spaceAlertAction = map[string]auth.Action{
	alertShareLocked: auth.SharesManage,
}

// maySeeAlert says whether p's person may see an alert: one about a
// space when they may read that space (or do what its kind needs there),
// a box-wide one by its kind.
func (g *Gateway) maySeeAlert(p auth.Principal, a appliance.Alert) bool {
	if a.Space != "" {
		return g.maySee(p, cmp.Or(spaceAlertAction[a.Kind], auth.BackupsRead), a.Space)
	}
	need, ok := boxAlertAction[a.Kind]
	if !ok {
		need = auth.AlertsAck
	}
	return g.maySee(p, need, "")
}

func (s *alertService) ListAlerts(ctx context.Context, r *pb.ListAlertsRequest) (*pb.ListAlertsResponse, error) {
	out := &pb.ListAlertsResponse{}
	p := callerOf(ctx).p
	for _, a := range s.g.d.Bus.List(r.All) {
		if s.g.maySeeAlert(p, a) {
			out.Alerts = append(out.Alerts, alertPB(a))
		}
	}
	return out, nil
}

func (s *alertService) AckAlert(ctx context.Context, r *pb.AckAlertRequest) (*pb.Alert, error) {
	p := callerOf(ctx).p
	if !s.g.d.Bus.AckIf(r.Id, func(a appliance.Alert) bool { return s.g.maySeeAlert(p, a) }) {
		return nil, status.Errorf(codes.NotFound, "no alert %q — list them with GET /v1/alerts", r.Id)
	}
	s.g.record(ctx, "alerts.ack", r.Id, nil)
	for _, a := range s.g.d.Bus.List(true) {
		if a.ID == r.Id {
			return alertPB(a), nil
		}
	}
	return &pb.Alert{Id: r.Id, Acked: true}, nil
}

func (s *alertService) StreamAlerts(_ *pb.Empty, stream pb.AlertService_StreamAlertsServer) error {
	ch, cancel := s.g.d.Bus.SubscribeCancel(16)
	defer cancel()
	p := callerOf(stream.Context()).p
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case a := <-ch:
			if !s.g.maySeeAlert(p, a) {
				continue
			}
			if err := stream.Send(alertPB(a)); err != nil {
				return err
			}
		}
	}
}

func cardPB(v cards.Verdict) *pb.Card {
	return &pb.Card{Id: v.Card, Files: int32(v.Files), Copied: int32(v.Copied),
		VerifiedOnBox: int32(v.VerifiedOnBox), Offsite: int32(v.Offsite), Required: int32(v.Required),
		Missing: v.Missing, Changed: v.Changed, Unreadable: v.Unreadable, SafeToFormat: v.SafeToFormat, Reason: v.Reason}
}

func (s *alertService) ListCards(ctx context.Context, _ *pb.Empty) (*pb.ListCardsResponse, error) {
	vs, err := s.g.d.Cards(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListCardsResponse{}
	for _, v := range vs {
		out.Cards = append(out.Cards, cardPB(v))
	}
	return out, nil
}

func (s *alertService) GetCardLedger(ctx context.Context, r *pb.CardRequest) (*pb.CardLedger, error) {
	l, v, err := s.g.d.CardLedger(ctx, r.Id)
	if err != nil {
		return nil, err
	}
	out := &pb.CardLedger{Verdict: cardPB(v), Started: ts(l.Started), Completed: ts(l.Completed), Snapshot: l.Snapshot}
	for _, f := range l.Files {
		out.Files = append(out.Files, &pb.CardFile{CardPath: f.CardPath, LibraryPath: f.LibraryPath, Size: f.Size, Mtime: ts(f.ModTime),
			Sha256: f.SHA256, Copied: f.Copied, Verified: f.Verified, Snapshot: f.Snapshot, Error: f.Error})
	}
	return out, nil
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
