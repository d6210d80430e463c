package gateway

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/audit"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

func itoa(n int) string { return strconv.Itoa(n) }

// pending is the audit record of a call in progress: the interceptor
// makes it from the audit rule and the request, the handler may refine
// it (record), auth-store events about its account join it (absorb),
// and the interceptor writes it with the result when the call ends.
type pending struct {
	mu      sync.Mutex
	e       audit.Entry
	quiet   bool
	account string   // lower case; "" when the call acts on no account
	absorbs []string // auth-store event actions that join this record
}

type pendingKey struct{}

func pendingOf(ctx context.Context) *pending {
	p, _ := ctx.Value(pendingKey{}).(*pending)
	return p
}

// newPending starts the record of a call by c under rule.
func newPending(rule auditRule, req any, c *caller) *pending {
	p := &pending{quiet: rule.quiet, absorbs: rule.absorbs, e: audit.Entry{Action: rule.action, Actor: c.p.User,
		ActorID: c.p.UserID, IP: c.ip, Detail: map[string]string{}}}
	if rule.target != nil {
		p.e.Target = rule.target(req, c)
	}
	for _, f := range rule.detail {
		if v := reqField(req, f); v != "" {
			p.e.Detail[f] = v
		}
	}
	if rule.account != nil {
		p.account = strings.ToLower(rule.account(req, c))
	}
	return p
}

// refine changes the record's action and target (when not empty) and
// adds detail.
func (p *pending) refine(action, target string, detail map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if action != "" {
		p.e.Action = action
	}
	if target != "" {
		p.e.Target = target
	}
	for k, v := range detail {
		p.e.Detail[k] = v
	}
}

// absorbEvent adds an auth-store event to the record's detail, under
// "events": "auth.role_changed: member → admin; …".
func (p *pending) absorbEvent(action string, detail map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for _, k := range []string{"detail", "device", "credential"} {
		if v := detail[k]; v != "" {
			parts = append(parts, v)
		}
	}
	ev := action
	if len(parts) > 0 {
		ev += ": " + strings.Join(parts, ", ")
	}
	if old := p.e.Detail["events"]; old != "" {
		ev = old + "; " + ev
	}
	p.e.Detail["events"] = ev
}

// entry is the record with the result of err.
func (p *pending) entry(err error) audit.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.e
	e.Detail = maps.Clone(p.e.Detail)
	e.Result = resultOf(err)
	return e
}

// resultOf is a record's result: "ok", or the gRPC code and the start
// of the message.
func resultOf(err error) string {
	if err == nil {
		return audit.ResultOK
	}
	st := status.Convert(err)
	msg := st.Message()
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	return st.Code().String() + ": " + msg
}

// track makes p's account known to absorb while the call runs; the
// returned func forgets it.
func (g *Gateway) track(p *pending) func() {
	if p.account == "" || len(p.absorbs) == 0 {
		return func() {}
	}
	g.aud.mu.Lock()
	defer g.aud.mu.Unlock()
	if g.aud.inflight == nil {
		g.aud.inflight = map[string][]*pending{}
	}
	g.aud.inflight[p.account] = append(g.aud.inflight[p.account], p)
	return func() {
		g.aud.mu.Lock()
		defer g.aud.mu.Unlock()
		g.aud.inflight[p.account] = slices.DeleteFunc(g.aud.inflight[p.account], func(q *pending) bool { return q == p })
		if len(g.aud.inflight[p.account]) == 0 {
			delete(g.aud.inflight, p.account)
		}
	}
}

// actsOn tells the audit record of the call in ctx which account it acts
// on, when only the handler can know (a pairing code's person, found by
// the code's ID): the auth store's events about that account then join
// the record instead of naming the account as their actor. The returned
// func forgets it; call it when the call's store work is done.
func (g *Gateway) actsOn(ctx context.Context, account string) func() {
	p := pendingOf(ctx)
	if p == nil || p.account != "" {
		return func() {}
	}
	p.account = strings.ToLower(account)
	return g.track(p)
}

// absorb adds an auth-store event about account to the record of a call
// in progress that acts on that account and takes such events, and
// reports whether one did. The store's event names the account it
// concerns, not who acted on it: written on its own it would name the
// account as the actor of what an admin did to it.
func (g *Gateway) absorb(action, account string, detail map[string]string) bool {
	g.aud.mu.Lock()
	defer g.aud.mu.Unlock()
	for _, p := range g.aud.inflight[strings.ToLower(account)] {
		if slices.Contains(p.absorbs, action) {
			p.absorbEvent(action, detail)
			return true
		}
	}
	return false
}

// record adds what the caller did to the audit log. Within an audited
// call (every RPC that changes something, see audited.go) it refines the
// call's one record — action and target when not empty, detail added —
// which the interceptor writes with the result when the call ends.
// Elsewhere (a download, which changes nothing) it writes an entry now.
func (g *Gateway) record(ctx context.Context, action, target string, detail map[string]string) {
	if p := pendingOf(ctx); p != nil {
		p.refine(action, target, detail)
		return
	}
	e := audit.Entry{Action: action, Target: target, Detail: detail, Result: audit.ResultOK}
	if c := callerOf(ctx); c != nil {
		e.Actor, e.ActorID, e.IP = c.p.User, c.p.UserID, c.ip
	}
	g.appendEntry(e)
}

// recordAs writes what happened outside an RPC's record: the public side
// (share pages, credentials revoked over plain HTTP) and the auth store's
// events (sign-ins, lock-outs). An auth-store event about an account
// that a call in progress acts on joins that call's record instead
// (absorb). The result is "ok", or "failed" for actions that are
// failures (login.failed, lock-outs).
func (g *Gateway) recordAs(actor, ip, action, target string, detail map[string]string) {
	if g.absorb(action, target, detail) {
		return
	}
	g.appendEntry(audit.Entry{Actor: actor, ActorID: g.accountID(actor), IP: ip, Action: action, Target: target,
		Detail: detail, Result: storeResult(action, detail)})
}

// accountID is the account ID of an actor that is a person.
func (g *Gateway) accountID(actor string) string {
	if actor == localUser {
		return localUser
	}
	if actor == "" || g.auth == nil || strings.HasPrefix(actor, "link:") {
		return ""
	}
	if u, err := g.auth.GetUser(actor); err == nil {
		return u.ID
	}
	return ""
}

func storeResult(action string, detail map[string]string) string {
	for _, w := range []string{"failed", "lockout", "locked"} {
		if strings.Contains(action, w) {
			if d := detail["detail"]; d != "" {
				return "failed: " + d
			}
			return "failed"
		}
	}
	return audit.ResultOK
}

// appendEntry writes e to the audit log.
func (g *Gateway) appendEntry(e audit.Entry) {
	written, err := g.audit.Append(e)
	if err != nil {
		g.auditBroken(e.Action, err)
		return
	}
	g.maybeAnchor(written.Seq)
}

// auditing is the gateway's state around its audit log.
type auditing struct {
	mu sync.Mutex
	// inflight are the records of calls in progress that take the auth
	// store's events, by the account they act on.
	inflight map[string][]*pending
	// broken is why the last append failed (nil when the log is
	// writable), since when, and how many changes were refused since.
	broken  error
	since   time.Time
	refused int
	// low is set while the state disk is below its reserve.
	low bool
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
