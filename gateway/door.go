package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/throttle"
)

// The front door (docs/GATEWAY.md, "What a request may cost"): what a
// request to the HTTPS port may cost before its caller is known. The
// top-level handler (server.go) decides, from the method, path and
// headers alone, before a byte of the body is read:
//
//   - A request that needs no credential — sign-in and pairing (the RPCs
//     policy.go marks public, on REST and gRPC), share links (/s/…), the
//     pairing page, /openapi.json — may carry at most maxPublicBody, sent
//     within publicBodyTime. One that has a body waits for a place: at
//     most anonPerAddr at once from one address (IPv6: its /64) and
//     anonTotal from everyone; past either it is answered 429 with
//     Retry-After. So the REST facade, the in-process connection and the
//     gRPC transport together never hold more than a few MiB of bodies
//     from people the box does not know.
//   - Anything else needs a credential that authenticates (credential,
//     policy.go): without one it is answered 401 (gRPC: Unauthenticated),
//     its body unread. A signed-in caller may send maxBody, and what
//     decoding it may take is reserved against the account's share
//     (bodiesUser, inflight.go). The interceptors still authorize every
//     call: gRPC clients reach them directly, and a credential can end
//     between the two checks.
//   - An upload chunk may carry more: before its body is read, the call's
//     own checks run (chunkAllowed), then the memory it may hold is
//     reserved (inflight.go).
const (
	maxPublicBody  = 16 << 10
	publicBodyTime = 10 * time.Second
	anonPerAddr    = 8
	anonTotal      = 64
	// anonRetry is the Retry-After of a request refused for the others
	// in flight, in seconds.
	anonRetry = 1
)

// maxBody bounds a signed-in caller's request body (an upload chunk
// excepted: chunkDoor).
const maxBody = 1 << 20

// frontDoor is the state of the front door.
type frontDoor struct {
	top    *http.ServeMux // the HTTPS port's routes beside gRPC
	public *http.ServeMux // the REST routes of public RPCs
	anon   anonGate
}

// The routes of top that the front door tells apart.
const (
	restRoutes     = "/v1/"                      // the REST facade
	jsonChunkRoute = "PUT /v1/uploads/{id}"      // a base64 chunk in JSON
	rawChunkRoute  = "PUT /v1/uploads/{id}/data" // a chunk's bytes
)

// publicRoutes is a mux of the REST routes whose RPC needs no
// credential (public in policy.go), read from the OpenAPI document of
// the routes grpc-gateway serves: a route made public in the .proto and
// policy.go is known here without a second list.
func publicRoutes() (*http.ServeMux, error) {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		return nil, fmt.Errorf("the embedded OpenAPI document: %w", err)
	}
	mux := http.NewServeMux()
	for path, ops := range doc.Paths {
		for verb, op := range ops {
			svc, method, _ := strings.Cut(op.OperationID, "_")
			if policy["/shoebox.v1."+svc+"/"+method] == public {
				mux.HandleFunc(strings.ToUpper(verb)+" "+path, http.NotFound)
			}
		}
	}
	return mux, nil
}

// wayIn tells how r comes in: whether it needs no credential and, for
// an upload chunk, its door and the most its body may carry.
func (d *frontDoor) wayIn(r *http.Request, grpcCall bool) (anon bool, door *chunkDoor, limit int64) {
	if grpcCall {
		if r.URL.Path == writeChunkMethod {
			return false, grpcDoor, maxChunk + 2<<20 // a raw chunk and its framing
		}
		return policy[r.URL.Path] == public, nil, maxBody
	}
	switch _, pattern := d.top.Handler(r); pattern {
	case jsonChunkRoute:
		return false, jsonDoor, maxChunk*4/3 + 4<<10
	case rawChunkRoute:
		return false, rawDoor, maxChunk
	case restRoutes:
		_, pattern = d.public.Handler(r)
		return pattern != "", nil, maxBody
	}
	// Share links, the pairing page, the front page, /openapi.json, and what matches no
	// route (a 404).
	return true, nil, maxBody
}

// admit lets r in, or answers it with its body unread. It returns the
// most r's body may carry, and what to release once r is answered.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, grpcCall bool) (release func(), limit int64, ok bool) {
	anon, door, limit := g.door.wayIn(r, grpcCall)
	if anon {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return func() {}, maxPublicBody, true // a body nobody reads
		}
		release, err := g.door.anon.enter(clientIP(r))
		if err != nil {
			refuse(w, r, grpcCall, err, anonRetry)
			return nil, 0, false
		}
		// Sent promptly or not at all: a body trickled in cannot hold
		// a place for the server's 5 minutes.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(publicBodyTime))
		return release, maxPublicBody, true
	}
	p, _, err := g.credential(r.Header.Get("Authorization"), clientIP(r))
	if err != nil {
		refuse(w, r, grpcCall, err, 0)
		return nil, 0, false
	}
	if door == nil {
		release, ok = g.bodies.take(p.UserID, bodyCost(signedInBody(r, grpcCall)))
		if !ok {
			refuse(w, r, grpcCall, status.Error(codes.ResourceExhausted, bodiesBusyMessage()), inflightRetry)
			return nil, 0, false
		}
		return release, maxBody, true
	}
	if err := g.chunkAllowed(r, grpcCall); err != nil {
		refuse(w, r, grpcCall, err, 0)
		return nil, 0, false
	}
	release, ok = g.chunks.take(p.UserID, door.cost(limit, r.ContentLength))
	if !ok {
		refuse(w, r, grpcCall, status.Error(codes.ResourceExhausted, busyMessage()), inflightRetry)
		return nil, 0, false
	}
	return release, limit, true
}

// signedInBody is what the body of a signed-in caller's request (not an
// upload chunk) may carry: on REST its Content-Length (none for a GET or
// HEAD: the facade reads no body there, and a stream may last hours), on
// gRPC the length of its message (every request is one message: no RPC
// streams from the client); at most maxBody.
func signedInBody(r *http.Request, grpcCall bool) int64 {
	switch {
	case !grpcCall && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return 0
	case !grpcCall:
		return bodySize(maxBody, r.ContentLength)
	}
	// A message is framed as a compressed flag and a 4-byte length; the
	// frame is put back for the gRPC transport.
	var frame [5]byte
	n, _ := io.ReadFull(r.Body, frame[:])
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(frame[:n]), r.Body), r.Body}
	if n < len(frame) {
		return 0
	}
	return bodySize(maxBody, int64(binary.BigEndian.Uint32(frame[1:])))
}

// chunkAllowed runs WriteChunk's checks on r before its body is read:
// the policy (the caller may upload somewhere), their second factor,
// and on the REST routes, which name the upload in the path, that it is
// the caller's and that they may still upload to its space. It runs
// them through the interceptor, so that a refusal is answered and
// recorded as the call's own would be (a gRPC chunk's upload is named
// in its message, which is checked when it has been read).
func (g *Gateway) chunkAllowed(r *http.Request, grpcCall bool) error {
	id := ""
	if !grpcCall {
		id = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/uploads/"), "/data")
	}
	_, err := g.intercept(restContext(r), writeChunkMethod, &pb.WriteChunkRequest{Id: id}, func(ctx context.Context) (any, error) {
		if id == "" {
			return nil, nil
		}
		_, err := g.ownUpload(ctx, id)
		return nil, err
	})
	return err
}

// restContext is r's context with the metadata the gRPC side reads: the
// client's address and the Authorization header.
func restContext(r *http.Request) context.Context {
	md := metadata.Pairs(mdClientIP, clientIP(r))
	if a := r.Header.Get("Authorization"); a != "" {
		md.Set("authorization", a)
	}
	return metadata.NewIncomingContext(r.Context(), md)
}

// refuse answers a request the front door does not let in, its body
// unread: the REST error body (401 with WWW-Authenticate, 429…), or for
// gRPC a trailers-only response with the status. retry, when not 0,
// goes out as Retry-After.
func refuse(w http.ResponseWriter, r *http.Request, grpcCall bool, err error, retry int) {
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if !grpcCall {
		restError(r.Context(), nil, nil, w, r, err)
		return
	}
	st := status.Convert(err)
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(st.Code())))
	h.Set("Grpc-Message", grpcMessage(st.Message()))
	w.WriteHeader(http.StatusOK)
}

// grpcMessage percent-encodes a grpc-message value (the gRPC HTTP/2
// spec: bytes outside printable ASCII, and %).
func grpcMessage(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// anonGate counts the requests with a body and no credential that are
// being read and answered, per address and in all.
type anonGate struct {
	mu     sync.Mutex
	total  int
	byAddr map[string]int // by throttle.Key
}

// enter admits a request from ip, or says why not (ResourceExhausted).
// release ends it.
func (a *anonGate) enter(ip string) (release func(), err error) {
	key := throttle.Key(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.byAddr[key] >= anonPerAddr:
		return nil, status.Errorf(codes.ResourceExhausted, "too many requests without a sign-in from your address at once (at most %d): this one was not read; send it again in %d s", anonPerAddr, anonRetry)
	case a.total >= anonTotal:
		return nil, status.Errorf(codes.ResourceExhausted, "the box is answering too many requests without a sign-in at once (at most %d): this one was not read; send it again in %d s", anonTotal, anonRetry)
	}
	if a.byAddr == nil {
		a.byAddr = map[string]int{}
	}
	a.byAddr[key]++
	a.total++
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.total--
		if a.byAddr[key]--; a.byAddr[key] == 0 {
			delete(a.byAddr, key)
		}
	}, nil
}
