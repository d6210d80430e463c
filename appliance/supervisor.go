package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Service is a long-running part of the daemon.
type Service interface {
	Serve(ctx context.Context) error
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(ctx context.Context) error

// Serve implements Service.
func (f ServiceFunc) Serve(ctx context.Context) error { return f(ctx) }

// Supervisor runs services and restarts any that returns or panics, with
// exponential backoff (1 s doubling to 5 min, reset after a minute of
// good running), raising an alert each time: one failing service never
// takes the box down.
type Supervisor struct {
	Bus    *Bus
	Logger *slog.Logger
	wg     sync.WaitGroup
}

// Add starts a named service under supervision until ctx ends.
func (s *Supervisor) Add(ctx context.Context, name string, svc Service) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		backoff := time.Second
		for ctx.Err() == nil {
			start := time.Now()
			err := runSafely(ctx, svc)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > time.Minute {
				backoff = time.Second
			}
			msg := fmt.Sprintf("service %s stopped: %v; restarting in %s", name, err, backoff)
			s.logger().Error(msg)
			if s.Bus != nil {
				s.Bus.Raise("service", "service/"+name, Warning, "A part of the box restarted", msg)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Minute)
		}
	}()
}

// Wait waits for every service to return (after ctx ends).
func (s *Supervisor) Wait() { s.wg.Wait() }

func (s *Supervisor) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func runSafely(ctx context.Context, svc Service) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	if err = svc.Serve(ctx); err == nil {
		err = fmt.Errorf("returned")
	}
	return err
}
