// Package keyscan looks for key material in folders: what an offsite
// unit, which holds no key, must never have anywhere in its state
// directory or on its disks (docs/CLUSTER.md, "Roles"). Tests use it on
// a unit after a run; it knows the names the repository and the disk
// array give things, and nothing else of Shoebox.
//
// Plaintext key material is always a finding: a file named
// RECOVERY-IDENTITY.txt (the recovery identity a home unit writes at its
// first start), and any file holding an age identity (AGE-SECRET-KEY-…:
// the repository's master key or a recovery identity in the clear) or
// one of the secrets the caller names (the passphrase). The repository's
// own config and key files are sealed to the passphrase and the recovery
// identity; a replica holds them, so they are findings only with
// Options.NoRepository, for a unit that must hold no repository at all
// (an offsite unit before its first replication).
package keyscan

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Options say what else counts as key material.
type Options struct {
	// Secrets are strings no file may contain (a passphrase); empty
	// strings are ignored.
	Secrets []string
	// NoRepository makes a repository's config and key files findings:
	// config and keys/ at a folder's top (a repository folder), and
	// their shards on an array disk (shoebox/shards/config.shard…,
	// shoebox/shards/keys/).
	NoRepository bool
}

// Finding is one piece of key material: the file and what it is.
type Finding struct {
	Path string
	What string
}

func (f Finding) String() string { return f.Path + ": " + f.What }

// ageIdentity starts every age identity in text form (X25519 and the
// hybrid post-quantum ones alike).
const ageIdentity = "AGE-SECRET-KEY-"

// Scan walks every root (a missing root is skipped) and returns what it
// finds, in walk order. An error is a folder or file it could not read:
// a scan that cannot look everywhere proves nothing.
func Scan(roots []string, opt Options) ([]Finding, error) {
	needles := [][]byte{[]byte(ageIdentity)}
	for _, s := range opt.Secrets {
		if s != "" {
			needles = append(needles, []byte(s))
		}
	}
	var out []Finding
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if p == root && os.IsNotExist(err) {
					return filepath.SkipDir
				}
				return err
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if opt.NoRepository {
				if what := repositoryObject(rel, e.IsDir()); what != "" {
					out = append(out, Finding{p, what})
				}
			}
			if e.IsDir() || !e.Type().IsRegular() {
				return nil
			}
			if e.Name() == "RECOVERY-IDENTITY.txt" {
				out = append(out, Finding{p, "a recovery identity file"})
			}
			i, err := contains(p, needles)
			if err != nil {
				return err
			}
			switch {
			case i == 0:
				out = append(out, Finding{p, "an age identity in the clear (" + ageIdentity + "…)"})
			case i > 0:
				out = append(out, Finding{p, fmt.Sprintf("secret %d of the %d given", i, len(needles)-1)})
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("scan %s for key material: %w", root, err)
		}
	}
	return out, nil
}

// repositoryObject names the repository config or key file (or the
// folder of key files) at rel, relative to a scanned root, or "".
func repositoryObject(rel string, dir bool) string {
	switch {
	case rel == "keys" && dir, rel == "shoebox/shards/keys" && dir:
		return "a repository's key files (keys/)"
	case rel == "config" && !dir, strings.HasPrefix(rel, "shoebox/shards/config.shard") && !dir:
		return "a repository's config file"
	}
	return ""
}

// contains returns the index of the first needle found in the file at
// p, or -1. It reads the file once, in blocks, keeping the longest
// needle's length of overlap so that nothing is missed at a boundary.
func contains(p string, needles [][]byte) (int, error) {
	f, err := os.Open(p)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	keep := 0
	for _, n := range needles {
		keep = max(keep, len(n)-1)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 0, 1<<20+keep)
	block := make([]byte, 1<<20)
	for {
		n, rerr := io.ReadFull(r, block)
		buf = append(buf, block[:n]...)
		for i, nd := range needles {
			if bytes.Contains(buf, nd) {
				return i, nil
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return -1, nil
		}
		if rerr != nil {
			return -1, rerr
		}
		buf = append(buf[:0], buf[len(buf)-keep:]...)
	}
}

// None fails the test for each piece of key material under roots (a
// unit's state directory and disks), naming the file and what it is.
func None(t testing.TB, roots []string, opt Options) {
	t.Helper()
	found, err := Scan(roots, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("key material: %s", f)
	}
}
