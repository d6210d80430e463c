package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	// Ctrl-C (or SIGTERM) cancels the command: a backup stops between
	// files, a request to shoeboxd is abandoned.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := profiled(func() int { return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr) })
	stop()
	os.Exit(code)
}

// profiled runs fn, writing a CPU profile of it when SHOEBOX_CPUPROFILE
// names a file, for `go tool pprof` (make bench uses it to show where
// time goes).
func profiled(fn func() int) int {
	p := os.Getenv("SHOEBOX_CPUPROFILE")
	if p == "" {
		return fn()
	}
	f, err := os.Create(p)
	if err != nil {
		return fn()
	}
	defer f.Close()
	pprof.StartCPUProfile(f)
	defer pprof.StopCPUProfile()
	return fn()
}
