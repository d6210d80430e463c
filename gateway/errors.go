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
	"github.com/shoebox/shoebox/appliance/maint"
	"github.com/shoebox/shoebox/cluster"
	"github.com/shoebox/shoebox/gateway/audit"
	"github.com/shoebox/shoebox/gateway/auth"
	"github.com/shoebox/shoebox/gateway/password"
	"github.com/shoebox/shoebox/gateway/preview"
	"github.com/shoebox/shoebox/gateway/share"
	"github.com/shoebox/shoebox/gateway/token"
	"github.com/shoebox/shoebox/gateway/upload"
	"github.com/shoebox/shoebox/internal/devid"
	"github.com/shoebox/shoebox/internal/units"
	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// errHashBusy: an account asked for password hashing too often.
var errHashBusy = errors.New("your account asks the box to hash passwords too often")

// errorRule maps an error (matched with errors.Is) to a gRPC code and
// what the user should do next. errorRules, toStatus and restError are
// the one place where errors become gRPC codes and HTTP statuses
// (docs/GATEWAY.md, "Errors").
type errorRule struct {
	err  error
	code codes.Code
	hint string
}

// errorRules is the whole table, every sentinel of the packages the
// gateway serves; the first rule that matches wins. An error in none of
// them is Internal (toStatus). TestErrorRules checks that every
// sentinel of those packages has a rule.
var errorRules = []errorRule{
	{appliance.ErrNoSource, codes.NotFound, ""},
	{appliance.ErrBadSource, codes.InvalidArgument, ""},
	{appliance.ErrOffsite, codes.FailedPrecondition, ""},
	{appliance.ErrHomeOnly, codes.FailedPrecondition, ""},
	{appliance.ErrOffsiteOnly, codes.FailedPrecondition, ""},
	{appliance.ErrBadPeerAddr, codes.InvalidArgument, ""},
	{cards.ErrNoLedger, codes.NotFound, "list the cards with GET /v1/cards"},
	{cards.ErrBadCardID, codes.InvalidArgument, ""},
	{vault.ErrNoSnapshot, codes.NotFound, "list snapshots with GET /v1/snapshots"},
	{vault.ErrAmbiguous, codes.InvalidArgument, "give more characters of the snapshot ID"},
	{vault.ErrBadRef, codes.InvalidArgument, ""},
	{units.ErrTooShort, codes.InvalidArgument, "docs/UNITS.md: months are mo"},
	{units.ErrDuration, codes.InvalidArgument, "docs/UNITS.md lists the forms"},
	{units.ErrSize, codes.InvalidArgument, "docs/UNITS.md lists the forms"},
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

	// Pairing (cluster): the errors say what to do next.
	{cluster.ErrPaired, codes.FailedPrecondition, ""},
	{cluster.ErrNoOffer, codes.FailedPrecondition, ""},
	{cluster.ErrWrongCode, codes.PermissionDenied, ""},
	{cluster.ErrPeerDamaged, codes.Internal, ""},
	// The offsite ledger and the Raft catalog (cluster): not reached by
	// an API call yet; the replicator's errors will show here.
	{cluster.ErrFrozen, codes.FailedPrecondition, ""},
	{cluster.ErrQuota, codes.ResourceExhausted, ""},
	{cluster.ErrWriteOnce, codes.FailedPrecondition, ""},
	{cluster.ErrHashMismatch, codes.DataLoss, ""},
	{cluster.ErrLockName, codes.InvalidArgument, ""},
	{cluster.ErrUnknownName, codes.InvalidArgument, ""},
	{cluster.ErrLastKey, codes.FailedPrecondition, ""},
	{cluster.ErrKeepConfig, codes.FailedPrecondition, ""},
	{cluster.ErrNotPending, codes.FailedPrecondition, ""},
	{cluster.ErrRefused, codes.FailedPrecondition, ""},
	{cluster.ErrCorruptCommand, codes.Internal, ""},
	{cluster.ErrCorruptSnapshot, codes.Internal, ""},
	{cluster.ErrNotInitialized, codes.Internal, ""},
	{cluster.ErrInitialized, codes.Internal, ""},
	{cluster.ErrInvalidMember, codes.Internal, ""},
	{cluster.ErrUnknownMember, codes.Internal, ""},
	{cluster.ErrStaleEpoch, codes.Internal, ""},
	{cluster.ErrUnknownSigner, codes.Internal, ""},
	{cluster.ErrBadSignature, codes.Internal, ""},
	{cluster.ErrBadReceipt, codes.Internal, ""},
	{cluster.ErrInvalidObject, codes.Internal, ""},
	{cluster.ErrBadTransfer, codes.DataLoss, ""},
	{cluster.ErrTooLarge, codes.Internal, ""},
	{cluster.ErrReceiptMismatch, codes.Internal, ""},
	{cluster.ErrChallengeFailed, codes.Internal, ""},

	// Password hashing brakes (hashbrake.go).
	{errHashBusy, codes.ResourceExhausted, ""},

	// Accounts, sessions, API keys (gateway/auth).
	{auth.ErrUnauthenticated, codes.Unauthenticated, ""},
	{auth.ErrBadCredentials, codes.Unauthenticated, ""},
	{auth.ErrTOTPRequired, codes.Unauthenticated, ""},
	{auth.ErrRateLimited, codes.ResourceExhausted, "wait before trying again"},
	{auth.ErrNotFound, codes.NotFound, ""},
	{auth.ErrExists, codes.AlreadyExists, ""},
	{auth.ErrInvalid, codes.InvalidArgument, ""},
	{auth.ErrLastOwner, codes.FailedPrecondition, ""},
	{auth.ErrForbidden, codes.PermissionDenied, ""},
	{auth.ErrTOTPEnabled, codes.FailedPrecondition, ""},
	{auth.ErrTOTPDisabled, codes.FailedPrecondition, ""},
	{auth.ErrSecondFactor, codes.PermissionDenied, "prove it with POST /v1/auth/totp/verify"},

	// Disks (appliance).
	{appliance.ErrNoDisk, codes.NotFound, "list the disks with GET /v1/disks"},
	{appliance.ErrBadDiskPath, codes.InvalidArgument, ""},

	// Share links (gateway/share).
	{share.ErrNotFound, codes.NotFound, ""},
	{share.ErrExpired, codes.NotFound, ""},
	{share.ErrRevoked, codes.NotFound, ""},
	{share.ErrUsedUp, codes.NotFound, ""},
	{share.ErrPasswordRequired, codes.Unauthenticated, ""},
	{share.ErrWrongPassword, codes.Unauthenticated, ""},
	{share.ErrTooManyAttempts, codes.ResourceExhausted, ""},
	{share.ErrInvalid, codes.InvalidArgument, ""},

	// Phone uploads (gateway/upload).
	{upload.ErrNotFound, codes.NotFound, "the upload expired or never existed: start it again with POST /v1/uploads"},
	{upload.ErrForbidden, codes.PermissionDenied, "this upload belongs to someone else"},
	// Aborted (HTTP 409, as in tus), not FailedPrecondition (400):
	// the phone re-reads the offset and carries on.
	{upload.ErrOffsetMismatch, codes.Aborted, "resume from the offset the box reports (GET /v1/uploads/{id})"},
	{upload.ErrChecksumMismatch, codes.DataLoss, "the file changed or was damaged in transit: send it again from offset 0"},
	{upload.ErrTooLarge, codes.InvalidArgument, "send smaller chunks, or a smaller file"},
	{upload.ErrFull, codes.ResourceExhausted, "the box is full: free space or add a disk, then resume"},
	{upload.ErrQuota, codes.ResourceExhausted, "finish or cancel unfinished uploads, wait for files received in the last day to leave the count, or ask the box's owner for a larger quota (gateway.upload_quota)"},
	{upload.ErrIncomplete, codes.FailedPrecondition, "send the rest of the file first"},
	{upload.ErrCompleted, codes.AlreadyExists, "this upload is already complete"},
	{upload.ErrBusy, codes.Aborted, "another request is writing this upload; retry in a moment"},
	{upload.ErrTooMany, codes.ResourceExhausted, "finish or cancel some of your uploads first"},
	{upload.ErrInvalid, codes.InvalidArgument, ""},

	// Device IDs people type to pair units (internal/devid); the
	// messages say what to compare.
	{devid.ErrSyntax, codes.InvalidArgument, ""},
	{devid.ErrCheck, codes.InvalidArgument, ""},

	// The box's fault, or answered before they reach toStatus (preview.go,
	// the audit interceptor): Internal, as any error without a rule, and
	// listed so that every sentinel has one (TestErrorRules). Last, so
	// that an error wrapping one of them and a sentinel above maps as
	// the one above.
	{vault.ErrWrongPassphrase, codes.Internal, ""},
	{vault.ErrNotRepository, codes.Internal, ""},
	{vault.ErrExists, codes.Internal, ""},
	{vault.ErrBlobMissing, codes.Internal, ""},
	{vault.ErrSkipDir, codes.Internal, ""},
	{store.ErrNotFound, codes.Internal, ""},
	{store.ErrInvalidName, codes.Internal, ""},
	{store.ErrReadOnly, codes.Internal, ""},
	{raid.ErrNotMounted, codes.Internal, ""},
	{raid.ErrArrayBusy, codes.Internal, ""},
	{raid.ErrReadOnly, codes.Internal, ""},
	{raid.ErrReadersBusy, codes.Internal, ""},
	{cards.ErrBusy, codes.Internal, ""},
	{cards.ErrConfig, codes.Internal, ""},
	{cards.ErrVerify, codes.Internal, ""},
	{cards.ErrCardRemoved, codes.Internal, ""},
	{maint.ErrNoSnapshots, codes.Internal, ""},
	{password.ErrMismatch, codes.Internal, ""},
	{token.ErrMalformed, codes.Internal, ""},
	{preview.ErrNoPreview, codes.Internal, ""},
	{preview.ErrBusy, codes.Internal, ""},
	{audit.ErrTampered, codes.Internal, ""},
	{audit.ErrLocked, codes.Internal, ""},
	{audit.ErrClosed, codes.Internal, ""},
	{audit.ErrFailed, codes.Internal, ""},
	{audit.ErrInvalid, codes.Internal, ""},
	{devid.ErrDamaged, codes.Internal, ""},
}

// internalHint ends the message of every Internal status: the text of
// an error that is the box's fault says what happened (with the box's
// places hidden where a handler returns them, hidePaths), the log the
// rest.
const internalHint = "the box's log (journalctl -u shoeboxd) has details"

// retryAfter is an error with a retry delay (rate limits, a busy
// password check).
type retryAfter interface{ RetryAfter() int }

// toStatus turns any error into a gRPC status by the first rule of
// errorRules that matches it (errors.Is), Internal without one, with the
// rule's hint in its message: "what happened — what to do". A status
// error passes through as it is.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code, hint := codes.Internal, ""
	for _, r := range errorRules {
		if errors.Is(err, r.err) {
			code, hint = r.code, r.hint
			break
		}
	}
	if code == codes.Internal {
		hint = internalHint
	}
	msg := err.Error()
	if hint != "" {
		msg += " — " + hint
	}
	return status.Error(code, msg)
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
