package gateway

import (
	"context"
	"net/url"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

type userService struct {
	pb.UnimplementedUserServiceServer
	g *Gateway
}

func userPB(u auth.User) *pb.User {
	out := &pb.User{Name: u.Name, Role: string(u.Role), Totp: u.TOTP, Created: ts(u.Created), Grants: map[string]string{}}
	for sp, a := range u.Grants {
		out.Grants[sp] = string(a)
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
	s.g.record(ctx, "users.create", u.Name, map[string]string{"role": string(role)})
	return userPB(u), nil
}

func (s *userService) DeleteUser(ctx context.Context, r *pb.UserRequest) (*pb.Empty, error) {
	if err := s.manage(ctx, r.Name, ""); err != nil {
		return nil, err
	}
	gone, _ := s.g.auth.GetUser(r.Name)
	if err := s.g.auth.DeleteUser(r.Name); err != nil {
		return nil, err
	}
	s.g.deleteUploads(ctx, gone.ID)
	// A departed person's share links stop working with them.
	n, _ := s.g.shares.RevokeAll(r.Name)
	s.g.record(ctx, "delete", "user:"+r.Name, map[string]string{"links_revoked": itoa(n)})
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
	if err := s.g.auth.Grant(r.Name, r.Space, auth.Access(r.Access)); err != nil {
		return nil, err
	}
	s.g.record(ctx, "users.grant", r.Name, map[string]string{"space": r.Space, "access": r.Access})
	return s.user(r.Name)
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
	user := r.User
	if user == "" {
		c := callerOf(ctx)
		if c.p.Kind != "local" {
			user = c.p.User
		} else if user = s.g.firstOwner(); user == "" {
			return nil, status.Error(codes.FailedPrecondition, "no owner account yet")
		}
	}
	if err := s.manage(ctx, user, ""); err != nil {
		return nil, err
	}
	mins := r.ValidMinutes
	if mins == 0 {
		mins = 10
	}
	code, exp, err := s.g.auth.CreateEnrolment(user, time.Duration(mins)*time.Minute)
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, "users.enrolment", user, map[string]string{"expires": exp.Format(time.RFC3339)})
	// The fragment never leaves the phone: code and pin are not sent to
	// any server when the URL is opened.
	frag := url.Values{"code": {code}, "pin": {s.g.pin}, "user": {user}}
	return &pb.Enrolment{Code: code, Url: s.g.publicURL() + "/pair#" + frag.Encode(), Pin: s.g.pin, Expires: ts(exp)}, nil
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
