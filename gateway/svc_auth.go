package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/audit"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// authEvent writes the auth store's security events to the audit log
// (one joins the record of a call in progress on its account when that
// call takes it, absorb), and ends the share links they leave without a
// living credential (credentialEnded).
func (g *Gateway) authEvent(e auth.Event) {
	detail := map[string]string{}
	if e.Device != "" {
		detail["device"] = e.Device
	}
	if e.CredentialID != "" {
		detail["credential"] = e.CredentialID
	}
	if e.Detail != "" {
		detail["detail"] = e.Detail
	}
	action := "auth." + string(e.Kind)
	switch e.Kind {
	case auth.EventLogin:
		action = audit.ActionLogin
	case auth.EventLoginFailed:
		action = audit.ActionLoginFailed
	case auth.EventLogout:
		action = audit.ActionLogout
	}
	if !g.absorb(action, e.User, detail) {
		by := g.eventActor(e)
		if e.Kind == auth.EventCredentialExposed {
			// Whoever sent it held the account's credential: its use is
			// the account's, as a sign-in is. What the box ends because
			// of it is the box's (eventActor).
			by = g.person(e.User, e.IP)
		}
		g.appendEntry(audit.Entry{Actor: by.name, ActorID: by.id, IP: by.ip, Action: action, Target: e.User,
			Detail: detail, Result: storeResult(action, detail)})
	}
	g.credentialEnded(e)
}

// boxActor names the box as the actor of what it did by itself.
const boxActor = "shoebox"

// actor is who an audit record names: a person (name and account ID) or
// the box (boxActor, no ID), and the address they acted from.
type actor struct{ name, id, ip string }

// person is the account name as an actor.
func (g *Gateway) person(name, ip string) actor {
	return actor{name: name, id: g.accountID(name), ip: ip}
}

// eventActor is who caused auth event e, for the records it leads to.
// The store's events name the account concerned, not who acted on it: an
// event caused by an API call names that call's caller (found as the
// call in progress on the event's account, or on the account whose
// credential made the one that ended, Event.Via: an owner's reset, an
// admin's deletion, the person's own revocation). What the box did by
// itself — grants migrated at start, a credential sent over plain HTTP
// and what it had made — names the box. Anything else is the account's
// own doing (its sign-in).
func (g *Gateway) eventActor(e auth.Event) actor {
	if e.Kind == auth.EventGrantsMigrated || e.Kind == auth.EventCredentialExposed {
		return actor{name: boxActor, ip: e.IP}
	}
	for _, account := range []string{e.User, e.Via} {
		if a, ok := g.callerOn(account); ok {
			return a
		}
	}
	if e.Via != "" {
		return actor{name: boxActor, ip: e.IP}
	}
	return g.person(e.User, e.IP)
}

// callerOn is the caller of an audited API call in progress that acts
// on account (the actor of its record), if there is one.
func (g *Gateway) callerOn(account string) (actor, bool) {
	if account == "" {
		return actor{}, false
	}
	g.aud.mu.Lock()
	defer g.aud.mu.Unlock()
	calls := g.aud.inflight[strings.ToLower(account)]
	if len(calls) == 0 {
		return actor{}, false
	}
	p := calls[0]
	p.mu.Lock()
	defer p.mu.Unlock()
	return actor{name: p.e.Actor, id: p.e.ActorID, ip: p.e.IP}, true
}

type authService struct {
	pb.UnimplementedAuthServiceServer
	g *Gateway
}

func sessionPB(s auth.Session, current string) *pb.Session {
	out := &pb.Session{Id: s.ID, Device: s.Device, Ip: s.IP, Created: ts(s.Created), LastSeen: ts(s.LastSeen),
		Expires: ts(s.Expires), Current: s.ID == current}
	for _, f := range s.Factors {
		out.Factors = append(out.Factors, string(f))
	}
	return out
}

func (s *authService) Login(ctx context.Context, r *pb.LoginRequest) (*pb.LoginResponse, error) {
	c := callerOf(ctx)
	tok, sess, err := s.g.auth.Login(auth.LoginRequest{User: r.Username, Password: r.Password, Code: r.Code, IP: c.ip, Device: r.Device})
	return s.signedIn(ctx, tok, sess, err)
}

func (s *authService) Enrol(ctx context.Context, r *pb.EnrolRequest) (*pb.LoginResponse, error) {
	tok, sess, err := s.g.auth.Enrol(r.Code, callerOf(ctx).ip, r.Device)
	return s.signedIn(ctx, tok, sess, err)
}

// signedIn answers a sign-in: the session, whether it must still prove
// the second factor, and the person's notices (shown once).
func (s *authService) signedIn(ctx context.Context, tok string, sess auth.Session, err error) (*pb.LoginResponse, error) {
	if err != nil {
		return nil, err
	}
	u, err := s.g.auth.GetUser(sess.User)
	if err != nil {
		return nil, err
	}
	out := &pb.LoginResponse{Token: tok, Session: sessionPB(sess, sess.ID), Username: u.Name, Role: string(u.Role),
		NeedsSecondFactor: u.TOTP && !sess.SecondFactor}
	notes, err := s.g.auth.TakeNotices(u.Name)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		out.Notices = append(out.Notices, n.Text)
	}
	return out, nil
}

// account is the caller's own account; the box's local token has none.
func account(ctx context.Context) (*caller, error) {
	c := callerOf(ctx)
	if c.p.Kind == "local" {
		return nil, status.Error(codes.FailedPrecondition, "the box's local token has no account: sign in as a person for this")
	}
	return c, nil
}

func (s *authService) Logout(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	if c.p.Kind == auth.KindAPIKey {
		return nil, status.Error(codes.FailedPrecondition, "an API key does not sign out: revoke it with DELETE /v1/auth/apikeys/{id}")
	}
	return &pb.Empty{}, s.g.auth.Logout(c.token)
}

func (s *authService) ListSessions(ctx context.Context, _ *pb.Empty) (*pb.ListSessionsResponse, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	list, err := s.g.auth.ListSessions(c.p.User)
	if err != nil {
		return nil, err
	}
	out := &pb.ListSessionsResponse{}
	for _, x := range list {
		out.Sessions = append(out.Sessions, sessionPB(x, c.p.CredentialID))
	}
	return out, nil
}

func (s *authService) RevokeSession(ctx context.Context, r *pb.RevokeSessionRequest) (*pb.Empty, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, s.g.auth.RevokeSession(c.p.User, r.Id)
}

func (s *authService) BeginTOTP(ctx context.Context, _ *pb.Empty) (*pb.BeginTOTPResponse, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.g.auth.BeginTOTP(c.p.User)
	if err != nil {
		return nil, err
	}
	return &pb.BeginTOTPResponse{Secret: st.Secret, Url: st.URL}, nil
}

func (s *authService) ConfirmTOTP(ctx context.Context, r *pb.ConfirmTOTPRequest) (*pb.ConfirmTOTPResponse, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := s.g.auth.ConfirmTOTP(c.p.User, r.Code, c.p.CredentialID)
	if err != nil {
		return nil, err
	}
	return &pb.ConfirmTOTPResponse{RecoveryCodes: codes}, nil
}

func (s *authService) DisableTOTP(ctx context.Context, r *pb.DisableTOTPRequest) (*pb.Empty, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, s.g.auth.DisableTOTP(c.p.User, r.Password, r.Code, c.p.CredentialID, c.ip)
}

func (s *authService) VerifyTOTP(ctx context.Context, r *pb.VerifyTOTPRequest) (*pb.Empty, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, s.g.auth.ProveSecondFactor(c.p.User, c.p.CredentialID, r.Code)
}

func (s *authService) ChangePassword(ctx context.Context, r *pb.ChangePasswordRequest) (*pb.Empty, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, s.g.auth.SetPassword(c.p.User, r.OldPassword, r.NewPassword, c.p.CredentialID, r.KeepApiKeys, c.ip)
}

func apiKeyPB(k auth.APIKey) *pb.APIKey {
	out := &pb.APIKey{Id: k.ID, Name: k.Name, Created: ts(k.Created), Expires: ts(k.Expires), LastUsed: ts(k.LastUsed),
		MadeBySession: k.MadeBy.ID}
	for _, a := range k.Scopes {
		out.Scopes = append(out.Scopes, string(a))
	}
	return out
}

func (s *authService) CreateAPIKey(ctx context.Context, r *pb.CreateAPIKeyRequest) (*pb.CreateAPIKeyResponse, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	if c.p.Kind == auth.KindAPIKey {
		return nil, status.Error(codes.PermissionDenied, "an API key cannot make API keys: sign in as the person")
	}
	days := r.ExpiresDays
	if days == 0 {
		days = 90
	}
	if days < 0 || days > 365 {
		return nil, status.Error(codes.InvalidArgument, "expires_days must be between 1 and 365")
	}
	var scopes []auth.Action
	for _, sc := range r.Scopes {
		scopes = append(scopes, auth.Action(strings.TrimSpace(sc)))
	}
	key, info, err := s.g.auth.CreateAPIKey(c.p.User, c.p.CredentialID, r.Name, scopes, s.g.now().Add(time.Duration(days)*24*time.Hour))
	if err != nil {
		return nil, err
	}
	return &pb.CreateAPIKeyResponse{Key: key, Info: apiKeyPB(info)}, nil
}

func (s *authService) ListAPIKeys(ctx context.Context, _ *pb.Empty) (*pb.ListAPIKeysResponse, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := s.g.auth.ListAPIKeys(c.p.User)
	if err != nil {
		return nil, err
	}
	out := &pb.ListAPIKeysResponse{}
	for _, k := range keys {
		out.Keys = append(out.Keys, apiKeyPB(k))
	}
	return out, nil
}

func (s *authService) RevokeAPIKey(ctx context.Context, r *pb.RevokeAPIKeyRequest) (*pb.Empty, error) {
	c, err := account(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, s.g.auth.RevokeAPIKey(c.p.User, r.Id)
}

// revokeExposed revokes a credential that was sent over plain HTTP, and
// audits it. Share-link tokens are revoked too: the link has been seen
// in the clear. It returns the account a session, API key or enrolment
// code belonged to, and whether anything was revoked.
func (g *Gateway) revokeExposed(tok, ip string) (string, bool) {
	// The auth store audits its own (credential_exposed).
	if user, err := g.auth.RevokeCredential(tok); err == nil {
		return user, true
	}
	if id, err := g.shares.RevokeToken(tok); err == nil {
		g.recordAs("link:"+id, ip, audit.ActionShareRevoked, id, map[string]string{"why": "sent over plain HTTP"})
		return "", true
	}
	return "", false
}

// passwordExposed tells the account name, at its next sign-in, that a
// password for it crossed the network in the clear, and returns the
// account's name ("" for a name that is no account: it is not kept, it
// may be a mistyped password). The password is not checked, so whoever
// posts a name can cause no more than this: one notice (a newer one
// replaces it), and the audit entry the caller writes (plain.go).
func (g *Gateway) passwordExposed(name, ip string) string {
	u, err := g.auth.GetUser(name)
	if err != nil {
		return ""
	}
	text := fmt.Sprintf("On %s a password for your account was sent to the box over plain HTTP (unencrypted) from %s. The box did not check it, but anyone on that network could read it: if it was your password, change it now, and make sure the app or script uses https://.",
		g.now().UTC().Format("2006-01-02 15:04 MST"), ip)
	if err := g.auth.Notify(u.Name, auth.NoticePasswordExposed, text); err != nil {
		g.log.Warn("keeping a notice for the next sign-in", "user", u.Name, "err", err)
	}
	return u.Name
}

// actionPasswordExposed: a password was sent over plain HTTP.
const actionPasswordExposed = "auth.password_exposed"
