package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Security tests of phone uploads (docs/GATEWAY.md, "Phone uploads"):
// what an upload reveals about other spaces and about the box, and whose
// upload state it is.

// startUpload creates an upload of data and fails the test unless the box
// answers 200.
func (b *testBox) startUpload(tok, space, device, name string, data []byte) uploadJSON {
	b.t.Helper()
	var up uploadJSON
	b.must("POST", "/v1/uploads", tok, map[string]any{"space": space, "device": device, "name": name,
		"size": len(data), "sha256": sumHex(data), "mtime": photoTime.Format(time.RFC3339)}, &up)
	return up
}

// sendPhoto uploads data whole (one chunk) and completes it.
func (b *testBox) sendPhoto(tok, space, device, name string, data []byte) uploadJSON {
	b.t.Helper()
	up := b.startUpload(tok, space, device, name, data)
	if up.AlreadyHave {
		b.t.Fatalf("upload of %s into %s: the box says it already has it", name, space)
	}
	b.must("PUT", "/v1/uploads/"+up.ID, tok, map[string]any{"offset": 0, "data": data}, nil)
	var done uploadJSON
	b.must("POST", "/v1/uploads/"+up.ID+"/complete", tok, struct{}{}, &done)
	return done
}

// TestSecurityUploadDedupPerSpace: a file that exists in another space
// must not "finish instantly" (already_have) nor show in HaveFiles: that
// would tell a member what the spaces they cannot see hold. Inside a
// space, deduplication still works.
func TestSecurityUploadDedupPerSpace(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.owner()
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	secret := seededBytes(1, 50_000)
	b.sendPhoto(own, "clients", "owners-phone", "contract.jpg", secret)

	// Mia has the same bytes (say, a guess at a client's file): asking
	// to upload them into her space must start a real upload.
	up := b.startUpload(mia, "family", "mias-phone", "guess.jpg", secret)
	if up.AlreadyHave || up.ID == "" {
		t.Fatalf("upload into family of a file that only clients holds: %+v; want a new upload, not already_have (it reveals what clients holds)", up)
	}
	var have struct{ Have []string }
	b.must("POST", "/v1/uploads/have", mia, map[string]any{"space": "family", "device": "mias-phone", "sha256": []string{sumHex(secret)}}, &have)
	if len(have.Have) != 0 {
		t.Errorf("HaveFiles in family lists a file only clients holds: %v", have.Have)
	}
	// She may not ask about a space she has no grant on.
	if code, raw := b.do("POST", "/v1/uploads/have", mia, map[string]any{"space": "clients", "device": "mias-phone", "sha256": []string{sumHex(secret)}}); code != http.StatusForbidden {
		t.Errorf("HaveFiles about clients as a member of family: HTTP %d, want 403: %s", code, raw)
	}
	// Without a space the question has no answer.
	if code, raw := b.do("POST", "/v1/uploads/have", mia, map[string]any{"device": "mias-phone", "sha256": []string{sumHex(secret)}}); code != http.StatusBadRequest {
		t.Errorf("HaveFiles without a space: HTTP %d, want 400: %s", code, raw)
	}

	// Within a space, a file sent once is known: the second phone skips it.
	b.must("PUT", "/v1/uploads/"+up.ID, mia, map[string]any{"offset": 0, "data": secret}, nil)
	b.must("POST", "/v1/uploads/"+up.ID+"/complete", mia, struct{}{}, nil)
	again := b.startUpload(mia, "family", "mias-tablet", "same.jpg", secret)
	if !again.AlreadyHave {
		t.Errorf("second upload of a file family holds: %+v, want already_have", again)
	}
	b.must("POST", "/v1/uploads/have", mia, map[string]any{"space": "family", "device": "mias-tablet", "sha256": []string{sumHex(secret)}}, &have)
	if len(have.Have) != 1 {
		t.Errorf("HaveFiles in family after the upload: %v, want the file", have.Have)
	}
}

// TestSecurityUploadPathsRelative: the box's own paths are not a
// member's business: stored_path is relative to the space (the source's
// folder), in every answer, and error texts do not name box paths.
func TestSecurityUploadPathsRelative(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	photo := seededBytes(2, 30_000)
	want := "mias-phone/2025/07/IMG_0001.JPG"

	done := b.sendPhoto(mia, "family", "mias-phone", "IMG_0001.JPG", photo)
	if done.StoredPath != want {
		t.Errorf("complete: stored_path %q, want %q (relative to the space)", done.StoredPath, want)
	}
	if got, err := os.ReadFile(filepath.Join(b.family, filepath.FromSlash(want))); err != nil || string(got) != string(photo) {
		t.Fatalf("the photo is not at %s in family: %v", want, err)
	}
	var st uploadJSON
	b.must("GET", "/v1/uploads/"+done.ID, mia, nil, &st)
	if st.StoredPath != want {
		t.Errorf("status after completion: stored_path %q, want %q", st.StoredPath, want)
	}
	var hist struct {
		Files []struct {
			StoredPath string `json:"stored_path"`
		}
	}
	b.must("GET", "/v1/devices/mias-phone/uploads", mia, nil, &hist)
	if len(hist.Files) != 1 || hist.Files[0].StoredPath != want {
		t.Errorf("history: %+v, want one file at %q", hist.Files, want)
	}

	// Answers that go wrong do not name box paths either.
	for _, c := range []struct {
		what         string
		method, path string
		body         any
	}{
		{"chunk to a completed upload", "PUT", "/v1/uploads/" + done.ID, map[string]any{"offset": 0, "data": photo[:10]}},
		{"complete again", "POST", "/v1/uploads/" + done.ID + "/complete", struct{}{}},
	} {
		code, raw := b.do(c.method, c.path, mia, c.body)
		if strings.Contains(string(raw), b.dir) {
			t.Errorf("%s: HTTP %d names a box path: %s", c.what, code, raw)
		}
	}
	// The family folder is moved away: the upload cannot land, and the
	// answer says so without the folder's path on the box.
	up := b.startUpload(mia, "family", "mias-phone", "IMG_0002.JPG", seededBytes(3, 1000))
	b.must("PUT", "/v1/uploads/"+up.ID, mia, map[string]any{"offset": 0, "data": seededBytes(3, 1000)}, nil)
	if err := os.Rename(b.family, b.family+".away"); err != nil {
		t.Fatal(err)
	}
	code, raw := b.do("POST", "/v1/uploads/"+up.ID+"/complete", mia, struct{}{})
	os.Rename(b.family+".away", b.family)
	if code == http.StatusOK || strings.Contains(string(raw), b.dir) {
		t.Errorf("complete with the space's folder gone: HTTP %d: %s; want an error that names no box path", code, raw)
	}
}

// TestSecurityUploadStateBoundToAccount: uploads belong to the account,
// not to its name. A member deleted and made again under the same name
// sees neither the old account's unfinished uploads nor its history,
// and the old part files are gone with the account.
func TestSecurityUploadStateBoundToAccount(t *testing.T) {
	t.Parallel()
	b := newMemBox(t)
	own := b.localToken()
	mia := b.user("mia", "member", map[string]string{"family": "write"})
	sent := seededBytes(4, 20_000)
	b.sendPhoto(mia, "family", "mias-phone", "sent.jpg", sent)
	half := seededBytes(5, 20_000)
	open := b.startUpload(mia, "family", "mias-phone", "half.jpg", half)
	b.must("PUT", "/v1/uploads/"+open.ID, mia, map[string]any{"offset": 0, "data": half[:10_000]}, nil)
	parts, _ := filepath.Glob(filepath.Join(b.state, "gateway", "uploads", "*.part"))
	if len(parts) != 1 {
		t.Fatalf("part files before the deletion: %v, want one", parts)
	}

	b.must("DELETE", "/v1/users/mia", own, nil, nil)
	if left, _ := filepath.Glob(filepath.Join(b.state, "gateway", "uploads", "*.part")); len(left) != 0 {
		t.Errorf("part files of the deleted account are still on the box: %v", left)
	}
	mia2 := b.user("mia", "member", map[string]string{"family": "write"})

	if code, raw := b.do("GET", "/v1/uploads/"+open.ID, mia2, nil); code == http.StatusOK {
		t.Errorf("the new mia sees the old account's unfinished upload: HTTP %d: %s", code, raw)
	}
	var hist struct{ Files []json.RawMessage }
	b.must("GET", "/v1/devices/mias-phone/uploads", mia2, nil, &hist)
	if len(hist.Files) != 0 {
		t.Errorf("the new mia sees the old account's upload history: %s", hist.Files)
	}
	again := b.startUpload(mia2, "family", "mias-phone", "half.jpg", half)
	if again.ID == open.ID || again.Offset != 0 {
		t.Errorf("the new mia resumes the old account's upload: %+v (old %s)", again, open.ID)
	}
}
