package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/shoebox/shoebox/raid"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// lockMode is the repository lock a command holds while it works.
type lockMode int

const (
	// noLock: the command reads what no prune removes from under it
	// (listings, stats, keys), or manages the locks themselves.
	noLock lockMode = iota
	// shared: backup, restore, check, lock; several may run at once.
	shared
	// exclusive: forget, prune, repair index; alone.
	exclusive
)

// withRepo is how a command gets at the repository: it opens it (the
// store from --repo, the passphrase or identity, an array shoeboxd holds
// opened read-only beside it when op only reads), takes the lock, runs fn,
// then releases the lock and closes the repository. op is the command
// ("restore", "key add"): it decides what may run beside shoeboxd and
// names the lock.
func (g *globals) withRepo(ctx context.Context, op string, lock lockMode, fn func(r *vault.Repository) error) error {
	var r *vault.Repository
	var l *vault.Lock
	var err error
	if lock == noLock {
		r, err = g.open(ctx, op)
	} else {
		r, l, err = g.openLocked(ctx, lock == exclusive, op)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	defer l.Release()
	return fn(r)
}

// store opens the repository location for the command op ("restore",
// "key add"): a folder, or a disk array given as
// raid:DIR1,DIR2,... (its member disks, in any order, any subset). Only
// init (create) makes a folder: a mistyped --repo must not leave new
// folders behind.
func (g *globals) store(op string, create bool) (store.ObjectStore, error) {
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
			if !readsOnly[op] {
				return nil, besideDaemon(op, err)
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
	return store.OpenDir(g.repo)
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
		p, err := secretFile(g.passwordFile)
		if err != nil {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
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
	again := ""
	if confirm {
		again = "Enter it again: "
	}
	b, err := g.readTerminal(fd, prompt, again, errors.New("the passphrases differ"))
	if err != nil {
		return "", err
	}
	if b == "" {
		return "", errors.New("empty passphrase")
	}
	return b, nil
}

// secretFile reads a passphrase or password kept in a file: its content
// without the line break at the end.
func secretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// readTerminal asks for a secret on the terminal fd, prompting on
// g.stderr; with again not "", asks a second time with that prompt and
// returns differ unless both answers are the same.
func (g *globals) readTerminal(fd int, prompt, again string, differ error) (string, error) {
	fmt.Fprint(g.stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(g.stderr)
	if err != nil {
		return "", err
	}
	if again != "" {
		fmt.Fprint(g.stderr, again)
		b2, err := term.ReadPassword(fd)
		fmt.Fprintln(g.stderr)
		if err != nil {
			return "", err
		}
		if string(b) != string(b2) {
			return "", differ
		}
	}
	return string(b), nil
}

// open unlocks the repository for the command op, without a repository
// lock (withRepo is the usual way in).
func (g *globals) open(ctx context.Context, op string) (*vault.Repository, error) {
	st, err := g.store(op, false)
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
	if _, err := st.Stat(ctx, "config"); errors.Is(err, store.ErrNotFound) {
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

// openLocked opens the repository and takes a lock for op; the lock is
// nil when the repository is on read-only media and op only reads.
func (g *globals) openLocked(ctx context.Context, exclusive bool, op string) (*vault.Repository, *vault.Lock, error) {
	r, err := g.open(ctx, op)
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
