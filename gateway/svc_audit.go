package gateway

import (
	"context"
	"strconv"

	"github.com/shoebox/shoebox/gateway/audit"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

func itoa(n int) string { return strconv.Itoa(n) }

// record appends a security-relevant action by the caller to the audit
// log. A failure to audit is logged loudly; the action itself has
// already happened and is not undone.
func (g *Gateway) record(ctx context.Context, action, target string, detail map[string]string) {
	actor, ip := "", ""
	if c := callerOf(ctx); c != nil {
		actor, ip = c.p.User, c.ip
	}
	g.recordAs(actor, ip, action, target, detail)
}

func (g *Gateway) recordAs(actor, ip, action, target string, detail map[string]string) {
	e, err := g.audit.Append(audit.Entry{Actor: actor, IP: ip, Action: action, Target: target, Detail: detail})
	if err != nil {
		g.log.Error("audit log append failed", "action", action, "err", err)
		return
	}
	g.maybeAnchor(e.Seq)
}

type auditService struct {
	pb.UnimplementedAuditServiceServer
	g *Gateway
}

func (s *auditService) ListAudit(ctx context.Context, r *pb.ListAuditRequest) (*pb.ListAuditResponse, error) {
	f := audit.Filter{Actor: r.Actor, Action: r.Action, Limit: int(r.Limit)}
	if r.Since != nil {
		f.Since = r.Since.AsTime()
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	es, err := s.g.audit.List(f)
	if err != nil {
		return nil, err
	}
	out := &pb.ListAuditResponse{}
	for _, e := range es {
		out.Entries = append(out.Entries, &pb.AuditEntry{Seq: int64(e.Seq), Time: ts(e.Time), Actor: e.Actor, ActorId: e.ActorID,
			Ip: e.IP, Action: e.Action, Target: e.Target, Result: e.Result, Detail: e.Detail, Hash: e.Hash})
	}
	return out, nil
}

func (s *auditService) VerifyAudit(ctx context.Context, _ *pb.VerifyAuditRequest) (*pb.VerifyAuditResponse, error) {
	anchor := s.g.anchors.latest()
	rep, err := s.g.audit.Verify(anchor)
	if err != nil {
		return nil, err
	}
	out := &pb.VerifyAuditResponse{Ok: rep.OK, Entries: int64(rep.Entries), FirstBadSeq: int64(rep.BadSeq), Reason: rep.Reason,
		UnkeyedEntries: int64(rep.Unkeyed)}
	if anchor != nil {
		out.AnchoredSeq, out.AnchoredAt = int64(anchor.Seq), ts(anchor.Time)
	}
	return out, nil
}
