package gateway

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// Access rules for every RPC, in one table. An RPC missing here is
// refused (and TestPolicyCoversEveryMethod fails), so a new route cannot
// slip through without a rule. Methods are named by the generated
// pb.*_FullMethodName constants, never by string literals: a renamed RPC
// fails to compile instead of losing its rule
// (TestEveryMethodHasExactlyOneRule checks the tables). How each is
// audited is beside it, in audited.go.
//
//   - public: no credential (the request itself carries one: a password,
//     an enrolment code).
//   - self: any signed-in caller, acting on their own account only.
//   - an auth.Action: the caller's role (and API key scopes) must allow it
//     in at least one space; handlers then check the specific space.
const (
	public = "public"
	self   = "self"
)

var policy = map[string]string{
	pb.AuthService_Login_FullMethodName:          public,
	pb.AuthService_Enrol_FullMethodName:          public,
	pb.AuthService_Logout_FullMethodName:         self,
	pb.AuthService_ListSessions_FullMethodName:   self,
	pb.AuthService_RevokeSession_FullMethodName:  self,
	pb.AuthService_BeginTOTP_FullMethodName:      self,
	pb.AuthService_ConfirmTOTP_FullMethodName:    self,
	pb.AuthService_VerifyTOTP_FullMethodName:     self,
	pb.AuthService_DisableTOTP_FullMethodName:    self,
	pb.AuthService_ChangePassword_FullMethodName: self,
	pb.AuthService_CreateAPIKey_FullMethodName:   self,
	pb.AuthService_ListAPIKeys_FullMethodName:    self,
	pb.AuthService_RevokeAPIKey_FullMethodName:   self,

	pb.UserService_ListUsers_FullMethodName:       string(auth.UsersManage),
	pb.UserService_CreateUser_FullMethodName:      string(auth.UsersManage),
	pb.UserService_DeleteUser_FullMethodName:      string(auth.UsersManage),
	pb.UserService_SetRole_FullMethodName:         string(auth.UsersManage),
	pb.UserService_Grant_FullMethodName:           string(auth.UsersManage),
	pb.UserService_RevokeGrant_FullMethodName:     string(auth.UsersManage),
	pb.UserService_CreateEnrolment_FullMethodName: string(auth.UsersManage),
	pb.UserService_ListEnrolments_FullMethodName:  string(auth.UsersManage),
	pb.UserService_CancelEnrolment_FullMethodName: string(auth.UsersManage),
	pb.UserService_ResetUser_FullMethodName:       string(auth.UsersManage), // and owner only: svc_users.go

	pb.StatusService_GetStatus_FullMethodName:  string(auth.StatusRead),
	pb.StatusService_ListDrills_FullMethodName: string(auth.StatusRead),

	pb.BackupService_ListSources_FullMethodName:    string(auth.BackupsRead),
	pb.BackupService_GetSource_FullMethodName:      string(auth.BackupsRead),
	pb.BackupService_CreateSource_FullMethodName:   string(auth.Settings),
	pb.BackupService_UpdateSource_FullMethodName:   string(auth.Settings),
	pb.BackupService_DeleteSource_FullMethodName:   string(auth.Settings),
	pb.BackupService_RunSource_FullMethodName:      string(auth.BackupsWrite),
	pb.BackupService_WatchProgress_FullMethodName:  string(auth.StatusRead),
	pb.BackupService_ListSnapshots_FullMethodName:  string(auth.BackupsRead),
	pb.BackupService_BrowseSnapshot_FullMethodName: string(auth.BackupsRead),
	pb.BackupService_DiffSnapshots_FullMethodName:  string(auth.BackupsRead),
	pb.BackupService_Restore_FullMethodName:        string(auth.Restore),
	pb.BackupService_Download_FullMethodName:       string(auth.Download),
	pb.BackupService_LockSnapshot_FullMethodName:   string(auth.LocksSet),
	// Box-wide: owner and admin. Holds still protect locked snapshots.
	pb.BackupService_ForgetSnapshots_FullMethodName: string(auth.Settings),
	pb.BackupService_Prune_FullMethodName:           string(auth.Settings),

	pb.UploadService_CreateUpload_FullMethodName:   string(auth.Upload),
	pb.UploadService_WriteChunk_FullMethodName:     string(auth.Upload),
	pb.UploadService_GetUpload_FullMethodName:      string(auth.Upload),
	pb.UploadService_CompleteUpload_FullMethodName: string(auth.Upload),
	pb.UploadService_CancelUpload_FullMethodName:   string(auth.Upload),
	pb.UploadService_HaveFiles_FullMethodName:      string(auth.Upload),
	pb.UploadService_UploadHistory_FullMethodName:  string(auth.Upload),

	pb.DiskService_ListDisks_FullMethodName:    string(auth.DisksRead),
	pb.DiskService_DiskHistory_FullMethodName:  string(auth.DisksRead),
	pb.DiskService_Scrub_FullMethodName:        string(auth.DisksManage),
	pb.DiskService_ReplaceDisk_FullMethodName:  string(auth.DisksManage),
	pb.DiskService_EvacuateDisk_FullMethodName: string(auth.DisksManage),

	pb.AlertService_ListAlerts_FullMethodName:    string(auth.AlertsRead),
	pb.AlertService_AckAlert_FullMethodName:      string(auth.AlertsAck),
	pb.AlertService_StreamAlerts_FullMethodName:  string(auth.AlertsRead),
	pb.AlertService_ListCards_FullMethodName:     string(auth.CardsRead),
	pb.AlertService_GetCardLedger_FullMethodName: string(auth.CardsRead),

	pb.ShareService_CreateShare_FullMethodName:     string(auth.SharesManage),
	pb.ShareService_ListShares_FullMethodName:      string(auth.SharesManage),
	pb.ShareService_RevokeShare_FullMethodName:     string(auth.SharesManage),
	pb.ShareService_RevokeAllShares_FullMethodName: string(auth.SharesManage),
	pb.ShareService_ShareAccessLog_FullMethodName:  string(auth.SharesManage),

	pb.AuditService_ListAudit_FullMethodName:   string(auth.AuditRead),
	pb.AuditService_VerifyAudit_FullMethodName: string(auth.AuditRead),

	// Device IDs are not secret (docs/CLUSTER.md); pairing is box-wide:
	// owner and admin.
	pb.ClusterService_GetClusterStatus_FullMethodName: string(auth.StatusRead),
	pb.ClusterService_Offer_FullMethodName:            string(auth.Settings),
	pb.ClusterService_Pair_FullMethodName:             string(auth.Settings),
	pb.ClusterService_Unpair_FullMethodName:           string(auth.Settings),
}

// secondFactorFree are the calls a person without a second factor may
// make when the box requires one: enough to enrol it (and, for a new
// account paired with an enrolment code, to set the first password).
var secondFactorFree = map[string]bool{
	pb.AuthService_Logout_FullMethodName:         true,
	pb.AuthService_ListSessions_FullMethodName:   true,
	pb.AuthService_RevokeSession_FullMethodName:  true,
	pb.AuthService_BeginTOTP_FullMethodName:      true,
	pb.AuthService_ConfirmTOTP_FullMethodName:    true,
	pb.AuthService_ChangePassword_FullMethodName: true,
}

// unprovenFree are the calls a session may make when its person has a
// second factor that the session has not proved (it came from an
// enrolment code, or is older than recorded factors): prove it, or sign
// out. Everything else, the person's own sessions and password included,
// needs the factor.
var unprovenFree = map[string]bool{
	pb.AuthService_Logout_FullMethodName:     true,
	pb.AuthService_VerifyTOTP_FullMethodName: true,
}

// apiKeySelf are the self calls an API key may make: its person's API
// keys (a script may retire its key). Sessions, the password and the
// second factor are the person's, not a script's: a key that may only
// read the status must not sign the person out or lock them out.
var apiKeySelf = map[string]bool{
	pb.AuthService_Logout_FullMethodName:       true, // answers why not
	pb.AuthService_CreateAPIKey_FullMethodName: true, // answers why not
	pb.AuthService_ListAPIKeys_FullMethodName:  true,
	pb.AuthService_RevokeAPIKey_FullMethodName: true,
}

// caller is who is calling, attached to the request context.
type caller struct {
	p     auth.Principal
	ip    string
	token string
}

type callerKey struct{}

func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// authorize resolves the caller of method and checks the policy table.
func (g *Gateway) authorize(ctx context.Context, method string) (context.Context, error) {
	rule, ok := policy[method]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s has no access rule; refusing", method)
	}
	c := &caller{ip: callerIP(ctx)}
	if rule == public {
		return context.WithValue(ctx, callerKey{}, c), nil
	}
	p, bearer, err := g.credential(authorizationOf(ctx), c.ip)
	if err != nil {
		return nil, err
	}
	c.p, c.token = p, bearer
	// The second factor: what this credential proved, not what the
	// person has.
	switch {
	case p.Kind == "local":
	case p.TOTP && !p.SecondFactor && !unprovenFree[method]:
		if p.Kind == auth.KindAPIKey {
			return nil, status.Error(codes.PermissionDenied, "this API key was not made by a session that proved two-step sign-in: revoke it and make a new one from such a session")
		}
		return nil, status.Error(codes.PermissionDenied, "this session has not proved two-step sign-in: send a code from the authenticator app, or a recovery code, to POST /v1/auth/totp/verify {\"code\"}, or sign in again with the code")
	case g.opt.RequireTOTP && !p.TOTP && !secondFactorFree[method]:
		return nil, status.Error(codes.PermissionDenied, "turn on two-step sign-in first (POST /v1/auth/totp/begin, then /v1/auth/totp/confirm): this box requires it")
	}
	if rule == self && p.Kind == auth.KindAPIKey && !apiKeySelf[method] {
		return nil, status.Error(codes.PermissionDenied, "an API key cannot see or change its person's sessions, password or two-step sign-in: sign in as the person")
	}
	if rule != self && !g.auth.AllowedAnywhere(p, auth.Action(rule)) {
		return nil, status.Errorf(codes.PermissionDenied, "your account (%s, role %s) may not do %s; ask the box's owner", p.User, p.Role, rule)
	}
	return context.WithValue(ctx, callerKey{}, c), nil
}

// credential resolves an Authorization header's bearer: a session
// token, an API key, or (from loopback) the box's local token. Without
// one, or with one that does not authenticate, the error is
// Unauthenticated. The front door (door.go) calls it before a request's
// body is read; authorize calls it again for every RPC.
func (g *Gateway) credential(authorization, ip string) (p auth.Principal, bearer string, err error) {
	bearer = strings.TrimSpace(strings.TrimPrefix(authorization, "Bearer "))
	if bearer == "" {
		return p, "", status.Error(codes.Unauthenticated, "sign in first: send Authorization: Bearer <session token or API key>")
	}
	if p, err = g.authenticate(bearer, ip); err != nil {
		return p, "", toStatus(err)
	}
	return p, bearer, nil
}

// authorizationOf is the call's authorization metadata ("" without).
func authorizationOf(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// require checks that the caller may do a in space (a source name; ""
// for box-wide things).
func (g *Gateway) require(ctx context.Context, a auth.Action, space string) error {
	c := callerOf(ctx)
	if c == nil || !g.auth.Allowed(c.p, a, space) {
		where := "on this box"
		if space != "" {
			where = "in " + space
		}
		return status.Errorf(codes.PermissionDenied, "you may not do %s %s; ask the box's owner for access", a, where)
	}
	return nil
}

// callerIP is the client's address: the TCP peer for gRPC, the REST
// client's address (passed by the REST facade) for the in-process
// connection.
func callerIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if ok && p.Addr != nil && p.Addr.Network() != "bufconn" {
		host, _, err := net.SplitHostPort(p.Addr.String())
		if err == nil {
			return host
		}
		return p.Addr.String()
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(mdClientIP); len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (g *Gateway) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return g.intercept(ctx, info.FullMethod, req, func(ctx context.Context) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			withRetryAfter(ctx, err) // a wait the error carries (brakes, busy hashing) goes out as Retry-After
		}
		return resp, err
	})
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (g *Gateway) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	_, err := g.intercept(ss.Context(), info.FullMethod, nil, func(ctx context.Context) (any, error) {
		return nil, h(srv, &wrappedStream{ss, ctx})
	})
	return err
}

// intercept runs one call of method (req is nil for a stream): it
// authorizes the caller against the policy table, and audits a call that
// changes something (audited.go): one record, with the caller, the
// target and the result; refused calls of a signed-in caller too.
func (g *Gateway) intercept(ctx context.Context, method string, req any, run func(context.Context) (any, error)) (any, error) {
	rule, audited := auditRules[method]
	actx, err := g.authorize(ctx, method)
	if err != nil {
		if audited && !rule.byStore && status.Code(err) == codes.PermissionDenied {
			if c := g.refusedCaller(ctx); c != nil {
				g.appendEntry(newPending(rule, req, c).entry(err))
			}
		}
		return nil, err
	}
	release, err := g.hashes.take(method, req, callerOf(actx).p, g.now())
	if err != nil {
		withRetryAfter(actx, err)
		return nil, toStatus(err)
	}
	defer release()
	if !audited || rule.byStore {
		resp, err := run(actx)
		if err != nil {
			return nil, g.failed(method, err)
		}
		return resp, nil
	}
	if err := g.auditReady(rule); err != nil {
		return nil, err
	}
	p := newPending(rule, req, callerOf(actx))
	done := g.track(p)
	resp, err := run(context.WithValue(actx, pendingKey{}, p))
	done()
	if err != nil {
		err = g.failed(method, err)
	}
	if err != nil || !p.quiet {
		g.appendEntry(p.entry(err))
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// refusedCaller is who made a call that authorize refused, when their
// credential is good (a role or scope that does not allow the call), or
// nil.
func (g *Gateway) refusedCaller(ctx context.Context) *caller {
	c := &caller{ip: callerIP(ctx)}
	p, _, err := g.credential(authorizationOf(ctx), c.ip)
	if err != nil {
		return nil
	}
	c.p = p
	return c
}

// failed maps a handler's error to its status, and logs the ones that
// are the box's fault (the API answer promises the log has details).
func (g *Gateway) failed(method string, err error) error {
	st := toStatus(err)
	switch status.Code(st) {
	case codes.Internal, codes.DataLoss, codes.Unknown:
		g.log.Error("API call failed", "method", method, "err", err)
	}
	return st
}
