// Command shoebox is the Shoebox command line: backups, restores and
// repository maintenance, directly on a repository.
package main

import (
	"os"
	"runtime/pprof"

	"github.com/shoebox/shoebox/appliance/cli"
)

func main() {
	// SHOEBOX_CPUPROFILE=file writes a CPU profile of the whole run, for
	// `go tool pprof` (make bench uses it to show where time goes).
	if p := os.Getenv("SHOEBOX_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			code := cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
