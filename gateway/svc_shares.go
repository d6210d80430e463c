package gateway

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/audit"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/share"
	"github.com/shoebox/shoebox/internal/pathx"
	"github.com/shoebox/shoebox/vault"
)

// Audit actions of the public side's password brakes.
const (
	actionSharePasswordFailed = "share.password_failed"
	actionShareLocked         = "share.locked"
)

// openShares opens the share store, gives links stored before account
// IDs their owner's ID, and sets up the public side.
func (g *Gateway) openShares(params password.Params) error {
	var err error
	if g.shares, err = share.NewStore(g.db, share.Options{Now: g.now, Params: params}); err != nil {
		return err
	}
	n, err := g.shares.Migrate(func(owner string) (share.Account, bool) {
		if owner == localUser {
			return share.Account{ID: localUser}, true
		}
		u, err := g.auth.GetUser(owner)
		return share.Account{ID: u.ID, Created: u.Created}, err == nil
	})
	if err != nil {
		return err
	}
	if n > 0 {
		g.log.Info("share links now name their owner's account ID", "links", n)
	}
	g.public, err = g.newPublicSide()
	return err
}

type shareService struct {
	pb.UnimplementedShareServiceServer
	g *Gateway
}

// spaceRoot is where a snapshot's space begins in its tree: the folder
// its source backed up (a path on the box, which the API and the public
// pages never show), or for a snapshot of several paths (CLI backups)
// their deepest common folder.
func spaceRoot(sn *vault.Snapshot) string {
	if len(sn.Paths) == 0 {
		return "/"
	}
	root := cleanPath(filepath.ToSlash(sn.Paths[0]))
	for _, p := range sn.Paths[1:] {
		p = cleanPath(filepath.ToSlash(p))
		for root != "/" && !pathx.Within(p, root) {
			root = path.Dir(root)
		}
	}
	return root
}

// spacePath is p (a clean snapshot path under root) as the space sees
// it: "/" for root itself.
func spacePath(root, p string) string {
	if root == "/" || !pathx.Within(p, root) {
		return p
	}
	return cleanPath(strings.TrimPrefix(p, root))
}

// linkRoot is where link sh begins in snapshot sn: a whole-snapshot link
// shows its space's folder.
func linkRoot(sh share.Share, sn *vault.Snapshot) string {
	if sh.Target.Kind == share.Snapshot {
		return spaceRoot(sn)
	}
	return sh.Target.Path
}

// sharePB is a link as the API shows it; root is where its space begins
// in its snapshot ("" when the snapshot is gone: the path then shows only
// its last element).
func sharePB(s share.Share, root string) *pb.Share {
	p := s.Target.Path
	switch {
	case s.Target.Kind == share.Snapshot:
		p = "/"
	case root != "":
		p = spacePath(root, p)
	default:
		p = "…/" + path.Base(p)
	}
	return &pb.Share{Id: s.ID, Snapshot: s.Target.Snapshot, Path: p, Kind: string(s.Target.Kind), Space: s.Space,
		Owner: s.Owner, Password: s.Password, Download: s.Download, MaxUses: int32(s.MaxUses), Uses: int32(s.Uses),
		Revoked: s.Revoked, Created: ts(s.Created), Expires: ts(s.Expires), CredentialKind: s.Credential.Kind,
		CredentialId: s.Credential.ID, RevokedReason: s.RevokedWhy, LockedUntil: ts(s.LockedUntil),
		FailedPasswords: int32(s.Failures)}
}

// Limits of CreateShare's fields.
const maxShareDays = int32(share.MaxTTL / (24 * time.Hour))

func (s *shareService) CreateShare(ctx context.Context, r *pb.CreateShareRequest) (*pb.CreateShareResponse, error) {
	switch {
	case r.ExpiresDays < 0 || r.ExpiresDays > maxShareDays:
		return nil, status.Errorf(codes.InvalidArgument,
			"expires_days %d: give the days the link should last, 1 to %d, or 0 for the default of %d",
			r.ExpiresDays, maxShareDays, share.DefaultTTL/(24*time.Hour))
	case r.MaxUses < 0:
		return nil, status.Errorf(codes.InvalidArgument, "max_uses %d: give how many times the link may be opened, or 0 for no limit", r.MaxUses)
	case r.GeneratePassword && r.Password != "":
		return nil, status.Error(codes.InvalidArgument, "password and generate_password: give a password or ask for one to be generated, not both")
	}
	sn, err := s.g.snapshot(ctx, r.Snapshot, auth.SharesManage)
	if err != nil {
		return nil, err
	}
	// The path is relative to the space; a snapshot path under the
	// space's folder (as BrowseSnapshot shows it) is taken as it is.
	root, p := spaceRoot(sn), cleanPath(r.Path)
	if !pathx.Within(p, root) {
		p = path.Join(root, p)
	}
	kind := share.Snapshot
	if p != root {
		n, err := s.g.d.Repository().Lookup(ctx, sn.Tree, p)
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "%s is not in snapshot %s: give a path within the space %q, as the snapshot's browser shows it",
				spacePath(root, p), sn.ID().Short(), spaceOf(sn))
		}
		kind = share.Folder
		if n.Type == "file" {
			kind = share.File
		}
	} else {
		p = "/"
	}
	ttl := share.DefaultTTL
	if r.ExpiresDays > 0 {
		ttl = time.Duration(r.ExpiresDays) * 24 * time.Hour
	}
	pw := r.Password
	if r.GeneratePassword {
		pw = share.NewPassword()
	}
	c := callerOf(ctx)
	tok, sh, err := s.g.shares.Create(share.CreateRequest{OwnerID: c.p.UserID, Owner: c.p.User,
		Credential: share.Credential{Kind: string(c.p.Kind), ID: c.p.CredentialID}, Space: spaceOf(sn),
		Target: share.Target{Snapshot: sn.ID().String(), Path: p, Kind: kind}, Password: pw, TTL: ttl,
		Download: r.Download, MaxUses: int(r.MaxUses)})
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionShareCreated, sh.ID, map[string]string{"snapshot": sn.ID().String(), "space": sh.Space,
		"path": spacePath(root, p), "download": boolStr(r.Download), "expires": sh.Expires.Format(time.RFC3339)})
	out := &pb.CreateShareResponse{Url: s.g.linkURL(ctx) + "/s/" + tok, Token: tok, Share: sharePB(sh, root)}
	if r.GeneratePassword {
		out.Password = pw
	}
	return out, nil
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
	if sh.OwnerID == localUser { // made on the box with its local token
		return true
	}
	u, ok := g.accountByID(sh.OwnerID)
	if !ok {
		return false
	}
	return g.auth.Allowed(auth.Principal{User: u.Name, UserID: u.ID, Role: u.Role}, auth.SharesManage, sh.Space)
}

// accountByID returns the account whose immutable ID is id.
func (g *Gateway) accountByID(id string) (auth.User, bool) {
	us, err := g.auth.ListUsers()
	if err != nil {
		return auth.User{}, false
	}
	for _, u := range us {
		if u.ID == id {
			return u, true
		}
	}
	return auth.User{}, false
}

// revokeDeletedOwners turns off the links of accounts that no longer
// exist (DeleteUser calls it once the account is gone) and returns how
// many it turned off.
func (g *Gateway) revokeDeletedOwners() (int, error) {
	us, err := g.auth.ListUsers()
	if err != nil {
		return 0, err
	}
	live := map[string]bool{localUser: true}
	for _, u := range us {
		live[u.ID] = true
	}
	ids, err := g.shares.RevokeOrphans(func(id string) bool { return live[id] }, "its owner's account was deleted")
	return len(ids), err
}

// credentialEnded revokes the share links that auth event e leaves
// without a living credential, and audits each under the event's actor
// (eventActor): those made with a session or API key that has been
// revoked — by its person, by a password or second-factor change, by an
// owner, because it was sent in the clear, or because what made it was
// (the store sends an event for each) — and, when e changed how the
// person signs in (password, second factor, reset), every link of theirs
// but those of the credentials still alive (linksOfEnded). A sign-out or
// a session's natural expiry leaves the links on: the person ended a
// device's sign-in, not what they shared.
func (g *Gateway) credentialEnded(e auth.Event) {
	var (
		ids       []string
		why, cred string // cred: the credential whose links end, when one
		err       error
	)
	switch e.Kind {
	case auth.EventSessionRevoked, auth.EventAPIKeyRevoked, auth.EventCredentialExposed:
		cred = e.CredentialID
		kind := "" // exposed: either kind
		what := "credential"
		if e.Kind == auth.EventSessionRevoked {
			kind, what = string(auth.KindSession), "session"
		} else if e.Kind == auth.EventAPIKeyRevoked {
			kind, what = string(auth.KindAPIKey), "API key"
		}
		why = fmt.Sprintf("made with %s %s, which was revoked", what, e.CredentialID)
		if e.Detail != "" {
			why += " (" + e.Detail + ")"
		}
		ids, err = g.shares.RevokeCredential(kind, e.CredentialID, why)
	case auth.EventPasswordChanged, auth.EventTOTPEnabled, auth.EventTOTPDisabled, auth.EventCredentialsReset:
		ids, why, err = g.linksOfEnded(e)
	default:
		return
	}
	if err != nil {
		g.log.Error("revoking the share links of an ended credential", "user", e.User, "credential", e.CredentialID, "err", err)
		return
	}
	by := g.eventActor(e)
	for _, id := range ids {
		detail := map[string]string{"why": why}
		if cred != "" {
			detail["credential"] = cred
		}
		g.appendEntry(audit.Entry{Actor: by.name, ActorID: by.id, IP: by.ip, Action: audit.ActionShareRevoked, Target: id,
			Detail: detail, Result: audit.ResultOK})
	}
}

// linksOfEnded revokes the links of e's account made with a credential
// that no longer lives, after e changed how the person signs in: a
// thief who signed out before the person noticed is no longer listed,
// and this is what reaches the links they made. Links of the session
// that made the change, and of API keys kept (keep_api_keys), stay. A
// link made in the moment between the change and this sweep, with a
// session begun in it, may be revoked too: never one too few.
func (g *Gateway) linksOfEnded(e auth.Event) ([]string, string, error) {
	u, err := g.auth.GetUser(e.User)
	if err != nil {
		return nil, "", err
	}
	sessions, err := g.auth.ListSessions(u.Name)
	if err != nil {
		return nil, "", err
	}
	keys, err := g.auth.ListAPIKeys(u.Name)
	if err != nil {
		return nil, "", err
	}
	live := map[share.Credential]bool{}
	for _, s := range sessions {
		live[share.Credential{Kind: string(auth.KindSession), ID: s.ID}] = true
	}
	for _, k := range keys {
		live[share.Credential{Kind: string(auth.KindAPIKey), ID: k.ID}] = true
	}
	change := map[auth.EventKind]string{
		auth.EventPasswordChanged:  "the password was changed",
		auth.EventTOTPEnabled:      "two-step sign-in was turned on",
		auth.EventTOTPDisabled:     "two-step sign-in was turned off",
		auth.EventCredentialsReset: "the sign-in was reset",
	}[e.Kind]
	why := "made with a session or API key that had ended when " + change
	ids, err := g.shares.RevokeOwnedExcept(u.ID, func(c share.Credential) bool { return live[c] }, why)
	return ids, why, err
}

// mayManageAll: owners and admins see and revoke everyone's links.
func (g *Gateway) mayManageAll(ctx context.Context) bool {
	return g.auth.Allowed(callerOf(ctx).p, auth.UsersManage, "")
}

// roots finds, once per snapshot, where its space begins.
type roots struct {
	ctx  context.Context
	repo *vault.Repository
	seen map[string]string
}

func (g *Gateway) roots(ctx context.Context) *roots {
	return &roots{ctx: ctx, repo: g.d.Repository(), seen: map[string]string{}}
}

// of returns where link sh's space begins in its snapshot, "" when the
// snapshot is gone.
func (r *roots) of(sh share.Share) string {
	if root, ok := r.seen[sh.Target.Snapshot]; ok {
		return root
	}
	root := ""
	if id, err := vault.ParseID(sh.Target.Snapshot); err == nil && r.repo != nil { // nil: an offsite unit's
		if sn, err := r.repo.LoadSnapshot(r.ctx, id); err == nil {
			root = spaceRoot(sn)
		}
	}
	r.seen[sh.Target.Snapshot] = root
	return root
}

func (s *shareService) ListShares(ctx context.Context, _ *pb.Empty) (*pb.ListSharesResponse, error) {
	var list []share.Share
	var err error
	if s.g.mayManageAll(ctx) {
		list, err = s.g.shares.ListAll()
	} else {
		list, err = s.g.shares.List(callerOf(ctx).p.UserID)
	}
	if err != nil {
		return nil, err
	}
	out := &pb.ListSharesResponse{}
	rs := s.g.roots(ctx)
	for _, sh := range list {
		out.Shares = append(out.Shares, sharePB(sh, rs.of(sh)))
	}
	return out, nil
}

// ownerOf returns the account to act as for share id: the caller, or the
// link's owner when the caller manages everyone's links.
func (s *shareService) ownerOf(ctx context.Context, id string) (string, error) {
	owner := callerOf(ctx).p.UserID
	if s.g.mayManageAll(ctx) {
		sh, err := s.g.shares.Get(id)
		if err != nil {
			return "", err
		}
		owner = sh.OwnerID
	}
	return owner, nil
}

func (s *shareService) RevokeShare(ctx context.Context, r *pb.ShareRequest) (*pb.Empty, error) {
	owner, err := s.ownerOf(ctx, r.Id)
	if err != nil {
		return nil, err
	}
	if err := s.g.shares.Revoke(owner, r.Id, "revoked by "+callerOf(ctx).p.User); err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionShareRevoked, r.Id, nil)
	return &pb.Empty{}, nil
}

func (s *shareService) RevokeAllShares(ctx context.Context, _ *pb.Empty) (*pb.RevokeAllSharesResponse, error) {
	c := callerOf(ctx)
	n, err := s.g.shares.RevokeAll(c.p.UserID, "revoked with all of "+c.p.User+"'s links")
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
	if sh.OwnerID != callerOf(ctx).p.UserID && !s.g.mayManageAll(ctx) {
		return nil, status.Error(codes.NotFound, "no such link")
	}
	log, err := s.g.shares.AccessLog(r.Id)
	if err != nil {
		return nil, err
	}
	out := &pb.ShareAccessLogResponse{}
	for _, a := range log {
		out.Entries = append(out.Entries, &pb.ShareAccess{Time: ts(a.Time), Ip: a.IP, What: a.What, Event: cmp.Or(a.Event, share.EventUsed)})
	}
	// Downloads under the link's cookie are not uses, so the share store
	// does not log them; the audit log has them. Entries written before
	// paths were shown relative to the link name a snapshot path: shown
	// relative to the link's folder.
	dl, err := s.g.audit.List(audit.Filter{Actor: "link:" + sh.ID, Action: audit.ActionDownload, Limit: 1000})
	if err != nil {
		return nil, err
	}
	root := sh.Target.Path
	if sh.Target.Kind == share.Snapshot {
		root = s.g.roots(ctx).of(sh)
	}
	for _, e := range dl {
		what := e.Detail["what"]
		if verb, p, ok := strings.Cut(what, " "); ok && root != "" && pathx.Within(p, root) && strings.HasPrefix(p, "/") {
			what = verb + " " + spacePath(root, p)
		}
		out.Entries = append(out.Entries, &pb.ShareAccess{Time: ts(e.Time), Ip: e.IP, What: what, Event: "download"})
	}
	sort.SliceStable(out.Entries, func(i, j int) bool { return out.Entries[i].Time.AsTime().After(out.Entries[j].Time.AsTime()) })
	return out, nil
}
