package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/upload"
)

// maxChunk is the largest chunk one WriteChunk call carries.
const maxChunk = upload.DefaultMaxChunkSize

func init() {
	errorRules = append(errorRules,
		errorRule{upload.ErrNotFound, codes.NotFound, "the upload expired or never existed: start it again with POST /v1/uploads"},
		errorRule{upload.ErrForbidden, codes.PermissionDenied, "this upload belongs to someone else"},
		// Aborted (HTTP 409, as in tus), not FailedPrecondition (400):
		// the phone re-reads the offset and carries on.
		errorRule{upload.ErrOffsetMismatch, codes.Aborted, "resume from the offset the box reports (GET /v1/uploads/{id})"},
		errorRule{upload.ErrChecksumMismatch, codes.DataLoss, "the file changed or was damaged in transit: send it again from offset 0"},
		errorRule{upload.ErrTooLarge, codes.InvalidArgument, "send smaller chunks, or a smaller file"},
		errorRule{upload.ErrFull, codes.ResourceExhausted, "the box is full: free space or add a disk, then resume"},
		errorRule{upload.ErrQuota, codes.ResourceExhausted, "finish or cancel some of your uploads, or ask the box's owner for a larger quota (gateway.upload_quota)"},
		errorRule{upload.ErrIncomplete, codes.FailedPrecondition, "send the rest of the file first"},
		errorRule{upload.ErrCompleted, codes.AlreadyExists, "this upload is already complete"},
		errorRule{upload.ErrBusy, codes.Aborted, "another request is writing this upload; retry in a moment"},
		errorRule{upload.ErrTooMany, codes.ResourceExhausted, "finish or cancel some of your uploads first"},
		errorRule{upload.ErrInvalid, codes.InvalidArgument, ""},
	)
}

// deleteUploads removes a deleted account's uploads: unfinished ones with
// their data, and its devices' histories. Account IDs are never reused,
// so nobody could reach them anyway; this frees the space at once.
func (g *Gateway) deleteUploads(ctx context.Context, accountID string) {
	if accountID == "" {
		return
	}
	if n, err := g.uploads.DeleteOwner(ctx, accountID); err != nil {
		g.log.Warn("removing a deleted account's uploads; the rest expire on their own", "account", accountID, "removed", n, "err", err)
	}
}

type uploadService struct {
	pb.UnimplementedUploadServiceServer
	g *Gateway
}

// knownFile tells the upload store whether space already holds a file
// with this SHA-256 outside the uploads' own index: today, files brought
// in from memory cards (the repository keeps keyed hashes of chunks, not
// SHA-256s of files), when the card library is filed inside the space's
// folder. Card files anywhere else are not the space's: saying "already
// have" for them would tell a member what the box holds outside it.
func (g *Gateway) knownFile(space string, sum [32]byte) bool {
	if g.d == nil || g.d.Config.Cards.Library == "" {
		return false
	}
	inbox, err := g.d.SourceInbox(space)
	if err != nil || !within(inbox, g.d.Config.Cards.Library) {
		return false
	}
	return g.d.HoldsFile(sum)
}

// within reports whether path p is dir or lies below it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func parseSum(s string) (upload.Sum, error) {
	var sum upload.Sum
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return sum, status.Errorf(codes.InvalidArgument, "sha256 %q: want 64 hex digits", s)
	}
	copy(sum[:], b)
	return sum, nil
}

func uploadPB(s upload.Session) *pb.Upload {
	out := &pb.Upload{Id: s.ID, Offset: s.Offset, Size: s.Size, AlreadyHave: s.AlreadyHave,
		Complete: s.State == upload.StateComplete, Expires: ts(s.Expires)}
	if s.Result != nil {
		out.StoredPath = s.Result.Path // relative to the space's folder
	}
	return out
}

func (s *uploadService) CreateUpload(ctx context.Context, r *pb.CreateUploadRequest) (*pb.Upload, error) {
	if err := s.g.require(ctx, auth.Upload, r.Space); err != nil {
		return nil, err
	}
	if r.Device == "" || r.Name == "" {
		return nil, status.Error(codes.InvalidArgument, "device and name are required")
	}
	sum, err := parseSum(r.Sha256)
	if err != nil {
		return nil, err
	}
	inbox, err := s.g.d.SourceInbox(r.Space)
	if err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	req := upload.CreateRequest{Owner: callerOf(ctx).p.UserID, Device: r.Device, DeviceName: r.Device, Space: r.Space, Inbox: inbox,
		Name: r.Name, Size: r.Size, SHA256: sum, ContentType: r.ContentType}
	if r.Mtime != nil {
		req.ModTime = r.Mtime.AsTime()
	}
	sess, err := s.g.uploads.Create(ctx, req)
	if err != nil {
		return nil, err
	}
	return uploadPB(sess), nil
}

func (s *uploadService) WriteChunk(ctx context.Context, r *pb.WriteChunkRequest) (*pb.Upload, error) {
	owner := callerOf(ctx).p.UserID
	off, err := s.g.uploads.Write(ctx, owner, r.Id, r.Offset, bytes.NewReader(r.Data), int64(len(r.Data)))
	if err != nil {
		var oe *upload.OffsetError
		if errors.As(err, &oe) {
			return nil, status.Errorf(codes.Aborted, "upload %s is at offset %d, not %d: resume from %d", r.Id, oe.Current, oe.Offset, oe.Current)
		}
		return nil, err
	}
	sess, err := s.g.uploads.Status(ctx, owner, r.Id)
	if err != nil {
		return nil, err
	}
	sess.Offset = off
	return uploadPB(sess), nil
}

func (s *uploadService) GetUpload(ctx context.Context, r *pb.UploadRequest) (*pb.Upload, error) {
	sess, err := s.g.uploads.Status(ctx, callerOf(ctx).p.UserID, r.Id)
	if err != nil {
		return nil, err
	}
	return uploadPB(sess), nil
}

func (s *uploadService) CompleteUpload(ctx context.Context, r *pb.UploadRequest) (*pb.Upload, error) {
	owner := callerOf(ctx).p.UserID
	// The file lands in the space now: the caller must still be allowed
	// to upload there (a grant revoked since CreateUpload stops it).
	sess, err := s.g.uploads.Status(ctx, owner, r.Id)
	if err != nil {
		return nil, err
	}
	if err := s.g.require(ctx, auth.Upload, sess.Space); err != nil {
		return nil, err
	}
	res, err := s.g.uploads.Complete(ctx, owner, r.Id)
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, "upload", sess.Space+":"+res.Path, map[string]string{"sha256": hex.EncodeToString(res.SHA256[:])})
	return &pb.Upload{Id: r.Id, Offset: res.Size, Size: res.Size, Complete: true, StoredPath: res.Path}, nil
}

func (s *uploadService) CancelUpload(ctx context.Context, r *pb.UploadRequest) (*pb.Empty, error) {
	return &pb.Empty{}, s.g.uploads.Cancel(ctx, callerOf(ctx).p.UserID, r.Id)
}

func (s *uploadService) HaveFiles(ctx context.Context, r *pb.HaveFilesRequest) (*pb.HaveFilesResponse, error) {
	if r.Space == "" {
		return nil, status.Error(codes.InvalidArgument, "say which space (space) the files would go to: the answer is for that space only")
	}
	if err := s.g.require(ctx, auth.Upload, r.Space); err != nil {
		return nil, err
	}
	sums := make([][32]byte, len(r.Sha256))
	for i, h := range r.Sha256 {
		sum, err := parseSum(h)
		if err != nil {
			return nil, err
		}
		sums[i] = sum
	}
	have, err := s.g.uploads.Have(ctx, r.Space, sums)
	if err != nil {
		return nil, err
	}
	out := &pb.HaveFilesResponse{}
	for i, ok := range have {
		if ok {
			out.Have = append(out.Have, r.Sha256[i])
		}
	}
	return out, nil
}

func (s *uploadService) UploadHistory(ctx context.Context, r *pb.UploadHistoryRequest) (*pb.UploadHistoryResponse, error) {
	var since = r.Since.AsTime()
	if r.Since == nil {
		since = since.AddDate(-100, 0, 0)
	}
	es, err := s.g.uploads.History(ctx, callerOf(ctx).p.UserID, r.Device, since, int(r.Limit))
	if err != nil {
		return nil, err
	}
	out := &pb.UploadHistoryResponse{}
	for _, e := range es {
		out.Files = append(out.Files, &pb.UploadedFile{Sha256: hex.EncodeToString(e.SHA256[:]), Name: e.Name, Size: e.Size,
			StoredPath: e.Path, Completed: ts(e.Completed)})
	}
	return out, nil
}
