package gateway

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

//go:embed openapi/shoebox.swagger.json
var openAPI []byte

// OpenAPI returns the OpenAPI (Swagger 2.0) document generated from the
// .proto files: the list of every REST route.
func OpenAPI() []byte { return openAPI }

// Handler serves gRPC (Content-Type application/grpc, HTTP/2) and the
// REST/JSON facade on one port, plus /openapi.json, the public side of
// share links (/s/{token}) and the phone pairing page (/pair).
//
// REST calls reach the gRPC services through an in-process connection,
// so both doors run the same interceptors: authentication, the policy
// table, audit and error mapping happen once.
func (g *Gateway) Handler() http.Handler { return g.handler }

func (g *Gateway) buildHandler() error {
	g.restJSON = restMarshaler{&runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true, UseProtoNames: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}}
	g.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(g.unaryInterceptor),
		grpc.ChainStreamInterceptor(g.streamInterceptor),
		grpc.MaxRecvMsgSize(maxChunk+1<<20),
	)
	g.register(g.grpc)

	// The in-process connection that REST calls travel over.
	g.inproc = bufconn.Listen(1 << 20)
	go g.grpc.Serve(g.inproc)
	conn, err := grpc.NewClient("passthrough:///inproc",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return g.inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxChunk+1<<20), grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return err
	}
	g.conn = conn

	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(restError),
		runtime.WithStreamErrorHandler(streamError),
		runtime.WithRoutingErrorHandler(routingError),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, g.restJSON),
		runtime.WithMetadata(func(ctx context.Context, r *http.Request) metadata.MD {
			// The client's address, for rate limiting and the audit log;
			// trusted only on the in-process connection (see callerIP).
			// The Host the client named, for the links a call makes
			// (linkURL); checked against the box's names before use.
			return metadata.Pairs(mdClientIP, clientIP(r), mdHost, r.Host)
		}),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			if strings.EqualFold(h, "Authorization") {
				return "authorization", true
			}
			return "", false
		}),
	)
	ctx := context.Background()
	for _, reg := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		pb.RegisterAuthServiceHandler, pb.RegisterUserServiceHandler, pb.RegisterStatusServiceHandler,
		pb.RegisterBackupServiceHandler, pb.RegisterUploadServiceHandler, pb.RegisterDiskServiceHandler,
		pb.RegisterAlertServiceHandler, pb.RegisterShareServiceHandler, pb.RegisterAuditServiceHandler,
		pb.RegisterClusterServiceHandler,
	} {
		if err := reg(ctx, mux, conn); err != nil {
			return err
		}
	}

	top := http.NewServeMux()
	top.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	top.HandleFunc("GET /s/{token}", g.publicShare)
	top.HandleFunc("POST /s/{token}", g.publicShare)
	top.HandleFunc("GET /s/{token}/{path...}", g.publicShare)
	top.HandleFunc("GET /pair", g.pairPage)
	top.HandleFunc("GET /{$}", g.frontPage)
	// Upload chunks are received here, not through the REST facade:
	// streamed to the part file (raw), or decoded once (JSON).
	top.HandleFunc(jsonChunkRoute, g.jsonChunk)
	top.HandleFunc(rawChunkRoute, g.rawChunk)
	top.Handle(restRoutes, withRESTWriter(mux))
	publicREST, err := publicRoutes()
	if err != nil {
		return err
	}
	g.door = &frontDoor{top: top, public: publicREST}
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		// Share-link tokens travel in paths: no answer, not even the
		// mux's redirects and 404s under /s/, may leak one as a Referer.
		w.Header().Set("Referrer-Policy", "no-referrer")
		// Bodies are read before the gRPC side authorizes the call: the
		// front door (door.go) bounds them, and lets in only what needs
		// no credential or comes with one that authenticates.
		grpcCall := r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
		release, limit, ok := g.admit(w, r, grpcCall)
		if !ok {
			return
		}
		defer release()
		if r.ContentLength > limit {
			// Said to be too large: refused before a buffer is made for it.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			json.NewEncoder(w).Encode(map[string]any{"code": codes.ResourceExhausted.String(), "status": http.StatusRequestEntityTooLarge,
				"error": fmt.Sprintf("a body of %d bytes is over the limit of %d for this request: send less (without a sign-in at most 16 KiB; signed in, 1 MiB, or 16 MiB for an upload chunk)", r.ContentLength, limit)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if grpcCall {
			g.grpc.ServeHTTP(w, r)
			return
		}
		top.ServeHTTP(w, r)
	})
	return nil
}

// A chunkDoor is a way an upload chunk comes in: the memory its body
// costs (inflight.go).
type chunkDoor struct {
	cost func(limit, contentLength int64) int64
}

var (
	grpcDoor = &chunkDoor{func(limit, _ int64) int64 { return grpcChunkCost(limit) }}
	jsonDoor = &chunkDoor{func(limit, cl int64) int64 { return jsonChunkCost(bodySize(limit, cl)) }}
	rawDoor  = &chunkDoor{func(limit, cl int64) int64 { return rawChunkCost(bodySize(limit, cl)) }}
)

// bodySize is what a body may carry: its Content-Length, or the limit
// when it has none.
func bodySize(limit, cl int64) int64 {
	if cl < 0 || cl > limit {
		return limit
	}
	return cl
}

// restMarshaler is JSON, with HttpBody (downloads) passed through raw.
// grpc-gateway writes a marshaler's delimiter after every message of a
// stream, raw download chunks included, which would put a newline after
// every chunk of a downloaded file. So the delimiter is empty, and the
// newline that ends each JSON message of a stream (NDJSON) comes from
// Marshal instead.
type restMarshaler struct{ *runtime.HTTPBodyMarshaler }

func (m restMarshaler) Marshal(v any) ([]byte, error) {
	b, err := m.HTTPBodyMarshaler.Marshal(v)
	if _, raw := v.(*httpbody.HttpBody); err != nil || raw {
		return b, err
	}
	return append(b, '\n'), nil
}

// Delimiter implements runtime.Delimited.
func (restMarshaler) Delimiter() []byte { return nil }

// A stream refused before its first message (a missing credential, a
// denied role) reaches grpc-gateway's stream error handler, not restError:
// restWriter lets streamError answer it with the same body and headers
// (WWW-Authenticate) as every other REST error.
type restWriter struct {
	http.ResponseWriter
	started bool // grpc-gateway has written the status or body
	done    bool // streamError has answered; drop what grpc-gateway writes
}

type restWriterKey struct{}

func withRESTWriter(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &restWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), restWriterKey{}, rw)))
	})
}

func (w *restWriter) WriteHeader(code int) {
	if !w.done {
		w.started = true
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *restWriter) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.started = true
	return w.ResponseWriter.Write(p)
}

func (w *restWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// streamError answers an error that ends a stream before its first
// message as restError does; later errors stay in-stream ({"error": …}).
func streamError(ctx context.Context, err error) *status.Status {
	if w, ok := ctx.Value(restWriterKey{}).(*restWriter); ok && !w.started && !w.done {
		w.Header().Del("Transfer-Encoding")
		restError(ctx, nil, nil, w.ResponseWriter, nil, err)
		w.done = true
	}
	return status.Convert(err)
}

// mdClientIP carries the REST client's address to the gRPC services.
const mdClientIP = "x-shoebox-client-ip"

// mdHost carries the REST request's Host header on the in-process
// connection (requestHost).
const mdHost = "x-shoebox-host"

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Close stops the gRPC server and the in-process connection, waits for
// a background anchor being written (and starts no other), anchors the
// audit log in the state directory (Serve, when it ran, anchored it
// everywhere as it returned), and closes the log and the database.
// Calls after the first do nothing.
func (g *Gateway) Close() error {
	g.anchoring.Lock()
	defer g.anchoring.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	g.grpc.Stop()
	g.conn.Close()
	g.anchorAudit(g.anchors.stores[:1])
	g.audit.Close()
	return g.db.Close()
}
