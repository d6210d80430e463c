package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoebox/shoebox/gateway/token"
)

// The audit record of every route that changes something: who (name and
// account ID), from where, what, to what, and how it ended.

// auditRecord is an entry as GET /v1/audit shows it.
type auditRecord struct {
	Seq     int64 `json:",string"`
	Actor   string
	ActorID string `json:"actor_id"`
	IP      string
	Action  string
	Target  string
	Result  string
	Detail  map[string]string
}

// lastSeq is the newest entry's seq (0 for none).
func (b *testBox) lastSeq(tok string) int64 {
	b.t.Helper()
	var r struct{ Entries []auditRecord }
	b.must("GET", "/v1/audit?limit=1", tok, nil, &r)
	if len(r.Entries) == 0 {
		return 0
	}
	return r.Entries[0].Seq
}

// auditSince returns the entries after seq, oldest first.
func (b *testBox) auditSince(tok string, seq int64) []auditRecord {
	b.t.Helper()
	var r struct{ Entries []auditRecord }
	b.must("GET", "/v1/audit?limit=50", tok, nil, &r)
	var out []auditRecord
	for i := len(r.Entries) - 1; i >= 0; i-- {
		if r.Entries[i].Seq > seq {
			out = append(out, r.Entries[i])
		}
	}
	return out
}

// auditCase is one call of a route and the record it must leave.
type auditCase struct {
	method, path string
	body         any
	// as is who calls: "owner" (a session), "local" (the box's local
	// token), "member" (mia's session) or "" (nobody, a public route).
	as     string
	action string
	// target is the record's target; targetFrom, when set, computes it
	// from the answer instead (an ID the box made).
	target     string
	targetFrom func(answer []byte) string
	// quiet: the route is audited only when it fails (upload chunks).
	quiet bool
}

// TestAuditRulesCoverEveryMethod: every RPC is either audited (an
// auditRules entry) or changes nothing (readOnly), never both, and every
// rule names an action and, but for sign-in, a target.
func TestAuditRulesCoverEveryMethod(t *testing.T) {
	t.Parallel()
	for m := range grpcMethods() {
		_, audited := auditRules[m]
		switch {
		case audited && readOnly[m]:
			t.Errorf("%s is both audited and read-only", m)
		case !audited && !readOnly[m]:
			t.Errorf("%s is neither in auditRules nor in readOnly: say whether it changes something (audited.go)", m)
		}
	}
	for m, r := range auditRules {
		if _, ok := policy[m]; !ok {
			t.Errorf("auditRules names %s, which has no policy rule", m)
		}
		if r.action == "" || r.target == nil && !r.byStore {
			t.Errorf("%s: rule %+v needs an action and a target", m, r)
		}
		if len(r.absorbs) > 0 && r.account == nil && !r.handlerAccount {
			t.Errorf("%s absorbs auth events but names no account", m)
		}
	}
	for m := range readOnly {
		if _, ok := policy[m]; !ok {
			t.Errorf("readOnly names %s, which has no policy rule", m)
		}
	}
}

// auditReadOnly are routes that use POST but change nothing.
var auditReadOnly = map[string]bool{"UploadService_HaveFiles": true}

func TestAuditEveryMutatingRoute(t *testing.T) {
	t.Parallel()
	routes := apiRoutes(t)
	b := newTestBox(t)
	local := b.localToken()
	own := b.owner()
	mia := b.user("mia", "member", map[string]string{"family": "write,share,restore"})
	snap := b.backup(map[string][]byte{"docs/a.txt": []byte("alpha")})
	photo := seededBytes(9, 5000)
	var up uploadJSON
	b.must("POST", "/v1/uploads", own, map[string]any{"space": "family", "device": "owners-phone", "name": "a.jpg",
		"size": len(photo), "sha256": sumHex(photo)}, &up)
	var cancel uploadJSON
	b.must("POST", "/v1/uploads", own, map[string]any{"space": "family", "device": "owners-phone", "name": "b.jpg",
		"size": 10, "sha256": sumHex([]byte("0123456789"))}, &cancel)
	os.MkdirAll(filepath.Join(b.dir, "extra"), 0o755)
	until := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	shareID := func(answer []byte) string {
		var r struct{ Share struct{ ID string } }
		json.Unmarshal(answer, &r)
		return r.Share.ID
	}
	var madeShare, madeEnrolment string

	ownerU, _ := b.g.auth.GetUser("owner")
	miaU, _ := b.g.auth.GetUser("mia")
	callers := map[string]struct{ tok, name, id string }{
		"owner":  {own, "owner", ownerU.ID},
		"local":  {local, "root@box", "root@box"},
		"member": {mia, "mia", miaU.ID},
	}

	// One case per mutating route (in this order: later cases use what
	// earlier ones made), then refusals.
	cases := map[string][]auditCase{
		"AuthService_Login": {{method: "POST", path: "/v1/auth/login", body: map[string]string{"username": "owner", "password": b.ownerPassword(), "device": "audit test"},
			action: "login", target: "owner"}},
		"AuthService_Enrol": {{method: "POST", path: "/v1/auth/enrol", body: map[string]string{"code": token.New(token.Enrol), "device": "x"},
			action: "login.failed"}},
		"AuthService_RevokeSession": {{method: "DELETE", path: "/v1/auth/sessions/abc123", as: "owner", action: "auth.session_revoked", target: "abc123"}},
		"AuthService_BeginTOTP":     {{method: "POST", path: "/v1/auth/totp/begin", body: struct{}{}, as: "member", action: "auth.totp_begin", target: "mia"}},
		"AuthService_VerifyTOTP":    {{method: "POST", path: "/v1/auth/totp/verify", body: map[string]string{"code": "000000"}, as: "member", action: "auth.second_factor", target: "mia"}},
		"AuthService_ConfirmTOTP":   {{method: "POST", path: "/v1/auth/totp/confirm", body: map[string]string{"code": "000000"}, as: "member", action: "auth.totp_enabled", target: "mia"}},
		"AuthService_DisableTOTP":   {{method: "POST", path: "/v1/auth/totp/disable", body: map[string]string{"password": "wrong"}, as: "member", action: "auth.totp_disabled", target: "mia"}},
		"AuthService_ChangePassword": {{method: "POST", path: "/v1/auth/password", body: map[string]string{"old_password": "wrong password", "new_password": "Another-long-password"},
			as: "member", action: "auth.password_changed", target: "mia"}},
		"AuthService_CreateAPIKey": {{method: "POST", path: "/v1/auth/apikeys", body: map[string]any{"name": "monitor", "scopes": []string{"status.read"}},
			as: "owner", action: "auth.apikey_created", target: "monitor"}},
		"AuthService_RevokeAPIKey": {{method: "DELETE", path: "/v1/auth/apikeys/abc123", as: "owner", action: "auth.apikey_revoked", target: "abc123"}},
		"UserService_CreateUser": {{method: "POST", path: "/v1/users", body: map[string]string{"name": "zed", "role": "member"},
			as: "owner", action: "users.create", target: "zed"}},
		// A role change names the caller as the actor, the account as the
		// target (finding 8).
		"UserService_SetRole":     {{method: "POST", path: "/v1/users/zed/role", body: map[string]string{"role": "admin"}, as: "owner", action: "users.role", target: "zed"}},
		"UserService_Grant":       {{method: "POST", path: "/v1/users/zed/grants", body: map[string]any{"space": "family", "permissions": []string{"write"}}, as: "local", action: "users.grant", target: "zed"}},
		"UserService_RevokeGrant": {{method: "DELETE", path: "/v1/users/zed/grants/family", as: "owner", action: "users.revoke_grant", target: "zed"}},
		"UserService_CreateEnrolment": {{method: "POST", path: "/v1/enrolments", body: map[string]any{"user": "zed"}, as: "owner",
			action: "users.enrolment", target: "zed", targetFrom: func(a []byte) string {
				var r struct{ ID string }
				json.Unmarshal(a, &r)
				madeEnrolment = r.ID
				return "zed"
			}}},
		"UserService_CancelEnrolment": {{method: "DELETE", path: "/v1/enrolments/", as: "owner", action: "users.enrolment_cancelled"}},
		"UserService_ResetUser":       {{method: "POST", path: "/v1/users/zed/reset", body: struct{}{}, as: "owner", action: "users.reset", target: "zed"}},
		"UserService_DeleteUser":      {{method: "DELETE", path: "/v1/users/zed", as: "owner", action: "delete", target: "user:zed"}},
		"BackupService_CreateSource": {{method: "POST", path: "/v1/sources", body: map[string]any{"name": "extra", "path": b.dir + "/extra"},
			as: "owner", action: "config.changed", target: "source:extra"}},
		"BackupService_UpdateSource": {{method: "PUT", path: "/v1/sources/extra", body: map[string]any{"path": b.dir + "/extra", "mode": "scheduled", "schedule": "daily 03:00"},
			as: "owner", action: "config.changed", target: "source:extra"}},
		"BackupService_DeleteSource": {{method: "DELETE", path: "/v1/sources/extra", as: "owner", action: "config.changed", target: "source:extra"}},
		"BackupService_RunSource":    {{method: "POST", path: "/v1/sources/family/run", body: struct{}{}, as: "member", action: "backups.run", target: "source:family"}},
		"BackupService_Restore": {{method: "POST", path: "/v1/snapshots/" + snap + "/restore", body: map[string]string{"path": b.family + "/docs", "target": "audited"},
			as: "member", action: "restore", target: snap + ":" + b.family + "/docs"}},
		"BackupService_LockSnapshot": {{method: "POST", path: "/v1/snapshots/" + snap + "/lock", body: map[string]string{"until": until},
			as: "owner", action: "lock", target: snap}},
		"BackupService_ForgetSnapshots": {{method: "POST", path: "/v1/snapshots/forget", body: map[string]any{"policy": map[string]int{"last": 1}, "dry_run": true},
			as: "owner", action: "backups.forget", target: "snapshots"}},
		"BackupService_Prune": {{method: "POST", path: "/v1/repository/prune", body: map[string]bool{"dry_run": true}, as: "local", action: "backups.prune", target: "repository"}},
		"UploadService_CreateUpload": {{method: "POST", path: "/v1/uploads", body: map[string]any{"space": "family", "device": "mias-phone", "name": "c.jpg",
			"size": 3, "sha256": sumHex([]byte("abc"))}, as: "member", action: "upload.create", target: "family:c.jpg"}},
		"UploadService_WriteChunk": {
			{method: "PUT", path: "/v1/uploads/" + up.ID, body: map[string]any{"offset": 0, "data": photo}, as: "owner", action: "upload.chunk", target: up.ID, quiet: true},
			{method: "PUT", path: "/v1/uploads/" + up.ID, body: map[string]any{"offset": 7, "data": photo[:10]}, as: "owner", action: "upload.chunk", target: up.ID},
		},
		"UploadService_CompleteUpload": {{method: "POST", path: "/v1/uploads/" + up.ID + "/complete", body: struct{}{}, as: "owner",
			action: "upload", target: "family:owners-phone/" + time.Now().Format("2006/01") + "/a.jpg"}},
		"UploadService_CancelUpload": {{method: "DELETE", path: "/v1/uploads/" + cancel.ID, as: "owner", action: "upload.cancel", target: cancel.ID}},
		"DiskService_Scrub":          {{method: "POST", path: "/v1/array/scrub", body: struct{}{}, as: "owner", action: "disks.scrub", target: "array"}},
		"DiskService_ReplaceDisk": {{method: "POST", path: "/v1/disks/nosuchdisk/replace", body: map[string]string{"new_path": b.dir + "/disk-d"},
			as: "owner", action: "disks.replace", target: "nosuchdisk"}},
		"DiskService_EvacuateDisk": {{method: "POST", path: "/v1/disks/nosuchdisk/evacuate", body: struct{}{}, as: "owner", action: "disks.evacuate", target: "nosuchdisk"}},
		"AlertService_AckAlert":    {{method: "POST", path: "/v1/alerts/nosuchalert/ack", body: struct{}{}, as: "owner", action: "alerts.ack", target: "nosuchalert"}},
		"ShareService_CreateShare": {{method: "POST", path: "/v1/shares", body: map[string]any{"snapshot": snap, "path": b.family + "/docs", "download": true},
			as: "member", action: "share.created", targetFrom: func(a []byte) string { madeShare = shareID(a); return madeShare }}},
		"ShareService_RevokeShare":     {{method: "DELETE", path: "/v1/shares/", as: "member", action: "share.revoked"}},
		"ShareService_RevokeAllShares": {{method: "POST", path: "/v1/shares/revoke-all", body: struct{}{}, as: "owner", action: "share.revoked", target: "all"}},
		"AuthService_Logout":           {{method: "POST", path: "/v1/auth/logout", body: struct{}{}, as: "owner", action: "logout", target: "owner"}},
		// A home unit: it refuses to offer, and the pairing fails (an
		// address without a port); both are recorded, the code never.
		"ClusterService_Offer": {{method: "POST", path: "/v1/cluster/offer", body: map[string]bool{"replace": true}, as: "owner", action: "cluster.offer", target: "pairing"}},
		"ClusterService_Pair": {{method: "POST", path: "/v1/cluster/pair", body: map[string]string{"addr": "nowhere", "device_id": "x", "code": "AAAAA-AAAAA"},
			as: "owner", action: "cluster.pair", target: "nowhere"}},
		"ClusterService_Unpair": {{method: "POST", path: "/v1/cluster/unpair", body: struct{}{}, as: "local", action: "cluster.unpair", target: "pairing"}},
	}
	order := []string{
		"AuthService_Login", "AuthService_Enrol", "AuthService_RevokeSession", "AuthService_BeginTOTP", "AuthService_ConfirmTOTP", "AuthService_VerifyTOTP",
		"AuthService_DisableTOTP", "AuthService_ChangePassword", "AuthService_CreateAPIKey", "AuthService_RevokeAPIKey",
		"UserService_CreateUser", "UserService_SetRole", "UserService_Grant", "UserService_RevokeGrant", "UserService_CreateEnrolment",
		"UserService_CancelEnrolment", "UserService_ResetUser", "UserService_DeleteUser", "BackupService_CreateSource", "BackupService_UpdateSource", "BackupService_DeleteSource",
		"BackupService_RunSource", "BackupService_Restore", "BackupService_LockSnapshot", "BackupService_ForgetSnapshots", "BackupService_Prune", "UploadService_CreateUpload",
		"UploadService_WriteChunk", "UploadService_CompleteUpload", "UploadService_CancelUpload", "DiskService_Scrub",
		"DiskService_ReplaceDisk", "DiskService_EvacuateDisk", "AlertService_AckAlert", "ShareService_CreateShare",
		"ShareService_RevokeShare", "ShareService_RevokeAllShares", "ClusterService_Offer", "ClusterService_Pair", "ClusterService_Unpair",
		"AuthService_Logout",
	}
	// Every mutating route of the OpenAPI document has a case.
	for _, r := range routes {
		if r.method == "GET" || auditReadOnly[r.op] {
			continue
		}
		if _, ok := cases[r.op]; !ok {
			t.Errorf("%s changes something but has no case here: add one", r)
		}
	}
	if len(order) != len(cases) {
		t.Fatalf("order lists %d operations, cases %d", len(order), len(cases))
	}

	check := func(t *testing.T, what string, c auditCase, code int, answer []byte, recs []auditRecord) {
		t.Helper()
		who := callers[c.as]
		wantResult := "ok"
		switch {
		case code != http.StatusOK && c.as == "":
			wantResult = "failed" // the auth store's record of a failed sign-in
		case code != http.StatusOK:
			var e struct{ Code string }
			json.Unmarshal(answer, &e)
			wantResult = e.Code + ": "
		}
		if c.quiet && code == http.StatusOK {
			if len(recs) != 0 {
				t.Errorf("%s (HTTP 200): %d records, want none for a routine upload chunk: %+v", what, len(recs), recs)
			}
			return
		}
		target := c.target
		if c.targetFrom != nil {
			target = c.targetFrom(answer)
		}
		var found []auditRecord
		for _, e := range recs {
			if e.Action == c.action {
				found = append(found, e)
			}
			// Nobody but the caller (or the box itself) is named as the
			// actor of what the caller did.
			if c.as != "" && e.Actor != who.name && e.Actor != "shoebox" {
				t.Errorf("%s: a record names %q as the actor; the caller was %s: %+v", what, e.Actor, who.name, e)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s (HTTP %d): %d records with action %q, want 1; records: %+v", what, code, len(found), c.action, recs)
			return
		}
		e := found[0]
		switch {
		case c.as != "" && (e.Actor != who.name || e.ActorID != who.id):
			t.Errorf("%s: actor %q (%q), want %q (%q)", what, e.Actor, e.ActorID, who.name, who.id)
		case e.IP != "127.0.0.1":
			t.Errorf("%s: ip %q, want 127.0.0.1", what, e.IP)
		case target != "" && e.Target != target:
			t.Errorf("%s: target %q, want %q", what, e.Target, target)
		case e.Target == "" && c.as != "": // a failed sign-in may name no account
			t.Errorf("%s: no target", what)
		case wantResult == "ok" && e.Result != "ok" || wantResult != "ok" && !strings.HasPrefix(e.Result, wantResult):
			t.Errorf("%s (HTTP %d): result %q, want %q…", what, code, e.Result, wantResult)
		}
	}

	for _, op := range order {
		for i, c := range cases[op] {
			if op == "ShareService_RevokeShare" {
				c.path += madeShare
				c.target = madeShare
			}
			if op == "UserService_CancelEnrolment" {
				c.path += madeEnrolment
				c.target = "enrolment:" + madeEnrolment
			}
			tok := ""
			if c.as != "" {
				tok = callers[c.as].tok
			}
			before := b.lastSeq(local)
			code, answer := b.do(c.method, c.path, tok, c.body)
			recs := b.auditSince(local, before)
			check(t, fmt.Sprintf("%s #%d: %s %s as %s", op, i+1, c.method, c.path, c.as), c, code, answer, recs)
		}
	}

	// Refused calls are recorded too, with the refusal as the result.
	for _, c := range []auditCase{
		{method: "POST", path: "/v1/users/mia/role", body: map[string]string{"role": "owner"}, as: "member", action: "users.role", target: "mia"},
		{method: "DELETE", path: "/v1/users/owner", as: "member", action: "delete", target: "user:owner"},
		{method: "POST", path: "/v1/array/scrub", body: struct{}{}, as: "member", action: "disks.scrub", target: "array"},
	} {
		before := b.lastSeq(local)
		code, answer := b.do(c.method, c.path, mia, c.body)
		if code != http.StatusForbidden {
			t.Errorf("%s %s as mia: HTTP %d, want 403: %s", c.method, c.path, code, answer)
		}
		check(t, fmt.Sprintf("refused %s %s", c.method, c.path), c, code, answer, b.auditSince(local, before))
	}
}
