package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityAuditDeletedLog: someone with write access to the state
// directory deletes the audit log (files, and then the state
// directory's copy of its anchor too) while the box is down. The real
// CLI's `shoebox audit verify` says so, and the real daemon, started
// again, keeps what is left as evidence, raises a critical alert and
// starts a new chain whose first entry says why.
func TestSecurityAuditDeletedLog(t *testing.T) {
	b := newAttackBox(t, "")
	own := b.ownerToken()
	if code, body := b.apiCall(b.client(), "POST", "/v1/users", b.localToken(), map[string]string{"name": "mia", "password": "password-of-mia", "role": "member"}); code != 200 {
		t.Fatalf("create user: %d %s", code, body)
	}
	if code, body := b.apiCall(b.client(), "GET", "/v1/status", own, nil); code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	if res := b.cli("audit", "verify"); res.code != 0 || !strings.Contains(res.stdout, "OK") {
		t.Fatalf("verify of the untouched log: %v", res)
	}
	b.stop()

	dir := filepath.Join(b.state, "gateway", "audit")
	for _, f := range []string{"audit.log", "head"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	res := b.cli("audit", "verify")
	if res.code != 1 || !strings.Contains(res.stdout, "TAMPERED") || !strings.Contains(res.stdout, "deleted") {
		t.Errorf("verify of a deleted log: %v; want exit 1, TAMPERED, deleted", res)
	}
	// The state directory's anchor goes too: the repository's copy
	// still knows.
	if err := os.Remove(filepath.Join(b.state, "gateway", "audit.anchor")); err != nil {
		t.Errorf("the state directory keeps no anchor of the audit log: %v", err)
	}
	res = b.cli("audit", "verify")
	if res.code != 1 || !strings.Contains(res.stdout, "deleted") {
		t.Errorf("verify of a deleted log without the state directory's anchor: %v; want exit 1 (the repository's anchor)", res)
	}

	b.start()
	code, body := b.apiCall(b.client(), "GET", "/v1/alerts", b.localToken(), nil)
	var alerts struct {
		Alerts []struct{ Kind, Severity, Subject, Message string }
	}
	json.Unmarshal(body, &alerts)
	raised := false
	for _, a := range alerts.Alerts {
		raised = raised || a.Kind == "audit" && strings.EqualFold(a.Severity, "critical")
	}
	if code != 200 || !raised {
		t.Errorf("after starting on a deleted audit log: no critical audit alert: HTTP %d %s", code, body)
	}
	code, body = b.apiCall(b.client(), "GET", "/v1/audit?action=audit.failed_verification", b.localToken(), nil)
	if code != 200 || !strings.Contains(string(body), "deleted") {
		t.Errorf("the new log does not start by saying the old one was deleted: HTTP %d %s", code, body)
	}
	// The new chain verifies, against its own new anchor.
	if res := b.cli("audit", "verify"); res.code != 0 {
		t.Errorf("verify of the new chain: %v", res)
	}
}
