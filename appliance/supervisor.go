package appliance

import (
	"context"
	"errors"
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

// ErrShuttingDown is returned when a task is started while the daemon
// stops: nothing was started; start it again once shoeboxd runs.
var ErrShuttingDown = errors.New("shoeboxd is shutting down; try again once it has restarted")

// Supervisor owns every goroutine of the daemon's background work:
// services (Add), restarted when they return or panic, and one-shot
// tasks (Go: an admin operation, a scrub started by hand, an alert
// notification). Wait waits for all of them; once Wait has been called
// nothing new starts (Add and Go refuse), so that nothing outlives the
// repository the daemon closes after Wait.
//
// A service that returns or panics is restarted with exponential
// backoff (1 s doubling to 5 min, reset after a minute of good running),
// raising an alert each time: one failing service never takes the box
// down.
type Supervisor struct {
	Bus    *Bus
	Logger *slog.Logger

	mu       sync.Mutex
	stopping bool // Wait called: start nothing new
	wg       sync.WaitGroup
}

// track counts a new goroutine in, unless the supervisor is stopping.
func (s *Supervisor) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.wg.Add(1)
	return true
}

// Add starts a named service under supervision until ctx ends. The
// channel it returns is closed once the service has returned for good
// (ctx ended and Serve returned): stopping one service (a source
// removed) cancels its ctx and waits on it. After Wait has been called
// nothing is started and the channel is already closed.
func (s *Supervisor) Add(ctx context.Context, name string, svc Service) <-chan struct{} {
	done := make(chan struct{})
	if !s.track() {
		close(done)
		return done
	}
	go func() {
		defer s.wg.Done()
		defer close(done)
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
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, 5*time.Minute)
		}
	}()
	return done
}

// Go runs fn once in its own goroutine, which Wait waits for; ctx ends
// when the daemon stops. A panic in fn is logged, not fatal. It returns
// ErrShuttingDown, without running fn, once Wait has been called.
func (s *Supervisor) Go(ctx context.Context, name string, fn func(ctx context.Context)) error {
	if !s.track() {
		return ErrShuttingDown
	}
	go func() {
		defer s.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				s.logger().Error(fmt.Sprintf("task %s panicked: %v", name, r))
			}
		}()
		fn(ctx)
	}()
	return nil
}

// Wait refuses new services and tasks, then waits for every one started
// to return. Call it after cancelling their ctx.
func (s *Supervisor) Wait() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.wg.Wait()
}

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
