package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// Tests of what uploads reveal and whose they are: per-space
// deduplication, account IDs, box paths.

// TestHavePerSpace: a file received into one space is known there only;
// the index of another space, and Known asked about it, say nothing.
func TestHavePerSpace(t *testing.T) {
	ps := media(t, sony, canon)
	ctx := context.Background()
	var asked []string
	e := newEnv(t, Options{Known: func(space string, s [32]byte) bool {
		asked = append(asked, space)
		return space == "clients" && s == ps[1].sum
	}})
	e.upload("anna", "pixel", ps[0]) // into family

	clients := e.req("bob", "iphone", ps[0])
	clients.Space = "clients"
	if sess := e.create(clients); sess.AlreadyHave || sess.ID == "" {
		t.Errorf("Create in clients of a file family holds: %+v, want a new session", sess)
	}
	if have, _ := e.s.Have(ctx, "clients", [][32]byte{ps[0].sum}); have[0] {
		t.Error("Have in clients: true for a file family holds")
	}
	if have, _ := e.s.Have(ctx, "family", [][32]byte{ps[0].sum, ps[1].sum}); !equal(have, []bool{true, false}) {
		t.Errorf("Have in family: %v, want [true false] (Known says clients has the second)", have)
	}
	for _, sp := range asked {
		if sp != "clients" && sp != "family" {
			t.Errorf("Known asked about space %q", sp)
		}
	}
	// The database does not hold the file's hash in the clear.
	e.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bHave).ForEach(func(k, _ []byte) error {
			if bytes.Contains(k, ps[0].sum[:]) {
				t.Error("the have index is keyed by the bare SHA-256")
			}
			return nil
		})
	})
}

// TestDeleteOwner: an account's sessions, part files and history go with
// it; another account's stay; the space keeps knowing its files.
func TestDeleteOwner(t *testing.T) {
	ps := media(t, sony, canon, iphone)
	ctx := context.Background()
	e := newEnv(t, Options{})
	done := e.upload("u1", "pixel", ps[0])
	open := e.create(e.req("u1", "pixel", ps[1]))
	e.send("u1", open, ps[1].data[:1000], 0, 1000)
	other := e.create(e.req("u2", "pixel", ps[2]))
	e.send("u2", other, ps[2].data[:1000], 0, 1000)

	n, err := e.s.DeleteOwner(ctx, "u1")
	if err != nil || n != 2 {
		t.Fatalf("DeleteOwner: %d, %v; want 2 sessions", n, err)
	}
	if _, err := e.s.Status(ctx, "u1", open.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status of the deleted account's upload: %v, want ErrNotFound", err)
	}
	if h, _ := e.s.History(ctx, "u1", "pixel", time.Time{}, 0); len(h) != 0 {
		t.Errorf("history after DeleteOwner: %+v", h)
	}
	if parts := e.parts(); len(parts) != 1 || parts[0] != other.ID+".part" {
		t.Errorf("part files %v, want only the other account's", parts)
	}
	if st, err := e.s.Status(ctx, "u2", other.ID); err != nil || st.Offset != 1000 {
		t.Errorf("the other account's upload: %+v, %v", st, err)
	}
	checkFile(t, e.file(done.Path), ps[0].data)
	if have, _ := e.s.Have(ctx, "family", [][32]byte{ps[0].sum}); !have[0] {
		t.Error("the space forgot a file filed by a deleted account")
	}
	if _, err := e.s.DeleteOwner(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeleteOwner(\"\"): %v, want ErrInvalid", err)
	}
}

// TestMigrateFromNames opens a database of the version that keyed
// uploads by user name and the received index by bare SHA-256.
func TestMigrateFromNames(t *testing.T) {
	ps := media(t, sony, canon)
	ctx := context.Background()
	e := newEnv(t, Options{})
	part := filepath.Join(e.state, "uploads", newID()+".part")
	err := e.db.Update(func(tx *bbolt.Tx) error {
		rec, _ := tx.CreateBucketIfNotExists(bOldReceived)
		v, _ := json.Marshal(Entry{SHA256: ps[0].sum, Name: "a.jpg", Space: "family", Path: "/srv/family/a.jpg"})
		rec.Put(ps[0].sum[:], v)
		hist, _ := tx.CreateBucketIfNotExists(bOldHistory)
		hist.Put(historyKey("anna", "pixel", time.Now(), ps[0].sum), v)
		open, _ := tx.CreateBucketIfNotExists(bOldOpen)
		id := strings.TrimSuffix(filepath.Base(part), ".part")
		open.Put(openKey("anna", "pixel", ps[1].sum), []byte(id))
		old, _ := json.Marshal(map[string]any{"id": id, "user": "anna", "device": "pixel", "space": "family",
			"inbox": e.inbox, "name": "b.jpg", "size": len(ps[1].data), "offset": 10, "state": "uploading",
			"created": e.clock.Now(), "updated": e.clock.Now()})
		return tx.Bucket(bSessions).Put([]byte(id), old)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, ps[1].data[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	e.restart()

	if have, _ := e.s.Have(ctx, "family", [][32]byte{ps[0].sum}); !have[0] {
		t.Error("a file received before the migration is not known in its space")
	}
	if have, _ := e.s.Have(ctx, "clients", [][32]byte{ps[0].sum}); have[0] {
		t.Error("a file received before the migration is known in another space")
	}
	e.db.View(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bOldReceived, bOldHistory, bOldOpen} {
			if tx.Bucket(b) != nil {
				t.Errorf("bucket %s is still there", b)
			}
		}
		if n := tx.Bucket(bSessions).Stats().KeyN; n != 0 {
			t.Errorf("%d sessions without an owner kept", n)
		}
		return nil
	})
	if _, err := e.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if parts := e.parts(); len(parts) != 0 {
		t.Errorf("part files of dropped sessions after Sweep: %v", parts)
	}
	// Nobody gets the old session back, whatever their ID.
	if sess := e.create(e.req("anna", "pixel", ps[1])); sess.Offset != 0 {
		t.Errorf("Create after the migration resumed an old session: %+v", sess)
	}
}

// TestErrorsNameNoBoxPath: what goes wrong is said without the box's
// paths (the space's folder, the state directory).
func TestErrorsNameNoBoxPath(t *testing.T) {
	ps := media(t, sony)
	ctx := context.Background()
	e := newEnv(t, Options{})
	sess := e.create(e.req("anna", "pixel", ps[0]))
	e.send("anna", sess, ps[0].data, 0, 1<<20)
	// A file where the device folder should be.
	if err := os.WriteFile(filepath.Join(e.inbox, "pixel's phone"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Complete(ctx, "anna", sess.ID)
	if err == nil || strings.Contains(err.Error(), e.inbox) || strings.Contains(err.Error(), e.state) {
		t.Errorf("Complete onto a file in the way: %v; want an error without box paths", err)
	}
	os.Remove(filepath.Join(e.inbox, "pixel's phone"))
	res, err := e.s.Complete(ctx, "anna", sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Write(ctx, "anna", sess.ID, 0, strings.NewReader("x"), 1)
	if !errors.Is(err, ErrCompleted) || strings.Contains(err.Error(), e.inbox) || !strings.Contains(err.Error(), res.Path) {
		t.Errorf("Write to a completed upload: %v; want ErrCompleted naming %s in the space, no box path", err, res.Path)
	}
	// The space's folder is gone.
	r := e.req("anna", "pixel", media(t, canon)[0])
	os.Rename(e.inbox, e.inbox+".away")
	_, err = e.s.Create(ctx, r)
	os.Rename(e.inbox+".away", e.inbox)
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), e.inbox) {
		t.Errorf("Create with the space's folder gone: %v", err)
	}
	// hidePaths keeps the sentinel.
	h := e.s.hidePaths(&sess, &os.PathError{Op: "link", Path: filepath.Join(e.state, "uploads", "x.part"), Err: ErrFull})
	if !errors.Is(h, ErrFull) || strings.Contains(h.Error(), e.state) {
		t.Errorf("hidePaths: %v", h)
	}
}
