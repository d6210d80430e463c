package appliance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"sync"
	"time"
)

// Kinds of long operations the daemon reports in its status.
const (
	OpBackup       = "backup"
	OpScrub        = "scrub"
	OpRebuild      = "rebuild"  // a replaced disk's shards rebuilt
	OpEvacuate     = "evacuate" // shards moved off a failing disk
	OpRestoreDrill = "restore-drill"
	OpRestore      = "restore"
	OpForget       = "forget"
	OpPrune        = "prune" // also a forget with prune
)

// keepFinished is how long a finished operation stays in the list, so a
// client polling every few seconds sees it end (and how).
var keepFinished = time.Minute

// Operation is a long operation (a backup, a scrub, a rebuild, a restore
// drill) as the API shows it: in progress, or finished within the last
// minute. Totals are 0 while unknown; scrubs and rebuilds count the
// array's objects as files and report no bytes. In JSON, ETA is
// "eta_seconds".
type Operation struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`    // backup, scrub, rebuild, evacuate, restore-drill, restore, forget, prune
	Subject string `json:"subject"` // the source, "array", the disk, the snapshot
	// Space is the source whose data the operation touches ("" for the
	// whole box), for access control.
	Space      string        `json:"space,omitempty"`
	FilesDone  int64         `json:"files_done"`
	FilesTotal int64         `json:"files_total"`
	BytesDone  int64         `json:"bytes_done"`
	BytesTotal int64         `json:"bytes_total"`
	Rate       float64       `json:"rate_bytes_per_sec"` // average since Started
	ETA        time.Duration `json:"-"`                  // 0: unknown, or finished
	Started    time.Time     `json:"started"`
	Done       bool          `json:"done"`
	Finished   *time.Time    `json:"finished,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// MarshalJSON adds eta_seconds.
func (o Operation) MarshalJSON() ([]byte, error) {
	type plain Operation
	return json.Marshal(struct {
		plain
		ETASeconds float64 `json:"eta_seconds"`
	}{plain(o), math.Round(o.ETA.Seconds())})
}

// operations is the daemon's registry of long operations; every kind
// reports through it. It is safe for concurrent use.
type operations struct {
	mu   sync.Mutex
	seq  uint64
	ops  map[string]*Op
	now  func() time.Time
	keep time.Duration
	// hide names the box's places in an error instead of their paths
	// (Daemon.HidePaths); nil keeps errors as they are.
	hide func(string) string
}

func newOperations() *operations {
	return &operations{ops: map[string]*Op{}, now: time.Now, keep: keepFinished}
}

// Op is one operation's handle: Update as it goes, Done once at the end.
// Its methods may be called from any goroutine.
type Op struct {
	reg *operations
	seq uint64 // registration order, to list operations started at the same instant stably
	mu  sync.Mutex
	op  Operation
}

// start registers an operation that begins now.
func (o *operations) start(kind, space, subject string) *Op {
	var b [8]byte
	rand.Read(b[:])
	h := &Op{reg: o, op: Operation{ID: hex.EncodeToString(b[:]), Kind: kind, Space: space, Subject: subject, Started: o.now()}}
	o.mu.Lock()
	o.seq++
	h.seq = o.seq
	o.ops[h.op.ID] = h
	o.mu.Unlock()
	return h
}

// Update records the progress so far; a total of 0 means unknown.
func (h *Op) Update(filesDone, filesTotal, bytesDone, bytesTotal int64) {
	h.mu.Lock()
	h.op.FilesDone, h.op.FilesTotal, h.op.BytesDone, h.op.BytesTotal = filesDone, filesTotal, bytesDone, bytesTotal
	h.mu.Unlock()
}

// Done ends the operation; err (nil for success) is reported with it,
// with the box's places named instead of their paths (HidePaths): the
// gateway shows operations to everyone who may read their space. The
// daemon's log keeps the full text. Calls after the first are ignored.
func (h *Op) Done(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.op.Finished != nil {
		return
	}
	t := h.reg.now()
	h.op.Finished, h.op.Done = &t, true
	if err != nil {
		h.op.Error = err.Error()
		if h.reg.hide != nil {
			h.op.Error = h.reg.hide(h.op.Error)
		}
	}
}

// snapshot returns the operation with its rate and ETA as of now.
func (h *Op) snapshot(now time.Time) Operation {
	h.mu.Lock()
	op := h.op
	h.mu.Unlock()
	end := now
	if op.Finished != nil {
		end = *op.Finished
	}
	elapsed := end.Sub(op.Started).Seconds()
	if elapsed > 0 {
		op.Rate = float64(op.BytesDone) / elapsed
	}
	if !op.Done && elapsed > 0 {
		var secs float64
		switch {
		case op.BytesTotal > op.BytesDone && op.Rate > 0:
			secs = float64(op.BytesTotal-op.BytesDone) / op.Rate
		case op.BytesTotal == 0 && op.FilesTotal > op.FilesDone && op.FilesDone > 0:
			secs = elapsed / float64(op.FilesDone) * float64(op.FilesTotal-op.FilesDone)
		}
		op.ETA = time.Duration(secs * float64(time.Second))
	}
	return op
}

// List returns the operations in progress and those finished within the
// last minute, in the order they started; it forgets older finished ones.
func (o *operations) list() []Operation {
	now := o.now()
	o.mu.Lock()
	hs := make([]*Op, 0, len(o.ops))
	for _, h := range o.ops {
		hs = append(hs, h)
	}
	o.mu.Unlock()
	sort.Slice(hs, func(i, j int) bool { return hs[i].seq < hs[j].seq })
	out := make([]Operation, 0, len(hs))
	for _, h := range hs {
		op := h.snapshot(now)
		if op.Done && now.Sub(*op.Finished) > o.keep {
			o.mu.Lock()
			delete(o.ops, op.ID)
			o.mu.Unlock()
			continue
		}
		out = append(out, op)
	}
	return out
}

// Operations returns the box's long operations: those in progress and
// those finished within the last minute, oldest first (the gateway
// serves them to the phone).
func (d *Daemon) Operations() []Operation { return d.ops.list() }

// StartOperation registers a long operation that begins now: kind (Op*
// constants), space (the source whose data it touches, "" for the box)
// and subject. Report progress with Update and the end with Done.
func (d *Daemon) StartOperation(kind, space, subject string) *Op {
	return d.ops.start(kind, space, subject)
}
