package gateway

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// What the interceptors audit, beside the access rules of policy.go:
// every RPC that changes something has exactly one entry in auditRules,
// every other one is in readOnly, and TestAuditRulesCoverEveryMethod
// fails for a method in neither (or both). A new RPC needs a line here
// as well as in policy.
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
	"/shoebox.v1.AuthService/Login":          {action: "login", byStore: true},
	"/shoebox.v1.AuthService/Enrol":          {action: "login", byStore: true},
	"/shoebox.v1.AuthService/Logout":         {action: "logout", target: ownAccount, account: ownAccount, absorbs: []string{"logout"}, relief: true},
	"/shoebox.v1.AuthService/RevokeSession":  {action: "auth.session_revoked", target: fields("", "id"), account: ownAccount, absorbs: []string{"auth.session_revoked"}, relief: true},
	"/shoebox.v1.AuthService/BeginTOTP":      {action: "auth.totp_begin", target: ownAccount},
	"/shoebox.v1.AuthService/ConfirmTOTP":    {action: "auth.totp_enabled", target: ownAccount, account: ownAccount, absorbs: []string{"auth.totp_enabled", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled"}},
	"/shoebox.v1.AuthService/VerifyTOTP":     {action: "auth.second_factor", target: ownAccount, account: ownAccount, absorbs: []string{"auth.second_factor", "login.failed", "auth.session_revoked"}},
	"/shoebox.v1.AuthService/DisableTOTP":    {action: "auth.totp_disabled", target: ownAccount, account: ownAccount, absorbs: []string{"auth.totp_disabled", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled", "login.failed"}},
	"/shoebox.v1.AuthService/ChangePassword": {action: "auth.password_changed", target: ownAccount, detail: []string{"keep_api_keys"}, account: ownAccount, absorbs: []string{"auth.password_changed", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled", "login.failed"}},
	"/shoebox.v1.AuthService/CreateAPIKey":   {action: "auth.apikey_created", target: fields("", "name"), detail: []string{"expires_days"}, account: ownAccount, absorbs: []string{"auth.apikey_created"}},
	"/shoebox.v1.AuthService/RevokeAPIKey":   {action: "auth.apikey_revoked", target: fields("", "id"), account: ownAccount, absorbs: []string{"auth.apikey_revoked"}, relief: true},

	"/shoebox.v1.UserService/CreateUser":      {action: "users.create", target: fields("", "name"), detail: []string{"role"}, account: fields("", "name"), absorbs: []string{"auth.user_created"}},
	"/shoebox.v1.UserService/DeleteUser":      {action: "delete", target: fields("user:", "name"), account: fields("", "name"), absorbs: []string{"auth.user_deleted", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled"}, relief: true},
	"/shoebox.v1.UserService/SetRole":         {action: "users.role", target: fields("", "name"), detail: []string{"role"}, account: fields("", "name"), absorbs: []string{"auth.role_changed", "auth.session_revoked"}},
	"/shoebox.v1.UserService/Grant":           {action: "users.grant", target: fields("", "name"), detail: []string{"space", "permissions"}},
	"/shoebox.v1.UserService/RevokeGrant":     {action: "users.revoke_grant", target: fields("", "name"), detail: []string{"space"}, relief: true},
	"/shoebox.v1.UserService/CreateEnrolment": {action: "users.enrolment", target: fieldOrSelf("user"), detail: []string{"valid_minutes"}},
	"/shoebox.v1.UserService/CancelEnrolment": {action: "users.enrolment_cancelled", target: fields("enrolment:", "id"), absorbs: []string{"auth.enrolment_cancelled"}, handlerAccount: true, relief: true},
	"/shoebox.v1.UserService/ResetUser": {action: "users.reset", target: fields("", "name"), detail: []string{"valid_minutes"}, account: fields("", "name"),
		absorbs: []string{"auth.credentials_reset", "auth.session_revoked", "auth.apikey_revoked", "auth.enrolment_cancelled", "auth.totp_disabled"}},

	"/shoebox.v1.BackupService/CreateSource": {action: "config.changed", target: fields("source:", "name"), detail: []string{"path"}},
	"/shoebox.v1.BackupService/UpdateSource": {action: "config.changed", target: fields("source:", "name"), detail: []string{"path"}},
	"/shoebox.v1.BackupService/DeleteSource": {action: "config.changed", target: fields("source:", "name")},
	"/shoebox.v1.BackupService/RunSource":    {action: "backups.run", target: fields("source:", "name")},
	"/shoebox.v1.BackupService/Restore":      {action: "restore", target: fields("", "id", "path"), detail: []string{"target"}},
	"/shoebox.v1.BackupService/LockSnapshot": {action: "lock", target: fields("", "id"), detail: []string{"until"}},
	// The handler names the snapshots removed and the bytes freed.
	"/shoebox.v1.BackupService/ForgetSnapshots": {action: "backups.forget", target: fixed("snapshots"), detail: []string{"source", "prune", "dry_run"}},
	"/shoebox.v1.BackupService/Prune":           {action: "backups.prune", target: fixed("repository"), detail: []string{"dry_run"}},

	"/shoebox.v1.UploadService/CreateUpload":   {action: "upload.create", target: fields("", "space", "name"), detail: []string{"device", "size", "sha256"}},
	"/shoebox.v1.UploadService/WriteChunk":     {action: "upload.chunk", target: fields("", "id"), detail: []string{"offset"}, quiet: true},
	"/shoebox.v1.UploadService/CompleteUpload": {action: "upload", target: fields("", "id")},
	"/shoebox.v1.UploadService/CancelUpload":   {action: "upload.cancel", target: fields("", "id"), relief: true},

	"/shoebox.v1.DiskService/Scrub":        {action: "disks.scrub", target: fixed("array")},
	"/shoebox.v1.DiskService/ReplaceDisk":  {action: "disks.replace", target: fields("", "id"), detail: []string{"new_path"}},
	"/shoebox.v1.DiskService/EvacuateDisk": {action: "disks.evacuate", target: fields("", "id")},

	"/shoebox.v1.AlertService/AckAlert": {action: "alerts.ack", target: fields("", "id")},

	"/shoebox.v1.ShareService/CreateShare":     {action: "share.created", target: fields("", "snapshot", "path")},
	"/shoebox.v1.ShareService/RevokeShare":     {action: "share.revoked", target: fields("", "id"), relief: true},
	"/shoebox.v1.ShareService/RevokeAllShares": {action: "share.revoked", target: fixed("all"), relief: true},
}

// readOnly are the RPCs that change nothing: not audited by the
// interceptor (a download is recorded by its handler), allowed while
// the audit log cannot be written.
var readOnly = map[string]bool{
	"/shoebox.v1.AuthService/ListSessions":     true,
	"/shoebox.v1.AuthService/ListAPIKeys":      true,
	"/shoebox.v1.UserService/ListUsers":        true,
	"/shoebox.v1.UserService/ListEnrolments":   true,
	"/shoebox.v1.StatusService/GetStatus":      true,
	"/shoebox.v1.StatusService/ListDrills":     true,
	"/shoebox.v1.BackupService/ListSources":    true,
	"/shoebox.v1.BackupService/GetSource":      true,
	"/shoebox.v1.BackupService/WatchProgress":  true,
	"/shoebox.v1.BackupService/ListSnapshots":  true,
	"/shoebox.v1.BackupService/BrowseSnapshot": true,
	"/shoebox.v1.BackupService/DiffSnapshots":  true,
	"/shoebox.v1.BackupService/Download":       true,
	"/shoebox.v1.UploadService/GetUpload":      true,
	"/shoebox.v1.UploadService/HaveFiles":      true,
	"/shoebox.v1.UploadService/UploadHistory":  true,
	"/shoebox.v1.DiskService/ListDisks":        true,
	"/shoebox.v1.DiskService/DiskHistory":      true,
	"/shoebox.v1.AlertService/ListAlerts":      true,
	"/shoebox.v1.AlertService/StreamAlerts":    true,
	"/shoebox.v1.AlertService/ListCards":       true,
	"/shoebox.v1.AlertService/GetCardLedger":   true,
	"/shoebox.v1.ShareService/ListShares":      true,
	"/shoebox.v1.ShareService/ShareAccessLog":  true,
	"/shoebox.v1.AuditService/ListAudit":       true,
	"/shoebox.v1.AuditService/VerifyAudit":     true,
}
