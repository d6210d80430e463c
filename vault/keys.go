package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/restic/chunker"
	"github.com/shoebox/shoebox/store"
)

// Repository file name prefixes (see docs/FORMAT.md).
const (
	configName     = "config"
	keysPrefix     = "keys/"
	dataPrefix     = "data/"
	indexPrefix    = "index/"
	snapshotPrefix = "snapshots/"
	locksPrefix    = "locks/"
	holdsPrefix    = "holds/"
)

// FormatVersion is the repository format this code writes and reads.
const FormatVersion = 1

// DefaultScryptLogN is the scrypt work factor (N = 2^16, r = 8: 64 MiB and
// about 0.2 s on the box's CPU) used to wrap the repository identity for a
// passphrase. Tests lower it with InitOptions.ScryptLogN.
const DefaultScryptLogN = 16

// Config is the repository's secret configuration, stored encrypted in the
// file "config".
type Config struct {
	Version int `json:"version"`
	// ID identifies the repository; it is random.
	ID string `json:"id"`
	// ChunkerPolynomial is the secret random irreducible polynomial of the
	// content-defined chunker.
	ChunkerPolynomial chunker.Pol `json:"chunker_polynomial"`
	// HashKey is the 32-byte BLAKE3 key of blob IDs.
	HashKey []byte `json:"hash_key"`
	// PackSize is the target size of data packs in bytes.
	PackSize int       `json:"pack_size"`
	Created  time.Time `json:"created"`
	// Recipient is the public age recipient packs are encrypted to.
	Recipient string `json:"recipient"`
}

func (c *Config) validate() error {
	switch {
	case c.Version != FormatVersion:
		return fmt.Errorf("config: repository format version %d, this program reads version %d: use a newer shoebox", c.Version, FormatVersion)
	case len(c.HashKey) != 32:
		return fmt.Errorf("config: hash key has %d bytes, want 32", len(c.HashKey))
	case c.ChunkerPolynomial.Deg() != 53:
		// The chunker works with degree-53 polynomials only (checked
		// first: irreducibility costs seconds for a high degree).
		return fmt.Errorf("config: chunker polynomial has degree %d, want 53", c.ChunkerPolynomial.Deg())
	case !c.ChunkerPolynomial.Irreducible():
		return errors.New("config: chunker polynomial is not irreducible")
	case c.PackSize < 1<<20 || c.PackSize > 1<<30:
		return fmt.Errorf("config: pack size %d out of range", c.PackSize)
	case c.ID == "":
		return errors.New("config: empty repository ID")
	}
	return nil
}

// parseConfig decodes and validates a decrypted config.
func parseConfig(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// KeyKind says what unlocks a key file.
type KeyKind string

// Key kinds.
const (
	KeyPassphrase KeyKind = "passphrase"
	KeyRecovery   KeyKind = "recovery"
)

// keyFile is the plaintext of a keys/ file: the repository identity and
// who added it. The file is an age file encrypted with a passphrase (scrypt)
// or to a recovery identity (X25519 or hybrid).
type keyFile struct {
	Version  int       `json:"version"`
	Kind     KeyKind   `json:"kind"`
	Label    string    `json:"label,omitempty"`
	Created  time.Time `json:"created"`
	Host     string    `json:"host,omitempty"`
	Username string    `json:"username,omitempty"`
	Identity string    `json:"identity"`
}

func parseKeyFile(b []byte) (*keyFile, error) {
	var k keyFile
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if k.Version != FormatVersion {
		return nil, fmt.Errorf("key file: version %d, want %d", k.Version, FormatVersion)
	}
	if k.Kind != KeyPassphrase && k.Kind != KeyRecovery {
		return nil, fmt.Errorf("key file: unknown kind %q", k.Kind)
	}
	if _, err := ParseMasterKey(k.Identity); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return &k, nil
}

// KeyInfo describes a key file for `shoebox key list`.
type KeyInfo struct {
	ID       string    `json:"id"`
	Kind     KeyKind   `json:"kind"`
	Label    string    `json:"label,omitempty"`
	Created  time.Time `json:"created"`
	Host     string    `json:"host,omitempty"`
	Username string    `json:"username,omitempty"`
	Current  bool      `json:"current"`
}

// InitOptions configure a new repository.
type InitOptions struct {
	Passphrase string
	// PostQuantum makes the repository identity and the recovery identity
	// hybrid ML-KEM-768 + X25519 (age1pq…) recipients.
	PostQuantum bool
	// ScryptLogN overrides DefaultScryptLogN (tests use a cheap value).
	ScryptLogN int
	// PackSize overrides the 16 MiB target pack size.
	PackSize int
}

// DefaultPackSize is the target size of a data pack.
const DefaultPackSize = 16 << 20

// Init creates a repository in an empty store. It returns the open
// repository and the recovery identity, which the caller must show to the
// user once (to print and keep on paper) and never store.
func Init(ctx context.Context, st store.ObjectStore, opt InitOptions) (*Repository, string, error) {
	if _, err := st.Stat(ctx, configName); err == nil {
		return nil, "", fmt.Errorf("init %s: %w", st, ErrExists)
	}
	if opt.Passphrase == "" {
		return nil, "", errors.New("init: empty passphrase")
	}
	master, err := NewMasterKey(opt.PostQuantum)
	if err != nil {
		return nil, "", err
	}
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return nil, "", err
	}
	hashKey := make([]byte, 32)
	rand.Read(hashKey)
	idb := make([]byte, 16)
	rand.Read(idb)
	cfg := &Config{
		Version:           FormatVersion,
		ID:                hex.EncodeToString(idb),
		ChunkerPolynomial: pol,
		HashKey:           hashKey,
		PackSize:          DefaultPackSize,
		Created:           time.Now().UTC(),
		Recipient:         master.Recipient(),
	}
	if opt.PackSize != 0 {
		cfg.PackSize = opt.PackSize
	}
	if err := cfg.validate(); err != nil {
		return nil, "", fmt.Errorf("init: %w", err)
	}
	recovery, err := NewMasterKey(opt.PostQuantum)
	if err != nil {
		return nil, "", err
	}
	r := newRepository(st, master, cfg)
	keyID, err := r.addKey(ctx, KeyPassphrase, opt.Passphrase, nil, "initial passphrase", opt.ScryptLogN)
	if err != nil {
		return nil, "", err
	}
	r.keyName = keysPrefix + keyID
	if _, err := r.addKey(ctx, KeyRecovery, "", recovery.recipient, "recovery identity printed at init", 0); err != nil {
		return nil, "", err
	}
	plain, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", err
	}
	sealed, err := seal(plain, master.recipient)
	if err != nil {
		return nil, "", err
	}
	// The config is written last: a repository whose init was interrupted
	// has no config and is not mistaken for a usable one.
	if err := st.Put(ctx, configName, bytes.NewReader(sealed)); err != nil {
		return nil, "", fmt.Errorf("init: %w", err)
	}
	if err := r.loadIndex(ctx); err != nil {
		return nil, "", err
	}
	return r, recovery.Identity(), nil
}

// addKey writes a key file wrapping the repository identity for a
// passphrase or to a recipient.
func (r *Repository) addKey(ctx context.Context, kind KeyKind, passphrase string, to age.Recipient, label string, logN int) (string, error) {
	host, _ := os.Hostname()
	username := ""
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	kf := keyFile{Version: FormatVersion, Kind: kind, Label: label, Created: time.Now().UTC(),
		Host: host, Username: username, Identity: r.key.Identity()}
	plain, err := json.Marshal(kf)
	if err != nil {
		return "", err
	}
	if kind == KeyPassphrase {
		sr, err := age.NewScryptRecipient(passphrase)
		if err != nil {
			return "", err
		}
		if logN == 0 {
			logN = DefaultScryptLogN
		}
		sr.SetWorkFactor(logN)
		to = sr
	}
	sealed, err := seal(plain, to)
	if err != nil {
		return "", err
	}
	id := FileID(sealed)
	if err := r.store.Put(ctx, keysPrefix+id.String(), bytes.NewReader(sealed)); err != nil {
		return "", fmt.Errorf("add key: %w", err)
	}
	return id.String(), nil
}

// Open unlocks a repository with a passphrase.
func Open(ctx context.Context, st store.ObjectStore, passphrase string) (*Repository, error) {
	if passphrase == "" {
		return nil, errors.New("open repository: empty passphrase")
	}
	sid, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, err
	}
	return openWith(ctx, st, sid, "scrypt")
}

// OpenWithIdentity unlocks a repository with an age identity: the recovery
// identity printed at init, or the repository identity from
// `key export-identity`.
func OpenWithIdentity(ctx context.Context, st store.ObjectStore, identity string) (*Repository, error) {
	id, err := ParseMasterKey(identity)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	// The repository identity itself opens the config directly.
	if r, err := loadConfig(ctx, st, id); err == nil {
		return r, r.loadIndex(ctx)
	}
	return openWith(ctx, st, id.identity, "")
}

func openWith(ctx context.Context, st store.ObjectStore, id age.Identity, stanzaType string) (*Repository, error) {
	if _, err := st.Stat(ctx, configName); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%s: %w (no config file): check the --repo path, or run `shoebox init` to create one", st, ErrNotRepository)
		}
		return nil, fmt.Errorf("open repository %s: %w", st, err)
	}
	var names []string
	err := st.List(ctx, keysPrefix, func(fi store.ObjectInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var lastErr error
	for _, name := range names {
		b, err := store.ReadAll(ctx, st, name)
		if err != nil {
			lastErr = err
			continue
		}
		if stanzaType != "" && !hasStanza(b, stanzaType) {
			continue
		}
		plain, err := unseal(b, id)
		if err != nil {
			var nm *age.NoIdentityMatchError
			if !errors.As(err, &nm) && !errors.Is(err, age.ErrIncorrectIdentity) {
				lastErr = fmt.Errorf("key file %s: %w", name, err)
			}
			continue
		}
		kf, err := parseKeyFile(plain)
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", name, err)
			continue
		}
		mk, err := ParseMasterKey(kf.Identity)
		if err != nil {
			lastErr = err
			continue
		}
		r, err := loadConfig(ctx, st, mk)
		if err != nil {
			return nil, err
		}
		r.keyName = name
		return r, r.loadIndex(ctx)
	}
	if lastErr != nil {
		return nil, fmt.Errorf("open repository %s: %w (also: %v)", st, ErrWrongPassphrase, lastErr)
	}
	return nil, fmt.Errorf("open repository %s: %w: no key file opens with it; check SHOEBOX_PASSWORD / SHOEBOX_PASSWORD_FILE, or open with the recovery identity (--identity-file)", st, ErrWrongPassphrase)
}

// hasStanza reports whether an age file's header has a recipient stanza of
// the given type, so that a passphrase is not tried against key files that
// need an identity (each scrypt attempt costs 64 MiB and a fraction of a
// second).
func hasStanza(file []byte, typ string) bool {
	hdr := file
	if i := bytes.Index(file, []byte("\n---")); i >= 0 {
		hdr = file[:i]
	}
	return bytes.Contains(hdr, []byte("\n-> "+typ+" "))
}

func loadConfig(ctx context.Context, st store.ObjectStore, mk *MasterKey) (*Repository, error) {
	b, err := store.ReadAll(ctx, st, configName)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	plain, err := unseal(b, mk.identity)
	if err != nil {
		return nil, fmt.Errorf("decrypt config of %s: %w: the config file is damaged or belongs to another repository", st, ErrCorrupt)
	}
	cfg, err := parseConfig(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st, err)
	}
	return newRepository(st, mk, cfg), nil
}

// Keys lists the key files.
func (r *Repository) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	err := r.store.List(ctx, keysPrefix, func(fi store.ObjectInfo) error {
		b, err := store.ReadAll(ctx, r.store, fi.Name)
		if err != nil {
			return err
		}
		info := KeyInfo{ID: strings.TrimPrefix(fi.Name, keysPrefix), Current: fi.Name == r.keyName}
		// Key files cannot be read without their own secret; what can be
		// told from outside is the kind.
		if hasStanza(b, "scrypt") {
			info.Kind = KeyPassphrase
		} else {
			info.Kind = KeyRecovery
		}
		if fi.Name == r.keyName {
			info.Label = "(the key used now)"
		}
		info.Created = fi.ModTime.UTC()
		out = append(out, info)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// AddPassphrase adds a key file for another passphrase.
func (r *Repository) AddPassphrase(ctx context.Context, passphrase, label string, logN int) (string, error) {
	if passphrase == "" {
		return "", errors.New("add key: empty passphrase")
	}
	return r.addKey(ctx, KeyPassphrase, passphrase, nil, label, logN)
}

// AddRecovery adds a key file for a new recovery identity, which is
// returned for the user to keep on paper.
func (r *Repository) AddRecovery(ctx context.Context, label string) (id, identity string, err error) {
	rk, err := NewMasterKey(r.key.PostQuantum())
	if err != nil {
		return "", "", err
	}
	id, err = r.addKey(ctx, KeyRecovery, "", rk.recipient, label, 0)
	return id, rk.Identity(), err
}

// RemoveKey deletes a key file by ID or unique prefix. The last key that
// opens with a passphrase and the key in use cannot be removed.
func (r *Repository) RemoveKey(ctx context.Context, prefix string) error {
	keys, err := r.Keys(ctx)
	if err != nil {
		return err
	}
	var match []KeyInfo
	passphrases := 0
	for _, k := range keys {
		if strings.HasPrefix(k.ID, prefix) {
			match = append(match, k)
		}
		if k.Kind == KeyPassphrase {
			passphrases++
		}
	}
	switch {
	case len(match) == 0:
		return fmt.Errorf("remove key: no key %q (see `shoebox key list`)", prefix)
	case len(match) > 1:
		return fmt.Errorf("remove key: %q matches %d keys; give more digits", prefix, len(match))
	case match[0].Current:
		return errors.New("remove key: refusing to remove the key in use; open with another key first, or use `key passwd`")
	case match[0].Kind == KeyPassphrase && passphrases == 1:
		return errors.New("remove key: refusing to remove the only passphrase key")
	}
	return r.store.Delete(ctx, keysPrefix+match[0].ID)
}

// ChangePassphrase adds a key file for the new passphrase and removes the
// passphrase key used to open the repository. A recovery key used to open
// it is kept: it is the paper copy.
func (r *Repository) ChangePassphrase(ctx context.Context, passphrase string, logN int) (string, error) {
	id, err := r.AddPassphrase(ctx, passphrase, "changed passphrase", logN)
	if err != nil {
		return "", err
	}
	if r.keyName != "" {
		b, err := store.ReadAll(ctx, r.store, r.keyName)
		if err == nil && !hasStanza(b, "scrypt") {
			r.keyName = keysPrefix + id
			return id, nil
		}
		if err := r.store.Delete(ctx, r.keyName); err != nil {
			return id, fmt.Errorf("new passphrase added as key %s, but the old key %s could not be removed: %w", id[:8], r.keyName, err)
		}
	}
	r.keyName = keysPrefix + id
	return id, nil
}

// MasterKey returns the repository identity (for `key export-identity`).
func (r *Repository) MasterKey() *MasterKey { return r.key }

// Config returns the repository configuration.
func (r *Repository) Config() Config { return *r.cfg }
