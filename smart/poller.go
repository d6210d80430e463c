package smart

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Status is one disk's latest reading and verdict.
type Status struct {
	Path     string    `json:"path"`
	Key      string    `json:"key"`
	Record   *Record   `json:"record"`
	Verdict  Verdict   `json:"verdict"`
	Baseline *Baseline `json:"baseline,omitempty"`
}

// Event reports a disk whose verdict changed.
type Event struct {
	Time    time.Time `json:"time"`
	Path    string    `json:"path"`
	Key     string    `json:"key"`
	Model   string    `json:"model,omitempty"`
	Serial  string    `json:"serial,omitempty"`
	WWN     string    `json:"wwn,omitempty"`
	From    State     `json:"from"`
	To      State     `json:"to"`
	Verdict Verdict   `json:"verdict"`
}

// Poller reads every disk's health on an interval, judges it against its
// history and baseline, keeps the history, and publishes an Event when a
// verdict changes. It never wakes a sleeping disk: a disk in standby
// keeps its last verdict until it is awake at a later poll.
type Poller struct {
	// Discover lists the disks to read (default: Discover, the machine's
	// block devices).
	Discover func() ([]Disk, error)
	// History keeps readings; required.
	History *History
	// Interval between polls (default 30 minutes).
	Interval time.Duration
	// ArrayErrors returns the disk array's own error counts for a disk
	// (matched by serial or WWN); optional.
	ArrayErrors func(r *Record) ArrayErrors
	Logger      *slog.Logger
	Now         func() time.Time

	mu   sync.Mutex
	subs []chan Event
	last []Status
}

// Subscribe returns a channel receiving every Event. Events are dropped
// for a subscriber whose buffer is full (a slow consumer must not stop
// health checks); the next poll still reports the current state.
func (p *Poller) Subscribe(buffer int) <-chan Event {
	ch := make(chan Event, buffer)
	p.mu.Lock()
	p.subs = append(p.subs, ch)
	p.mu.Unlock()
	return ch
}

// Last returns the statuses of the latest poll.
func (p *Poller) Last() []Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Status(nil), p.last...)
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Poll reads every disk once.
func (p *Poller) Poll(ctx context.Context) ([]Status, error) {
	discover := p.Discover
	if discover == nil {
		discover = Discover
	}
	disks, err := discover()
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	var out []Status
	for _, d := range disks {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		st, ev, err := p.pollDisk(ctx, d)
		if err != nil {
			p.logger().Warn("smart: cannot keep history", "disk", d.Path, "err", err)
		}
		out = append(out, st)
		if ev != nil {
			p.publish(*ev)
		}
	}
	p.mu.Lock()
	p.last = out
	p.mu.Unlock()
	return out, nil
}

func (p *Poller) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *Poller) pollDisk(ctx context.Context, d Disk) (Status, *Event, error) {
	now := p.now()
	rec, err := d.Reader.Read(ctx)
	if err != nil || rec == nil {
		msg := "no reading"
		if err != nil {
			msg = err.Error()
		}
		rec = &Record{Device: d.Path, Unknown: "health unknown: " + msg}
	}
	if rec.Device == "" {
		rec.Device = d.Path
	}
	if rec.Time.IsZero() {
		rec.Time = now
	}
	key := Key(rec)
	hist, herr := p.History.Load(key)
	if herr != nil {
		hist = &DiskHistory{Key: key}
	}
	var arr ArrayErrors
	if p.ArrayErrors != nil {
		arr = p.ArrayErrors(rec)
	}
	prev := Unknown
	if n := len(hist.Samples); n > 0 {
		prev = hist.Samples[n-1].State
	}
	st := Status{Path: d.Path, Key: key, Record: rec, Baseline: hist.Baseline}
	if rec.Standby && len(hist.Samples) > 0 {
		// Asleep: keep the last verdict, do not record a sample.
		last := hist.Samples[len(hist.Samples)-1]
		st.Verdict = Verdict{State: last.State, Reasons: []string{fmt.Sprintf("disk asleep, not woken; last reading %s", last.Time.Local().Format("2006-01-02 15:04"))}}
		return st, nil, herr
	}
	st.Verdict = Evaluate(rec, hist.Samples, hist.Baseline, arr, now)
	if err := p.History.Append(rec, SampleOf(rec, arr, st.Verdict)); err != nil {
		herr = err
	}
	var ev *Event
	if st.Verdict.State != prev && !(prev == Unknown && st.Verdict.State == OK && len(hist.Samples) == 0) {
		ev = &Event{Time: now, Path: d.Path, Key: key, Model: rec.Model, Serial: rec.Serial, WWN: rec.WWN,
			From: prev, To: st.Verdict.State, Verdict: st.Verdict}
	}
	return st, ev, herr
}

func (p *Poller) publish(ev Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// No serial at INFO: it identifies the owner's hardware, and INFO
	// lines end up in support bundles; the path and model say which disk.
	p.logger().Info("smart: disk verdict changed", "disk", ev.Path, "model", ev.Model, "from", ev.From, "to", ev.To)
	for _, ch := range p.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Serve polls until ctx ends.
func (p *Poller) Serve(ctx context.Context) error {
	interval := p.Interval
	if interval <= 0 {
		interval = 30 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.logger().Warn("smart: poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
