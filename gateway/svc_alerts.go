package gateway

import (
	"cmp"
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// AlertService: the alerts, who may see each, and the memory cards'
// verdicts and ledgers.

func alertPB(a appliance.Alert) *pb.Alert {
	return &pb.Alert{Id: a.ID, Key: a.Key, Kind: a.Kind, Severity: string(a.Severity), Subject: a.Subject,
		Message: a.Message, First: ts(a.First), Last: ts(a.Last), Count: int32(a.Count), Acked: a.Acked, Resolved: a.Resolved, Space: a.Space}
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
	for _, a := range s.g.d.Alerts().List(r.All) {
		if s.g.maySeeAlert(p, a) {
			out.Alerts = append(out.Alerts, alertPB(a))
		}
	}
	return out, nil
}

func (s *alertService) AckAlert(ctx context.Context, r *pb.AckAlertRequest) (*pb.Alert, error) {
	p := callerOf(ctx).p
	if !s.g.d.Alerts().AckIf(r.Id, func(a appliance.Alert) bool { return s.g.maySeeAlert(p, a) }) {
		return nil, status.Errorf(codes.NotFound, "no alert %q — list them with GET /v1/alerts", r.Id)
	}
	s.g.record(ctx, "alerts.ack", r.Id, nil)
	for _, a := range s.g.d.Alerts().List(true) {
		if a.ID == r.Id {
			return alertPB(a), nil
		}
	}
	return &pb.Alert{Id: r.Id, Acked: true}, nil
}

func (s *alertService) StreamAlerts(_ *pb.Empty, stream pb.AlertService_StreamAlertsServer) error {
	ch, cancel := s.g.d.Alerts().SubscribeCancel(16)
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
