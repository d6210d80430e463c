package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shoebox/shoebox/appliance/cards"
	"github.com/shoebox/shoebox/internal/pathx"
	"github.com/shoebox/shoebox/internal/units"
)

// Config is shoeboxd's configuration (docs/DAEMON.md documents every key).
// It is YAML; unknown keys are errors, and every validation error names
// the key and its line.
type Config struct {
	// Role is what this unit is in a pair (docs/CLUSTER.md, "Roles"):
	// RoleHome (the default) holds the keys, runs the backups and serves
	// the phone; RoleOffsite keeps a replica it cannot read.
	Role string `yaml:"role"`
	// Cluster configures the link between the two units of a pair.
	Cluster ClusterConfig `yaml:"cluster"`
	// StateDir holds the daemon's state: keys, certificates, history,
	// ledgers (see docs/DAEMON.md for its layout).
	StateDir string `yaml:"state_dir"`
	// Listen is the HTTPS address of the API, web UI, /healthz and /metrics.
	Listen string `yaml:"listen"`
	// MetricsToken, when set, lets a scraper that is not on loopback read
	// /metrics with "Authorization: Bearer <token>".
	MetricsToken string `yaml:"metrics_token"`
	// ListenHTTP, when set, is a plain-HTTP address that only redirects to
	// HTTPS; a credential ever sent to it is revoked on the spot.
	ListenHTTP string `yaml:"listen_http"`
	// PublicURL is how phones reach the box (default https://HOSTNAME:PORT
	// of listen); pairing links and share links use it.
	PublicURL string `yaml:"public_url"`
	// Gateway configures the phone API.
	Gateway GatewayConfig `yaml:"gateway"`

	Disks      DisksConfig      `yaml:"disks"`
	Repository RepositoryConfig `yaml:"repository"`
	Sources    []SourceConfig   `yaml:"sources"`
	// SourceRoots are the folders sources may lie under (nil: the
	// folders holding the config file's sources, and the card library).
	// The box's own folders and the system's are refused whatever this
	// says (CheckSourcePath).
	SourceRoots []string     `yaml:"source_roots"`
	Cards       CardsConfig  `yaml:"cards"`
	Drills      DrillsConfig `yaml:"drills"`
	Scrub       ScrubConfig  `yaml:"scrub"`
	SMART       SMARTConfig  `yaml:"smart"`
	Alerts      AlertsConfig `yaml:"alerts"`

	lines map[string]int
	file  string // the configuration file's name, for messages
}

// The roles a unit can have (Config.Role).
const (
	RoleHome    = "home"
	RoleOffsite = "offsite"
)

// Offsite reports whether the unit is the pair's keyless offsite unit.
func (c *Config) Offsite() bool { return c.Role == RoleOffsite }

// ClusterConfig is the link between the units of a pair (docs/CLUSTER.md).
type ClusterConfig struct {
	// Listen is the address of the units' own gRPC listener (mutual,
	// pinned TLS), separate from the HTTPS port (default ":8444"). Only
	// an offsite unit opens it (cluster.go); a home unit only dials.
	Listen string `yaml:"listen"`
}

// GatewayConfig configures the phone API (docs/GATEWAY.md).
type GatewayConfig struct {
	// RequireTOTP (default true) limits a signed-in person without a
	// second factor to enrolling one and changing their password.
	RequireTOTP *bool `yaml:"require_totp"`
	// InitialOwner is the owner account made on first start, with a
	// random password written to STATE/gateway/INITIAL-PASSWORD.txt
	// (default "owner").
	InitialOwner string `yaml:"initial_owner"`
	// KDFMemoryMiB caps the memory password hashing (argon2id) may use at
	// once; 0: an eighth of the RAM, at most 128 MiB (package password).
	KDFMemoryMiB int64 `yaml:"kdf_memory_mib"`
	// UploadQuota is the most one account's unfinished phone uploads may
	// still send: bytes, or a share of the state disk's free space at the
	// time (default 25%).
	UploadQuota Size `yaml:"upload_quota"`
	// StateReserve is free space on the state disk that uploads never
	// use, and below which the gateway refuses changes it could not
	// audit: bytes, or a share of the disk (default 5 %, at least 1 GiB,
	// at most 16 GiB, never more than 10 % of the disk).
	StateReserve Size `yaml:"state_reserve"`
}

// DisksConfig is the disk array.
type DisksConfig struct {
	Members        []string `yaml:"members"`
	Data           int      `yaml:"data"`
	Parity         int      `yaml:"parity"`
	Mirror         bool     `yaml:"mirror"`
	AllowSameDrive bool     `yaml:"allow_same_drive"` // demos only
}

// RepositoryConfig is the vault repository on the array.
type RepositoryConfig struct {
	PassphraseFile string `yaml:"passphrase_file"`
	// Path, when set, keeps the repository in a plain folder instead of
	// on the array (a box with one disk).
	Path string `yaml:"path"`
}

// SourceConfig is one folder the box protects.
type SourceConfig struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	// Mode is "continuous" (watch the folder, back up within seconds) or
	// "scheduled" (Schedule).
	Mode string `yaml:"mode"`
	// Schedule: "every 1h", "hourly", "daily 02:30", "weekly sun 03:00".
	Schedule string `yaml:"schedule"`
	// Settle is how long a continuous source waits after the last change
	// before backing up a burst (default 3s).
	Settle Duration `yaml:"settle"`
	// ExpectEvery: no successful backup for this long raises a "stalled"
	// alert (default: twice the schedule, or 24h for continuous).
	ExpectEvery Duration  `yaml:"expect_every"`
	Retention   Retention `yaml:"retention"`
	Tags        []string  `yaml:"tags"`
	// SkipUnchanged (default true): a backup whose tree equals the last
	// snapshot's makes no snapshot (a restart, a heartbeat backup, a
	// change undone); the run still counts as a success.
	SkipUnchanged *bool `yaml:"skip_unchanged"`
	// Heartbeat still makes a snapshot of unchanged data when the last
	// one is this old (keep rules that count days, weeks); default none,
	// or half of retention.lock_days when set, so that the newest data
	// always has a locked snapshot.
	Heartbeat Duration `yaml:"heartbeat"`
}

// skipUnchanged reports whether unchanged runs make no snapshot, and how
// old the last snapshot may grow before one is made anyway (0: never).
func (s SourceConfig) skipUnchanged() (bool, time.Duration) {
	hb := time.Duration(s.Heartbeat)
	if hb == 0 && s.Retention.LockDays > 0 {
		hb = time.Duration(s.Retention.LockDays) * 12 * time.Hour
	}
	return s.SkipUnchanged == nil || *s.SkipUnchanged, hb
}

// Retention is a source's keep policy, applied after each backup.
type Retention struct {
	KeepLast    int `yaml:"keep_last"`
	KeepHourly  int `yaml:"keep_hourly"`
	KeepDaily   int `yaml:"keep_daily"`
	KeepWeekly  int `yaml:"keep_weekly"`
	KeepMonthly int `yaml:"keep_monthly"`
	KeepYearly  int `yaml:"keep_yearly"`
	// Until keeps every snapshot until this date (a client's contract).
	Until string `yaml:"until"`
	// LockDays makes every new snapshot immutable for this many days
	// (at most MaxLockDays).
	LockDays int `yaml:"lock_days"`
}

// CardsConfig is memory-card ingest, on when Library is set.
type CardsConfig struct {
	// MountRoots: a file system mounted anywhere below one of these is a
	// card, named by its UUID (default /media and /run/media, where
	// desktop and udisks automounters put removable volumes; an empty
	// list turns this off).
	MountRoots []string `yaml:"mount_roots"`
	// Watch lists folders whose subfolders stand for cards, named by the
	// subfolder (card readers shared over the network, tests).
	Watch   []string `yaml:"watch"`
	Library string   `yaml:"library"`
	Naming  string   `yaml:"naming"`
	// Require names the verified copies besides the card that every
	// file needs before the card is SAFE TO FORMAT: "array" (in a
	// snapshot on the redundant array, read back) and "offsite". Empty:
	// cards.DefaultRequire, see Requirement.
	Require []string `yaml:"require"`
	// RequiredCopies is the older way to say it, still read: 1 means
	// [array], 2 [array, offsite]. Set one of the two.
	RequiredCopies int `yaml:"required_copies"`
}

// Requirement is the copies a card's files need before SAFE TO FORMAT:
// Require, else what RequiredCopies meant, else the default: [array],
// and [array, offsite] once an offsite unit is configured.
func (c CardsConfig) Requirement(offsiteConfigured bool) []string {
	switch {
	case len(c.Require) > 0:
		return c.Require
	case c.RequiredCopies == 1:
		return []string{cards.CopyArray}
	case c.RequiredCopies == 2:
		return []string{cards.CopyArray, cards.CopyOffsite}
	}
	return cards.DefaultRequire(offsiteConfigured)
}

// OffsiteConfigured reports whether an offsite unit is paired with the
// box. Cluster pairing does not exist yet, so no config can name one:
// false until it does, and then the default card requirement becomes
// [array, offsite].
func (c *Config) OffsiteConfigured() bool { return false }

// DrillsConfig schedules restore drills.
type DrillsConfig struct {
	Every Duration `yaml:"every"`
	Files int      `yaml:"files"`
}

// ScrubConfig schedules array scrubs.
type ScrubConfig struct {
	Every Duration `yaml:"every"`
	// FirstDelay is how long after the first start the first scrub runs
	// (default 1h).
	FirstDelay Duration `yaml:"first_delay"`
	RateMiB    int64    `yaml:"rate_mib"`
}

// SMARTConfig schedules disk health polls.
type SMARTConfig struct {
	Every    Duration `yaml:"every"`
	Disabled bool     `yaml:"disabled"`
	// Evacuate moves the data off a disk that turns FAILING (default true).
	Evacuate *bool `yaml:"evacuate"`
}

// AlertsConfig says where alerts go.
type AlertsConfig struct {
	Webhooks []string    `yaml:"webhooks"`
	Email    EmailConfig `yaml:"email"`
}

// EmailConfig sends alerts by SMTP.
type EmailConfig struct {
	SMTP         string   `yaml:"smtp"` // host:port
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
}

// Duration is a YAML duration in the grammar of docs/UNITS.md ("30d",
// "1w", "90m" minutes, "6mo", "1h30m").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := units.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Size is an amount of disk space in YAML: bytes with an optional unit
// ("20GiB", "500 MB", "0") or a percentage ("25%").
type Size struct {
	Bytes   int64
	Percent float64 // of something the key names; 0 when given in bytes
	Set     bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 100 {
			return fmt.Errorf("line %d: %q is not a percentage from 0%% to 100%%", n.Line, s)
		}
		*z = Size{Percent: v, Set: true}
		return nil
	}
	v, err := units.ParseSize(s)
	if err != nil {
		return fmt.Errorf("line %d: %w, or a percentage such as 25%%", n.Line, err)
	}
	*z = Size{Bytes: v, Set: true}
	return nil
}

// ConfigError is a problem with one key of the configuration.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Key, e.Msg)
}

// LoadConfig reads, defaults and validates a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, b)
}

// ParseConfig parses configuration bytes (name is used in errors).
func ParseConfig(name string, b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg := &Config{lines: map[string]int{}, file: name}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	recordLines(&root, "", cfg.lines)
	cfg.applyDefaults()
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	return cfg, nil
}

// recordLines maps dotted key paths ("sources[1].path") to their lines.
func recordLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			recordLines(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if prefix != "" {
				k = prefix + "." + k
			}
			out[k] = n.Content[i].Line
			recordLines(n.Content[i+1], k, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := fmt.Sprintf("%s[%d]", prefix, i)
			out[k] = c.Line
			recordLines(c, k, out)
		}
	}
}

func (c *Config) applyDefaults() {
	if c.Role == "" {
		c.Role = RoleHome
	}
	if c.Cluster.Listen == "" {
		c.Cluster.Listen = ":8444"
	}
	if c.StateDir == "" {
		c.StateDir = "/var/lib/shoebox"
	}
	if c.Listen == "" {
		c.Listen = "localhost:8443"
	}
	if c.Disks.Data == 0 && !c.Disks.Mirror {
		c.Disks.Data, c.Disks.Parity = 2, 1
	}
	for i := range c.Sources {
		c.Sources[i].applyDefaults()
	}
	if c.Cards.Library != "" && c.Cards.MountRoots == nil {
		c.Cards.MountRoots = []string{"/media", "/run/media"}
	}
	if c.Cards.Naming == "" {
		c.Cards.Naming = "{date}/{camera}"
	}
	if c.Drills.Every == 0 {
		c.Drills.Every = Duration(24 * time.Hour)
	}
	if c.Drills.Files == 0 {
		c.Drills.Files = 10
	}
	if c.Scrub.Every == 0 {
		c.Scrub.Every = Duration(30 * 24 * time.Hour)
	}
	if c.SMART.Every == 0 {
		c.SMART.Every = Duration(30 * time.Minute)
	}
}

func (c *Config) fail(file, key, format string, args ...any) error {
	line := c.lines[key]
	if line == 0 { // a missing key: point at its parent
		if i := strings.LastIndexAny(key, ".["); i > 0 {
			line = c.lines[key[:i]]
		}
	}
	return &ConfigError{File: file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) validate(file string) error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if !filepath.IsAbs(c.StateDir) {
		add(c.fail(file, "state_dir", "must be an absolute path, got %q", c.StateDir))
	}
	if c.Repository.Path == "" && len(c.Disks.Members) == 0 {
		add(c.fail(file, "disks.members", "no disks: list the array's member directories (or set repository.path for a single folder)"))
	}
	if len(c.Disks.Members) > 0 {
		need := c.Disks.Data + c.Disks.Parity
		if c.Disks.Mirror {
			need = 2
		}
		if c.Disks.Data < 1 || c.Disks.Parity < 1 && !c.Disks.Mirror {
			add(c.fail(file, "disks.data", "a layout needs at least 1 data and 1 parity disk (data %d, parity %d)", c.Disks.Data, c.Disks.Parity))
		} else if len(c.Disks.Members) < need {
			add(c.fail(file, "disks.members", "layout needs %d disks, %d listed", need, len(c.Disks.Members)))
		}
	}
	if c.Gateway.KDFMemoryMiB < 0 {
		add(c.fail(file, "gateway.kdf_memory_mib", "must be 0 (an eighth of the RAM, at most 128) or a number of MiB, got %d", c.Gateway.KDFMemoryMiB))
	}
	switch c.Role {
	case RoleHome:
		if c.Repository.PassphraseFile == "" {
			add(c.fail(file, "repository.passphrase_file", "required: the file holding the repository passphrase"))
		}
	case RoleOffsite:
		errs = append(errs, c.offsiteProblems(file)...)
	default:
		add(c.fail(file, "role", "must be %s (holds the keys, runs the backups) or %s (a keyless replica of a home unit), got %q", RoleHome, RoleOffsite, c.Role))
	}
	if _, port, err := net.SplitHostPort(c.Cluster.Listen); err != nil || !validPort(port) {
		add(c.fail(file, "cluster.listen", "want HOST:PORT or :PORT (a port number, e.g. :8444), got %q", c.Cluster.Listen))
	}
	names := map[string]bool{}
	for i, s := range c.Sources {
		k := fmt.Sprintf("sources[%d]", i)
		if s.Name != "" && names[s.Name] {
			add(c.fail(file, k+".name", "duplicate source name %q", s.Name))
		}
		names[s.Name] = true
		for _, p := range s.problems() {
			add(c.fail(file, k+"."+p.key, "%s", p.msg))
		}
		if filepath.IsAbs(s.Path) {
			if err := c.CheckSourcePath(s.Path); err != nil {
				add(c.fail(file, k+".path", "%v", err))
			}
		}
	}
	for i, r := range c.SourceRoots {
		k := fmt.Sprintf("source_roots[%d]", i)
		switch rr, err := resolve(filepath.Clean(r)); {
		case !filepath.IsAbs(r):
			add(c.fail(file, k, "must be an absolute path, got %q", r))
		case err != nil:
			add(c.fail(file, k, "%s: %v", r, err))
		case rr == "/":
			add(c.fail(file, k, "/ would let a source read every folder of the box; list the folders that hold photos"))
		default:
			for _, p := range c.protectedPaths() {
				if pathx.Within(rr, p.path) {
					add(c.fail(file, k, "%s lies in %s %s, which sources may never read", r, p.what, p.path))
					break
				}
			}
		}
	}
	for i, w := range c.Alerts.Webhooks {
		if !strings.HasPrefix(w, "http://") && !strings.HasPrefix(w, "https://") {
			add(c.fail(file, fmt.Sprintf("alerts.webhooks[%d]", i), "want an http(s) URL, got %q", w))
		}
	}
	if (len(c.Cards.Watch) > 0 || len(c.Cards.MountRoots) > 0) && c.Cards.Library == "" {
		add(c.fail(file, "cards.library", "required when cards.watch or cards.mount_roots is set: where card files are copied"))
	}
	if c.Cards.Library != "" && !filepath.IsAbs(c.Cards.Library) {
		add(c.fail(file, "cards.library", "must be an absolute path, got %q", c.Cards.Library))
	}
	switch {
	case c.Cards.RequiredCopies != 0 && len(c.Cards.Require) > 0:
		add(c.fail(file, "cards.required_copies", "set either cards.require or the older cards.required_copies, not both; remove required_copies"))
	case c.Cards.RequiredCopies < 0 || c.Cards.RequiredCopies > 2:
		add(c.fail(file, "cards.required_copies", "must be 1 (a verified copy on the array) or 2 (array and offsite), got %d; or write cards.require: [array] or [array, offsite]", c.Cards.RequiredCopies))
	}
	seen := map[string]bool{}
	for i, r := range c.Cards.Require {
		switch {
		case r != cards.CopyArray && r != cards.CopyOffsite:
			add(c.fail(file, fmt.Sprintf("cards.require[%d]", i), "unknown copy %q: use %q (a verified snapshot on the disk array) or %q", r, cards.CopyArray, cards.CopyOffsite))
		case seen[r]:
			add(c.fail(file, fmt.Sprintf("cards.require[%d]", i), "%q is listed twice", r))
		}
		seen[r] = true
	}
	for i, r := range c.Cards.MountRoots {
		if !filepath.IsAbs(r) {
			add(c.fail(file, fmt.Sprintf("cards.mount_roots[%d]", i), "must be an absolute path, got %q", r))
		}
	}
	return errors.Join(errs...)
}

// validPort reports whether p is a TCP port number (0: any free one).
func validPort(p string) bool {
	_, err := strconv.ParseUint(p, 10, 16)
	return err == nil
}

// offsiteKeys are the keys an offsite unit refuses, and why: it holds no
// key, so it can neither read nor make snapshots (docs/DAEMON.md, "The
// offsite role").
var offsiteKeys = []struct{ key, why string }{
	{"repository.passphrase_file", "an offsite unit holds no key: remove repository.passphrase_file"},
	{"sources", "an offsite unit backs nothing up (it holds no key): remove sources; the home unit protects the folders"},
	{"source_roots", "an offsite unit has no sources: remove source_roots"},
	{"cards", "an offsite unit ingests no memory cards (it holds no key to back them up): remove cards; insert cards into the home unit"},
	{"drills", "an offsite unit cannot run restore drills (it holds no key to read snapshots): remove drills; the home unit runs them"},
}

// offsiteProblems refuses what an offsite unit cannot do. Only keys
// written in the file count: the defaults filled in for absent ones
// (drills.every) are not the owner's doing.
func (c *Config) offsiteProblems(file string) []error {
	var errs []error
	for _, k := range offsiteKeys {
		if _, set := c.lines[k.key]; set {
			errs = append(errs, c.fail(file, k.key, "%s", k.why))
		}
	}
	return errs
}

// applyDefaults fills in a source's defaults.
func (s *SourceConfig) applyDefaults() {
	if filepath.IsAbs(s.Path) {
		s.Path = filepath.Clean(s.Path) // the path snapshots record
	}
	if s.Mode == "" {
		s.Mode = "continuous"
	}
	if s.Settle == 0 {
		s.Settle = Duration(3 * time.Second)
	}
}

// sourceProblem is one thing wrong with a source: the key (relative to
// the source) and what is wrong.
type sourceProblem struct{ key, msg string }

// problems checks a source on its own (the config file's sources and
// those added through the API alike); names unique among sources are
// checked by the caller.
// MaxLockDays is the longest immutability a source's retention or the
// API may set: a century. Locks only grow, so a mistyped or malicious
// larger value would make snapshots undeletable for good.
const MaxLockDays = 36500

func (s SourceConfig) problems() []sourceProblem {
	var out []sourceProblem
	add := func(key, format string, args ...any) {
		out = append(out, sourceProblem{key, fmt.Sprintf(format, args...)})
	}
	if s.Name == "" {
		add("name", "every source needs a name")
	}
	if s.Path == "" || !filepath.IsAbs(s.Path) {
		add("path", "must be an absolute path, got %q", s.Path)
	}
	switch s.Mode {
	case "continuous":
	case "scheduled":
		if _, err := ParseSchedule(s.Schedule); err != nil {
			add("schedule", "%v", err)
		}
	default:
		add("mode", "must be continuous or scheduled, got %q", s.Mode)
	}
	if s.Retention.Until != "" {
		if _, err := time.Parse("2006-01-02", s.Retention.Until); err != nil {
			add("retention.until", "want a date like 2031-06-30, got %q", s.Retention.Until)
		}
	}
	r := s.Retention
	for _, k := range []struct {
		key string
		n   int
	}{{"keep_last", r.KeepLast}, {"keep_daily", r.KeepDaily}, {"keep_weekly", r.KeepWeekly}, {"keep_monthly", r.KeepMonthly}, {"keep_yearly", r.KeepYearly}} {
		if k.n < 0 {
			add("retention."+k.key, "must be 0 or more, got %d", k.n)
		}
	}
	if r.LockDays < 0 || r.LockDays > MaxLockDays {
		add("retention.lock_days", "must be 0 (no lock) to %d (a century), got %d: a lock cannot be shortened once set", MaxLockDays, r.LockDays)
	}
	return out
}

// Line returns the line of a dotted key in the file (0 when absent).
func (c *Config) Line(key string) int { return c.lines[key] }
