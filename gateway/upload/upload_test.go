package upload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/internal/fakeclock"
	"github.com/shoebox/shoebox/internal/testcorpus"
)

// photo is a real file from the shared media corpus.
type photo struct {
	rel  string
	data []byte
	sum  Sum
}

func (p photo) name() string { return filepath.Base(p.rel) }

// media loads the named files of the corpus (testcorpus), checking them
// against MANIFEST.tsv.
func media(t *testing.T, rels ...string) []photo {
	t.Helper()
	mediaDir := testcorpus.Media(t)
	f, err := os.Open(filepath.Join(mediaDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) >= 14 {
			want[cols[0]] = cols[13]
		}
	}
	var out []photo
	for _, rel := range rels {
		sum, ok := want[rel]
		if !ok {
			t.Fatalf("%s not in MANIFEST.tsv", rel)
		}
		data, err := os.ReadFile(filepath.Join(mediaDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		p := photo{rel: rel, data: data, sum: sha256.Sum256(data)}
		if hex.EncodeToString(p.sum[:]) != sum {
			t.Fatalf("%s: sha256 %s, MANIFEST says %s", rel, p.sum, sum)
		}
		out = append(out, p)
	}
	return out
}

var (
	iphone = "exif-py/tests/resources/heic/mobile/iphone_13_pro_max.heic"
	sony   = "exif-py/tests/resources/jpg/Sony_DSLR-A200.jpg"
	canon  = "exif-py/tests/resources/jpg/Canon_40D.jpg"
	video  = "photoprism/assets/examples/earth.mov"
)

type clock = fakeclock.Clock

// env is a box: a state directory with its database, and an inbox.
type env struct {
	t     *testing.T
	state string
	inbox string
	clock *clock
	opt   Options
	db    *bbolt.DB
	s     *Store
}

func newEnv(t *testing.T, opt Options) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{
		t:     t,
		state: filepath.Join(root, "state"),
		inbox: filepath.Join(root, "inbox"),
		clock: fakeclock.New(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)),
		opt:   opt,
	}
	for _, d := range []string{e.state, e.inbox} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if e.opt.Now == nil {
		e.opt.Now = e.clock.Now
	}
	if e.opt.Key == nil {
		e.opt.Key = bytes.Repeat([]byte{7}, 32)
	}
	e.open()
	t.Cleanup(func() { e.db.Close() })
	return e
}

// open opens the database and a Store on it.
func (e *env) open() {
	e.t.Helper()
	db, err := bbolt.Open(filepath.Join(e.state, "shoebox.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	e.s, err = New(db, e.state, e.opt)
	if err != nil {
		e.t.Fatal(err)
	}
}

// restart closes the database and opens a new Store, as after a crash or
// a restart of the daemon.
func (e *env) restart() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

var modTime = time.Date(2024, 7, 5, 18, 30, 0, 0, time.FixedZone("CEST", 2*3600))

func (e *env) req(user, device string, p photo) CreateRequest {
	return CreateRequest{
		Owner: user, Device: device, DeviceName: device + "'s phone", Space: "family", Inbox: e.inbox,
		Name: p.name(), Size: int64(len(p.data)), SHA256: p.sum, ModTime: modTime, ContentType: "image/jpeg",
	}
}

func (e *env) create(r CreateRequest) Session {
	e.t.Helper()
	sess, err := e.s.Create(context.Background(), r)
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return sess
}

// send writes data[from:] in chunks of size chunk.
func (e *env) send(user string, sess Session, data []byte, from int64, chunk int) {
	e.t.Helper()
	for off := from; off < int64(len(data)); {
		n := min(int64(chunk), int64(len(data))-off)
		got, err := e.s.Write(context.Background(), user, sess.ID, off, bytes.NewReader(data[off:off+n]), n)
		if err != nil {
			e.t.Fatalf("Write at %d: %v", off, err)
		}
		if got != off+n {
			e.t.Fatalf("Write at %d: offset %d, want %d", off, got, off+n)
		}
		off = got
	}
}

func (e *env) upload(user, device string, p photo) Result {
	e.t.Helper()
	sess := e.create(e.req(user, device, p))
	if sess.AlreadyHave {
		e.t.Fatalf("Create %s: AlreadyHave", p.name())
	}
	e.send(user, sess, p.data, 0, 64<<10)
	res, err := e.s.Complete(context.Background(), user, sess.ID)
	if err != nil {
		e.t.Fatalf("Complete: %v", err)
	}
	return res
}

// inboxFiles lists the regular files under the inbox, relative.
func (e *env) inboxFiles() []string {
	e.t.Helper()
	var out []string
	err := filepath.WalkDir(e.inbox, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(e.inbox, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// file is where a Result's or an Entry's Path is on the box.
func (e *env) file(rel string) string { return filepath.Join(e.inbox, filepath.FromSlash(rel)) }

func (e *env) parts() []string {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.state, "uploads"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range ents {
		out = append(out, d.Name())
	}
	return out
}

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d sent", path, len(got), len(want))
	}
}

// dropReader is a connection that drops after left bytes.
type dropReader struct {
	r    io.Reader
	left int
}

var errDropped = errors.New("connection reset by peer")

func (d *dropReader) Read(p []byte) (int, error) {
	if d.left <= 0 {
		return 0, errDropped
	}
	if len(p) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.Read(p)
	d.left -= n
	return n, err
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	p := media(t, iphone)[0]
	e := newEnv(t, Options{})
	sess := e.create(e.req("anna", "pixel", p))
	const chunk = 512 << 10
	e.send("anna", sess, p.data[:chunk], 0, chunk)
	ctx := context.Background()
	cut := 200_000
	off, err := e.s.Write(ctx, "anna", sess.ID, chunk, &dropReader{r: bytes.NewReader(p.data[chunk : 2*chunk]), left: cut}, chunk)
	if !errors.Is(err, errDropped) {
		t.Fatalf("dropped Write: %v, want the read error", err)
	}
	if off != int64(chunk+cut) {
		t.Fatalf("dropped Write: offset %d, want %d (the bytes that arrived)", off, chunk+cut)
	}
	// The phone reconnects, asks where to resume, first with a stale offset.
	st, err := e.s.Status(ctx, "anna", sess.ID)
	if err != nil || st.Offset != off {
		t.Fatalf("Status: offset %d, %v; want %d", st.Offset, err, off)
	}
	_, err = e.s.Write(ctx, "anna", sess.ID, chunk, bytes.NewReader(p.data[chunk:2*chunk]), chunk)
	var oe *OffsetError
	if !errors.As(err, &oe) || !errors.Is(err, ErrOffsetMismatch) || oe.Current != off {
		t.Fatalf("Write at a stale offset: %v, want an OffsetError with Current %d", err, off)
	}
	// A short body (the client's length was a lie) keeps what came.
	off2, err := e.s.Write(ctx, "anna", sess.ID, off, bytes.NewReader(p.data[off:off+10]), 100)
	if !errors.Is(err, io.ErrUnexpectedEOF) || off2 != off+10 {
		t.Fatalf("short body: %d, %v; want %d, ErrUnexpectedEOF", off2, err, off+10)
	}
	e.send("anna", sess, p.data, off2, chunk)
	res, err := e.s.Complete(ctx, "anna", sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(e.inbox, "pixel's phone", "2024", "07", p.name())
	if e.file(res.Path) != want || res.Name != p.name() || res.Existing {
		t.Fatalf("Complete: %+v, want path %s", res, want)
	}
	checkFile(t, e.file(res.Path), p.data)
	fi, _ := os.Stat(e.file(res.Path))
	if !fi.ModTime().Equal(modTime) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), modTime)
	}
	if parts := e.parts(); len(parts) != 0 {
		t.Errorf("part files left: %v", parts)
	}
	// The phone missed the answer and asks again.
	again, err := e.s.Complete(ctx, "anna", sess.ID)
	if err != nil || again != res {
		t.Errorf("second Complete: %+v, %v; want %+v", again, err, res)
	}
	if _, err := e.s.Write(ctx, "anna", sess.ID, 0, strings.NewReader("x"), 1); !errors.Is(err, ErrCompleted) {
		t.Errorf("Write after Complete: %v, want ErrCompleted", err)
	}
	if st, err := e.s.Status(ctx, "anna", sess.ID); err != nil || st.State != StateComplete || st.Result == nil || *st.Result != res {
		t.Errorf("Status after Complete: %+v, %v", st, err)
	}
}

func TestRestartMidUpload(t *testing.T) {
	p := media(t, video)[0]
	e := newEnv(t, Options{})
	sess := e.create(e.req("anna", "pixel", p))
	half := int64(len(p.data) / 2)
	e.send("anna", sess, p.data[:half], 0, 100_000)
	// An unacknowledged tail, as left by a crash during a write.
	f, err := os.OpenFile(filepath.Join(e.state, "uploads", sess.ID+".part"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("garbage from a write that was never acknowledged"))
	f.Close()

	e.restart()
	st, err := e.s.Status(context.Background(), "anna", sess.ID)
	if err != nil || st.Offset != half {
		t.Fatalf("Status after restart: offset %d, %v; want %d", st.Offset, err, half)
	}
	// An app restart that lost the ID gets the same session back.
	again := e.create(e.req("anna", "pixel", p))
	if again.ID != sess.ID || again.Offset != half {
		t.Fatalf("Create after restart: %s at %d, want %s at %d", again.ID, again.Offset, sess.ID, half)
	}
	e.send("anna", sess, p.data, half, 100_000)
	res, err := e.s.Complete(context.Background(), "anna", sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, e.file(res.Path), p.data)
}

func TestChecksumMismatch(t *testing.T) {
	p := media(t, sony)[0]
	ctx := context.Background()
	e := newEnv(t, Options{})
	sess := e.create(e.req("anna", "pixel", p))
	bad := bytes.Clone(p.data)
	bad[len(bad)/3] ^= 0x10 // a flipped bit on the way
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e.send("anna", sess, bad, 0, 100_000)
		_, err := e.s.Complete(ctx, "anna", sess.ID)
		var ce *ChecksumError
		if !errors.As(err, &ce) || !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("attempt %d: Complete: %v, want a ChecksumError", attempt, err)
		}
		if !strings.Contains(err.Error(), p.name()) || ce.Got == ce.Want {
			t.Errorf("attempt %d: error %q does not name the file", attempt, err)
		}
		if got := e.inboxFiles(); len(got) != 0 {
			t.Fatalf("attempt %d: files in the inbox: %v", attempt, got)
		}
		st, err := e.s.Status(ctx, "anna", sess.ID)
		if attempt < maxAttempts {
			if ce.Cancelled || err != nil || st.Offset != 0 {
				t.Fatalf("attempt %d: Status %+v, %v; want reset to offset 0", attempt, st, err)
			}
		} else if !ce.Cancelled || !errors.Is(err, ErrNotFound) {
			t.Fatalf("attempt %d: cancelled %v, Status %v; want the session gone", attempt, ce.Cancelled, err)
		}
	}
	if parts := e.parts(); len(parts) != 0 {
		t.Errorf("part files left: %v", parts)
	}
	if have, _ := e.s.Have(ctx, "family", [][32]byte{p.sum}); have[0] {
		t.Error("Have: true for a file that never arrived intact")
	}
	// The next try with good data succeeds.
	res := e.upload("anna", "pixel", p)
	checkFile(t, e.file(res.Path), p.data)
}

func TestDuplicates(t *testing.T) {
	ps := media(t, sony, canon)
	known := ps[1].sum
	e := newEnv(t, Options{Known: func(_ string, s [32]byte) bool { return s == known }})

	res := e.upload("anna", "pixel", ps[0])
	for _, r := range []CreateRequest{
		e.req("anna", "pixel", ps[0]),  // again
		e.req("bob", "iphone", ps[0]),  // the same photo from another phone
		e.req("anna", "pixel", ps[1]),  // in the repository already
		e.req("anna", "tablet", ps[1]), // …
	} {
		sess := e.create(r)
		if !sess.AlreadyHave || sess.ID != "" {
			t.Errorf("Create %s from %s: %+v, want AlreadyHave and no session", r.Name, r.Device, sess)
		}
	}
	if got := e.inboxFiles(); len(got) != 1 {
		t.Errorf("inbox holds %v, want only %s", got, res.Path)
	}
	// Two sessions for the same file from one device are one.
	p := media(t, iphone)[0]
	a := e.create(e.req("anna", "pixel", p))
	b := e.create(e.req("anna", "pixel", p))
	if a.ID == "" || a.ID != b.ID {
		t.Errorf("two Creates of one file: sessions %q and %q, want one", a.ID, b.ID)
	}
	if c := e.create(e.req("anna", "tablet", p)); c.ID == a.ID {
		t.Errorf("another device shares session %s", a.ID)
	}
}

func TestNames(t *testing.T) {
	ps := media(t, sony, canon, iphone)
	ctx := context.Background()
	e := newEnv(t, Options{})
	dir := filepath.Join(e.inbox, "pixel's phone", "2024", "07")

	// Two different photos with one name.
	r0 := e.req("anna", "pixel", ps[0])
	r0.Name = "IMG_0001.JPG"
	r1 := e.req("anna", "pixel", ps[1])
	r1.Name = "IMG_0001.JPG"
	var got []string
	for i, r := range []CreateRequest{r0, r1} {
		sess := e.create(r)
		e.send("anna", sess, ps[i].data, 0, 1<<20)
		res, err := e.s.Complete(ctx, "anna", sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, e.file(res.Path), ps[i].data)
		got = append(got, e.file(res.Path))
	}
	want := []string{filepath.Join(dir, "IMG_0001.JPG"), filepath.Join(dir, "IMG_0001 (2).JPG")}
	if got[0] != want[0] || got[1] != want[1] {
		t.Errorf("paths %q, want %q", got, want)
	}

	// The same photo already copied into the inbox by hand: acknowledged,
	// not duplicated.
	r2 := e.req("anna", "pixel", ps[2])
	r2.Name = "../../../../etc/\x00passwd\u202egpj.heic"
	clean := CleanName(r2.Name)
	if err := os.WriteFile(filepath.Join(dir, clean), ps[2].data, 0o644); err != nil {
		t.Fatal(err)
	}
	sess := e.create(r2)
	e.send("anna", sess, ps[2].data, 0, 1<<20)
	res, err := e.s.Complete(ctx, "anna", sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Existing || e.file(res.Path) != filepath.Join(dir, clean) {
		t.Errorf("Complete onto an identical file: %+v, want Existing at %s", res, clean)
	}
	if files := e.inboxFiles(); len(files) != 3 {
		t.Errorf("inbox: %q, want 3 files", files)
	}

	// A symbolic link in the shared inbox does not redirect uploads.
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(e.inbox, "evil")); err != nil {
		t.Fatal(err)
	}
	r3 := e.req("anna", "evil", media(t, video)[0])
	r3.DeviceName = "evil"
	sess = e.create(r3)
	e.send("anna", sess, media(t, video)[0].data, 0, 1<<20)
	if _, err := e.s.Complete(ctx, "anna", sess.ID); err == nil {
		t.Error("Complete through a symlinked device folder succeeded")
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("files written through the link: %v", ents)
	}
}

// TestPlaceFolderSwapped: a member with the space's folder on a file
// share swaps the month folder for a symbolic link to elsewhere on the
// box between Complete's checks of the folders and its filing of the
// file. The file lands in the folder that was checked (now renamed),
// never through the link, on the same file system and on another (a
// copy, then a link in the folder).
func TestPlaceFolderSwapped(t *testing.T) {
	p := photo{rel: "IMG_0001.JPG", data: bytes.Repeat([]byte("photo"), 1000)}
	p.sum = sha256.Sum256(p.data)
	inboxes := map[string]string{"same file system": ""}
	var a, b syscall.Stat_t
	if syscall.Stat("/dev/shm", &b) == nil && syscall.Stat(os.TempDir(), &a) == nil && a.Dev != b.Dev {
		dir, err := os.MkdirTemp("/dev/shm", "shoebox-inbox-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			inboxes["another file system"] = dir
		}
	}
	for what, inbox := range inboxes {
		t.Run(what, func(t *testing.T) {
			e := newEnv(t, Options{})
			if inbox != "" {
				e.inbox = inbox
			}
			elsewhere := t.TempDir()
			month := filepath.Join(e.inbox, "pixel's phone", "2024", "07")
			e.s.beforeLink = func() {
				if err := os.Rename(month, month+".checked"); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(elsewhere, month); err != nil {
					t.Fatal(err)
				}
			}
			sess := e.create(e.req("anna", "pixel", p))
			e.send("anna", sess, p.data, 0, 1<<20)
			res, err := e.s.Complete(context.Background(), "anna", sess.ID)
			if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
				t.Fatalf("the file was filed through the swapped-in link: %v in %s", ents, elsewhere)
			}
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			checkFile(t, filepath.Join(month+".checked", path.Base(res.Path)), p.data)
		})
	}
}

func TestOtherUser(t *testing.T) {
	p := media(t, canon)[0]
	ctx := context.Background()
	e := newEnv(t, Options{})
	sess := e.create(e.req("anna", "pixel", p))
	e.send("anna", sess, p.data[:1000], 0, 1000)

	if _, err := e.s.Write(ctx, "mallory", sess.ID, 1000, bytes.NewReader(p.data[1000:]), int64(len(p.data)-1000)); !errors.Is(err, ErrForbidden) {
		t.Errorf("Write by another user: %v, want ErrForbidden", err)
	}
	if _, err := e.s.Status(ctx, "mallory", sess.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("Status by another user: %v, want ErrForbidden", err)
	}
	if _, err := e.s.Complete(ctx, "mallory", sess.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("Complete by another user: %v, want ErrForbidden", err)
	}
	if err := e.s.Cancel(ctx, "mallory", sess.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("Cancel by another user: %v, want ErrForbidden", err)
	}
	for _, id := range []string{"", "../../etc/passwd", strings.ToUpper(sess.ID), newID()} {
		if _, err := e.s.Write(ctx, "anna", id, 0, strings.NewReader("x"), 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Write to %q: %v, want ErrNotFound", id, err)
		}
	}
	if h, err := e.s.History(ctx, "mallory", "pixel", time.Time{}, 0); err != nil || len(h) != 0 {
		t.Errorf("History of another user's device: %v, %v", h, err)
	}
	// Anna's session is intact.
	st, err := e.s.Status(ctx, "anna", sess.ID)
	if err != nil || st.Offset != 1000 {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	if err := e.s.Cancel(ctx, "anna", sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Status(ctx, "anna", sess.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status after Cancel: %v, want ErrNotFound", err)
	}
	if parts := e.parts(); len(parts) != 0 {
		t.Errorf("part files left: %v", parts)
	}
}

func TestHistoryAndHave(t *testing.T) {
	ps := media(t, sony, canon, iphone, video)
	ctx := context.Background()
	known := ps[3].sum
	e := newEnv(t, Options{Known: func(_ string, s [32]byte) bool { return s == known }})
	var times []time.Time
	for _, p := range ps[:3] {
		e.clock.Add(time.Minute)
		e.upload("anna", "pixel", p)
		times = append(times, e.clock.Now())
	}
	h, err := e.s.History(ctx, "anna", "pixel", time.Time{}, 2)
	if err != nil || len(h) != 2 {
		t.Fatalf("History: %d entries, %v; want 2", len(h), err)
	}
	for i, en := range h {
		if en.SHA256 != ps[i].sum || en.Name != ps[i].name() || en.Size != int64(len(ps[i].data)) || !en.Completed.Equal(times[i]) || en.Space != "family" {
			t.Errorf("History[%d] = %+v, want %s at %v", i, en, ps[i].name(), times[i])
		}
		checkFile(t, e.file(en.Path), ps[i].data)
	}
	h, err = e.s.History(ctx, "anna", "pixel", h[1].Completed, 0)
	if err != nil || len(h) != 1 || h[0].SHA256 != ps[2].sum {
		t.Fatalf("History after the second: %+v, %v; want the third only", h, err)
	}
	if h, _ := e.s.History(ctx, "anna", "tablet", time.Time{}, 0); len(h) != 0 {
		t.Errorf("History of another device: %+v", h)
	}

	missing := sha256.Sum256([]byte("not on the box"))
	have, err := e.s.Have(ctx, "family", [][32]byte{ps[0].sum, missing, ps[2].sum, ps[3].sum})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, true}; !equal(have, want) {
		t.Errorf("Have: %v, want %v", have, want)
	}
	if _, err := e.s.Have(ctx, "family", make([][32]byte, MaxHaveBatch+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Have of a huge batch: %v, want ErrTooLarge", err)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSweep(t *testing.T) {
	ps := media(t, sony, canon, iphone)
	ctx := context.Background()
	e := newEnv(t, Options{})
	old := e.create(e.req("anna", "pixel", ps[0]))
	e.send("anna", old, ps[0].data[:50_000], 0, 50_000)
	done := e.upload("anna", "pixel", ps[1])
	e.clock.Add(6 * 24 * time.Hour)
	fresh := e.create(e.req("anna", "pixel", ps[2]))
	e.send("anna", fresh, ps[2].data[:1000], 0, 1000)
	orphan := filepath.Join(e.state, "uploads", newID()+".part")
	if err := os.WriteFile(orphan, []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}

	e.clock.Add(24 * time.Hour) // old and done are seven days idle
	n, err := e.s.Sweep(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Sweep: %d, %v; want 2 sessions removed", n, err)
	}
	if _, err := e.s.Status(ctx, "anna", old.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status of the swept session: %v, want ErrNotFound", err)
	}
	if parts := e.parts(); len(parts) != 1 || parts[0] != fresh.ID+".part" {
		t.Errorf("part files %v, want only %s.part", parts, fresh.ID)
	}
	if st, err := e.s.Status(ctx, "anna", fresh.ID); err != nil || st.Offset != 1000 {
		t.Errorf("Status of the fresh session: %+v, %v", st, err)
	}
	// The received file stays received.
	checkFile(t, e.file(done.Path), ps[1].data)
	if sess := e.create(e.req("anna", "pixel", ps[1])); !sess.AlreadyHave {
		t.Error("Create of a swept, completed upload: not AlreadyHave")
	}
	// A new upload of the swept file starts afresh.
	if sess := e.create(e.req("anna", "pixel", ps[0])); sess.ID == old.ID || sess.Offset != 0 {
		t.Errorf("Create after sweep: %+v", sess)
	}
	// Expiry applies before Sweep runs, too.
	e.clock.Add(8 * 24 * time.Hour)
	if _, err := e.s.Write(ctx, "anna", fresh.ID, 1000, bytes.NewReader(ps[2].data[1000:2000]), 1000); !errors.Is(err, ErrNotFound) {
		t.Errorf("Write to an expired session: %v, want ErrNotFound", err)
	}
}

// fullFile fails with ENOSPC once the disk has room bytes left.
type fullFile struct {
	*os.File
	room *int64
}

func (f fullFile) WriteAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > *f.room {
		n, _ := f.File.WriteAt(p[:*f.room], off)
		*f.room = 0
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	*f.room -= int64(len(p))
	return f.File.WriteAt(p, off)
}

func TestDiskFull(t *testing.T) {
	p := media(t, iphone)[0]
	ctx := context.Background()
	e := newEnv(t, Options{})
	room := int64(300_000)
	e.s.openPart = func(name string) (partFile, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		return fullFile{f, &room}, err
	}
	sess := e.create(e.req("anna", "pixel", p))
	const chunk = 200_000
	e.send("anna", sess, p.data[:chunk], 0, chunk)
	off, err := e.s.Write(ctx, "anna", sess.ID, chunk, bytes.NewReader(p.data[chunk:2*chunk]), chunk)
	if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) || off != chunk {
		t.Fatalf("Write on a full disk: %d, %v; want %d, ErrFull", off, err, chunk)
	}
	if !strings.Contains(err.Error(), "full") || !strings.Contains(err.Error(), p.name()) {
		t.Errorf("error %q should say the box is full and name the file", err)
	}
	fi, err := os.Stat(filepath.Join(e.state, "uploads", sess.ID+".part"))
	if err != nil || fi.Size() != chunk {
		t.Fatalf("part file after ENOSPC: %v, %v; want the %d acknowledged bytes", fi, err, chunk)
	}
	if st, _ := e.s.Status(ctx, "anna", sess.ID); st.Offset != chunk {
		t.Fatalf("Status: offset %d, want %d", st.Offset, chunk)
	}
	room = 1 << 40 // space was freed
	e.send("anna", sess, p.data, chunk, chunk)
	res, err := e.s.Complete(ctx, "anna", sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, e.file(res.Path), p.data)
}

func TestLimits(t *testing.T) {
	p := media(t, sony)[0]
	ctx := context.Background()
	e := newEnv(t, Options{MaxFileSize: 1 << 20, MaxChunkSize: 64 << 10, MaxOpen: 2})
	big := e.req("anna", "pixel", p)
	big.Size = 2 << 20
	if _, err := e.s.Create(ctx, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Create of a file over the limit: %v, want ErrTooLarge", err)
	}
	for _, mod := range []func(*CreateRequest){
		func(r *CreateRequest) { r.Owner = "" },
		func(r *CreateRequest) { r.Space = "" },
		func(r *CreateRequest) { r.Device = "a\x00b" },
		func(r *CreateRequest) { r.Name = "" },
		func(r *CreateRequest) { r.Size = -1 },
		func(r *CreateRequest) { r.Inbox = "relative/inbox" },
		func(r *CreateRequest) { r.Inbox = filepath.Join(e.inbox, "missing") },
	} {
		r := e.req("anna", "pixel", p)
		mod(&r)
		if _, err := e.s.Create(ctx, r); !errors.Is(err, ErrInvalid) {
			t.Errorf("Create(%+v): %v, want ErrInvalid", r, err)
		}
	}
	sess := e.create(e.req("anna", "pixel", p))
	if _, err := e.s.Write(ctx, "anna", sess.ID, 0, bytes.NewReader(p.data), 128<<10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Write of a chunk over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := e.s.Write(ctx, "anna", sess.ID, 0, bytes.NewReader(p.data), 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Complete(ctx, "anna", sess.ID); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Complete of a partial upload: %v, want ErrIncomplete", err)
	}

	// An empty file.
	empty := e.req("anna", "pixel", photo{rel: "empty.txt", sum: sha256.Sum256(nil)})
	es := e.create(empty)
	res, err := e.s.Complete(ctx, "anna", es.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, e.file(res.Path), nil)

	// Too many unfinished uploads.
	other := e.req("anna", "pixel", photo{rel: "a.jpg", data: []byte("a"), sum: sha256.Sum256([]byte("a"))})
	e.create(other)
	third := e.req("anna", "pixel", photo{rel: "b.jpg", data: []byte("b"), sum: sha256.Sum256([]byte("b"))})
	if _, err := e.s.Create(ctx, third); !errors.Is(err, ErrTooMany) {
		t.Errorf("third unfinished upload: %v, want ErrTooMany", err)
	}
}

func TestWritePastEnd(t *testing.T) {
	data := []byte("twelve bytes")
	sum := sha256.Sum256(data)
	ctx := context.Background()
	e := newEnv(t, Options{})
	sess := e.create(e.req("anna", "pixel", photo{rel: "note.txt", data: data, sum: sum}))
	if _, err := e.s.Write(ctx, "anna", sess.ID, 0, bytes.NewReader(append(data, 'x')), 13); !errors.Is(err, ErrInvalid) {
		t.Errorf("Write past the declared size: %v, want ErrInvalid", err)
	}
}

func TestConcurrentUploads(t *testing.T) {
	ps := media(t, sony, canon, iphone, video)
	ctx := context.Background()
	e := newEnv(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, len(ps)*2)
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := []string{"pixel", "iphone"}[i%2]
			sess, err := e.s.Create(ctx, e.req("anna", dev, p))
			if err != nil {
				errs <- err
				return
			}
			for off := int64(0); off < int64(len(p.data)); {
				n := min(int64(100_000), int64(len(p.data))-off)
				if off, err = e.s.Write(ctx, "anna", sess.ID, off, bytes.NewReader(p.data[off:off+n]), n); err != nil {
					errs <- err
					return
				}
			}
			res, err := e.s.Complete(ctx, "anna", sess.ID)
			if err == nil && !bytes.Equal(mustRead(e.file(res.Path)), p.data) {
				err = errors.New(res.Path + ": wrong content")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	// A sweep running alongside must not disturb live uploads.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := e.s.Sweep(ctx); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if files := e.inboxFiles(); len(files) != len(ps) {
		t.Errorf("inbox: %q, want %d files", files, len(ps))
	}
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func TestBusy(t *testing.T) {
	p := media(t, canon)[0]
	ctx := context.Background()
	e := newEnv(t, Options{})
	sess := e.create(e.req("anna", "pixel", p))
	started := make(chan struct{})
	pr, pw := io.Pipe()
	done := make(chan error)
	go func() {
		_, err := e.s.Write(ctx, "anna", sess.ID, 0, io.TeeReader(pr, signal{started}), int64(len(p.data)))
		done <- err
	}()
	pw.Write(p.data[:10])
	<-started
	if _, err := e.s.Write(ctx, "anna", sess.ID, 0, bytes.NewReader(p.data), int64(len(p.data))); !errors.Is(err, ErrBusy) {
		t.Errorf("concurrent Write: %v, want ErrBusy", err)
	}
	pw.CloseWithError(errDropped)
	if err := <-done; !errors.Is(err, errDropped) {
		t.Errorf("first Write: %v", err)
	}
	if st, _ := e.s.Status(ctx, "anna", sess.ID); st.Offset != 10 {
		t.Errorf("offset %d, want 10", st.Offset)
	}
}

type signal struct{ c chan struct{} }

func (s signal) Write(p []byte) (int, error) {
	select {
	case <-s.c:
	default:
		close(s.c)
	}
	return len(p), nil
}

// TestInboxOnAnotherFileSystem keeps the state on the test's disk and the
// inbox on /dev/shm (tmpfs), so no hard link can cross: the file is copied.
func TestInboxOnAnotherFileSystem(t *testing.T) {
	p := media(t, sony)[0]
	var a, b syscall.Stat_t
	if syscall.Stat("/dev/shm", &b) != nil || syscall.Stat(os.TempDir(), &a) != nil || a.Dev == b.Dev {
		t.Skip("no second file system at /dev/shm")
	}
	e := newEnv(t, Options{})
	inbox, err := os.MkdirTemp("/dev/shm", "shoebox-inbox-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(inbox) })
	e.inbox = inbox
	var res [2]Result
	for i := range res {
		r := e.req("anna", "pixel", p)
		if i == 1 { // the same name, other content
			alt := media(t, canon)[0]
			r.SHA256, r.Size = alt.sum, int64(len(alt.data))
			p = alt
		}
		r.Name = "IMG_0001.JPG"
		sess := e.create(r)
		e.send("anna", sess, p.data, 0, 1<<20)
		if res[i], err = e.s.Complete(context.Background(), "anna", sess.ID); err != nil {
			t.Fatal(err)
		}
		checkFile(t, e.file(res[i].Path), p.data)
	}
	if res[1].Name != "IMG_0001 (2).JPG" {
		t.Errorf("second name %q, want IMG_0001 (2).JPG", res[1].Name)
	}
	if files := e.inboxFiles(); len(files) != 2 {
		t.Errorf("inbox: %q, want the two files and no temporary ones", files)
	}
	if parts := e.parts(); len(parts) != 0 {
		t.Errorf("part files left: %v", parts)
	}
}
