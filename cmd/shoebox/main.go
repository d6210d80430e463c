// Command shoebox is the Shoebox command line: backups, restores and
// repository maintenance, directly on a repository.
package main

import (
	"os"

	"github.com/shoebox/shoebox/appliance/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
