package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoebox/shoebox/vault"
)

// Exit codes, as restic's where they overlap.
const (
	ExitOK         = 0
	ExitError      = 1
	ExitIncomplete = 3  // backup made a snapshot but skipped unreadable files
	ExitNoRepo     = 10 // no repository at the location
	ExitLocked     = 11 // repository locked by another process
	ExitWrongPass  = 12 // no key opens with the passphrase
)

type globals struct {
	repo         string
	passwordFile string
	identityFile string
	json         bool
	quiet        bool
	stdout       io.Writer
	stderr       io.Writer
	stdin        io.Reader
	// besideDaemon: the array is shoeboxd's, opened read-only.
	besideDaemon bool
	// daemonTimeout bounds a quick call to shoeboxd; 0 is quickTimeout
	// (tests shorten it).
	daemonTimeout time.Duration
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run runs the command line with args (without the program name) and
// returns the process exit code. Cancelling ctx (main cancels it on
// Ctrl-C or SIGTERM) stops the command.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr, stdin: stdin}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if cause := context.Cause(ctx); cause != nil && !strings.Contains(err.Error(), cause.Error()) {
		// Say why the operation stopped ("context canceled" does not).
		err = fmt.Errorf("%v: %w", cause, err)
	}
	code := ExitError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.Is(err, vault.ErrNotRepository):
		code = ExitNoRepo
	case errors.Is(err, vault.ErrLocked):
		code = ExitLocked
	case errors.Is(err, vault.ErrWrongPassphrase):
		code = ExitWrongPass
	}
	if g.json {
		json.NewEncoder(stdout).Encode(map[string]any{"error": err.Error(), "exit_code": code})
	}
	fmt.Fprintf(stderr, "shoebox: %v\n", err)
	return code
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "shoebox",
		Short: "Shoebox: encrypted, deduplicated backups of photo libraries",
		Long: `shoebox backs up folders into an encrypted, deduplicated repository and
restores them. Every repository file is a standard age file.

The repository is given with --repo or SHOEBOX_REPO; the passphrase comes from
SHOEBOX_PASSWORD_FILE, SHOEBOX_PASSWORD or a prompt. "latest" works wherever a
snapshot ID does.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.repo, "repo", "r", os.Getenv("SHOEBOX_REPO"), "repository `location` (env SHOEBOX_REPO)")
	pf.StringVar(&g.passwordFile, "password-file", os.Getenv("SHOEBOX_PASSWORD_FILE"), "read the passphrase from `file` (env SHOEBOX_PASSWORD_FILE)")
	pf.StringVar(&g.identityFile, "identity-file", os.Getenv("SHOEBOX_IDENTITY_FILE"), "open with an age identity `file` (the recovery identity, or the exported repository identity) instead of a passphrase")
	pf.BoolVar(&g.json, "json", false, "print machine-readable JSON")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "print only errors and essential output")

	root.AddCommand(
		cmdInit(g), cmdBackup(g), cmdSnapshots(g), cmdLs(g), cmdFind(g), cmdDiff(g),
		cmdRestore(g), cmdDump(g), cmdCheck(g), cmdForget(g), cmdPrune(g), cmdLock(g),
		cmdUnlock(g), cmdStats(g), cmdKey(g), cmdRaid(g), cmdDisks(g), cmdRepair(g),
		cmdCluster(g),
	)
	root.AddCommand(cmdDaemon(g)...)
	root.AddCommand(cmdGateway(g)...)
	return root
}

// bytesStr is a size for people: "1.5 GiB".
func bytesStr(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// printJSON writes v as indented JSON.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// out prints human output unless --json or --quiet.
func (g *globals) out(format string, args ...any) {
	if g.json || g.quiet {
		return
	}
	fmt.Fprintf(g.stdout, format, args...)
}

func (g *globals) isTerminal() bool {
	f, ok := g.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && !g.json && !g.quiet
}
