package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"syscall"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/vault"
)

// errorRule maps an error (matched with errors.Is) to a gRPC code and
// what the user should do next. This table, toStatus and restError are
// the one place where errors become gRPC codes and HTTP statuses.
type errorRule struct {
	err  error
	code codes.Code
	hint string
}

// errorRules is extended by the files that define the gateway's own
// errors (auth, shares, uploads) in their init functions.
var errorRules = []errorRule{
	{appliance.ErrNoSource, codes.NotFound, ""},
	{appliance.ErrBadSource, codes.InvalidArgument, ""},
	{cards.ErrNoLedger, codes.NotFound, "list the cards with GET /v1/cards"},
	{cards.ErrBadCardID, codes.InvalidArgument, ""},
	{vault.ErrNoSnapshot, codes.NotFound, "list snapshots with GET /v1/snapshots"},
	{vault.ErrAmbiguous, codes.InvalidArgument, "give more characters of the snapshot ID"},
	{vault.ErrBadRef, codes.InvalidArgument, ""},
	{vault.ErrImmutable, codes.FailedPrecondition, "the snapshot is locked; locks cannot be shortened"},
	{vault.ErrLocked, codes.Unavailable, "another operation holds the repository; try again shortly"},
	{vault.ErrCorrupt, codes.DataLoss, "run a scrub from the Disks screen; the box repairs from redundancy when it can"},
	{raid.ErrDegraded, codes.Unavailable, "a disk is missing: check the Disks screen"},
	{raid.ErrCorruptObject, codes.DataLoss, "data is damaged beyond the array's redundancy; restore from the offsite copy"},
	{fs.ErrNotExist, codes.NotFound, "check the path"},
	{syscall.ENOSPC, codes.ResourceExhausted, "the box is full: delete old snapshots or add a disk"},
	{password.ErrBusy, codes.ResourceExhausted, ""},
	{context.Canceled, codes.Canceled, ""},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "try again"},
}

// retryAfter is an error with a retry delay (rate limits, a busy
// password check).
type retryAfter interface{ RetryAfter() int }

// toStatus turns any error into a gRPC status with a hint in its
// metadata-free message: "what happened — what to do".
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, r := range errorRules {
		if errors.Is(err, r.err) {
			msg := err.Error()
			if r.hint != "" {
				msg += " — " + r.hint
			}
			return status.Error(r.code, msg)
		}
	}
	return status.Error(codes.Internal, err.Error()+" — the box's log (journalctl -u shoeboxd) has details")
}

// restError writes the REST error body: {"error", "code", "status"} plus
// Retry-After where a rate limit applies.
func restError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	code := runtime.HTTPStatusFromCode(st.Code())
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		if v := md.TrailerMD.Get("retry-after"); len(v) > 0 {
			w.Header().Set("Retry-After", v[0])
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shoebox"`)
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": st.Message(), "code": st.Code().String(), "status": code})
}

// withRetryAfter adds a Retry-After trailer for errors that carry a
// retry delay; the unary interceptor calls it for every failed call.
func withRetryAfter(ctx context.Context, err error) {
	var ra retryAfter
	if errors.As(err, &ra) {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("retry-after", strconv.Itoa(ra.RetryAfter())))
	}
}

// routingError answers a request that matches no REST route in the same
// shape as restError, keeping grpc-gateway's HTTP status: 404, 405 for a
// known path with the wrong method (grpc-gateway's default handler would
// send that as 501 Unimplemented, a server error), 400.
func routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	code := codes.NotFound
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		code = codes.Unimplemented
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	json.NewEncoder(w).Encode(map[string]any{"error": http.StatusText(httpStatus) + ": the routes are listed in /openapi.json",
		"code": code.String(), "status": httpStatus})
}
