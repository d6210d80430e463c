package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/encoding/protojson"
	"rsc.io/qr"

	"github.com/shoebox/shoebox/gateway/audit"
	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
	"github.com/shoebox/shoebox/store"
	"github.com/shoebox/shoebox/vault"
)

// cmdGateway adds the commands that manage the phone API: people,
// phones and the audit log.
func cmdGateway(g *globals) []*cobra.Command {
	return []*cobra.Command{cmdPairPhone(g), cmdUser(g), cmdAudit(g)}
}

// pairOptions are pair-phone's flags.
type pairOptions struct {
	User    string // "": the owner
	Minutes int
	List    bool
	Cancel  string // an enrolment code's ID
}

func cmdPairPhone(g *globals) *cobra.Command {
	var opts pairOptions
	pair := &cobra.Command{
		Use:   "pair-phone",
		Short: "Show a QR code that pairs a phone with this box (one-time code, certificate pin); list or cancel codes",
		Long: "pair-phone asks shoeboxd for a one-time enrolment code for a user and prints a QR code and a URL\n" +
			"carrying the code and the pin of the box's certificate, so the phone trusts the box without a CA.\n" +
			"Scan it with the Shoebox app within the validity period; the code works once. For a person with\n" +
			"two-step sign-in the phone must still enter a code from the authenticator app.\n\n" +
			"--list shows the outstanding codes (never the codes themselves); --cancel ID ends one.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPairPhone(cmd.Context(), g, opts)
		},
	}
	pair.Flags().StringVar(&opts.User, "user", "", "the account the phone signs in as (default: the owner)")
	pair.Flags().IntVar(&opts.Minutes, "valid", 10, "minutes the code is valid")
	pair.Flags().BoolVar(&opts.List, "list", false, "list the outstanding enrolment codes")
	pair.Flags().StringVar(&opts.Cancel, "cancel", "", "cancel the outstanding enrolment code with this `ID`")
	return pair
}

// runPairPhone prints a new enrolment code as a QR code, or lists or
// cancels the outstanding ones.
func runPairPhone(ctx context.Context, g *globals, opts pairOptions) error {
	c, err := g.daemonClient()
	if err != nil {
		return err
	}
	switch {
	case opts.List && opts.Cancel != "":
		return errors.New("give --list or --cancel, not both")
	case opts.List:
		var raw json.RawMessage
		if err := c.call(ctx, http.MethodGet, "/v1/enrolments", nil, &raw); err != nil {
			return err
		}
		return printEnrolments(g, raw)
	case opts.Cancel != "":
		if err := c.call(ctx, http.MethodDelete, "/v1/enrolments/"+url.PathEscape(opts.Cancel), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "cancelled enrolment code %s\n", opts.Cancel)
		return nil
	}
	var e pairing
	if err := c.call(ctx, http.MethodPost, "/v1/enrolments", map[string]any{"user": opts.User, "valid_minutes": opts.Minutes}, &e); err != nil {
		return err
	}
	return printPairing(g, e)
}

// userAddOptions are user add's argument and flags.
type userAddOptions struct {
	Name         string
	Role         string
	PasswordFile string
	NoPassword   bool
}

// userResetOptions are user reset's argument and flag.
type userResetOptions struct {
	Name    string
	Minutes int
}

// userGrantOptions are user grant's arguments.
type userGrantOptions struct {
	Name, Space string
	Permissions string // comma-separated
}

func cmdUser(g *globals) *cobra.Command {
	users := &cobra.Command{Use: "user", Short: "People who may use the box's API (owner, admin, member, viewer)"}
	var addOpts userAddOptions
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a person; the password is read from --user-password-file or the terminal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addOpts.Name = args[0]
			return runUserAdd(cmd.Context(), g, addOpts)
		},
	}
	add.Flags().StringVar(&addOpts.Role, "role", "member", "owner, admin, member or viewer")
	add.Flags().StringVar(&addOpts.PasswordFile, "user-password-file", "", "read the new user's password from this `file` (else asked on the terminal)")
	add.Flags().BoolVar(&addOpts.NoPassword, "no-password", false, "make the account without a password: the person pairs a phone and sets it")
	var resetOpts userResetOptions
	reset := &cobra.Command{
		Use:   "reset NAME",
		Short: "Reset a person's sign-in (forgotten password, lost phone): end everything they sign in with, pair anew",
		Long: "reset ends all of a person's sessions, API keys, enrolment codes and share links, turns their two-step sign-in off,\n" +
			"clears their password, and prints a one-time pairing QR code for them, with which they sign in on a\n" +
			"phone and set a new password. It is audited, raises an alert, and the person is told at sign-in.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resetOpts.Name = args[0]
			return runUserReset(cmd.Context(), g, resetOpts)
		},
	}
	reset.Flags().IntVar(&resetOpts.Minutes, "valid", 10, "minutes the new pairing code is valid")
	list := daemonCmd(g, "list", "List people, their roles and grants", "/v1/users", printUsers)
	grant := &cobra.Command{
		Use:   "grant NAME SPACE PERMISSIONS",
		Short: "Set what a person may do in a space (a source): read, write, share, restore, comma-separated",
		Long: `grant replaces what NAME may do in SPACE with PERMISSIONS, a comma-separated
list of:
  read     browse, download, preview
  write    upload from a phone, run a backup now, lock snapshots
  share    make public share links
  restore  restore files to the box
Every permission but read implies read. A viewer may hold read only; owners
and admins need no grants. Example: shoebox user grant anna family read,share`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUserGrant(cmd.Context(), g, userGrantOptions{Name: args[0], Space: args[1], Permissions: args[2]})
		},
	}
	users.AddCommand(add, list, grant, reset)
	return users
}

// runUserAdd adds a person, with a password or (NoPassword) without.
func runUserAdd(ctx context.Context, g *globals, opts userAddOptions) error {
	c, err := g.daemonClient()
	if err != nil {
		return err
	}
	pw := ""
	if opts.NoPassword && opts.PasswordFile != "" {
		return errors.New("give --no-password or --user-password-file, not both")
	}
	if !opts.NoPassword {
		if pw, err = readSecret(g, opts.PasswordFile, "Password for "+opts.Name+": "); err != nil {
			return err
		}
	}
	var out json.RawMessage
	if err := c.call(ctx, http.MethodPost, "/v1/users", map[string]string{"name": opts.Name, "password": pw, "role": opts.Role}, &out); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "added %s (%s)\n", opts.Name, opts.Role)
	if opts.NoPassword {
		fmt.Fprintf(g.stdout, "%s has no password yet: pair their phone with `shoebox pair-phone --user %s`; they set it there\n", opts.Name, opts.Name)
	}
	return nil
}

// runUserReset resets a person's sign-in and prints a pairing code for
// them.
func runUserReset(ctx context.Context, g *globals, opts userResetOptions) error {
	c, err := g.daemonClient()
	if err != nil {
		return err
	}
	var e pairing
	if err := c.call(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(opts.Name)+"/reset", map[string]any{"valid_minutes": opts.Minutes}, &e); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "The sign-in of %s was reset: their sessions, API keys, pairing codes, share links, password and two-step sign-in are gone.\n", opts.Name)
	return printPairing(g, e)
}

// printUsers prints people, their roles and grants.
func printUsers(g *globals, r *pb.ListUsersResponse) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tTOTP\tGRANTS")
	for _, u := range r.Users {
		var gs []string
		for sp, a := range u.Grants {
			gs = append(gs, sp+":"+strings.Join(a.GetPermissions(), ","))
		}
		sort.Strings(gs)
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", u.Name, u.Role, u.Totp, strings.Join(gs, " "))
	}
	return tw.Flush()
}

// runUserGrant replaces what a person may do in a space.
func runUserGrant(ctx context.Context, g *globals, opts userGrantOptions) error {
	c, err := g.daemonClient()
	if err != nil {
		return err
	}
	var perms []string
	for _, p := range strings.Split(opts.Permissions, ",") {
		if p = strings.TrimSpace(p); p != "" {
			perms = append(perms, p)
		}
	}
	var u struct {
		Name   string
		Grants map[string]struct{ Permissions []string }
	}
	if err := c.call(ctx, http.MethodPost, "/v1/users/"+opts.Name+"/grants", map[string]any{"space": opts.Space, "permissions": perms}, &u); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s in %s: %s\n", u.Name, opts.Space, strings.Join(u.Grants[opts.Space].Permissions, ","))
	return nil
}

// auditVerifyOptions are audit verify's flags.
type auditVerifyOptions struct {
	Dir string // "": STATE/gateway/audit
}

func cmdAudit(g *globals) *cobra.Command {
	var opts auditVerifyOptions
	auditCmd := &cobra.Command{Use: "audit", Short: "The box's append-only audit log: a hash chain keyed with the box key"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's keyed chain against its anchors: detects any edited, removed, reordered, rewritten or cut-off entry and a deleted log",
		Long: "verify reads the log directly from the state directory (no daemon needed) and exits 1 when it was tampered with.\n" +
			"It needs the box key (STATE/gateway/box.key, beside the log directory: run as root) and checks the log against the\n" +
			"anchor kept in the state directory (STATE/gateway/audit.anchor) and, when a repository is given (--repo or\n" +
			"SHOEBOX_REPO, with its passphrase), the one kept in the repository: a log shorter than an anchor, different\n" +
			"at its entry, or missing while an anchor exists, was tampered with.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditVerify(cmd.Context(), g, opts)
		},
	}
	verify.Flags().StringVar(&opts.Dir, "dir", "", "audit log `directory` (default: STATE/gateway/audit)")
	auditCmd.AddCommand(verify)
	return auditCmd
}

// runAuditVerify checks the audit log in the state directory
// (audit.VerifyState) and, with --repo, against the anchor kept in the
// repository; a tampered log is exit code 1.
func runAuditVerify(ctx context.Context, g *globals, opts auditVerifyOptions) error {
	dir := opts.Dir
	if dir == "" {
		dir = filepath.Join(stateDir(), "gateway", "audit")
	}
	var inRepo func() (string, []byte, error)
	if g.repo != "" {
		inRepo = func() (string, []byte, error) {
			var b []byte
			err := g.withRepo(ctx, "audit verify", noLock, func(r *vault.Repository) (err error) {
				b, err = r.Anchor(ctx, "audit")
				return err
			})
			switch {
			case errors.Is(err, store.ErrNotFound):
				return "the repository", nil, nil
			case err != nil:
				return "", nil, fmt.Errorf("read the audit anchor in the repository: %w", err)
			}
			return "the repository", b, nil
		}
	}
	tampered := func(format string, a ...any) error {
		fmt.Fprintf(g.stdout, "audit log %s: TAMPERED%s\n", dir, fmt.Sprintf(format, a...))
		return &exitError{code: 1, err: fmt.Errorf("the audit log was changed after it was written")}
	}
	res, err := audit.VerifyState(dir, inRepo)
	if errors.Is(err, audit.ErrTampered) {
		return tampered(": %v", err)
	} else if err != nil {
		return err
	}
	rep, anchor := res.Report, res.Anchor
	if g.json {
		if err := json.NewEncoder(g.stdout).Encode(rep); err != nil {
			return err
		}
		if !rep.OK {
			return &exitError{code: 1, err: fmt.Errorf("the audit log was changed after it was written")}
		}
		return nil
	}
	if !rep.OK {
		return tampered(" at entry %d: %s", rep.BadSeq, rep.Reason)
	}
	fmt.Fprintf(g.stdout, "audit log %s: OK, %d entries, chain intact", dir, rep.Entries)
	if rep.Unkeyed > 0 {
		fmt.Fprintf(g.stdout, " (entries 1 to %d unkeyed, from an earlier version)", rep.Unkeyed)
	}
	if anchor != nil {
		fmt.Fprintf(g.stdout, "; matches the anchor of %s (entry %d) in %s", anchor.Time.Format(time.RFC3339), anchor.Seq, res.From)
	} else {
		fmt.Fprint(g.stdout, "; no anchor to check it against yet")
	}
	fmt.Fprintln(g.stdout)
	return nil
}

// pairing is an enrolment code as the API answers it.
type pairing struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	URL     string `json:"url"`
	Pin     string `json:"pin"`
	User    string `json:"user"`
	Expires string `json:"expires"`
}

// printPairing prints an enrolment code's QR code and URL (or, with
// --json, the API's answer).
func printPairing(g *globals, e pairing) error {
	if g.json {
		return json.NewEncoder(g.stdout).Encode(e)
	}
	code, err := qr.Encode(e.URL, qr.M)
	if err != nil {
		return err
	}
	fmt.Fprint(g.stdout, renderQR(code))
	fmt.Fprintf(g.stdout, "\nScan with the Shoebox app, or open on the phone:\n  %s\n\nCertificate pin: %s\nValid until %s, once (code ID %s; cancel it with shoebox pair-phone --cancel %s).\n",
		e.URL, e.Pin, e.Expires, e.ID, e.ID)
	return nil
}

// printEnrolments prints the outstanding enrolment codes in raw, the
// answer to GET /v1/enrolments.
func printEnrolments(g *globals, raw json.RawMessage) error {
	if g.json {
		_, err := g.stdout.Write(append(raw, '\n'))
		return err
	}
	var r pb.ListEnrolmentsResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("shoeboxd's answer: %w", err)
	}
	if len(r.Enrolments) == 0 {
		fmt.Fprintln(g.stdout, "no outstanding enrolment codes")
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tPURPOSE\tBY\tEXPIRES")
	for _, e := range r.Enrolments {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Id, e.User, e.Purpose, e.By, e.Expires.AsTime().Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// renderQR draws a QR code with Unicode half blocks: two modules per
// character cell, dark on light, with the quiet zone scanners need.
func renderQR(c *qr.Code) string {
	const quiet = 2
	n := c.Size
	dark := func(x, y int) bool { return x >= 0 && y >= 0 && x < n && y < n && c.Black(x, y) }
	var b strings.Builder
	for y := -quiet; y < n+quiet; y += 2 {
		for x := -quiet; x < n+quiet; x++ {
			top, bottom := dark(x, y), dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune(' ')
			case top:
				b.WriteRune('▄')
			case bottom:
				b.WriteRune('▀')
			default:
				b.WriteRune('█')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// readSecret reads a new password from a file or, twice, from the terminal.
func readSecret(g *globals, file, prompt string) (string, error) {
	if file != "" {
		return secretFile(file)
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("no password: give --user-password-file, or run on a terminal to be asked")
	}
	return g.readTerminal(fd, prompt, "Again: ", errors.New("the passwords differ"))
}
