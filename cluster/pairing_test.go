package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	clusterv1 "github.com/shoebox/shoebox/cluster/gen/clusterv1"
	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/internal/fakeclock"
)

// pairUnit is a unit in a pairing test: an identity and a Pairing in a
// state directory of its own, on a clock the test moves, and, for the
// offsite unit, a cluster listener on loopback serving Pairing and gRPC's
// health service (a stand-in for the services to come).
type pairUnit struct {
	name  string
	dir   string
	id    *devid.Identity
	p     *Pairing
	clock *fakeclock.Clock
	log   *syncBuffer
	addr  string
}

var pairEpoch = time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)

func newPairUnit(t *testing.T, name string, clock *fakeclock.Clock) *pairUnit {
	t.Helper()
	u := &pairUnit{name: name, dir: t.TempDir(), clock: clock, log: &syncBuffer{}}
	var err error
	if u.id, err = devid.LoadOrCreate(u.dir); err != nil {
		t.Fatal(err)
	}
	u.reopen(t)
	return u
}

// reopen loads the unit's Pairing from its state directory again, as a
// restart does.
func (u *pairUnit) reopen(t *testing.T) {
	t.Helper()
	p, err := OpenPairing(PairingConfig{Dir: u.dir, Self: u.id, Name: u.name, Now: u.clock.Now, Log: slog.New(slog.NewTextHandler(u.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	u.p = p
}

// listen serves the unit's cluster listener until the test ends (or
// stop is called) and sets u.addr.
func (u *pairUnit) listen(t *testing.T) (stop func()) {
	t.Helper()
	srv := NewServer(u.id, u.p.Check, slog.New(slog.NewTextHandler(u.log, nil)), u.p.ServerOptions()...)
	u.p.Register(srv)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	stop = func() { srv.Stop(); <-done }
	t.Cleanup(stop)
	return stop
}

// pairCtx bounds a call only so that a broken test cannot hang: every
// case ends long before it.
func pairCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dial is a connection from from to to's listener, pinned to to, open
// until the test ends.
func (from *pairUnit) dial(t *testing.T, to *pairUnit) *grpc.ClientConn {
	t.Helper()
	conn, err := NewClient(to.addr, from.id, to.id.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// health calls the health service of to as from, on a new connection.
func (from *pairUnit) health(t *testing.T, to *pairUnit) error {
	t.Helper()
	return healthCall(t, from.dial(t, to))
}

func healthCall(t *testing.T, conn *grpc.ClientConn) error {
	_, err := healthpb.NewHealthClient(conn).Check(pairCtx(t), &healthpb.HealthCheckRequest{})
	return err
}

func (from *pairUnit) pairWith(t *testing.T, to *pairUnit, code string) (Peer, error) {
	t.Helper()
	return from.p.PairWith(pairCtx(t), to.addr, to.id.ID, code)
}

// newPair is an offsite unit listening with an offer open and a home
// unit, unpaired, on one clock.
func newPair(t *testing.T) (home, offsite *pairUnit, o Offer) {
	t.Helper()
	clock := fakeclock.New(pairEpoch)
	home, offsite = newPairUnit(t, "home", clock), newPairUnit(t, "studio", clock)
	offsite.listen(t)
	o, err := offsite.p.Offer(0)
	if err != nil {
		t.Fatal(err)
	}
	return home, offsite, o
}

func peerOf(t *testing.T, u *pairUnit) *Peer {
	t.Helper()
	p, ok := u.p.Peer()
	if !ok {
		return nil
	}
	return &p
}

func TestPairing(t *testing.T) {
	home, offsite, o := newPair(t)
	if o.DeviceID != offsite.id.ID {
		t.Errorf("offer's device ID: got %v, want the offsite's %v", o.DeviceID, offsite.id.ID)
	}
	if want := pairEpoch.Add(DefaultOfferTTL); !o.Expires.Equal(want) {
		t.Errorf("offer expires: got %v, want %v", o.Expires, want)
	}
	got, err := home.pairWith(t, offsite, o.Code)
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	wantHome := Peer{ID: offsite.id.ID, Name: "studio", Role: "offsite", Addr: offsite.addr, Epoch: 1, PairedAt: pairEpoch}
	wantOffsite := Peer{ID: home.id.ID, Name: "home", Role: "home", Epoch: 1, PairedAt: pairEpoch}
	if d := cmp.Diff(wantHome, got); d != "" {
		t.Errorf("PairWith's peer (-want +got):\n%s", d)
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			u    *pairUnit
			want Peer
		}{{home, wantHome}, {offsite, wantOffsite}} {
			if d := cmp.Diff(&c.want, peerOf(t, c.u)); d != "" {
				t.Errorf("%s: the %s unit's peer (-want +got):\n%s", when, c.u.name, d)
			}
			fi, err := os.Stat(filepath.Join(c.u.dir, PeerFile))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: the %s unit's %s: %v, %v; want mode 0600", when, c.u.name, PeerFile, fi, err)
			}
		}
		if err := home.health(t, offsite); err != nil {
			t.Errorf("%s: the paired home calls another service: %v", when, err)
		}
	}
	check("paired")

	// A restart: both units load their pairing from their state.
	offsite.reopen(t)
	home.reopen(t)
	check("after a restart")
	// The offsite's listener is served by the reopened Pairing: it still
	// admits the home unit and nothing else.
	stop := offsite.listen(t)
	defer stop()
	check("after a restart of the listener")
	third := newPairUnit(t, "third", home.clock)
	err = third.health(t, offsite)
	if err == nil {
		t.Fatal("a third unit called the paired offsite unit")
	}
	if want := (&WrongPeerError{Expected: home.id.ID, Presented: third.id.ID}).Error(); !strings.Contains(offsite.log.String(), want) {
		t.Errorf("the offsite unit's log does not say %q:\n%s", want, offsite.log)
	}
	if got := offsite.log.String(); strings.Contains(got, o.Code) || strings.Contains(got, strings.ReplaceAll(o.Code, "-", "")) {
		t.Errorf("the offsite unit logged the pairing code:\n%s", got)
	}
}

// TestPairWrongCode: a wrong code is refused and counted; the right code
// still pairs after four, but five void the offer: the right code is
// refused then, and so is a unit not paired at the next handshake.
func TestPairWrongCode(t *testing.T) {
	for _, tc := range []struct {
		wrong  int
		paired bool
	}{
		{1, true},
		{MaxCodeAttempts - 1, true},
		{MaxCodeAttempts, false},
	} {
		t.Run(strings.Repeat("wrong,", tc.wrong)+"right", func(t *testing.T) {
			home, offsite, o := newPair(t)
			wrong := wrongCode(o.Code)
			for i := 1; i <= tc.wrong; i++ {
				_, err := home.pairWith(t, offsite, wrong)
				if !errors.Is(err, ErrWrongCode) {
					t.Fatalf("wrong code %d: got %v, want ErrWrongCode", i, err)
				}
				want := regexp.MustCompile(`wrong pairing code: \d attempts left`)
				if i == MaxCodeAttempts {
					want = regexp.MustCompile("the offer is void: run `shoebox cluster offer`")
				}
				if !want.MatchString(err.Error()) {
					t.Errorf("wrong code %d: got %q, want it to match %q", i, err, want)
				}
				if peerOf(t, home) != nil || peerOf(t, offsite) != nil {
					t.Fatalf("wrong code %d: a unit is paired", i)
				}
			}
			_, err := home.pairWith(t, offsite, o.Code)
			if tc.paired {
				if err != nil {
					t.Fatalf("right code after %d wrong: %v", tc.wrong, err)
				}
				return
			}
			if err == nil || peerOf(t, home) != nil || peerOf(t, offsite) != nil {
				t.Fatalf("right code after %d wrong: got %v and a pairing, want a refusal", tc.wrong, err)
			}
			// The refused connection says nothing of why: the error
			// says what to check.
			if !strings.Contains(err.Error(), "check the address, and that an offer is open on it") {
				t.Errorf("right code after %d wrong: got %q, want it to say what to check", tc.wrong, err)
			}
			if !strings.Contains(offsite.log.String(), ErrNoOffer.Error()) {
				t.Errorf("the offsite unit's log does not say %q:\n%s", ErrNoOffer, offsite.log)
			}
		})
	}
}

// TestPairGuessesAtOnce: wrong codes sent at once from several units on
// connections opened while the offer was open are counted exactly: five
// are told they were wrong, every later one that no offer is open, and
// the right code no longer pairs.
func TestPairGuessesAtOnce(t *testing.T) {
	home, offsite, o := newPair(t)
	const units, each = 4, 5
	conns := make([]*grpc.ClientConn, units)
	for i := range conns {
		g := newPairUnit(t, "guesser", home.clock)
		conns[i] = g.dial(t, offsite)
		if err := healthCall(t, conns[i]); status.Code(err) != codes.PermissionDenied { // connect now
			t.Fatalf("guesser %d: got %v, want PermissionDenied", i, err)
		}
	}
	wrong := wrongCode(o.Code)
	var mu sync.Mutex
	got := map[codes.Code]int{}
	var wg sync.WaitGroup
	for _, conn := range conns {
		wg.Go(func() {
			for range each {
				_, err := clusterv1.NewPairingClient(conn).Pair(pairCtx(t), &clusterv1.PairRequest{Code: wrong, Protocol: ProtocolVersion})
				mu.Lock()
				got[status.Code(err)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	want := map[codes.Code]int{codes.PermissionDenied: MaxCodeAttempts, codes.FailedPrecondition: units*each - MaxCodeAttempts}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answers to %d wrong codes (-want +got):\n%s", units*each, d)
	}
	_, err := clusterv1.NewPairingClient(conns[0]).Pair(pairCtx(t), &clusterv1.PairRequest{Code: o.Code, Protocol: ProtocolVersion})
	if status.Code(err) != codes.FailedPrecondition || peerOf(t, offsite) != nil {
		t.Errorf("the right code after the lockout: got %v, want FailedPrecondition and no pairing", err)
	}
}

// wrongCode is a code that is not code, in the shown form.
func wrongCode(code string) string {
	c := []byte(code)
	if c[0] == 'Z' {
		c[0] = 'Y'
	} else {
		c[0] = 'Z'
	}
	return string(c)
}

// TestPairCodeOnce: a code pairs once. Used again on a connection the
// offsite still admits (the paired home, unpaired on its side), it is
// refused as no open offer; from a third unit the connection is refused.
func TestPairCodeOnce(t *testing.T) {
	home, offsite, o := newPair(t)
	if _, err := home.pairWith(t, offsite, o.Code); err != nil {
		t.Fatal(err)
	}
	if err := home.p.Unpair(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home.dir, PeerFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Unpair, %s: %v, want it gone", PeerFile, err)
	}
	_, err := home.pairWith(t, offsite, o.Code)
	if !errors.Is(err, ErrNoOffer) || !strings.Contains(err.Error(), "`shoebox cluster offer`") {
		t.Errorf("the code again: got %v, want ErrNoOffer saying what to do", err)
	}
	third := newPairUnit(t, "third", home.clock)
	if _, err := third.pairWith(t, offsite, o.Code); err == nil || peerOf(t, third) != nil {
		t.Errorf("a third unit with the used code: got %v, want a refusal", err)
	}
	if p := peerOf(t, offsite); p == nil || p.ID != home.id.ID {
		t.Errorf("the offsite's peer: got %+v, want the home unit", p)
	}
}

// TestPairExpired: a code is good until its offer expires, then refused.
func TestPairExpired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		after  time.Duration
		paired bool
	}{
		{"just before", DefaultOfferTTL - time.Second, true},
		{"at expiry", DefaultOfferTTL, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home, offsite, o := newPair(t)
			// The home connects (as the person starts to type) before
			// the clock moves: the expiry is checked by Pair too, not
			// only at the handshake.
			if err := home.health(t, offsite); status.Code(err) != codes.PermissionDenied {
				t.Fatalf("health before pairing: got %v, want PermissionDenied", err)
			}
			home.clock.Add(tc.after)
			_, err := home.pairWith(t, offsite, o.Code)
			if tc.paired {
				if err != nil {
					t.Fatalf("got %v, want a pairing", err)
				}
				return
			}
			if err == nil || peerOf(t, home) != nil || peerOf(t, offsite) != nil {
				t.Fatalf("got %v and a pairing, want a refusal", err)
			}
		})
	}
}

// TestPairExpiredSays: Pair on a connection made while the offer was
// open says the code expired.
func TestPairExpiredSays(t *testing.T) {
	home, offsite, o := newPair(t)
	conn := home.dial(t, offsite)
	if err := healthCall(t, conn); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("health before pairing: got %v, want PermissionDenied", err)
	}
	home.clock.Add(DefaultOfferTTL)
	_, err := clusterv1.NewPairingClient(conn).Pair(pairCtx(t), &clusterv1.PairRequest{Code: o.Code, HomeName: "home", Protocol: ProtocolVersion})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "expired at 2026-12-08 00:15:00 UTC") {
		t.Errorf("got %v, want FailedPrecondition saying when the code expired", err)
	}
}

// TestPairWrongDeviceID: the home pins the device ID the person typed;
// another unit's ID fails with the transport's WrongPeerError text
// before the code leaves the home unit, and leaves the offer open.
func TestPairWrongDeviceID(t *testing.T) {
	home, offsite, o := newPair(t)
	other := newPairUnit(t, "other", home.clock)
	_, err := home.p.PairWith(pairCtx(t), offsite.addr, other.id.ID, o.Code)
	if want := (&WrongPeerError{Expected: other.id.ID, Presented: offsite.id.ID}).Error(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error saying %q", err, want)
	}
	if strings.Contains(err.Error(), "check the address") {
		t.Errorf("got %q, which also says to check the address: the wrong ID is the whole story", err)
	}
	if peerOf(t, home) != nil || peerOf(t, offsite) != nil {
		t.Fatal("a unit is paired")
	}
	if _, err := home.pairWith(t, offsite, o.Code); err != nil {
		t.Fatalf("the right ID after a wrong one: %v", err)
	}
}

// TestUnpairedCallsOnlyPair: while an offer is open the listener admits
// any unit, but one not paired may call Pair and nothing else, unary or
// streaming; after pairing, the home unit may.
func TestUnpairedCallsOnlyPair(t *testing.T) {
	home, offsite, o := newPair(t)
	err := home.health(t, offsite)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "may call Pair and nothing else") {
		t.Errorf("unary call: got %v, want PermissionDenied naming Pair", err)
	}
	conn := home.dial(t, offsite)
	watch := func() error {
		st, err := healthpb.NewHealthClient(conn).Watch(pairCtx(t), &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	if err := watch(); status.Code(err) != codes.PermissionDenied {
		t.Errorf("streaming call: got %v, want PermissionDenied", err)
	}
	if _, err := home.pairWith(t, offsite, o.Code); err != nil {
		t.Fatal(err)
	}
	// The same connection: the pin is checked at each call.
	if err := watch(); err != nil && err != io.EOF {
		t.Errorf("streaming call once paired: %v", err)
	}
}

// TestPairedRefusesNewPairing: a paired unit refuses to pair again
// unless told; Reoffer keeps the old pairing until its code is used,
// then the new home replaces the old one, at the next epoch.
func TestPairedRefusesNewPairing(t *testing.T) {
	home, offsite, o := newPair(t)
	if _, err := home.pairWith(t, offsite, o.Code); err != nil {
		t.Fatal(err)
	}
	if _, err := offsite.p.Offer(0); !errors.Is(err, ErrPaired) || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("Offer on a paired unit: got %v, want ErrPaired naming --replace", err)
	}
	if _, err := home.pairWith(t, offsite, o.Code); !errors.Is(err, ErrPaired) || !strings.Contains(err.Error(), "unpair") {
		t.Errorf("PairWith on a paired unit: got %v, want ErrPaired naming unpair", err)
	}

	o2, err := offsite.p.Reoffer(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if o2.Code == o.Code {
		t.Error("Reoffer gave the used code again")
	}
	// The old home holds a connection through the re-pairing.
	oldConn := home.dial(t, offsite)
	if err := healthCall(t, oldConn); err != nil {
		t.Errorf("the paired home while a re-offer is open: %v", err)
	}
	home2 := newPairUnit(t, "new home", home.clock)
	if err := home2.health(t, offsite); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the new home before pairing: got %v, want PermissionDenied", err)
	}
	home.clock.Add(time.Second)
	if _, err := home2.pairWith(t, offsite, o2.Code); err != nil {
		t.Fatalf("re-pairing: %v", err)
	}
	want := &Peer{ID: home2.id.ID, Name: "new home", Role: "home", Epoch: 2, PairedAt: pairEpoch.Add(time.Second)}
	if d := cmp.Diff(want, peerOf(t, offsite)); d != "" {
		t.Errorf("the offsite's peer (-want +got):\n%s", d)
	}
	if err := home.health(t, offsite); err == nil {
		t.Error("the old home still connects after re-pairing")
	}
	if err := healthCall(t, oldConn); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the old home's open connection after re-pairing: got %v, want PermissionDenied", err)
	}
	if err := home2.health(t, offsite); err != nil {
		t.Errorf("the new home: %v", err)
	}
}

// TestPairProtocol: a unit of another protocol version, or one whose
// name would not show well, is refused before its code counts: the
// right code still pairs after these refusals.
func TestPairProtocol(t *testing.T) {
	home, offsite, o := newPair(t)
	conn := home.dial(t, offsite)
	_, err := clusterv1.NewPairingClient(conn).Pair(pairCtx(t), &clusterv1.PairRequest{Code: o.Code, Protocol: ProtocolVersion + 1})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "update both units") {
		t.Errorf("got %v, want InvalidArgument saying what to do", err)
	}
	for _, name := range []string{strings.Repeat("x", maxNameLen+1), "a\x1b[2Jb"} {
		_, err = clusterv1.NewPairingClient(conn).Pair(pairCtx(t), &clusterv1.PairRequest{Code: o.Code, HomeName: name, Protocol: ProtocolVersion})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "the home unit's name") {
			t.Errorf("home name %q: got %v, want InvalidArgument", name, err)
		}
	}
	if peerOf(t, offsite) != nil {
		t.Fatal("paired with another protocol version or a bad name")
	}
	if _, err := home.pairWith(t, offsite, o.Code); err != nil {
		t.Fatalf("then with the right version: %v", err)
	}
}

func TestOpenPairingDamaged(t *testing.T) {
	good := `{"format":1,"device_id":"UBIIG7M-FA4CYFU-THXHFFQ-TCEEPTT-BRFS4IE-WNYSSEB-Z63ZDTT-YXSGSQH","role":"home","epoch":1,"paired_at":"2026-12-08T00:00:00Z"}`
	self := newIdentity(t)
	for _, tc := range []struct{ name, content string }{
		{"good", good},
		{"empty", ""},
		{"truncated", good[:40]},
		{"newer format", strings.Replace(good, `"format":1`, `"format":2`, 1)},
		{"unknown role", strings.Replace(good, `"home"`, `"witness"`, 1)},
		{"mistyped device ID", strings.Replace(good, "UBIIG7M", "UBIIG7N", 1)},
		{"no device ID", strings.Replace(good, `"device_id":"UBIIG7M-FA4CYFU-THXHFFQ-TCEEPTT-BRFS4IE-WNYSSEB-Z63ZDTT-YXSGSQH",`, "", 1)},
		{"unknown field", strings.Replace(good, `"role"`, `"pin":"x","role"`, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, PeerFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := OpenPairing(PairingConfig{Dir: dir, Self: self})
			if tc.name == "good" {
				if err != nil {
					t.Fatal(err)
				}
				if peer, ok := p.Peer(); !ok || peer.ID.String() != "UBIIG7M-FA4CYFU-THXHFFQ-TCEEPTT-BRFS4IE-WNYSSEB-Z63ZDTT-YXSGSQH" {
					t.Errorf("got %+v, %v", peer, ok)
				}
				return
			}
			if !errors.Is(err, ErrPeerDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove it to unpair") {
				t.Errorf("got %v, want ErrPeerDamaged naming %s and what to do", err, path)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Errorf("the damaged file was changed")
			}
		})
	}
}

func TestOpenPairingName(t *testing.T) {
	for _, name := range []string{"studio\n", strings.Repeat("x", maxNameLen+1), "\xff"} {
		if _, err := OpenPairing(PairingConfig{Dir: t.TempDir(), Self: newIdentity(t), Name: name}); err == nil {
			t.Errorf("name %q: accepted", name)
		}
	}
}

var codeForm = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$`)

// TestPairingCode: codes are ten Crockford base32 characters (50 bits)
// in two groups, read back in any case, without the dash, with O, I
// and L for 0, 1 and 1.
func TestPairingCode(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := newCode()
		if err != nil {
			t.Fatal(err)
		}
		shown := showCode(c)
		if !codeForm.MatchString(shown) {
			t.Fatalf("code %q is not of the form %s", shown, codeForm)
		}
		if seen[c] {
			t.Fatalf("code %q drawn twice", c)
		}
		seen[c] = true
		if got, ok := canonCode(shown); !ok || got != c {
			t.Errorf("canonCode(%q): got %q, %v; want %q", shown, got, ok, c)
		}
	}
	for _, tc := range []struct {
		typed, want string
	}{
		{"7KQ2M-XD4PA", "7KQ2MXD4PA"},
		{"7kq2mxd4pa", "7KQ2MXD4PA"},
		{" 7kq2m xd4pa ", "7KQ2MXD4PA"},
		{"O1IL0-ABCDE", "01110ABCDE"},
		{"7KQ2M-XD4P", ""},   // too short
		{"7KQ2M-XD4PAA", ""}, // too long
		{"7KQ2M-XD4PU", ""},  // U is not in the alphabet
		{"7KQ2M_XD4PA", ""},  // nor is _
		{"7KQ2M-XD4PÄ", ""},  // nor Ä
		{"", ""},             //
		{"----------", ""},   //
		{"7KQ2MXD4PA" + strings.Repeat(" ", 100), ""},
	} {
		got, ok := canonCode(tc.typed)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("canonCode(%q): got %q, %v; want %q", tc.typed, got, ok, tc.want)
		}
	}
	if !sameCode("7kq2m-xd4pa", "7KQ2MXD4PA") || sameCode("7KQ2M-XD4PB", "7KQ2MXD4PA") || sameCode("", "7KQ2MXD4PA") {
		t.Error("sameCode compares wrongly")
	}
}

// FuzzCanonCode: a code typed by anyone on the link never panics, and
// what canonCode accepts is a canonical code that reads back as itself.
func FuzzCanonCode(f *testing.F) {
	for _, s := range []string{"7KQ2M-XD4PA", "o1il0-abcde", "", "ÄÖÜ", strings.Repeat("-", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		c, ok := canonCode(typed)
		if !ok {
			return
		}
		if len(c) != codeLen || strings.Trim(c, codeAlphabet) != "" {
			t.Fatalf("canonCode(%q) = %q, not a canonical code", typed, c)
		}
		if again, ok := canonCode(showCode(c)); !ok || again != c {
			t.Fatalf("canonCode(showCode(%q)) = %q, %v", c, again, ok)
		}
		_ = sameCode(typed, c)
	})
}
