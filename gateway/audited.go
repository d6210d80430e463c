package gateway

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// What the interceptors audit, beside the access rules of policy.go:
// every RPC that changes something has exactly one entry in auditRules,
// every other one is in readOnly, and TestAuditRulesCoverEveryMethod
// fails for a method in neither (or both). A new RPC needs a line here
// as well as in policy, named by its generated pb.*_FullMethodName
// constant (TestEveryMethodHasExactlyOneRule).
//
// The interceptor writes one record per call (docs/GATEWAY.md, "Audit
// log"): the caller (name and account ID), their address, the action,
// the target named from the request, and the result ("ok", or the gRPC
// code and a short reason). Handlers may refine it with g.record(ctx,
// …): a new action or target (the ID of what they made) and detail.
// Calls refused for the caller's role are recorded too; calls without a
// valid credential are not (nobody to name, and an open door to fill
// the log).

// auditRule says how a method that changes something is audited.
type auditRule struct {
	// action is the record's action.
	action string
	// target names what the call acts on, from the request and the
	// caller.
	target func(req any, c *caller) string
	// detail lists request fields copied into the record's detail.
	detail []string
	// account, when set, names the account the call acts on: the auth
	// store's events about that account of the kinds in absorbs, which
	// it emits while the call runs, become part of this call's record
	// (they know the account, not who acted on it).
	account func(req any, c *caller) string
	absorbs []string
	// handlerAccount: the account is known only to the handler, which
	// names it with g.actsOn before it calls the store.
	handlerAccount bool
	// byStore: the auth store records the call itself, naming who signed
	// in (sign-in and enrolment, where the caller is known only after).
	byStore bool
	// quiet: recorded only when it fails (an upload's chunks; the
	// upload's creation and completion are recorded).
	quiet bool
	// relief: allowed while the state disk is below its reserve; the
	// call frees space or takes access away.
	relief bool
}

// reqField is the string form of the request's field name ("" when the
// request has none).
func reqField(req any, name string) string {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return ""
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if f == nil || !r.Has(f) {
		return ""
	}
	return r.Get(f).String()
}

// fields names the target by prefix and the request's fields, joined
// with ":" ("source:" + name; snapshot ":" path).
func fields(prefix string, names ...string) func(any, *caller) string {
	return func(req any, _ *caller) string {
		var parts []string
		for _, n := range names {
			if v := reqField(req, n); v != "" {
				parts = append(parts, v)
			}
		}
		return prefix + strings.Join(parts, ":")
	}
}

// fixed names a target that is always the same.
func fixed(t string) func(any, *caller) string { return func(any, *caller) string { return t } }

// ownAccount names the caller's own account.
func ownAccount(_ any, c *caller) string { return c.p.User }

// fieldOrSelf names the account in the request's field, else the
// caller's own.
func fieldOrSelf(name string) func(any, *caller) string {
	return func(req any, c *caller) string {
		if v := reqField(req, name); v != "" {
			return v
		}
		return c.p.User
	}
}

var auditRules = map[string]auditRule{
	pb.AuthService_Login_FullMethodName:          {action: "login", byStore: true},
	pb.AuthService_Enrol_FullMethodName:          {action: "login", byStore: true},
	pb.AuthService_Logout_FullMethodName:         {action: "logout", target: ownAccount, account: ownAccount, absorbs: []string{"logout"}, relief: true},
	pb.AuthService_RevokeSession_FullMethodName:  {action: "auth.session_revoked", target: fields("", "id"), account: ownAccount, absorbs: []string{"auth.session_revoked"}, relief: true},
	pb.AuthService_BeginTOTP_FullMethodName:      {action: "auth.totp_begin", target: ownAccount},
	pb.AuthService_ConfirmTOTP_FullMethodName:    {action: "auth.totp_enabled", target: ownAccount, account: ownAccount, absorbs: []string{"auth.totp_enabled", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled"}},
	pb.AuthService_VerifyTOTP_FullMethodName:     {action: "auth.second_factor", target: ownAccount, account: ownAccount, absorbs: []string{"auth.second_factor", "login.failed", "auth.session_revoked"}},
	pb.AuthService_DisableTOTP_FullMethodName:    {action: "auth.totp_disabled", target: ownAccount, account: ownAccount, absorbs: []string{"auth.totp_disabled", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled", "login.failed"}},
	pb.AuthService_ChangePassword_FullMethodName: {action: "auth.password_changed", target: ownAccount, detail: []string{"keep_api_keys"}, account: ownAccount, absorbs: []string{"auth.password_changed", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled", "login.failed"}},
	pb.AuthService_CreateAPIKey_FullMethodName:   {action: "auth.apikey_created", target: fields("", "name"), detail: []string{"expires_days"}, account: ownAccount, absorbs: []string{"auth.apikey_created"}},
	pb.AuthService_RevokeAPIKey_FullMethodName:   {action: "auth.apikey_revoked", target: fields("", "id"), account: ownAccount, absorbs: []string{"auth.apikey_revoked"}, relief: true},

	pb.UserService_CreateUser_FullMethodName:      {action: "users.create", target: fields("", "name"), detail: []string{"role"}, account: fields("", "name"), absorbs: []string{"auth.user_created"}},
	pb.UserService_DeleteUser_FullMethodName:      {action: "delete", target: fields("user:", "name"), account: fields("", "name"), absorbs: []string{"auth.user_deleted", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled"}, relief: true},
	pb.UserService_SetRole_FullMethodName:         {action: "users.role", target: fields("", "name"), detail: []string{"role"}, account: fields("", "name"), absorbs: []string{"auth.role_changed", "auth.session_revoked"}},
	pb.UserService_Grant_FullMethodName:           {action: "users.grant", target: fields("", "name"), detail: []string{"space", "permissions"}},
	pb.UserService_RevokeGrant_FullMethodName:     {action: "users.revoke_grant", target: fields("", "name"), detail: []string{"space"}, relief: true},
	pb.UserService_CreateEnrolment_FullMethodName: {action: "users.enrolment", target: fieldOrSelf("user"), detail: []string{"valid_minutes"}},
	pb.UserService_CancelEnrolment_FullMethodName: {action: "users.enrolment_cancelled", target: fields("enrolment:", "id"), absorbs: []string{"auth.enrolment_cancelled"}, handlerAccount: true, relief: true},
	pb.UserService_ResetUser_FullMethodName: {action: "users.reset", target: fields("", "name"), detail: []string{"valid_minutes"}, account: fields("", "name"),
		absorbs: []string{"auth.credentials_reset", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled", "auth.totp_disabled"}},

	pb.BackupService_CreateSource_FullMethodName: {action: "config.changed", target: fields("source:", "name"), detail: []string{"path"}},
	pb.BackupService_UpdateSource_FullMethodName: {action: "config.changed", target: fields("source:", "name"), detail: []string{"path"}},
	pb.BackupService_DeleteSource_FullMethodName: {action: "config.changed", target: fields("source:", "name")},
	pb.BackupService_RunSource_FullMethodName:    {action: "backups.run", target: fields("source:", "name")},
	pb.BackupService_Restore_FullMethodName:      {action: "restore", target: fields("", "id", "path"), detail: []string{"target"}},
	pb.BackupService_LockSnapshot_FullMethodName: {action: "lock", target: fields("", "id"), detail: []string{"until"}},
	// The handler names the snapshots removed and the bytes freed.
	pb.BackupService_ForgetSnapshots_FullMethodName: {action: "backups.forget", target: fixed("snapshots"), detail: []string{"source", "prune", "dry_run"}},
	pb.BackupService_Prune_FullMethodName:           {action: "backups.prune", target: fixed("repository"), detail: []string{"dry_run"}},

	pb.UploadService_CreateUpload_FullMethodName:   {action: "upload.create", target: fields("", "space", "name"), detail: []string{"device", "size", "sha256"}},
	pb.UploadService_WriteChunk_FullMethodName:     {action: "upload.chunk", target: fields("", "id"), detail: []string{"offset"}, quiet: true},
	pb.UploadService_CompleteUpload_FullMethodName: {action: "upload", target: fields("", "id")},
	pb.UploadService_CancelUpload_FullMethodName:   {action: "upload.cancel", target: fields("", "id"), relief: true},

	pb.DiskService_Scrub_FullMethodName:        {action: "disks.scrub", target: fixed("array")},
	pb.DiskService_ReplaceDisk_FullMethodName:  {action: "disks.replace", target: fields("", "id"), detail: []string{"new_path"}},
	pb.DiskService_EvacuateDisk_FullMethodName: {action: "disks.evacuate", target: fields("", "id")},

	pb.AlertService_AckAlert_FullMethodName: {action: "alerts.ack", target: fields("", "id")},

	pb.ShareService_CreateShare_FullMethodName:     {action: "share.created", target: fields("", "snapshot", "path")},
	pb.ShareService_RevokeShare_FullMethodName:     {action: "share.revoked", target: fields("", "id"), relief: true},
	pb.ShareService_RevokeAllShares_FullMethodName: {action: "share.revoked", target: fixed("all"), relief: true},

	// Never the code: it is the pairing's secret for its 15 minutes.
	pb.ClusterService_Offer_FullMethodName:  {action: "cluster.offer", target: fixed("pairing"), detail: []string{"replace"}},
	pb.ClusterService_Pair_FullMethodName:   {action: "cluster.pair", target: fields("", "addr"), detail: []string{"device_id"}},
	pb.ClusterService_Unpair_FullMethodName: {action: "cluster.unpair", target: fixed("pairing")},
}

// readOnly are the RPCs that change nothing: not audited by the
// interceptor (a download is recorded by its handler), allowed while
// the audit log cannot be written.
var readOnly = map[string]bool{
	pb.AuthService_ListSessions_FullMethodName:        true,
	pb.AuthService_ListAPIKeys_FullMethodName:         true,
	pb.UserService_ListUsers_FullMethodName:           true,
	pb.UserService_ListEnrolments_FullMethodName:      true,
	pb.StatusService_GetStatus_FullMethodName:         true,
	pb.StatusService_ListDrills_FullMethodName:        true,
	pb.BackupService_ListSources_FullMethodName:       true,
	pb.BackupService_GetSource_FullMethodName:         true,
	pb.BackupService_WatchProgress_FullMethodName:     true,
	pb.BackupService_ListSnapshots_FullMethodName:     true,
	pb.BackupService_BrowseSnapshot_FullMethodName:    true,
	pb.BackupService_DiffSnapshots_FullMethodName:     true,
	pb.BackupService_Download_FullMethodName:          true,
	pb.UploadService_GetUpload_FullMethodName:         true,
	pb.UploadService_HaveFiles_FullMethodName:         true,
	pb.UploadService_UploadHistory_FullMethodName:     true,
	pb.DiskService_ListDisks_FullMethodName:           true,
	pb.DiskService_DiskHistory_FullMethodName:         true,
	pb.AlertService_ListAlerts_FullMethodName:         true,
	pb.AlertService_StreamAlerts_FullMethodName:       true,
	pb.AlertService_ListCards_FullMethodName:          true,
	pb.AlertService_GetCardLedger_FullMethodName:      true,
	pb.ShareService_ListShares_FullMethodName:         true,
	pb.ShareService_ShareAccessLog_FullMethodName:     true,
	pb.AuditService_ListAudit_FullMethodName:          true,
	pb.AuditService_VerifyAudit_FullMethodName:        true,
	pb.ClusterService_GetClusterStatus_FullMethodName: true,
}
