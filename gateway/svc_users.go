package gateway

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

type userService struct {
	pb.UnimplementedUserServiceServer
	g *Gateway
}

func userPB(u auth.User) *pb.User {
	out := &pb.User{Name: u.Name, Role: string(u.Role), Totp: u.TOTP, Created: ts(u.Created), Grants: map[string]*pb.Permissions{}}
	for sp, a := range u.Grants {
		ps := &pb.Permissions{Permissions: []string{}}
		for _, p := range a {
			ps.Permissions = append(ps.Permissions, string(p))
		}
		out.Grants[sp] = ps
	}
	return out
}

func (s *userService) ListUsers(ctx context.Context, _ *pb.Empty) (*pb.ListUsersResponse, error) {
	us, err := s.g.auth.ListUsers()
	if err != nil {
		return nil, err
	}
	out := &pb.ListUsersResponse{}
	for _, u := range us {
		out.Users = append(out.Users, userPB(u))
	}
	return out, nil
}

// manage checks the caller may manage target (giving it role, if any).
func (s *userService) manage(ctx context.Context, target string, role auth.Role) error {
	return s.g.auth.CheckManage(callerOf(ctx).p, target, role)
}

func (s *userService) CreateUser(ctx context.Context, r *pb.CreateUserRequest) (*pb.User, error) {
	role := auth.Role(r.Role)
	if role == "" {
		role = auth.Member
	}
	if err := s.manage(ctx, r.Name, role); err != nil {
		return nil, err
	}
	u, err := s.g.auth.CreateUser(r.Name, r.Password, role)
	if err != nil {
		return nil, err
	}
	detail := map[string]string{"role": string(role)}
	if r.Password == "" {
		detail["first_sign_in"] = "with an enrolment code; no password yet"
	}
	s.g.record(ctx, "users.create", u.Name, detail)
	return userPB(u), nil
}

func (s *userService) DeleteUser(ctx context.Context, r *pb.UserRequest) (*pb.Empty, error) {
	if err := s.manage(ctx, r.Name, ""); err != nil {
		return nil, err
	}
	u, err := s.g.auth.GetUser(r.Name)
	if err != nil {
		return nil, err
	}
	// A departed person's share links stop working with them: ending
	// their sessions and keys revokes the links made with those, and the
	// sweep catches the rest (links made before credentials were kept).
	links, err := s.g.shares.List(u.ID)
	if err != nil {
		return nil, err
	}
	live := 0
	for _, sh := range links {
		if !sh.Revoked {
			live++
		}
	}
	if err := s.g.auth.DeleteUser(u.Name); err != nil {
		return nil, err
	}
	s.g.deleteUploads(ctx, u.ID)
	if _, err := s.g.revokeDeletedOwners(); err != nil {
		return nil, err
	}
	s.g.record(ctx, "delete", "user:"+r.Name, map[string]string{"links_revoked": itoa(live)})
	return &pb.Empty{}, nil
}

func (s *userService) SetRole(ctx context.Context, r *pb.SetRoleRequest) (*pb.User, error) {
	if err := s.manage(ctx, r.Name, auth.Role(r.Role)); err != nil {
		return nil, err
	}
	if err := s.g.auth.SetRole(r.Name, auth.Role(r.Role)); err != nil {
		return nil, err
	}
	return s.user(r.Name)
}

func (s *userService) user(name string) (*pb.User, error) {
	u, err := s.g.auth.GetUser(name)
	if err != nil {
		return nil, err
	}
	return userPB(u), nil
}

func (s *userService) Grant(ctx context.Context, r *pb.GrantRequest) (*pb.User, error) {
	if err := s.manage(ctx, r.Name, ""); err != nil {
		return nil, err
	}
	if len(r.Permissions) == 0 {
		return nil, status.Error(codes.InvalidArgument, `give "permissions": a list of read, write, share, restore (the one-word "access" of earlier versions is gone)`)
	}
	perms := make([]auth.Perm, len(r.Permissions))
	for i, p := range r.Permissions {
		perms[i] = auth.Perm(strings.TrimSpace(p))
	}
	if err := s.g.auth.Grant(r.Name, r.Space, perms...); err != nil {
		return nil, err
	}
	u, err := s.g.auth.GetUser(r.Name)
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, "users.grant", u.Name, map[string]string{"space": r.Space, "permissions": u.Grants[r.Space].String()})
	return userPB(u), nil
}

func (s *userService) RevokeGrant(ctx context.Context, r *pb.RevokeGrantRequest) (*pb.User, error) {
	if err := s.manage(ctx, r.Name, ""); err != nil {
		return nil, err
	}
	if err := s.g.auth.RevokeGrant(r.Name, r.Space); err != nil {
		return nil, err
	}
	s.g.record(ctx, "users.revoke_grant", r.Name, map[string]string{"space": r.Space})
	return s.user(r.Name)
}

func (s *userService) CreateEnrolment(ctx context.Context, r *pb.CreateEnrolmentRequest) (*pb.Enrolment, error) {
	c := callerOf(ctx)
	user := r.User
	if user == "" {
		if c.p.Kind != "local" {
			user = c.p.User
		} else if user = s.g.firstOwner(); user == "" {
			return nil, status.Error(codes.FailedPrecondition, "no owner account yet")
		}
	}
	if err := s.manage(ctx, user, ""); err != nil {
		return nil, err
	}
	ttl, err := validFor(r.ValidMinutes)
	if err != nil {
		return nil, err
	}
	code, e, err := s.g.auth.CreateEnrolment(auth.EnrolmentRequest{User: user, TTL: ttl, By: c.p, OnBox: c.p.Kind == "local"})
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, "users.enrolment", e.User, map[string]string{"credential": e.ID, "purpose": e.Purpose, "expires": e.Expires.Format(time.RFC3339)})
	return s.g.enrolmentPB(ctx, code, e), nil
}

// validFor is an enrolment code's life: minutes, 10 by default.
// validFor is how long a pairing code lives: valid_minutes, 10 when
// unset. The range is checked in minutes, before any multiplication can
// wrap a huge value round to a short or negative duration.
func validFor(minutes int32) (time.Duration, error) {
	if minutes == 0 {
		minutes = 10
	}
	if maxMin := int32(auth.MaxEnrolTTL / time.Minute); minutes < 1 || minutes > maxMin {
		return 0, status.Errorf(codes.InvalidArgument, "valid_minutes %d: a pairing code lives 1 to %d minutes (10 when left out)", minutes, maxMin)
	}
	return time.Duration(minutes) * time.Minute, nil
}

// enrolmentPB is an enrolment for the API; with its code (only when it
// is made) comes the pairing URL.
func (g *Gateway) enrolmentPB(ctx context.Context, code string, e auth.Enrolment) *pb.Enrolment {
	out := &pb.Enrolment{Id: e.ID, User: e.User, Created: ts(e.Created), Expires: ts(e.Expires), By: e.By, Purpose: e.Purpose}
	if code != "" {
		// The fragment never leaves the phone: code and pin are not sent
		// to any server when the URL is opened.
		frag := url.Values{"code": {code}, "pin": {g.pin}, "user": {e.User}}
		out.Code, out.Url, out.Pin = code, g.linkURL(ctx)+"/pair#"+frag.Encode(), g.pin
	}
	return out
}

func (s *userService) ListEnrolments(ctx context.Context, _ *pb.Empty) (*pb.ListEnrolmentsResponse, error) {
	list, err := s.g.auth.ListEnrolments()
	if err != nil {
		return nil, err
	}
	out := &pb.ListEnrolmentsResponse{}
	for _, e := range list {
		out.Enrolments = append(out.Enrolments, s.g.enrolmentPB(ctx, "", e))
	}
	return out, nil
}

func (s *userService) CancelEnrolment(ctx context.Context, r *pb.CancelEnrolmentRequest) (*pb.Empty, error) {
	e, err := s.g.auth.GetEnrolment(r.Id)
	if err != nil {
		return nil, err
	}
	if err := s.manage(ctx, e.User, ""); err != nil {
		return nil, err
	}
	s.g.record(ctx, "", "", map[string]string{"user": e.User})
	defer s.g.actsOn(ctx, e.User)()
	return &pb.Empty{}, s.g.auth.CancelEnrolment(e.ID, callerOf(ctx).p.User)
}

// ResetUser is the owner's reset of another person's sign-in (forgotten
// password, lost phone, suspected break-in): everything the person signs
// in with ends, and a one-time enrolment code lets them pair a phone and
// set a new password. Admins may not: resetting someone's credentials is
// a way to become them. It is audited with both names, raises an alert,
// and the person is told at their next sign-in.
func (s *userService) ResetUser(ctx context.Context, r *pb.ResetUserRequest) (*pb.Enrolment, error) {
	c := callerOf(ctx)
	if c.p.Role != auth.Owner {
		return nil, status.Error(codes.PermissionDenied, "only an owner may reset another person's sign-in: ask the box's owner")
	}
	if err := s.manage(ctx, r.Name, ""); err != nil {
		return nil, err
	}
	u, err := s.g.auth.GetUser(r.Name)
	if err != nil {
		return nil, err
	}
	if u.ID == c.p.UserID {
		return nil, status.Error(codes.InvalidArgument, "a reset is for someone else's sign-in: change your own password and two-step sign-in under /v1/auth")
	}
	ttl, err := validFor(r.ValidMinutes)
	if err != nil {
		return nil, err
	}
	code, e, err := s.g.auth.ResetCredentials(u.Name, c.p, ttl)
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, "users.reset", u.Name, map[string]string{"credential": e.ID, "expires": e.Expires.Format(time.RFC3339)})
	if s.g.d != nil {
		s.g.d.Alerts().Raise("account", "account-reset/"+u.Name, appliance.Warning, "The sign-in of "+u.Name+" was reset by "+c.p.User,
			fmt.Sprintf("%s reset the sign-in of %s at %s: their password, two-step sign-in, signed-in devices, API keys, pairing codes and share links were removed, and a one-time pairing code was made for them. %s is told at their next sign-in.",
				c.p.User, u.Name, s.g.now().UTC().Format(time.RFC3339), u.Name))
	}
	return s.g.enrolmentPB(ctx, code, e), nil
}

// firstOwner returns an owner's name, or "".
func (g *Gateway) firstOwner() string {
	us, _ := g.auth.ListUsers()
	for _, u := range us {
		if u.Role == auth.Owner {
			return u.Name
		}
	}
	return ""
}
