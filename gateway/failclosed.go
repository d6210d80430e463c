package gateway

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway/audit"
)

// Fail closed (docs/GATEWAY.md, "Audit log"): a change whose audit
// record cannot be written is not made. Before an audited call runs, the
// gateway checks that the audit log is writable and that the state disk
// is above its reserve (uploads and restores stop a margin above it;
// only something else filling the disk gets there); otherwise the call
// is refused, Unavailable, before anything changed. If a record fails
// anyway (the disk filled during the call), the log is marked broken: a
// critical alert, /healthz 503, and every further change refused until
// an append succeeds again (tried on the next change and every half
// minute).

// Default upload quota and state reserve (docs/DAEMON.md), and the
// margin uploads and restores leave above the reserve.
const (
	defaultQuotaPercent   = 25
	defaultReservePercent = 5
	minReserve            = 1 << 30
	maxReserve            = 16 << 30
	maxReserveShare       = 10 // % of the disk, whatever the above say
	minMargin             = 256 << 20
)

// diskSpace is the free (for unprivileged users) and total bytes of the
// file system holding dir.
func diskSpace(dir string) (free, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}

// reserveFor is the state disk's reserve: the configured bytes or share
// of the disk, else 5 % of it, at least 1 GiB and at most 16 GiB, and
// never more than a tenth of the disk. A 32 GB SD card keeps 1.6 GB, a
// 4 TB disk 16 GiB: room for years of audit log, the database and the
// daemon's history, without locking away a big disk's space.
func reserveFor(cfg appliance.Size, total int64) int64 {
	switch {
	case cfg.Set && cfg.Percent > 0:
		return int64(cfg.Percent / 100 * float64(total))
	case cfg.Set:
		return cfg.Bytes
	}
	r := min(max(total*defaultReservePercent/100, minReserve), maxReserve)
	return min(r, total*maxReserveShare/100)
}

// marginFor is the room above the reserve that uploads and restores
// leave free as well: half the reserve, at least 256 MiB, and never more
// than the reserve itself. The reserve is for the box's own records;
// uploads and restores stop a margin above it, so that what comes after
// them — the records of the calls that filled the disk, the refused
// calls after, the database growing — lands in the margin, and only
// something else filling the disk brings it below the reserve, where
// every change is refused. 256 MiB is half a million audit entries; on a
// small disk (a reserve under 256 MiB: under 2.5 GB) the margin is the
// reserve, so the two together keep at most a fifth of the disk.
func marginFor(reserve int64) int64 { return min(max(reserve/2, minMargin), reserve) }

// quotaFor is the upload quota: the configured bytes, or a share (25 %
// by default) of the state disk's free space at the time. It bounds what
// one account's uploads take of the state disk: its unfinished uploads
// and what it received onto that disk in the last day (upload.QuotaWindow).
func quotaFor(cfg appliance.Size) func(free int64) int64 {
	if cfg.Set && cfg.Percent == 0 {
		return func(int64) int64 { return cfg.Bytes }
	}
	pct := float64(defaultQuotaPercent)
	if cfg.Set {
		pct = cfg.Percent
	}
	return func(free int64) int64 { return int64(pct / 100 * float64(free)) }
}

// stateSpace is the state disk's free space now.
func (g *Gateway) stateSpace() (free, total int64, err error) { return diskSpace(g.opt.Dir) }

// Problems the gateway reports in /healthz and alerts.
const (
	problemAudit = "audit log"
	problemDisk  = "state disk"
	alertAudit   = "audit-unwritable"
	alertDisk    = "state-disk-low"
)

// auditReady refuses an audited call, before it runs, while its record
// could not be written: the log is broken (and a retry fails), or the
// state disk is below its reserve (unless the call frees space or takes
// access away).
func (g *Gateway) auditReady(rule auditRule) error {
	if err := g.auditWritable(); err != nil {
		return err
	}
	if rule.relief {
		return nil
	}
	return g.checkReserve()
}

// auditWritable retries a broken log with an "audit.resumed" entry; nil
// when the log is writable.
func (g *Gateway) auditWritable() error {
	g.aud.mu.Lock()
	defer g.aud.mu.Unlock()
	if g.aud.broken == nil {
		return nil
	}
	_, err := g.audit.Append(audit.Entry{Actor: "shoebox", Action: "audit.resumed", Result: audit.ResultOK, Detail: map[string]string{
		"since": g.aud.since.UTC().Format(time.RFC3339), "refused": fmt.Sprint(g.aud.refused), "failure": g.aud.broken.Error()}})
	if err != nil {
		g.aud.broken = err
		g.aud.refused++
		return status.Errorf(codes.Unavailable, "the audit log cannot be written (%s), so the box makes no changes: nothing was changed — ask the box's owner to %s, then try again", plainCause(err), nextStep(err))
	}
	g.log.Warn("the audit log can be written again", "since", g.aud.since, "refused", g.aud.refused)
	g.aud.broken, g.aud.refused = nil, 0
	g.setProblem(problemAudit, "")
	if g.d != nil {
		g.d.Alerts().Resolve(alertAudit, "The audit log can be written again.")
	}
	return nil
}

// auditBroken marks the log broken after a failed append: the change has
// happened but its record is missing, so nothing else may change until
// the log can be written.
func (g *Gateway) auditBroken(action string, err error) {
	g.aud.mu.Lock()
	first := g.aud.broken == nil
	g.aud.broken = err
	if first {
		g.aud.since = g.now()
	}
	g.aud.mu.Unlock()
	g.log.Error("audit log append failed; the box refuses changes until it can write it again", "action", action, "err", err)
	if !first {
		return
	}
	msg := fmt.Sprintf("The record of %q could not be written: %s (%v). Until the audit log can be written again the box refuses every change (reads keep working). To fix it, %s; the box retries on its own every 30 s.", action, plainCause(err), err, nextStep(err))
	g.setProblem(problemAudit, "cannot be written: "+plainCause(err)+"; changes are refused until it can be: "+nextStep(err))
	if g.d != nil {
		g.d.Alerts().Raise("audit", alertAudit, appliance.Critical, "The audit log cannot be written", msg)
	}
}

// checkReserve refuses a change while the state disk is below its
// reserve, and reports the state (a problem and a critical alert while
// it lasts).
func (g *Gateway) checkReserve() error {
	free, total, err := g.stateSpace()
	if err != nil {
		return nil // not knowing is no reason to stop; a failed append is caught anyway
	}
	reserve := g.reserve
	low := free < reserve
	g.aud.mu.Lock()
	was := g.aud.low
	g.aud.low = low
	g.aud.mu.Unlock()
	switch {
	case low && !was:
		g.setProblem(problemDisk, fmt.Sprintf("%s free of %s, below its reserve of %s: changes are refused until space is freed",
			humanize.IBytes(uint64(max(free, 0))), humanize.IBytes(uint64(total)), humanize.IBytes(uint64(reserve))))
		if g.d != nil {
			g.d.Alerts().Raise("audit", alertDisk, appliance.Critical, "The state disk is almost full: the box refuses changes",
				fmt.Sprintf("The disk holding the box's state (%s) has %s free, below the %s kept for the audit log and the box's own records. Uploads and restores stop well above that reserve: something else filled it. Until space is freed the box refuses every change it could not audit.",
					g.opt.Dir, humanize.IBytes(uint64(max(free, 0))), humanize.IBytes(uint64(reserve))))
		}
	case !low && was:
		g.setProblem(problemDisk, "")
		if g.d != nil {
			g.d.Alerts().Resolve(alertDisk, "The state disk has room again.")
		}
	}
	if low {
		return status.Errorf(codes.Unavailable, "the audit log cannot be written safely: the box's state disk has %s free, below the %s it keeps for the audit log and its own records — nothing was changed; free space on the box (ask its owner), then try again",
			humanize.IBytes(uint64(max(free, 0))), humanize.IBytes(uint64(reserve)))
	}
	return nil
}

// retryAudit is the periodic check: retry a broken log, and notice a
// state disk that got its room back.
func (g *Gateway) retryAudit() {
	g.auditWritable()
	g.checkReserve()
}

func (g *Gateway) setProblem(what, msg string) {
	if g.d != nil {
		g.d.SetProblem(what, msg)
	}
}

// nextStep says what to do about a write that failed for err.
func nextStep(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "free space on the state disk (earlier restores in STATE/restores, files in a space's folder on that disk, other programs' files)"
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EIO):
		return "check the state disk (the box's log, journalctl -u shoeboxd, says what failed) and replace it if it is failing"
	}
	return "free space on the state disk or repair it (the box's log, journalctl -u shoeboxd, says what failed)"
}

// plainCause says why a write failed without the box's paths.
func plainCause(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "the state disk is full"
	case errors.Is(err, syscall.EROFS):
		return "the state disk is read-only"
	case errors.Is(err, syscall.EIO):
		return "the state disk has I/O errors"
	}
	return "a write error"
}
