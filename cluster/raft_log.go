package cluster

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// DefaultRaftLogLevel is the least severe of Raft's messages that reach
// the unit's log: warnings and errors. Raft tells of every election, every
// pipeline and every snapshot at Info, which on a box is noise.
const DefaultRaftLogLevel = hclog.Warn

// raftLogger passes Raft's hclog messages to a slog.Logger, those at or
// above a level only. Raft logs indexes, terms, server IDs, addresses and
// errors, never the data of a log entry, so nothing secret reaches the log
// through it.
type raftLogger struct {
	log     *slog.Logger
	name    string
	level   *atomic.Int32 // an hclog.Level, shared by the loggers made With or Named
	implied []any
}

var _ hclog.Logger = (*raftLogger)(nil)

// newRaftLogger returns an hclog.Logger for Raft that writes to log (nil:
// nowhere) from level on (hclog.NoLevel: DefaultRaftLogLevel).
func newRaftLogger(l *slog.Logger, level hclog.Level) *raftLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	if level == hclog.NoLevel {
		level = DefaultRaftLogLevel
	}
	r := &raftLogger{log: l, name: "raft", level: new(atomic.Int32)}
	r.level.Store(int32(level))
	return r
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (r *raftLogger) enabled(l hclog.Level) bool {
	min := hclog.Level(r.level.Load())
	return min != hclog.Off && l >= min
}

func (r *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	if !r.enabled(level) {
		return
	}
	attrs := append([]any{"component", r.name}, r.implied...)
	r.log.Log(context.Background(), slogLevel(level), msg, append(attrs, args...)...)
}

func (r *raftLogger) Trace(msg string, args ...any) { r.Log(hclog.Trace, msg, args...) }
func (r *raftLogger) Debug(msg string, args ...any) { r.Log(hclog.Debug, msg, args...) }
func (r *raftLogger) Info(msg string, args ...any)  { r.Log(hclog.Info, msg, args...) }
func (r *raftLogger) Warn(msg string, args ...any)  { r.Log(hclog.Warn, msg, args...) }
func (r *raftLogger) Error(msg string, args ...any) { r.Log(hclog.Error, msg, args...) }

func (r *raftLogger) IsTrace() bool { return r.enabled(hclog.Trace) }
func (r *raftLogger) IsDebug() bool { return r.enabled(hclog.Debug) }
func (r *raftLogger) IsInfo() bool  { return r.enabled(hclog.Info) }
func (r *raftLogger) IsWarn() bool  { return r.enabled(hclog.Warn) }
func (r *raftLogger) IsError() bool { return r.enabled(hclog.Error) }

func (r *raftLogger) ImpliedArgs() []any { return r.implied }

func (r *raftLogger) With(args ...any) hclog.Logger {
	c := *r
	c.implied = append(append([]any(nil), r.implied...), args...)
	return &c
}

func (r *raftLogger) Name() string { return r.name }

func (r *raftLogger) Named(name string) hclog.Logger {
	c := *r
	c.name = r.name + "." + name
	return &c
}

func (r *raftLogger) ResetNamed(name string) hclog.Logger {
	c := *r
	c.name = name
	return &c
}

func (r *raftLogger) SetLevel(l hclog.Level) { r.level.Store(int32(l)) }
func (r *raftLogger) GetLevel() hclog.Level  { return hclog.Level(r.level.Load()) }

func (r *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(r.StandardWriter(opts), "", 0)
}

// StandardWriter logs each line written to it, at opts.ForceLevel or Info.
func (r *raftLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return lineWriter(func(line string) { r.Log(level, line) })
}

type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			w(string(line))
		}
	}
	return len(p), nil
}
