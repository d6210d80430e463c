package gateway

import (
	"archive/zip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/audit"
	"github.com/shoebox/shoebox/gateway/auth"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/internal/units"
	"github.com/shoebox/shoebox/vault"
)

type backupService struct {
	pb.UnimplementedBackupServiceServer
	g *Gateway
}

// spaceOf returns the space (source name) a snapshot belongs to; "" for
// snapshots made outside any source (CLI backups): box-wide, owner and
// admin only.
var spaceOf = appliance.SpaceOf

// hidePaths rewrites the error a handler returns so that it does not
// show the box's own places (the state directory, the disks: a disk's
// failure names it "array disk N", Daemon.HidePaths). The error table
// still sees the original error, and maps it as before.
func (g *Gateway) hidePaths(err *error) {
	if *err == nil {
		return
	}
	if st, ok := status.FromError(*err); ok {
		if m := g.d.HidePaths(st.Message()); m != st.Message() {
			*err = status.Error(st.Code(), m)
		}
		return
	}
	if m := g.d.HidePaths((*err).Error()); m != (*err).Error() {
		*err = &hiddenPaths{msg: m, err: *err}
	}
}

// hiddenPaths is an error with the box's places hidden in its text.
type hiddenPaths struct {
	msg string
	err error
}

func (e *hiddenPaths) Error() string { return e.msg }
func (e *hiddenPaths) Unwrap() error { return e.err }

// maySee says whether p's person may see things of space ("" for the
// box's own) needing action a: their role and grants decide, not an API
// key's scopes, which decide what the key may do with what it sees. A
// thing p may not see is answered as one that does not exist (404, the
// same body), so that names and IDs cannot be probed.
func (g *Gateway) maySee(p auth.Principal, a auth.Action, space string) bool {
	p.Scopes = nil
	return g.auth.Allowed(p, a, space)
}

func (s *backupService) ListSources(ctx context.Context, _ *pb.Empty) (*pb.ListSourcesResponse, error) {
	out := &pb.ListSourcesResponse{}
	for _, src := range s.g.d.Sources() {
		if s.g.auth.Allowed(callerOf(ctx).p, auth.BackupsRead, src.Name) {
			out.Sources = append(out.Sources, sourcePB(src))
		}
	}
	return out, nil
}

// source finds a source the caller may see (one they may not is not
// found either) and checks they may do a in it.
func (s *backupService) source(ctx context.Context, name string, a auth.Action) (appliance.SourceInfo, error) {
	for _, src := range s.g.d.Sources() {
		if src.Name == name && s.g.maySee(callerOf(ctx).p, auth.BackupsRead, name) {
			return src, s.g.require(ctx, a, name)
		}
	}
	return appliance.SourceInfo{}, status.Errorf(codes.NotFound, "no source %q — list them with GET /v1/sources", name)
}

func (s *backupService) GetSource(ctx context.Context, r *pb.SourceRequest) (_ *pb.Source, err error) {
	defer s.g.hidePaths(&err)
	src, err := s.source(ctx, r.Name, auth.BackupsRead)
	if err != nil {
		return nil, err
	}
	return sourcePB(src), nil
}

func sourceConfig(r *pb.Source) appliance.SourceConfig {
	c := appliance.SourceConfig{Name: r.Name, Path: r.Path, Mode: r.Mode, Schedule: r.Schedule}
	if rt := r.Retention; rt != nil {
		c.Retention = appliance.Retention{KeepLast: int(rt.KeepLast), KeepDaily: int(rt.KeepDaily), KeepWeekly: int(rt.KeepWeekly),
			KeepMonthly: int(rt.KeepMonthly), KeepYearly: int(rt.KeepYearly), LockDays: int(rt.LockDays), Until: rt.Until}
	}
	return c
}

func (s *backupService) CreateSource(ctx context.Context, r *pb.Source) (*pb.Source, error) {
	if err := s.g.require(ctx, auth.Settings, ""); err != nil {
		return nil, err
	}
	src, err := s.g.d.AddSource(sourceConfig(r))
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionConfigChanged, "source:"+r.Name, map[string]string{"op": "create", "path": r.Path})
	return sourcePB(src), nil
}

func (s *backupService) UpdateSource(ctx context.Context, r *pb.Source) (*pb.Source, error) {
	if err := s.g.require(ctx, auth.Settings, ""); err != nil {
		return nil, err
	}
	src, err := s.g.d.UpdateSource(sourceConfig(r))
	if err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionConfigChanged, "source:"+r.Name, map[string]string{"op": "update", "path": r.Path})
	return sourcePB(src), nil
}

func (s *backupService) DeleteSource(ctx context.Context, r *pb.SourceRequest) (*pb.Empty, error) {
	if err := s.g.require(ctx, auth.Settings, ""); err != nil {
		return nil, err
	}
	if err := s.g.d.RemoveSource(r.Name); err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionConfigChanged, "source:"+r.Name, map[string]string{"op": "delete"})
	return &pb.Empty{}, nil
}

func (s *backupService) RunSource(ctx context.Context, r *pb.SourceRequest) (_ *pb.Empty, err error) {
	defer s.g.hidePaths(&err)
	if _, err := s.source(ctx, r.Name, auth.BackupsWrite); err != nil {
		return nil, err
	}
	if err := s.g.d.RunSource(r.Name); err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

// WatchProgress sends the operations in progress once a second, and a
// final message for each as it finishes.
func (s *backupService) WatchProgress(_ *pb.WatchProgressRequest, stream pb.BackupService_WatchProgressServer) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	c := callerOf(stream.Context())
	for {
		for _, op := range s.g.d.Operations() {
			if !s.g.mayWatch(c.p, op) {
				continue
			}
			if err := stream.Send(opPB(op)); err != nil {
				return err
			}
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-t.C:
		}
	}
}

func snapshotPB(sn *vault.Snapshot, lockedUntil time.Time) *pb.Snapshot {
	out := &pb.Snapshot{Id: sn.ID().String(), Source: spaceOf(sn), Time: ts(sn.Time), Paths: sn.Paths, Host: sn.Hostname,
		Tags: sn.Tags, LockedUntil: ts(lockedUntil)}
	if sm := sn.Summary; sm != nil {
		out.Files = sm.FilesTotal
		out.Bytes = sm.BytesTotal
	}
	return out
}

func (s *backupService) ListSnapshots(ctx context.Context, r *pb.ListSnapshotsRequest) (_ *pb.ListSnapshotsResponse, err error) {
	defer s.g.hidePaths(&err)
	repo, err := s.g.repository()
	if err != nil {
		return nil, err
	}
	snaps, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	holds, err := repo.Holds(ctx)
	if err != nil {
		return nil, err
	}
	p := callerOf(ctx).p
	out := &pb.ListSnapshotsResponse{}
	for _, sn := range snaps {
		sp := spaceOf(sn)
		if (r.Source != "" && sp != r.Source) || !s.g.auth.Allowed(p, auth.BackupsRead, sp) {
			continue
		}
		out.Snapshots = append(out.Snapshots, snapshotPB(sn, holds[sn.ID()]))
	}
	sort.Slice(out.Snapshots, func(i, j int) bool { return out.Snapshots[i].Time.AsTime().After(out.Snapshots[j].Time.AsTime()) })
	return out, nil
}

// repository is the box's open repository, or why there is none: an
// offsite unit never holds the keys to one (appliance.ErrOffsite,
// FailedPrecondition); a home box has none open only before it is ready.
// Every route that reads or changes snapshots asks here first (or
// through snapshot), so none reaches a nil repository.
func (g *Gateway) repository() (*vault.Repository, error) {
	if r := g.d.Repository(); r != nil {
		return r, nil
	}
	if g.d.Configuration().Offsite() {
		return nil, appliance.ErrOffsite
	}
	return nil, status.Errorf(codes.Unavailable, "the repository is not open yet (%s): try again shortly", g.d.NotReady())
}

// snapshot finds a snapshot by ID (or prefix, or "latest") among those
// the caller may see, and checks they may do a in its space.
func (g *Gateway) snapshot(ctx context.Context, ref string, a auth.Action) (*vault.Snapshot, error) {
	if ref == "" {
		return nil, status.Error(codes.InvalidArgument, "a snapshot ID is required")
	}
	repo, err := g.repository()
	if err != nil {
		return nil, err
	}
	p := callerOf(ctx).p
	sn, err := repo.FindSnapshot(ctx, ref, vault.SnapshotFilter{
		Only: func(sn *vault.Snapshot) bool { return g.maySee(p, auth.BackupsRead, spaceOf(sn)) }})
	if err != nil {
		return nil, err
	}
	if err := g.require(ctx, a, spaceOf(sn)); err != nil {
		return nil, err
	}
	return sn, nil
}

// cleanPath makes p an absolute, clean snapshot path.
func cleanPath(p string) string {
	return path.Clean("/" + p)
}

func (s *backupService) BrowseSnapshot(ctx context.Context, r *pb.BrowseRequest) (_ *pb.BrowseResponse, err error) {
	defer s.g.hidePaths(&err)
	sn, err := s.g.snapshot(ctx, r.Id, auth.BackupsRead)
	if err != nil {
		return nil, err
	}
	p := cleanPath(r.Path)
	n, err := s.g.d.Repository().Lookup(ctx, sn.Tree, p)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "%s is not in snapshot %s — browse from \"/\"", p, sn.ID().Short())
	}
	out := &pb.BrowseResponse{Path: p}
	if n.Type != "dir" {
		out.Nodes = []*pb.Node{nodePB(n)}
		return out, nil
	}
	tree, err := s.g.d.Repository().LoadTree(ctx, *n.Subtree)
	if err != nil {
		return nil, err
	}
	for _, c := range tree.Nodes {
		out.Nodes = append(out.Nodes, nodePB(c))
	}
	return out, nil
}

func nodePB(n *vault.Node) *pb.Node {
	return &pb.Node{Name: n.Name, Type: n.Type, Size: int64(n.Size), Mtime: ts(n.ModTime), Mode: n.Mode}
}

func (s *backupService) DiffSnapshots(ctx context.Context, r *pb.DiffRequest) (_ *pb.DiffResponse, err error) {
	defer s.g.hidePaths(&err)
	a, err := s.g.snapshot(ctx, r.Id, auth.BackupsRead)
	if err != nil {
		return nil, err
	}
	b, err := s.g.snapshot(ctx, r.Other, auth.BackupsRead)
	if err != nil {
		return nil, err
	}
	out := &pb.DiffResponse{}
	kinds := map[string]string{"+": "added", "-": "removed", "M": "modified", "U": "metadata", "T": "type changed"}
	err = s.g.d.Repository().Diff(ctx, a.Tree, b.Tree, func(c vault.Change) error {
		if len(out.Changes) >= 100000 {
			return errors.New("more than 100000 changes; compare smaller folders")
		}
		out.Changes = append(out.Changes, &pb.Change{Path: c.Path, Change: kinds[c.Kind]})
		return nil
	})
	return out, err
}

// restoreTarget checks a restore's target: a folder named relative to
// the restore root (STATE/restores), new or empty, reached through real
// folders only (not through a link an earlier restore made). Answers and
// errors name it relative to the root: members never see box paths.
func (g *Gateway) restoreTarget(root *os.Root, target string) (string, error) {
	if target == "" {
		target = "restore-" + g.now().Format("2006-01-02-150405")
	}
	// "../../etc" is not quietly turned into root/etc, nor "/etc": the
	// caller is told, so that they know where the files go.
	t := filepath.Clean(target)
	if !filepath.IsLocal(t) || t == "." {
		return "", status.Errorf(codes.InvalidArgument, "target %q: give a folder name inside the box's restore folder (no leading /, no ..)", target)
	}
	dir := ""
	for _, e := range strings.Split(t, string(filepath.Separator)) {
		dir = filepath.Join(dir, e)
		fi, err := root.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return t, nil
		}
		if err != nil || !fi.IsDir() {
			return "", status.Errorf(codes.InvalidArgument, "target %s: %s is not a folder (a restored link or file?); choose a new folder", t, dir)
		}
	}
	// What is already in it is the restore's to judge (Existing): the
	// same rule as the command line's.
	return t, nil
}

func (s *backupService) Restore(ctx context.Context, r *pb.RestoreRequest) (_ *pb.RestoreResponse, err error) {
	defer s.g.hidePaths(&err)
	sn, err := s.g.snapshot(ctx, r.Id, auth.Restore)
	if err != nil {
		return nil, err
	}
	// One restore at a time: the box's disks serve one big write well.
	select {
	case s.g.restoreSem <- struct{}{}:
		defer func() { <-s.g.restoreSem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	root, err := s.g.d.OpenRestoreRoot()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	existing, err := vault.ParseExisting(r.Existing)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "existing: %v", err)
	}
	if r.NoKeep && existing != vault.ExistingOverwrite && existing != vault.ExistingVerify {
		return nil, status.Error(codes.InvalidArgument, `no_keep goes with "existing": "overwrite" or "verify"`)
	}
	target, err := s.g.restoreTarget(root, r.Target)
	if err != nil {
		return nil, err
	}
	opt := vault.RestoreOptions{Root: root, Target: target, Existing: existing, NoKeep: r.NoKeep}
	if p := cleanPath(r.Path); p != "/" {
		opt.Include = []string{p}
	}
	if err := s.g.restoreFits(ctx, sn, cleanPath(r.Path), root.Name()); err != nil {
		return nil, err
	}
	op := s.g.d.StartOperation("restore", spaceOf(sn), sn.ID().Short()+":"+cleanPath(r.Path))
	opt.Progress = func(p vault.Progress) { op.Update(p.Files, p.TotalFiles, p.Bytes, p.TotalBytes) }
	sum, err := s.g.d.Repository().Restore(ctx, sn, opt)
	op.Done(err)
	detail := map[string]string{"target": target}
	if existing != vault.ExistingRefuse {
		detail["existing"] = string(existing) // what it may have replaced
		if r.NoKeep {
			detail["no_keep"] = "true"
		}
	}
	s.g.record(ctx, audit.ActionRestore, sn.ID().String()+":"+cleanPath(r.Path), detail)
	if ee := (*vault.ExistingError)(nil); errors.As(err, &ee) {
		return nil, status.Errorf(codes.FailedPrecondition, `%v; to restore over what is there, set "existing" to "overwrite" (keeps each replaced file as NAME.shoebox-old unless "no_keep"), "skip" (restores only what is missing) or "verify" (replaces only what differs from the snapshot)`, ee)
	}
	if sum == nil {
		return nil, err
	}
	out := &pb.RestoreResponse{Files: sum.Files, Bytes: sum.Bytes, Target: target, Same: sum.Same, Skipped: sum.Skipped, Replaced: sum.Replaced}
	for _, e := range sum.Errors {
		out.Errors = append(out.Errors, s.g.d.HidePaths(e))
	}
	if err != nil && len(out.Errors) == 0 {
		return nil, err
	}
	return out, nil
}

// restoreFits refuses a restore of p of sn into dir (STATE/restores)
// that would bring the disk holding dir below the state disk's reserve
// and the margin above it, as uploads may not: a restore is as big as
// the files it writes, and nothing else bounds it. It is checked before
// the restore starts (one runs at a time).
func (g *Gateway) restoreFits(ctx context.Context, sn *vault.Snapshot, p, dir string) error {
	n, err := g.d.Repository().Lookup(ctx, sn.Tree, p)
	if err != nil {
		return status.Errorf(codes.NotFound, "%s is not in snapshot %s: nothing was restored", p, sn.ID().Short())
	}
	size := int64(n.Size)
	if n.Type == vault.NodeDir && n.Subtree != nil {
		size = treeSize(ctx, g.d.Repository(), *n.Subtree)
	}
	free, _, err := diskSpace(dir)
	if err != nil {
		return nil // not knowing is no reason to refuse; a full disk fails the restore anyway
	}
	if room := free - g.floor; size > room {
		return status.Errorf(codes.ResourceExhausted, "restoring %s needs %s, but the box's disk for restores (the state disk) has %s free above the %s it keeps for its own records: nothing was restored; restore a smaller folder, or delete earlier restores on the box (ask its owner), then try again",
			p, humanize.IBytes(uint64(size)), humanize.IBytes(uint64(max(room, 0))), humanize.IBytes(uint64(g.floor)))
	}
	return nil
}

// treeSize is the size of the files under tree: what restoring it
// writes. A subtree that cannot be read counts nothing, as the restore
// cannot write it either.
func treeSize(ctx context.Context, repo *vault.Repository, tree vault.ID) int64 {
	t, err := repo.LoadTree(ctx, tree)
	if err != nil {
		return 0
	}
	var size int64
	for _, n := range t.Nodes {
		switch {
		case n.Type == vault.NodeFile:
			size += int64(n.Size)
		case n.Type == vault.NodeDir && n.Subtree != nil:
			size += treeSize(ctx, repo, *n.Subtree)
		}
	}
	return size
}

// Download streams a file as it is, or a folder as a zip.
func (s *backupService) Download(r *pb.DownloadRequest, stream pb.BackupService_DownloadServer) (err error) {
	defer s.g.hidePaths(&err)
	ctx := stream.Context()
	sn, err := s.g.snapshot(ctx, r.Id, auth.Download)
	if err != nil {
		return err
	}
	p := cleanPath(r.Path)
	n, err := s.g.d.Repository().Lookup(ctx, sn.Tree, p)
	if err != nil {
		return status.Errorf(codes.NotFound, "%s is not in snapshot %s", p, sn.ID().Short())
	}
	s.g.record(ctx, audit.ActionDownload, sn.ID().String()+":"+p, nil)
	w := &bodyWriter{stream: stream}
	if n.Type == "file" {
		w.contentType = "application/octet-stream"
		if err := s.g.d.Repository().Dump(ctx, n, w); err != nil {
			return err
		}
		return w.flush()
	}
	if n.Type != "dir" {
		return status.Errorf(codes.FailedPrecondition, "%s is a %s; only files and folders can be downloaded", p, n.Type)
	}
	w.contentType = "application/zip"
	if err := writeZip(ctx, s.g.d.Repository(), sn, p, "", w); err != nil {
		return err
	}
	return w.flush()
}

// writeZip writes the folder at p of sn as a zip archive (stored, not
// compressed: photos and videos do not shrink), its entries under the
// folder base (the folder's own name when "").
func writeZip(ctx context.Context, repo *vault.Repository, sn *vault.Snapshot, p, base string, w io.Writer) error {
	n, err := repo.Lookup(ctx, sn.Tree, p)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	switch {
	case base != "":
	case p == "/":
		base = "snapshot-" + sn.ID().Short()
	default:
		base = path.Base(p)
	}
	err = repo.Walk(ctx, *n.Subtree, func(rel string, node *vault.Node) error {
		// Backslashes would be folder separators to some Windows unzip
		// tools: a file named `..\..\x` must not climb out.
		name := path.Join(base, strings.ReplaceAll(strings.TrimPrefix(rel, "/"), "\\", "_"))
		switch node.Type {
		case "dir":
			_, err := zw.CreateHeader(&zip.FileHeader{Name: name + "/", Modified: node.ModTime})
			return err
		case "file":
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: node.ModTime})
			if err != nil {
				return err
			}
			return repo.Dump(ctx, node, fw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

// bodyWriter turns a byte stream into HttpBody messages of up to 1 MiB.
type bodyWriter struct {
	stream      pb.BackupService_DownloadServer
	contentType string
	buf         []byte
	sent        bool
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), 1<<20-len(b.buf))
		b.buf = append(b.buf, p[:k]...)
		p = p[k:]
		if len(b.buf) == 1<<20 {
			if err := b.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (b *bodyWriter) flush() error {
	if len(b.buf) == 0 && b.sent {
		return nil
	}
	err := b.stream.Send(&httpbody.HttpBody{ContentType: b.contentType, Data: b.buf})
	b.buf, b.sent = b.buf[:0], true
	return err
}

func (s *backupService) LockSnapshot(ctx context.Context, r *pb.LockRequest) (_ *pb.Snapshot, err error) {
	defer s.g.hidePaths(&err)
	sn, err := s.g.snapshot(ctx, r.Id, auth.LocksSet)
	if err != nil {
		return nil, err
	}
	until, err := parseUntil(r.Until)
	if err != nil {
		return nil, err
	}
	if !until.After(s.g.now()) {
		return nil, status.Error(codes.InvalidArgument, "until must be in the future")
	}
	if limit := s.g.now().AddDate(0, 0, appliance.MaxLockDays); until.After(limit) {
		return nil, status.Errorf(codes.InvalidArgument, "until %s: a lock may last at most %d days (until %s); locks cannot be shortened once set",
			until.Format("2006-01-02"), appliance.MaxLockDays, limit.Format("2006-01-02"))
	}
	holds, err := s.g.d.Repository().Holds(ctx)
	if err != nil {
		return nil, err
	}
	// Locks only ever grow: an earlier date than the current lock is
	// refused, for everyone, the owner included.
	if cur := holds[sn.ID()]; until.Before(cur) {
		return nil, status.Errorf(codes.FailedPrecondition, "snapshot %s is locked until %s; locks cannot be shortened or removed",
			sn.ID().Short(), cur.Format(time.RFC3339))
	}
	if err := s.g.d.Repository().Hold(ctx, sn.ID(), until); err != nil {
		return nil, err
	}
	s.g.record(ctx, audit.ActionLock, sn.ID().String(), map[string]string{"until": until.Format(time.RFC3339)})
	return snapshotPB(sn, until), nil
}

func parseUntil(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, status.Errorf(codes.InvalidArgument, "until %q: give a date (2027-12-31) or an RFC 3339 time", s)
}

// ForgetSnapshots forgets snapshots (and prunes) through the daemon,
// under its exclusive repository lock; holds are respected (vault).
func (s *backupService) ForgetSnapshots(ctx context.Context, r *pb.ForgetRequest) (_ *pb.ForgetResponse, err error) {
	defer s.g.hidePaths(&err)
	opt := vault.ForgetOptions{IDs: r.Snapshots, Prune: r.Prune, DryRun: r.DryRun}
	if p := r.Policy; p != nil {
		opt.Policy = vault.Policy{Last: int(p.Last), Hourly: int(p.Hourly), Daily: int(p.Daily), Weekly: int(p.Weekly),
			Monthly: int(p.Monthly), Yearly: int(p.Yearly), Tags: p.Tags}
		if p.Within != "" {
			d, err := units.ParseRetention(p.Within)
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "policy.within: %v", err)
			}
			opt.Policy.Within = d
		}
		for _, n := range []int32{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
			if n < 0 {
				return nil, status.Error(codes.InvalidArgument, "policy: keep counts are 0 or more")
			}
		}
	}
	if len(opt.IDs) == 0 && opt.Policy.Empty() {
		return nil, status.Error(codes.InvalidArgument, "give snapshot IDs or a keep policy; an empty policy would remove every snapshot")
	}
	if r.Source != "" {
		opt.Filter.Tags = []string{appliance.SourceTag + r.Source}
	}
	rep, err := s.g.d.Forget(ctx, opt)
	if err != nil {
		return nil, err
	}
	out := &pb.ForgetResponse{DryRun: rep.DryRun, Prune: prunePB(rep.Prune)}
	var removed []string
	for _, d := range rep.Decisions {
		out.Decisions = append(out.Decisions, &pb.ForgetDecision{Id: d.ID, Time: timestamppb.New(d.Time), Keep: d.Keep, Reasons: d.Reasons})
		if !d.Keep {
			removed = append(removed, d.ID)
		}
	}
	if !r.DryRun {
		detail := map[string]string{"removed": strings.Join(removed, ",")}
		if rep.Prune != nil {
			detail["bytes_freed"] = strconv.FormatInt(rep.Prune.BytesFreed, 10)
		}
		s.g.record(ctx, "backups.forget", "snapshots", detail)
	}
	return out, nil
}

// Prune removes unreferenced data through the daemon.
func (s *backupService) Prune(ctx context.Context, r *pb.PruneRequest) (_ *pb.PruneResult, err error) {
	defer s.g.hidePaths(&err)
	res, err := s.g.d.Prune(ctx, r.DryRun)
	if err != nil {
		return nil, err
	}
	if !r.DryRun {
		s.g.record(ctx, "backups.prune", "repository", map[string]string{"bytes_freed": strconv.FormatInt(res.BytesFreed, 10)})
	}
	return prunePB(res), nil
}

func prunePB(r *vault.PruneResult) *pb.PruneResult {
	if r == nil {
		return nil
	}
	return &pb.PruneResult{PacksDeleted: int64(r.PacksDeleted), PacksRepacked: int64(r.PacksRepacked), PacksKept: int64(r.PacksKept),
		BlobsRemoved: int64(r.BlobsRemoved), BytesFreed: r.BytesFreed, IndexesRemoved: int64(r.IndexesRemoved), DryRun: r.DryRun}
}
