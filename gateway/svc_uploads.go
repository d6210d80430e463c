package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/gateway/upload"
	"github.com/shoebox/shoebox/internal/pathx"
)

// maxChunk is the largest chunk one WriteChunk call carries.
const maxChunk = upload.DefaultMaxChunkSize

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
	if g.d == nil || g.d.Configuration().Cards.Library == "" {
		return false
	}
	inbox, err := g.d.SourceInbox(space)
	if err != nil || !pathx.Within(g.d.Configuration().Cards.Library, inbox) {
		return false
	}
	return g.d.HoldsFile(sum)
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
	if err != nil { // appliance.ErrNoSource: NotFound; ErrOffsite: FailedPrecondition
		return nil, err
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
	return s.g.writeChunk(ctx, r.Id, r.Offset, bytes.NewReader(r.Data), int64(len(r.Data)))
}

// writeChunk writes n bytes of body at offset of upload id, for the
// caller in ctx: the one way a chunk is written, whatever its door.
func (g *Gateway) writeChunk(ctx context.Context, id string, offset int64, body io.Reader, n int64) (*pb.Upload, error) {
	owner := callerOf(ctx).p.UserID
	if _, err := g.ownUpload(ctx, id); err != nil {
		return nil, err
	}
	off, err := g.uploads.Write(ctx, owner, id, offset, body, n)
	if err != nil {
		var oe *upload.OffsetError
		if errors.As(err, &oe) {
			return nil, status.Errorf(codes.Aborted, "upload %s is at offset %d, not %d: resume from %d", id, oe.Current, oe.Offset, oe.Current)
		}
		return nil, err
	}
	sess, err := g.uploads.Status(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	sess.Offset = off
	return uploadPB(sess), nil
}

// ownUpload is the caller's upload id, if they may still upload to its
// space: a grant revoked since CreateUpload stops its chunks and its
// completion.
func (g *Gateway) ownUpload(ctx context.Context, id string) (upload.Session, error) {
	sess, err := g.uploads.Status(ctx, callerOf(ctx).p.UserID, id)
	if err != nil {
		return sess, err
	}
	return sess, g.require(ctx, auth.Upload, sess.Space)
}

// writeChunkMethod is the RPC whose policy and audit rule the REST chunk
// routes share.
const writeChunkMethod = pb.UploadService_WriteChunk_FullMethodName

// jsonChunk receives PUT /v1/uploads/{id} {"offset", "data"} (base64):
// the body is read once and decoded once, rather than passing through
// the REST facade and the in-process gRPC connection as copy after copy.
// The body was bounded and its memory reserved in the handler
// (inflight.go).
func (g *Gateway) jsonChunk(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		g.chunkAnswer(w, r, nil, status.Errorf(codes.InvalidArgument, "reading the chunk: %v", err))
		return
	}
	var req struct {
		ID     string          `json:"id"`
		Offset json.RawMessage `json:"offset"`
		Data   []byte          `json:"data"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		// A second look, with data as text: protojson also takes
		// URL-safe and unpadded base64.
		var alt struct {
			Offset json.RawMessage `json:"offset"`
			Data   string          `json:"data"`
		}
		if json.Unmarshal(body, &alt) != nil {
			g.chunkAnswer(w, r, nil, status.Errorf(codes.InvalidArgument, "the chunk is not {\"offset\", \"data\"} JSON: %v", err))
			return
		}
		if req.Data, err = decodeBase64(alt.Data); err != nil {
			g.chunkAnswer(w, r, nil, status.Error(codes.InvalidArgument, "data: not base64"))
			return
		}
		req.Offset = alt.Offset
	}
	body = nil // the decoded bytes are all that is needed now
	off, err := jsonInt(req.Offset)
	if err != nil {
		g.chunkAnswer(w, r, nil, status.Errorf(codes.InvalidArgument, "offset: %v", err))
		return
	}
	g.serveChunk(w, r, r.PathValue("id"), off, bytes.NewReader(req.Data), int64(len(req.Data)))
}

// rawChunk receives PUT /v1/uploads/{id}/data?offset=N with the chunk's
// bytes as the body (application/octet-stream, with a Content-Length),
// and streams them to the upload's part file.
func (g *Gateway) rawChunk(w http.ResponseWriter, r *http.Request) {
	off, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || off < 0 {
		g.chunkAnswer(w, r, nil, status.Errorf(codes.InvalidArgument, "offset %q: say where the chunk goes (?offset=N, from GET /v1/uploads/{id})", r.URL.Query().Get("offset")))
		return
	}
	if r.ContentLength < 0 {
		g.chunkAnswer(w, r, nil, status.Error(codes.InvalidArgument, "send the chunk with a Content-Length"))
		return
	}
	g.serveChunk(w, r, r.PathValue("id"), off, r.Body, r.ContentLength)
}

// serveChunk runs a REST chunk through the interceptor of WriteChunk
// (authentication, policy, fail-closed checks, audit) and answers.
func (g *Gateway) serveChunk(w http.ResponseWriter, r *http.Request, id string, off int64, body io.Reader, n int64) {
	resp, err := g.intercept(restContext(r), writeChunkMethod, &pb.WriteChunkRequest{Id: id, Offset: off}, func(ctx context.Context) (any, error) {
		return g.writeChunk(ctx, id, off, body, n)
	})
	g.chunkAnswer(w, r, resp, err)
}

// chunkAnswer writes a REST chunk's answer as the REST facade would.
func (g *Gateway) chunkAnswer(w http.ResponseWriter, r *http.Request, resp any, err error) {
	if err != nil {
		restError(r.Context(), nil, nil, w, r, toStatus(err))
		return
	}
	b, err := g.restJSON.Marshal(resp)
	if err != nil {
		restError(r.Context(), nil, nil, w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// readBody reads a request body whole, in one buffer of its
// Content-Length when it has one.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength < 0 {
		return io.ReadAll(r.Body)
	}
	b := make([]byte, r.ContentLength)
	_, err := io.ReadFull(r.Body, b)
	return b, err
}

// decodeBase64 takes what protojson takes: standard or URL-safe
// alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

// jsonInt reads a JSON int64 as protojson does: a number or a string.
func jsonInt(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	s := string(raw)
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	return strconv.ParseInt(s, 10, 64)
}

func (s *uploadService) GetUpload(ctx context.Context, r *pb.UploadRequest) (*pb.Upload, error) {
	sess, err := s.g.uploads.Status(ctx, callerOf(ctx).p.UserID, r.Id)
	if err != nil {
		return nil, err
	}
	return uploadPB(sess), nil
}

func (s *uploadService) CompleteUpload(ctx context.Context, r *pb.UploadRequest) (*pb.Upload, error) {
	// The file lands in the space now: the caller must still be allowed
	// to upload there.
	sess, err := s.g.ownUpload(ctx, r.Id)
	if err != nil {
		return nil, err
	}
	res, err := s.g.uploads.Complete(ctx, callerOf(ctx).p.UserID, r.Id)
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
