package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoebox/shoebox/appliance"
)

// The state disk full: the audit log must not go blind (docs/GATEWAY.md,
// "Audit log" and "Phone uploads"). These tests put the box's state
// directory on a real small file system (a tmpfs, which needs root, as
// CI has) and fill it for real.

// withStateOnTmpfs mounts a tmpfs of size at the box's state directory
// before the daemon starts, and unmounts it after the box is gone.
func withStateOnTmpfs(t testing.TB, size string) boxOption {
	return func(s *boxSettings) {
		dir := tmpfsStateDir(t, s.cfg)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	}
}

// tmpfsStateDir is the state directory of config cfg, for an option
// that puts it on a tmpfs: it skips the test without root.
func tmpfsStateDir(t testing.TB, cfg string) string {
	m := regexp.MustCompile(`(?m)^state_dir: (.*)$`).FindStringSubmatch(cfg)
	if m == nil {
		t.Fatal("no state_dir in the config")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as the state disk")
	}
	return m[1]
}

// withGateway adds lines to the config's gateway section.
func withGateway(lines string) boxOption {
	return func(s *boxSettings) {
		s.cfg = strings.Replace(s.cfg, "gateway:\n", "gateway:\n"+lines, 1)
	}
}

// freeBytes is the free space on the file system holding dir.
func freeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fillDisk writes a file into dir until the file system is full, as
// something else on the box might (logs, another program), and returns
// its path.
func fillDisk(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, n)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	return p
}

// healthz answers GET /healthz.
func (b *testBox) healthz() (int, string) {
	b.t.Helper()
	resp, err := b.client.Get(b.base + "/healthz")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// criticalAlert reports whether an open critical alert of kind is up.
func (b *testBox) criticalAlert(kind string) bool {
	b.t.Helper()
	var r struct {
		Alerts []struct{ Kind, Severity string }
	}
	b.must("GET", "/v1/alerts", b.localToken(), nil, &r)
	for _, a := range r.Alerts {
		if a.Kind == kind && strings.EqualFold(a.Severity, "critical") {
			return true
		}
	}
	return false
}

// TestSecurityAuditFailsClosed: a member tries to fill the state disk
// with an upload; then the disk fills anyway (something else on the
// box). A change asked for then is refused, not made unaudited; /healthz
// and a critical alert say why; once space is freed, changes work again
// and are recorded.
func TestSecurityAuditFailsClosed(t *testing.T) {
	t.Parallel()
	b := newTestBox(t, withStateOnTmpfs(t, "64m"))
	own := b.localToken()
	mia := b.user("mia", "member", map[string]string{"family": "write"})

	// The attack: one big upload, sent as fast as the box takes it.
	const size = 80 << 20
	chunk := bytes.Repeat([]byte{0x5a}, 4<<20)
	code, raw := b.do("POST", "/v1/uploads", mia, map[string]any{"space": "family", "device": "mias-phone", "name": "huge.mov",
		"size": size, "sha256": strings.Repeat("ab", 32)})
	var up uploadJSON
	json.Unmarshal(raw, &up)
	for off := 0; code == http.StatusOK && off < size; off += len(chunk) {
		code, raw = b.do("PUT", "/v1/uploads/"+up.ID, mia, map[string]any{"offset": off, "data": chunk})
	}
	t.Logf("the upload stopped with HTTP %d: %.200s", code, raw)
	if free := freeBytes(t, b.state); free < 4<<20 {
		t.Errorf("a member's upload left %d bytes free on a 64 MiB state disk: uploads must leave the reserve alone", free)
	}

	// The disk fills anyway.
	filler := fillDisk(t, b.state)
	code, raw = b.do("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "admin"})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(raw), "audit") {
		t.Errorf("creating an admin with the state disk full: HTTP %d, want 503 naming the audit log: %s", code, raw)
	}
	if _, err := b.g.auth.GetUser("eve"); err == nil {
		t.Error("the admin was made while its audit record could not be written")
	}
	if code, body := b.healthz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "state disk") {
		t.Errorf("/healthz with the state disk full: %d %q, want 503 saying why", code, body)
	}
	if !b.criticalAlert("audit") {
		t.Error("no critical audit alert with the state disk full")
	}

	// Space is freed: changes work again, and are recorded.
	os.Remove(filler)
	b.must("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "member"}, nil)
	found := false
	for _, e := range b.auditEntries(own, "?action=users.create") {
		found = found || e.Target == "eve"
	}
	if !found {
		t.Error("the user made after space was freed has no audit record")
	}
	if code, body := b.healthz(); code != http.StatusOK {
		t.Errorf("/healthz after space was freed: %d %q, want 200", code, body)
	}
}

// TestSecurityAuditWriteFailure: with no reserve configured, the disk
// fills between the check and the record: the change that happened is
// not undone, but the log is marked broken at once — a critical alert,
// /healthz 503 — and the next change is refused, not made unaudited.
// Once space is freed the log resumes (saying so) and changes work.
func TestSecurityAuditWriteFailure(t *testing.T) {
	t.Parallel()
	b := newTestBox(t, withStateOnTmpfs(t, "64m"), withGateway("  state_reserve: \"0\"\n"))
	own := b.localToken()
	filler := fillDisk(t, b.state)

	code, raw := b.do("POST", "/v1/sources/family/run", own, struct{}{})
	t.Logf("a backup asked for on a full state disk: HTTP %d %s", code, raw)
	if code, body := b.healthz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit log") {
		t.Errorf("/healthz after a record failed: %d %q, want 503 naming the audit log", code, body)
	}
	if !b.criticalAlert("audit") {
		t.Error("no critical alert after a record failed")
	}
	code, raw = b.do("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "admin"})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(raw), "audit log cannot be written") {
		t.Errorf("a change after a record failed: HTTP %d, want 503: %s", code, raw)
	}
	if _, err := b.g.auth.GetUser("eve"); err == nil {
		t.Error("the change was made with the audit log broken")
	}
	// Reads keep working.
	b.must("GET", "/v1/status", own, nil, nil)

	os.Remove(filler)
	b.must("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "member"}, nil)
	var resumed, made bool
	for _, e := range b.auditEntries(own, "?limit=5") {
		resumed = resumed || e.Action == "audit.resumed" && e.Detail["refused"] == "1"
		made = made || e.Action == "users.create" && e.Target == "eve"
	}
	if !resumed || !made {
		t.Errorf("after space was freed: audit.resumed %v, users.create %v; want both", resumed, made)
	}
	if code, body := b.healthz(); code != http.StatusOK {
		t.Errorf("/healthz after the log resumed: %d %q", code, body)
	}
	if b.criticalAlert("audit") {
		t.Error("the alert is still open after the log resumed")
	}
	var v struct{ OK bool }
	b.must("GET", "/v1/audit/verify", own, nil, &v)
	if !v.OK {
		t.Error("the log does not verify after the failure and the repair")
	}
}

// TestSecurityUploadReserve: members' uploads together cannot take the
// state disk's reserve: the chunk that would is refused (429) before a
// byte of it is written, what was acknowledged stays, and the box keeps
// working (changes audited, /healthz 200).
func TestSecurityUploadReserve(t *testing.T) {
	t.Parallel()
	b := newTestBox(t, withStateOnTmpfs(t, "64m"))
	own := b.localToken()
	const size = 15 << 20
	var ups []struct{ tok, id string }
	for _, name := range []string{"ann", "ben", "cat", "dan"} {
		tok := b.user(name, "member", map[string]string{"family": "write"})
		var up uploadJSON
		b.must("POST", "/v1/uploads", tok, map[string]any{"space": "family", "device": name + "-phone", "name": "clip.mov",
			"size": size, "sha256": sumHex([]byte(name))}, &up)
		ups = append(ups, struct{ tok, id string }{tok, up.ID})
	}
	chunk := make([]byte, 4<<20)
	refused := 0
	for _, u := range ups {
		for off := 0; off < size; off += len(chunk) {
			n := min(len(chunk), size-off)
			code, raw := b.do("PUT", "/v1/uploads/"+u.id, u.tok, map[string]any{"offset": off, "data": chunk[:n]})
			if code == http.StatusOK {
				continue
			}
			refused++
			if code != http.StatusTooManyRequests || !strings.Contains(string(raw), "safe") {
				t.Errorf("a chunk past the reserve: HTTP %d, want 429 saying what is safe: %s", code, raw)
			}
			var st uploadJSON
			b.must("GET", "/v1/uploads/"+u.id, u.tok, nil, &st)
			if st.Offset != int64(off) {
				t.Errorf("after the refused chunk the upload is at %d, want %d (what was acknowledged)", st.Offset, off)
			}
			break
		}
	}
	free := freeBytes(t, b.state)
	t.Logf("%d uploads refused a chunk; %d bytes left free on the 64 MiB state disk", refused, free)
	if refused == 0 || free < 6<<20 {
		t.Errorf("uploads took the state disk down to %d bytes free (%d refusals); the reserve must stay", free, refused)
	}
	if code, body := b.healthz(); code != http.StatusOK {
		t.Errorf("/healthz after the uploads: %d %q", code, body)
	}
	b.must("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "member"}, nil)
}

// TestSecurityUploadQuota: one account's unfinished uploads stay within
// its quota (gateway.upload_quota, here 10 MiB; by default a quarter of
// the free space); other accounts have their own.
func TestSecurityUploadQuota(t *testing.T) {
	t.Parallel()
	b := newMemBox(t, withStateOnTmpfs(t, "64m"), withGateway("  upload_quota: 10MiB\n"))
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	ben := b.user("ben", "member", map[string]string{"family": "write"})
	create := func(tok, name string, size int) (int, []byte) {
		return b.do("POST", "/v1/uploads", tok, map[string]any{"space": "family", "device": "phone", "name": name,
			"size": size, "sha256": sumHex([]byte(name))})
	}
	code, raw := create(mia, "a.mov", 6<<20)
	var up uploadJSON
	if code != http.StatusOK || json.Unmarshal(raw, &up) != nil {
		t.Fatalf("a first upload within the quota: HTTP %d %s", code, raw)
	}
	if code, raw := create(mia, "b.mov", 6<<20); code != http.StatusTooManyRequests || !strings.Contains(string(raw), "quota") {
		t.Errorf("a second upload past the quota: HTTP %d, want 429 naming the quota: %s", code, raw)
	}
	if code, raw := create(ben, "b.mov", 6<<20); code != http.StatusOK {
		t.Errorf("another account within its own quota: HTTP %d %s", code, raw)
	}
	// An unfinished upload counts whole, however much of it was sent
	// (and received files, for a day: TestSecurityUploadsStopAboveReserve).
	b.must("PUT", "/v1/uploads/"+up.ID, mia, map[string]any{"offset": 0, "data": make([]byte, 3<<20)}, nil)
	if code, raw := create(mia, "b.mov", 6<<20); code != http.StatusTooManyRequests {
		t.Errorf("after sending half of the first: HTTP %d, want 429: %s", code, raw)
	}
	b.must("DELETE", "/v1/uploads/"+up.ID, mia, nil, nil)
	if code, raw := create(mia, "b.mov", 6<<20); code != http.StatusOK {
		t.Errorf("after cancelling the first: HTTP %d %s", code, raw)
	}

	// The default: a quarter of the free space.
	d := newMemBox(t, withStateOnTmpfs(t, "64m"))
	tok := d.user("mia", "member", map[string]string{"family": "write"})
	code, raw = d.do("POST", "/v1/uploads", tok, map[string]any{"space": "family", "device": "phone", "name": "big.mov",
		"size": 20 << 20, "sha256": sumHex([]byte("big"))})
	if code != http.StatusTooManyRequests || !strings.Contains(string(raw), "quota") {
		t.Errorf("20 MiB with the default quota on a 64 MiB state disk: HTTP %d, want 429: %s", code, raw)
	}
}

// uploadUntilRefused has tok upload and complete photos into family
// from its phone, 8 MiB each until one is refused, then half that, down
// to 16 KiB. It returns how many it tried and the last refusal.
func (b *testBox) uploadUntilRefused(tok string) (n int, last []byte) {
	b.t.Helper()
	send := func(size int) (int, []byte) {
		n++
		data := seededBytes(uint64(n), size)
		code, raw := b.do("POST", "/v1/uploads", tok, map[string]any{"space": "family", "device": "mias-phone",
			"name": fmt.Sprintf("IMG_%04d.JPG", n), "size": size, "sha256": sumHex(data), "mtime": photoTime.Format(time.RFC3339)})
		var up uploadJSON
		if code != http.StatusOK || json.Unmarshal(raw, &up) != nil || up.ID == "" {
			return code, raw
		}
		if code, raw := b.rawPut(tok, up.ID, 0, data); code != http.StatusOK {
			b.do("DELETE", "/v1/uploads/"+up.ID, tok, nil)
			return code, raw
		}
		return b.do("POST", "/v1/uploads/"+up.ID+"/complete", tok, struct{}{})
	}
	for size := 8 << 20; size >= 16<<10; size /= 2 {
		for {
			code, raw := send(size)
			if code != http.StatusOK {
				last = raw
				break
			}
		}
	}
	return n, last
}

// TestSecurityUploadsStopAboveReserve: the state disk also holds the
// space's folder (a one-disk box), and the quota lets one account take
// everything (upload_quota: 100%). Uploads — received files included —
// stop a margin above the reserve, so that the records of what follows
// (here 400 refused chunks, each audited) land in the margin: the box
// keeps making changes and /healthz stays 200. A received file counts
// against its account's quota for a day.
func TestSecurityUploadsStopAboveReserve(t *testing.T) {
	t.Parallel()
	b := newTestBox(t, withStateAndFamilyOnTmpfs(t, "96m"), withGateway("  upload_quota: 100%\n"))
	own := b.localToken()
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	// The upload the refused chunks below go to, started first: once the
	// disk is filled to the margin, whether even 1 byte still fits
	// depends on how the last 16 KiB file landed in the file system's
	// pages, not on the rule under test.
	code, raw := b.do("POST", "/v1/uploads", mia, map[string]any{"space": "family", "device": "mias-phone", "name": "last.jpg",
		"size": 1, "sha256": sumHex([]byte("x"))})
	var up uploadJSON
	if code != http.StatusOK || json.Unmarshal(raw, &up) != nil {
		t.Fatalf("a 1-byte upload: HTTP %d %s", code, raw)
	}
	n, last := b.uploadUntilRefused(mia)
	reserve := b.g.reserve
	free := freeBytes(t, b.state)
	t.Logf("after %d uploads: %d KiB free; reserve %d KiB, margin %d KiB; the last refusal: %s", n, free>>10, reserve>>10, (b.g.floor-reserve)>>10, last)
	if b.g.floor-reserve != reserve { // a small disk: the margin is the reserve
		t.Errorf("margin %d on a 96 MiB disk, want the reserve (%d)", b.g.floor-reserve, reserve)
	}
	if free < b.g.floor-1<<20 {
		t.Errorf("uploads took the state disk to %d bytes free; they must stop at the reserve and its margin, %d", free, b.g.floor)
	}
	for range 400 {
		b.rawPut(mia, up.ID, 5, []byte("x")) // a wrong offset: refused, and recorded
	}
	t.Logf("after 400 refused chunks: %d KiB free", freeBytes(t, b.state)>>10)
	b.must("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "viewer"}, nil)
	if st, body := b.healthz(); st != http.StatusOK {
		t.Errorf("/healthz after a member's uploads: %d %q", st, body)
	}
}

// TestSecurityRestoreBoundedByReserve: a restore writes into
// STATE/restores, on the state disk. One that would bring the disk below
// the reserve and its margin is refused before a byte is written, saying
// how much it needs and what to do; one that fits goes ahead, and the
// box keeps making changes.
func TestSecurityRestoreBoundedByReserve(t *testing.T) {
	t.Parallel()
	b := newTestBox(t, withStateOnTmpfs(t, "48m"))
	own := b.localToken()
	snap := b.backup(map[string][]byte{"videos/clip.mov": seededBytes(7, 45<<20), "small/a.jpg": seededBytes(8, 1<<20)})
	before := freeBytes(t, b.state)
	code, raw := b.do("POST", "/v1/snapshots/"+snap+"/restore", own, map[string]any{"path": b.family + "/videos", "target": "videos"})
	if code != http.StatusTooManyRequests || !strings.Contains(string(raw), "needs 45 MiB") || !strings.Contains(string(raw), "nothing was restored") {
		t.Errorf("restoring 45 MiB onto a 48 MiB state disk: HTTP %d, want 429 saying what it needs: %s", code, raw)
	}
	if _, err := os.Stat(filepath.Join(b.state, "restores", "videos")); err == nil {
		t.Error("the refused restore made its folder")
	}
	if after := freeBytes(t, b.state); after < before-1<<20 {
		t.Errorf("the refused restore took %d bytes", before-after)
	}
	if code, raw := b.do("POST", "/v1/snapshots/"+snap+"/restore", own, map[string]any{"path": b.family + "/nothing", "target": "nothing"}); code != http.StatusNotFound {
		t.Errorf("restoring a path the snapshot does not hold: HTTP %d, want 404: %s", code, raw)
	}
	var rr struct {
		Files int64 `json:",string"`
	}
	b.must("POST", "/v1/snapshots/"+snap+"/restore", own, map[string]any{"path": b.family + "/small", "target": "small"}, &rr)
	if rr.Files != 1 {
		t.Errorf("a restore that fits: %+v", rr)
	}
	b.must("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "viewer"}, nil)
	if st, body := b.healthz(); st != http.StatusOK {
		t.Errorf("/healthz after the restores: %d %q", st, body)
	}
}

// TestReserveAndMargin: the reserve and the margin above it that
// uploads and restores leave, for disks from a test's tmpfs to 4 TB.
func TestReserveAndMargin(t *testing.T) {
	t.Parallel()
	const MiB, GB = 1 << 20, 1000 * 1000 * 1000
	for _, tc := range []struct {
		what                   string
		cfg                    appliance.Size
		total, reserve, margin int64
	}{
		{"a 96 MiB tmpfs", appliance.Size{}, 96 * MiB, 96 * MiB / 10, 96 * MiB / 10},
		{"a 3 GB card", appliance.Size{}, 3 * GB, 3 * GB / 10, 256 * MiB},
		{"an 8 GB card", appliance.Size{}, 8 * GB, 8 * GB / 10, 8 * GB / 20},
		{"a 32 GB card", appliance.Size{}, 32 * GB, 32 * GB / 20, 32 * GB / 40},
		{"a 4 TB disk", appliance.Size{}, 4000 * GB, 16 << 30, 8 << 30},
		{"no reserve", appliance.Size{Set: true}, 4000 * GB, 0, 0},
		{"2 GiB asked for", appliance.Size{Set: true, Bytes: 2 << 30}, 4000 * GB, 2 << 30, 1 << 30},
	} {
		r := reserveFor(tc.cfg, tc.total)
		if m := marginFor(r); r != tc.reserve || m != tc.margin {
			t.Errorf("%s: reserve %d MiB, margin %d MiB; want %d and %d", tc.what, r/MiB, m/MiB, tc.reserve/MiB, tc.margin/MiB)
		}
	}
}

// TestSecurityAuditFullDiskSaysSo: when a record fails because the state
// disk is full, every place that reports it — /healthz, the refusal of
// the next change, the alert — says that the disk is full and what to do,
// rather than "a write error".
func TestSecurityAuditFullDiskSaysSo(t *testing.T) {
	t.Parallel()
	b := newTestBox(t, withStateOnTmpfs(t, "64m"), withGateway("  state_reserve: \"0\"\n"))
	own := b.localToken()
	fillDisk(t, b.state)
	b.do("POST", "/v1/sources/family/run", own, struct{}{}) // changes; its record fails
	const full = "the state disk is full"
	if st, body := b.healthz(); st != http.StatusServiceUnavailable || !strings.Contains(body, full) || !strings.Contains(body, "free space") {
		t.Errorf("/healthz: %d %q, want 503 saying %q and what to do", st, body, full)
	}
	code, raw := b.do("POST", "/v1/users", own, map[string]string{"name": "eve", "password": "password-of-eve", "role": "admin"})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(raw), full) || !strings.Contains(string(raw), "free space") {
		t.Errorf("a change after the record failed: HTTP %d, want 503 saying %q and what to do: %s", code, full, raw)
	}
	var r struct {
		Alerts []struct{ Kind, Message string }
	}
	b.must("GET", "/v1/alerts", own, nil, &r)
	found := false
	for _, a := range r.Alerts {
		if a.Kind == "audit" {
			found = true
			if !strings.Contains(a.Message, full) {
				t.Errorf("the alert: %q, want it to say %q", a.Message, full)
			}
		}
	}
	if !found {
		t.Error("no audit alert")
	}
}
