package gateway

import (
	"context"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/audit"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/share"
)

func init() {
	errorRules = append(errorRules,
		errorRule{share.ErrNotFound, codes.NotFound, ""},
		errorRule{share.ErrExpired, codes.NotFound, ""},
		errorRule{share.ErrRevoked, codes.NotFound, ""},
		errorRule{share.ErrUsedUp, codes.NotFound, ""},
		errorRule{share.ErrPasswordRequired, codes.Unauthenticated, ""},
		errorRule{share.ErrWrongPassword, codes.Unauthenticated, ""},
		errorRule{share.ErrTooManyAttempts, codes.ResourceExhausted, ""},
		errorRule{share.ErrInvalid, codes.InvalidArgument, ""},
	)
}

type shareService struct {
	pb.UnimplementedShareServiceServer
	g *Gateway
}

func sharePB(s share.Share) *pb.Share {
	return &pb.Share{Id: s.ID, Snapshot: s.Target.Snapshot, Path: s.Target.Path, Kind: string(s.Target.Kind), Space: s.Space,
		Owner: s.Owner, Password: s.Password, Download: s.Download, MaxUses: int32(s.MaxUses), Uses: int32(s.Uses),
		Revoked: s.Revoked, Created: ts(s.Created), Expires: ts(s.Expires)}
}

func (s *shareService) CreateShare(ctx context.Context, r *pb.CreateShareRequest) (*pb.CreateShareResponse, error) {
	sn, err := s.g.snapshot(ctx, r.Snapshot, auth.SharesManage)
	if err != nil {
		return nil, err
	}
	p := cleanPath(r.Path)
	kind := share.Snapshot
	if p != "/" {
		n, err := s.g.d.Repo.Lookup(ctx, sn.Tree, p)
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "%s is not in snapshot %s", p, sn.ID().Short())
		}
		kind = share.Folder
		if n.Type == "file" {
			kind = share.File
		}
	}
	ttl := share.DefaultTTL
	if r.ExpiresDays > 0 {
		ttl = time.Duration(r.ExpiresDays) * 24 * time.Hour
	}
	c := callerOf(ctx)
	tok, sh, err := s.g.shares.Create(share.CreateRequest{Owner: c.p.User, Space: spaceOf(sn),
		Target: share.Target{Snapshot: sn.ID().String(), Path: p, Kind: kind}, Password: r.Password, TTL: ttl,
		Download: r.Download, MaxUses: int(r.MaxUses)})
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionShareCreated, sh.ID, map[string]string{"snapshot": sn.ID().String(), "path": p,
		"download": boolStr(r.Download), "expires": sh.Expires.Format(time.RFC3339)})
	return &pb.CreateShareResponse{Url: s.g.publicURL() + "/s/" + tok, Token: tok, Share: sharePB(sh)}, nil
}

func boolStr(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ownerMayShare reports whether a link's owner may still share from its
// space: a link lends its owner's access, which ends with a revoked
// grant, a lower role or a deleted account.
func (g *Gateway) ownerMayShare(sh share.Share) bool {
	if sh.Owner == localUser { // made on the box with its local token
		return true
	}
	u, err := g.auth.GetUser(sh.Owner)
	if err != nil {
		return false
	}
	return g.auth.Allowed(auth.Principal{User: u.Name, Role: u.Role}, auth.SharesManage, sh.Space)
}

// mayManageAll: owners and admins see and revoke everyone's links.
func (g *Gateway) mayManageAll(ctx context.Context) bool {
	return g.auth.Allowed(callerOf(ctx).p, auth.UsersManage, "")
}

func (s *shareService) ListShares(ctx context.Context, _ *pb.Empty) (*pb.ListSharesResponse, error) {
	var list []share.Share
	var err error
	if s.g.mayManageAll(ctx) {
		list, err = s.g.shares.ListAll()
	} else {
		list, err = s.g.shares.List(callerOf(ctx).p.User)
	}
	if err != nil {
		return nil, err
	}
	out := &pb.ListSharesResponse{}
	for _, sh := range list {
		out.Shares = append(out.Shares, sharePB(sh))
	}
	return out, nil
}

// ownerOf returns the owner to act as for share id: the caller, or the
// link's owner when the caller manages everyone's links.
func (s *shareService) ownerOf(ctx context.Context, id string) (string, error) {
	owner := callerOf(ctx).p.User
	if s.g.mayManageAll(ctx) {
		sh, err := s.g.shares.Get(id)
		if err != nil {
			return "", err
		}
		owner = sh.Owner
	}
	return owner, nil
}

func (s *shareService) RevokeShare(ctx context.Context, r *pb.ShareRequest) (*pb.Empty, error) {
	owner, err := s.ownerOf(ctx, r.Id)
	if err != nil {
		return nil, err
	}
	if err := s.g.shares.Revoke(owner, r.Id); err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionShareRevoked, r.Id, nil)
	return &pb.Empty{}, nil
}

func (s *shareService) RevokeAllShares(ctx context.Context, _ *pb.Empty) (*pb.RevokeAllSharesResponse, error) {
	n, err := s.g.shares.RevokeAll(callerOf(ctx).p.User)
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionShareRevoked, "all", map[string]string{"count": itoa(n)})
	return &pb.RevokeAllSharesResponse{Revoked: int32(n)}, nil
}

func (s *shareService) ShareAccessLog(ctx context.Context, r *pb.ShareRequest) (*pb.ShareAccessLogResponse, error) {
	if _, err := s.ownerOf(ctx, r.Id); err != nil {
		return nil, err
	}
	sh, err := s.g.shares.Get(r.Id)
	if err != nil {
		return nil, err
	}
	if sh.Owner != callerOf(ctx).p.User && !s.g.mayManageAll(ctx) {
		return nil, status.Error(codes.NotFound, "no such link")
	}
	log, err := s.g.shares.AccessLog(r.Id)
	if err != nil {
		return nil, err
	}
	out := &pb.ShareAccessLogResponse{}
	for _, a := range log {
		out.Entries = append(out.Entries, &pb.ShareAccess{Time: ts(a.Time), Ip: a.IP, What: a.What})
	}
	// Downloads under the link's cookie are not uses, so the share store
	// does not log them; the audit log has them.
	dl, err := s.g.audit.List(audit.Filter{Actor: "link:" + sh.ID, Action: audit.ActionDownload, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, e := range dl {
		out.Entries = append(out.Entries, &pb.ShareAccess{Time: ts(e.Time), Ip: e.IP, What: e.Detail["what"]})
	}
	sort.SliceStable(out.Entries, func(i, j int) bool { return out.Entries[i].Time.AsTime().After(out.Entries[j].Time.AsTime()) })
	return out, nil
}
