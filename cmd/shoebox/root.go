package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoebox/shoebox/raid"
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
	// cmd is the command being run ("restore", "key add").
	cmd string
	// besideDaemon: the array is shoeboxd's, opened read-only.
	besideDaemon bool
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
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			g.cmd = strings.TrimPrefix(cmd.CommandPath(), "shoebox ")
		},
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
	)
	root.AddCommand(cmdDaemon(g)...)
	root.AddCommand(cmdGateway(g)...)
	return root
}

// store opens the repository location: a folder, or a disk array given as
// raid:DIR1,DIR2,... (its member disks, in any order, any subset). Only
// init (create) makes a folder: a mistyped --repo must not leave new
// folders behind.
func (g *globals) store(create bool) (raid.ObjectStore, error) {
	if g.repo == "" {
		return nil, errors.New("no repository given: use --repo DIR or set SHOEBOX_REPO")
	}
	if members, ok := strings.CutPrefix(g.repo, "raid:"); ok {
		paths := strings.Split(members, ",")
		a, err := raid.OpenArray(paths, raid.Options{})
		if errors.Is(err, raid.ErrArrayBusy) {
			// shoeboxd owns the array: commands that read open it
			// read-only (holding its readers' lock, so that the daemon
			// removes nothing meanwhile); the others say what to do.
			if !readsOnly[g.cmd] {
				return nil, besideDaemon(g.cmd, err)
			}
			a, err = raid.OpenArray(paths, raid.Options{ReadOnly: true})
			g.besideDaemon = err == nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w (create the array first with `shoebox raid create`)", err)
		}
		return a, nil
	}
	if !create {
		if _, err := os.Stat(g.repo); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w (no such folder): check the --repo path, or run `shoebox init` to create one", g.repo, vault.ErrNotRepository)
		}
	}
	return raid.OpenDir(g.repo)
}

// readsOnly are the commands that work beside shoeboxd, on the array it
// owns opened read-only (docs/DAEMON.md, "The array while the daemon
// runs").
var readsOnly = map[string]bool{
	"snapshots": true, "ls": true, "find": true, "diff": true, "restore": true, "dump": true,
	"check": true, "stats": true, "key list": true, "key export-identity": true,
	"audit verify": true,
}

// besideDaemon is the error of a command that writes the repository run
// while shoeboxd owns its array (busy): why it cannot, and what to run
// instead.
func besideDaemon(cmd string, busy error) error {
	const stop = "stop it first (`systemctl stop shoeboxd`), run the command, and start it again (`systemctl start shoeboxd`)"
	instead := map[string]string{
		"init":   "it already holds the box's repository: there is nothing to create (`shoebox snapshots` lists what it holds)",
		"backup": "shoeboxd backs up its sources itself: add the folder as a source (`sources:` in its config, docs/DAEMON.md) and it is backed up when it changes; or " + stop,
		"forget": "run it again: forget goes through shoeboxd's API when shoeboxd holds the array (docs/DAEMON.md); or " + stop,
		"prune":  "run it again: prune goes through shoeboxd's API when shoeboxd holds the array (docs/DAEMON.md); or " + stop,
		"lock":   "lock the snapshot through the daemon (POST /v1/snapshots/{id}/lock, docs/GATEWAY.md), or " + stop,
		"unlock": "shoeboxd's own locks are not stale while it runs; " + stop,
	}[cmd]
	if instead == "" {
		instead = stop
	}
	return fmt.Errorf("shoebox %s changes the repository, and shoeboxd owns it (%w): %s", cmd, busy, instead)
}

// passphrase reads the passphrase from the file, the environment or the
// terminal.
func (g *globals) passphrase(prompt string, confirm bool) (string, error) {
	if g.passwordFile != "" {
		b, err := os.ReadFile(g.passwordFile)
		if err != nil {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("passphrase file %s is empty", g.passwordFile)
		}
		return p, nil
	}
	if p := os.Getenv("SHOEBOX_PASSWORD"); p != "" {
		return p, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("no passphrase: set SHOEBOX_PASSWORD_FILE or SHOEBOX_PASSWORD, or run on a terminal to be asked")
	}
	fmt.Fprint(g.stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(g.stderr)
	if err != nil {
		return "", err
	}
	if confirm {
		fmt.Fprint(g.stderr, "Enter it again: ")
		b2, err := term.ReadPassword(fd)
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", err
		}
		if string(b) != string(b2) {
			return "", errors.New("the passphrases differ")
		}
	}
	if len(b) == 0 {
		return "", errors.New("empty passphrase")
	}
	return string(b), nil
}

// open unlocks the repository.
func (g *globals) open(ctx context.Context) (*vault.Repository, error) {
	st, err := g.store(false)
	if err != nil {
		return nil, err
	}
	if g.identityFile != "" {
		b, err := os.ReadFile(g.identityFile)
		if err != nil {
			return nil, fmt.Errorf("read identity: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
				return vault.OpenWithIdentity(ctx, st, line)
			}
		}
		return nil, fmt.Errorf("%s holds no age identity (AGE-SECRET-KEY-…)", g.identityFile)
	}
	if _, err := st.Stat(ctx, "config"); errors.Is(err, raid.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w (no config file): check the --repo path, or run `shoebox init` to create one", g.repo, vault.ErrNotRepository)
	}
	pass, err := g.passphrase("Repository passphrase: ", false)
	if err != nil {
		return nil, err
	}
	r, err := vault.Open(ctx, st, pass)
	// scrypt just used 64 MiB; without a collection now, the garbage
	// collector's next goal would be twice that and the whole operation
	// would run with a heap of 128 MiB.
	debug.FreeOSMemory()
	return r, err
}

// openLocked opens the repository and takes a lock.
func (g *globals) openLocked(ctx context.Context, exclusive bool, op string) (*vault.Repository, *vault.Lock, error) {
	r, err := g.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	l, err := r.Lock(ctx, exclusive, op)
	if err != nil && !exclusive && (op == "restore" || op == "check") && errors.Is(err, syscall.EROFS) {
		// A repository on read-only media (a write-protected disk, a
		// damaged one mounted read-only to salvage it) must still restore
		// and check; nothing can change it meanwhile.
		fmt.Fprintf(g.stderr, "warning: %s is read-only; %s runs without a repository lock\n", g.repo, op)
		return r, nil, nil
	}
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	// Locks of processes that are gone (killed, crashed, power loss) were
	// ignored above; remove them now so that a killed run leaves nothing
	// behind once the next one has run. Best effort: `shoebox unlock`
	// does the same on request. Not beside shoeboxd: it owns them.
	if g.besideDaemon {
		return r, l, nil
	}
	r.RemoveStaleLocks(ctx)
	return r, l, nil
}

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
