package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterv1 "github.com/shoebox/shoebox/cluster/gen/clusterv1"
	"github.com/shoebox/shoebox/internal/atomicfile"
	"github.com/shoebox/shoebox/internal/devid"
)

// ProtocolVersion is the cluster wire protocol's version
// (cluster/proto), sent in PairRequest and PairReply. Fields added to
// the protocol do not change it; a change an older unit would misread
// does, and units of different versions then refuse to pair.
const ProtocolVersion = 1

// Pairing's limits (docs/CLUSTER.md, "Pairing").
const (
	// DefaultOfferTTL is how long a pairing code is valid when the
	// offer names no time: long enough to walk to the other unit and
	// type it, short enough that a code seen later is useless.
	DefaultOfferTTL = 15 * time.Minute
	// MaxCodeAttempts wrong codes void an offer. With 50 bits of code,
	// five guesses succeed with a chance of about 4 in 10^15.
	MaxCodeAttempts = 5
	// PeerFile is the paired unit's record in the cluster state
	// directory (STATE/cluster/).
	PeerFile = "peer.json"
)

// The roles a Peer records for the other unit.
const (
	peerHome    = "home"
	peerOffsite = "offsite"
)

// peerFileFormat is the version of PeerFile's layout.
const peerFileFormat = 1

// Peer is the unit this one is paired with, as PeerFile keeps it.
type Peer struct {
	// ID is the peer's device ID, pinned in every TLS handshake with it.
	ID devid.ID `json:"device_id"`
	// Name is what the peer calls itself, for people.
	Name string `json:"name,omitempty"`
	// Role is the peer's role: "offsite" on the home unit, "home" on the
	// offsite unit.
	Role string `json:"role"`
	// Addr is where the home unit dials the offsite unit (host:port);
	// empty on the offsite unit, which never dials.
	Addr string `json:"addr,omitempty"`
	// Epoch is the pairing's epoch: 1 for the offsite unit's first
	// pairing, one more at each re-pairing.
	Epoch uint64 `json:"epoch"`
	// PairedAt is when the pairing was made.
	PairedAt time.Time `json:"paired_at"`
}

// String names the peer for people: "home unit ID (name)".
func (p Peer) String() string {
	if p.Name == "" {
		return fmt.Sprintf("%s unit %s", p.Role, p.ID)
	}
	return fmt.Sprintf("%s unit %s (%s)", p.Role, p.ID, p.Name)
}

// peerRecord is PeerFile's content.
type peerRecord struct {
	Format int `json:"format"`
	Peer
}

// PairingConfig is what OpenPairing needs.
type PairingConfig struct {
	// Dir is the unit's cluster state directory; PeerFile lives there.
	Dir string
	// Self is the unit's identity (devid.LoadOrCreate(Dir)).
	Self *devid.Identity
	// Name is the unit's name for people, sent to the peer: at most
	// maxNameLen bytes of UTF-8 without control characters.
	Name string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Log gets pairings and refused codes (nil: slog.Default()).
	Log *slog.Logger
}

// Pairing is a unit's side of pairing: its paired peer, kept in PeerFile,
// and on the offsite unit the open offer. The offsite unit serves the
// Pairing service (Register) behind Check and ServerOptions; the home
// unit calls it with PairWith. Its methods may be called from any
// goroutine.
type Pairing struct {
	dir  string
	self *devid.Identity
	name string
	now  func() time.Time
	log  *slog.Logger

	dialing sync.Mutex // one PairWith at a time

	mu    sync.Mutex
	peer  *Peer  // nil: not paired
	offer *offer // nil: none open
}

// offer is an open pairing offer.
type offer struct {
	code    string // canonical: codeLen characters of codeAlphabet
	expires time.Time
	wrong   int // wrong codes so far
}

// OpenPairing loads the pairing kept in cfg.Dir. A unit with no PeerFile
// is not paired. A damaged PeerFile is an error that wraps
// ErrPeerDamaged, names the file and says what to do; nothing is
// written then.
func OpenPairing(cfg PairingConfig) (*Pairing, error) {
	if cfg.Self == nil {
		return nil, errors.New("cluster: OpenPairing without an identity")
	}
	if err := checkName(cfg.Name); err != nil {
		return nil, fmt.Errorf("the unit's name: %w", err)
	}
	p := &Pairing{dir: cfg.Dir, self: cfg.Self, name: cfg.Name, now: cfg.Now, log: cfg.Log}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	path := filepath.Join(cfg.Dir, PeerFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the paired unit's record: %w", err)
	}
	var rec peerRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err = dec.Decode(&rec)
	switch {
	case err != nil:
	case rec.Format != peerFileFormat:
		err = fmt.Errorf("format %d, want %d (written by another Shoebox version?)", rec.Format, peerFileFormat)
	case rec.Role != peerHome && rec.Role != peerOffsite:
		err = fmt.Errorf("role %q, want %q or %q", rec.Role, peerHome, peerOffsite)
	case rec.ID == devid.ID{}:
		err = errors.New("no device ID")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v: restore it from a backup of the state directory, or remove it to unpair this unit and pair it again", path, ErrPeerDamaged, err)
	}
	p.peer = &rec.Peer
	return p, nil
}

// Peer returns the paired unit; false when this unit is not paired.
func (p *Pairing) Peer() (Peer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peer == nil {
		return Peer{}, false
	}
	return *p.peer, true
}

// Offer is an open pairing offer, as the offsite unit shows it: the
// person types DeviceID and Code on the home unit before Expires.
type Offer struct {
	DeviceID devid.ID
	Code     string
	Expires  time.Time
}

// Offer opens a pairing offer on the offsite unit, valid for ttl (zero
// or less: DefaultOfferTTL), and returns its one-time code with the
// unit's device ID. An offer already open is replaced: its code no
// longer counts. A unit that is paired refuses with an error wrapping
// ErrPaired; Reoffer is the explicit way to pair it again.
func (p *Pairing) Offer(ttl time.Duration) (Offer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peer != nil {
		return Offer{}, fmt.Errorf("%w with %s since %s: to pair this unit with another %s unit, re-offer explicitly (`shoebox cluster offer --replace`); the pairing holds until the new code is used",
			ErrPaired, p.peer, p.peer.PairedAt.UTC().Format(time.DateTime), p.peer.Role)
	}
	return p.open(ttl)
}

// Reoffer is Offer on a unit that may be paired: the new pairing, when
// its code is used, replaces the old one (a new home unit after a
// reinstall, say). Until then the paired unit stays pinned and the
// pairing unchanged; an offer that expires or is voided leaves it so.
func (p *Pairing) Reoffer(ttl time.Duration) (Offer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open(ttl)
}

// open opens an offer; p.mu is held.
func (p *Pairing) open(ttl time.Duration) (Offer, error) {
	if ttl <= 0 {
		ttl = DefaultOfferTTL
	}
	code, err := newCode()
	if err != nil {
		return Offer{}, fmt.Errorf("make a pairing code: %w", err)
	}
	p.offer = &offer{code: code, expires: p.now().Add(ttl)}
	p.log.Info("cluster: pairing offer open", "expires", p.offer.expires)
	return Offer{DeviceID: p.self.ID, Code: showCode(code), Expires: p.offer.expires}, nil
}

// offerOpen reports whether an offer is open and not expired; p.mu is
// held. An expired offer stays until Pair or a new offer replaces it,
// so that Pair can say it expired.
func (p *Pairing) offerOpen() bool {
	return p.offer != nil && p.now().Before(p.offer.expires)
}

// Check is the listener's PeerCheck: it admits the paired unit always
// and, while an offer is open, any unit, whose calls ServerOptions then
// limit to Pair.
func (p *Pairing) Check(presented devid.ID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.peer != nil && presented == p.peer.ID:
		return nil
	case p.offerOpen():
		return nil
	case p.peer != nil:
		return &WrongPeerError{Expected: p.peer.ID, Presented: presented}
	}
	return fmt.Errorf("device ID %s is not paired with this unit: %w", presented, ErrNoOffer)
}

// paired reports whether id is the paired unit's.
func (p *Pairing) paired(id devid.ID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peer != nil && p.peer.ID == id
}

// ServerOptions are the listener's interceptors that confine a unit not
// paired with this one to Pair: any other call from it, to any service
// on the listener, fails with PermissionDenied. Pass them to NewServer.
func (p *Pairing) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := p.admit(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := p.admit(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}

// admit lets the paired unit call anything, and any other unit Pair.
func (p *Pairing) admit(ctx context.Context, method string) error {
	id, ok := PeerID(ctx)
	switch {
	case !ok:
		return status.Error(codes.Unauthenticated, "cluster: a call without a device ID")
	case p.paired(id) || method == clusterv1.Pairing_Pair_FullMethodName:
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "device ID %s is not paired with this unit, so it may call Pair and nothing else: pair it first (`shoebox cluster offer` on the offsite unit, then `shoebox cluster pair` with its device ID and code on the home unit)", id)
}

// Register adds the Pairing service to the offsite unit's listener.
func (p *Pairing) Register(s grpc.ServiceRegistrar) {
	clusterv1.RegisterPairingServer(s, pairingServer{p: p})
}

var _ clusterv1.PairingServer = pairingServer{}

type pairingServer struct {
	clusterv1.UnimplementedPairingServer
	p *Pairing
}

func (s pairingServer) Pair(ctx context.Context, req *clusterv1.PairRequest) (*clusterv1.PairReply, error) {
	id, ok := PeerID(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "cluster: a call without a device ID")
	}
	if req.Protocol != ProtocolVersion {
		return nil, status.Errorf(codes.InvalidArgument, "this unit speaks cluster protocol %d, the caller %d: update both units to the same Shoebox version", ProtocolVersion, req.Protocol)
	}
	if err := checkName(req.HomeName); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "the home unit's name: %v", err)
	}
	reply, err := s.p.pair(id, req.Code, req.HomeName)
	if err != nil {
		return nil, status.Error(pairCode(err), err.Error())
	}
	return reply, nil
}

// pair checks code from the unit id and, when it is the open offer's,
// pins id and closes the offer.
func (p *Pairing) pair(id devid.ID, code, homeName string) (*clusterv1.PairReply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.offer; o != nil && !p.now().Before(o.expires) {
		p.offer = nil
		return nil, fmt.Errorf("%w: its code expired at %s: run `shoebox cluster offer` on the offsite unit again for a new code", ErrNoOffer, o.expires.UTC().Format(time.DateTime+" UTC"))
	}
	o := p.offer
	if o == nil {
		return nil, fmt.Errorf("%w (none was made, or its code was used or voided): run `shoebox cluster offer` on the offsite unit and type its new code", ErrNoOffer)
	}
	if !sameCode(code, o.code) {
		o.wrong++
		p.log.Warn("cluster: wrong pairing code", "device_id", id, "wrong", o.wrong)
		if left := MaxCodeAttempts - o.wrong; left > 0 {
			return nil, fmt.Errorf("%w: %d attempts left before the offer is void", ErrWrongCode, left)
		}
		p.offer = nil
		return nil, fmt.Errorf("%w, %d wrong in all: the offer is void: run `shoebox cluster offer` on the offsite unit again for a new code", ErrWrongCode, MaxCodeAttempts)
	}
	peer := Peer{ID: id, Name: homeName, Role: peerHome, Epoch: 1, PairedAt: p.now().UTC()}
	if p.peer != nil {
		peer.Epoch = p.peer.Epoch + 1
	}
	if err := p.save(&peer); err != nil {
		// The offer stays open: the code has not been used.
		return nil, fmt.Errorf("the offsite unit could not record the pairing: %w", err)
	}
	p.offer = nil
	p.log.Info("cluster: paired", "home", id, "name", homeName, "epoch", peer.Epoch)
	return &clusterv1.PairReply{
		OffsiteDeviceId: p.self.ID[:],
		OffsiteName:     p.name,
		Epoch:           peer.Epoch,
		Protocol:        ProtocolVersion,
		Role:            clusterv1.Role_ROLE_OFFSITE,
	}, nil
}

// PairWith pairs the home unit with the offsite unit at addr (host:port)
// whose device ID the person typed (want), with the code it showed. It
// dials pinned to want, so it talks to that unit or to none: another
// unit at addr fails the call with the *WrongPeerError's text. On
// success the offsite unit is recorded in PeerFile and returned.
//
// A unit that is paired refuses (ErrPaired): Unpair it first. A wrong
// code wraps ErrWrongCode, no open offer ErrNoOffer.
func (p *Pairing) PairWith(ctx context.Context, addr string, want devid.ID, code string) (Peer, error) {
	p.dialing.Lock()
	defer p.dialing.Unlock()
	if old, ok := p.Peer(); ok {
		return Peer{}, fmt.Errorf("%w with %s at %s: unpair it first (`shoebox cluster unpair`), then pair again", ErrPaired, old, old.Addr)
	}
	if want == p.self.ID {
		return Peer{}, fmt.Errorf("device ID %s is this unit's own: type the device ID the offsite unit shows", want)
	}
	conn, err := NewClient(addr, p.self, want)
	if err != nil {
		return Peer{}, fmt.Errorf("pair with %s: %w", addr, err)
	}
	defer conn.Close()
	reply, err := clusterv1.NewPairingClient(conn).Pair(ctx, &clusterv1.PairRequest{Code: code, HomeName: p.name, Protocol: ProtocolVersion})
	if err != nil {
		return Peer{}, pairCallError(addr, err)
	}
	if !bytes.Equal(reply.OffsiteDeviceId, want[:]) {
		return Peer{}, fmt.Errorf("pair with %s: the unit answered with device ID %x in its reply, but proved %s", addr, reply.OffsiteDeviceId, want)
	}
	peer := Peer{ID: want, Name: reply.OffsiteName, Role: peerOffsite, Addr: addr, Epoch: reply.Epoch, PairedAt: p.now().UTC()}
	if checkName(peer.Name) != nil {
		peer.Name = "" // only for people; the offsite unit checks its own
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.save(&peer); err != nil {
		return Peer{}, fmt.Errorf("the offsite unit %s paired with this unit, but this unit could not record it: %w: fix that, then re-offer on the offsite unit (`shoebox cluster offer --replace`) and pair again", want, err)
	}
	p.log.Info("cluster: paired", "offsite", want, "name", reply.OffsiteName, "addr", addr, "epoch", reply.Epoch)
	return peer, nil
}

// pairCallError is a failed Pair call as the home unit reports it,
// wrapping ErrWrongCode or ErrNoOffer for those refusals. A connection
// the offsite unit refused tells the caller nothing of why (TLS sends
// no reason), so the error says what to check.
func pairCallError(addr string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("pair with %s: %w", addr, err)
	}
	for _, sentinel := range []error{ErrWrongCode, ErrNoOffer} {
		if st.Code() == pairCode(sentinel) {
			return fmt.Errorf("pair with %s: %w", addr, &remoteError{msg: st.Message(), reason: sentinel})
		}
	}
	if st.Code() == codes.Unavailable && !strings.Contains(st.Message(), wrongPeerMark) {
		return fmt.Errorf("pair with %s: %w: the offsite unit cannot be reached there, or it refused this unit: check the address, and that an offer is open on it (`shoebox cluster offer`; a code is good for %v and until %d wrong tries)",
			addr, err, DefaultOfferTTL, MaxCodeAttempts)
	}
	return fmt.Errorf("pair with %s: %w", addr, err)
}

// wrongPeerMark is in the text of every *WrongPeerError, which says
// what to do itself.
const wrongPeerMark = ", but the paired unit is "

// pairCode is the gRPC code of a pairing refusal.
func pairCode(err error) codes.Code {
	switch {
	case errors.Is(err, ErrWrongCode):
		return codes.PermissionDenied
	case errors.Is(err, ErrNoOffer):
		return codes.FailedPrecondition
	}
	return codes.Internal
}

// Unpair forgets the paired unit: from the next handshake on, it is
// refused. Unpairing a unit that is not paired does nothing.
func (p *Pairing) Unpair() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peer == nil {
		return nil
	}
	if err := os.Remove(filepath.Join(p.dir, PeerFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpair: %w", err)
	}
	if err := atomicfile.SyncDir(p.dir); err != nil {
		return fmt.Errorf("unpair: %w", err)
	}
	p.log.Info("cluster: unpaired", "peer", p.peer.ID)
	p.peer = nil
	return nil
}

// save records peer in PeerFile and makes it the pinned unit; p.mu is
// held. On an error nothing changes.
func (p *Pairing) save(peer *Peer) error {
	b, err := json.MarshalIndent(peerRecord{Format: peerFileFormat, Peer: *peer}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(p.dir, PeerFile), append(b, '\n'), 0o600); err != nil {
		return err
	}
	p.peer = peer
	return nil
}

// maxNameLen bounds a unit's name, which the peer stores and shows.
const maxNameLen = 64

// checkName refuses a unit name that would not show well: too long, not
// UTF-8, or with control characters.
func checkName(name string) error {
	switch {
	case len(name) > maxNameLen:
		return fmt.Errorf("%d bytes, more than %d", len(name), maxNameLen)
	case !utf8.ValidString(name):
		return errors.New("not UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%q has control characters", name)
	}
	return nil
}

// Pairing codes: codeLen characters of Crockford's base32, 5 bits each
// (50 bits), shown in two dash-separated groups. Typed codes are read in
// any letter case, with or without dashes and spaces, with O read as 0
// and I and L as 1.
const (
	codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	codeLen      = 10
	codeGroup    = 5
)

// newCode draws a code from crypto/rand. 256 is a multiple of 32, so
// each character is uniform.
func newCode() (string, error) {
	b := make([]byte, codeLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = codeAlphabet[b[i]%32]
	}
	return string(b), nil
}

// showCode is a canonical code as people read it: "7KQ2M-XD4PA".
func showCode(code string) string { return code[:codeGroup] + "-" + code[codeGroup:] }

// canonCode reads a typed code into its canonical form; false when it
// cannot be a code.
func canonCode(typed string) (string, bool) {
	if len(typed) > 4*codeLen { // a bound on the work for any input
		return "", false
	}
	out := make([]byte, 0, codeLen)
	for _, r := range strings.ToUpper(typed) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(codeAlphabet, r) || len(out) == codeLen {
			return "", false
		}
		out = append(out, byte(r))
	}
	if len(out) != codeLen {
		return "", false
	}
	return string(out), true
}

// sameCode compares a typed code with the offer's in constant time.
func sameCode(typed, code string) bool {
	c, ok := canonCode(typed)
	if !ok {
		c = strings.Repeat("-", codeLen) // compared all the same, never equal
	}
	return subtle.ConstantTimeCompare([]byte(c), []byte(code)) == 1
}
