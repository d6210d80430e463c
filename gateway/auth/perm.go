package auth

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.etcd.io/bbolt"
)

// Role is a user's standing on the box.
type Role string

// The roles, from most to least powerful.
const (
	Owner  Role = "owner"
	Admin  Role = "admin"
	Member Role = "member"
	Viewer Role = "viewer"
)

// Roles lists every role.
var Roles = []Role{Owner, Admin, Member, Viewer}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Perm is a permission a member or viewer may hold on a space.
type Perm string

// The permissions. Each but read implies read.
const (
	PermRead    Perm = "read"    // browse, download, preview: backups.read, download
	PermWrite   Perm = "write"   // upload, run a backup now, lock snapshots: upload, backups.write, locks.set
	PermShare   Perm = "share"   // make and manage public links: shares.manage
	PermRestore Perm = "restore" // restore to the box: restore
)

// Perms lists every permission, in the order an Access keeps them.
var Perms = []Perm{PermRead, PermWrite, PermShare, PermRestore}

// Access is what someone holds on one space: a set of permissions in
// Perms order, without repeats, holding read whenever it holds anything
// (NewAccess makes one). The empty Access is no grant.
type Access []Perm

// NewAccess makes an Access of perms: it adds read, the permission every
// other implies, sorts and drops repeats. An unknown permission, or none
// at all, is ErrInvalid.
func NewAccess(perms ...Perm) (Access, error) {
	if len(perms) == 0 {
		return nil, fmt.Errorf("permissions: %w: give at least one of %s (RevokeGrant removes a grant)", ErrInvalid, permNames())
	}
	for _, p := range perms {
		if !slices.Contains(Perms, p) {
			return nil, fmt.Errorf("permission %q: %w: use %s", p, ErrInvalid, permNames())
		}
	}
	var a Access
	for _, p := range Perms {
		if p == PermRead || slices.Contains(perms, p) {
			a = append(a, p)
		}
	}
	return a, nil
}

func permNames() string {
	names := make([]string, len(Perms))
	for i, p := range Perms {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// Has reports whether a holds p (read when it holds anything).
func (a Access) Has(p Perm) bool {
	if p == PermRead {
		return slices.ContainsFunc(a, func(q Perm) bool { return slices.Contains(Perms, q) })
	}
	return slices.Contains(a, p)
}

// String is the permissions joined by commas ("read,share").
func (a Access) String() string {
	names := make([]string, len(a))
	for i, p := range a {
		names[i] = string(p)
	}
	return strings.Join(names, ",")
}

// Action is something a principal may be allowed to do.
type Action string

// The actions. See the package documentation for who may do what.
const (
	StatusRead   Action = "status.read"
	BackupsRead  Action = "backups.read"
	BackupsWrite Action = "backups.write" // sources CRUD, run now
	Restore      Action = "restore"
	Download     Action = "download"
	Upload       Action = "upload"
	SharesManage Action = "shares.manage"
	CardsRead    Action = "cards.read"
	DisksRead    Action = "disks.read"
	DisksManage  Action = "disks.manage" // scrub, replace, evacuate
	AlertsRead   Action = "alerts.read"
	AlertsAck    Action = "alerts.ack"
	UsersManage  Action = "users.manage"
	AuditRead    Action = "audit.read"
	LocksSet     Action = "locks.set"
	Settings     Action = "settings"
)

// Actions lists every action.
var Actions = []Action{
	StatusRead, BackupsRead, BackupsWrite, Restore, Download, Upload,
	SharesManage, CardsRead, DisksRead, DisksManage, AlertsRead, AlertsAck,
	UsersManage, AuditRead, LocksSet, Settings,
}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool { return slices.Contains(Actions, a) }

// Spaced reports whether a acts within a space (a backup source) and so
// depends on grants for members and viewers.
func (a Action) Spaced() bool {
	switch a {
	case BackupsRead, BackupsWrite, Restore, Download, Upload, SharesManage, LocksSet:
		return true
	}
	return false
}

// CredentialKind says how a principal signed in.
type CredentialKind string

// The kinds of credential.
const (
	KindSession CredentialKind = "session"
	KindAPIKey  CredentialKind = "apikey"
	// KindLocal is the box's local token (the CLI on the box): it has
	// no account, and nothing revokes it.
	KindLocal CredentialKind = "local"
)

// Maker names the credential that made another (an API key, an
// enrolment code; a share link records its own the same way): its kind
// and public ID. When a session or API key is revoked, what it made
// ends with it. The zero Maker is unknown: made before makers were
// recorded.
type Maker struct {
	Kind CredentialKind `json:"kind"`
	ID   string         `json:"id,omitempty"`
}

// Maker is the credential p signed in with, as the maker of what p
// makes.
func (p Principal) Maker() Maker {
	if p.Kind == KindLocal {
		return Maker{Kind: KindLocal}
	}
	return Maker{Kind: p.Kind, ID: p.CredentialID}
}

// Principal is an authenticated caller, from Authenticate.
type Principal struct {
	User string
	// UserID is the account's immutable ID (User.ID): key anything that
	// belongs to the person by it, not by the name.
	UserID string
	Role   Role
	// Scopes limits an API key to these actions; nil (a session) means
	// the role's full rights.
	Scopes       []Action
	CredentialID string // public ID of the session or API key
	Kind         CredentialKind
	// TOTP: the person has two-step sign-in on. SecondFactor: this
	// credential proved it (a session that was given a TOTP or recovery
	// code, or an API key made by one). The gateway refuses a person with
	// TOTP whose credential has not proved it.
	TOTP, SecondFactor bool
}

// boxWide is what each role may do regardless of grants; spaced actions
// listed here are allowed on every space.
var boxWide = map[Role][]Action{
	Owner:  Actions,
	Admin:  Actions,
	Member: {StatusRead, AlertsRead, CardsRead, DisksRead},
	Viewer: {StatusRead, AlertsRead},
}

// granted is what each permission allows in its space, per role: a
// viewer's grants count for reading only, whatever they hold.
var granted = map[Role]map[Perm][]Action{
	Member: {
		PermRead:    {BackupsRead, Download},
		PermWrite:   {Upload, BackupsWrite, LocksSet},
		PermShare:   {SharesManage},
		PermRestore: {Restore},
	},
	Viewer: {
		PermRead: {BackupsRead, Download},
	},
}

// Can is the permission table: whether role r may do a in a space where
// the user holds g (nil for box-wide actions, for "all spaces", or when
// the user holds nothing there). Unknown roles, actions and permissions
// are refused.
func Can(r Role, a Action, g Access) bool {
	if !a.Valid() {
		return false
	}
	if slices.Contains(boxWide[r], a) {
		return true
	}
	if !a.Spaced() {
		return false
	}
	for p, actions := range granted[r] {
		if g.Has(p) && slices.Contains(actions, a) {
			return true
		}
	}
	return false
}

// canEver reports whether r could be allowed a with every permission:
// the bound on an API key's scopes.
func canEver(r Role, a Action) bool { return Can(r, a, Perms) }

func inScope(p Principal, a Action) bool {
	return p.Scopes == nil || slices.Contains(p.Scopes, a)
}

// Allowed reports whether p may do a in space (a backup source name; ""
// for box-wide actions, or for a spaced action across all spaces). It
// reads the user's current grants; an API key's scopes narrow the result.
// A store error refuses.
func (s *Store) Allowed(p Principal, a Action, space string) bool {
	if !inScope(p, a) {
		return false
	}
	if Can(p.Role, a, nil) {
		return true
	}
	if !a.Spaced() || space == "" {
		return false
	}
	u, err := s.loadUser(p.User)
	if err != nil {
		return false
	}
	return Can(p.Role, a, u.Grants[space])
}

// AllowedAnywhere reports whether p may do a in at least one space (or
// box-wide). The gateway uses it to admit a request before the handler
// checks the specific space with Allowed.
func (s *Store) AllowedAnywhere(p Principal, a Action) bool {
	if !inScope(p, a) {
		return false
	}
	if Can(p.Role, a, nil) {
		return true
	}
	if !a.Spaced() {
		return false
	}
	u, err := s.loadUser(p.User)
	if err != nil {
		return false
	}
	for _, g := range u.Grants {
		if Can(p.Role, a, g) {
			return true
		}
	}
	return false
}

// CheckManage says whether p may manage the account target: create,
// delete or reset it, change its role or grants. role is the role being
// given ("" when none is). It needs users.manage; only an owner may touch
// an owner's account or make someone owner.
func (s *Store) CheckManage(p Principal, target string, role Role) error {
	if !s.Allowed(p, UsersManage, "") {
		return fmt.Errorf("managing accounts needs %s: %w", UsersManage, ErrForbidden)
	}
	name := canonName(target)
	var has Role
	if u, err := s.loadUser(name); err == nil {
		has = u.Role
	}
	return mayManage(p.Role, name, has, role)
}

// mayManage is the rule of CheckManage by roles: whether a person of
// role by may manage the account name, which has role has (""
// for one that does not exist yet), giving it role give ("" for none).
func mayManage(by Role, name string, has, give Role) error {
	if by == Owner {
		return nil
	}
	if !Can(by, UsersManage, nil) {
		return fmt.Errorf("managing accounts needs %s: %w", UsersManage, ErrForbidden)
	}
	if give == Owner {
		return fmt.Errorf("only an owner can make %q an owner: %w", name, ErrForbidden)
	}
	if has == Owner {
		return fmt.Errorf("only an owner can change the owner account %q: %w", name, ErrForbidden)
	}
	return nil
}

// migrateGrants turns grants stored before permissions were split (one
// word, "read" or "write") into read only: an old read grant allowed
// upload, public links and restore, which now each need their own
// permission, and the owner should decide who gets them back. It
// returns an event per account changed, for the audit log.
func migrateGrants(tx *bbolt.Tx) ([]Event, error) {
	b := tx.Bucket(bucketUsers)
	changed := map[string][]byte{}
	var evs []Event
	err := b.ForEach(func(k, v []byte) error {
		var rec map[string]json.RawMessage
		if err := decode(v, &rec); err != nil {
			return err
		}
		var grants map[string]json.RawMessage
		if raw, ok := rec["grants"]; !ok || decode(raw, &grants) != nil {
			return nil
		}
		var notes []string
		for _, space := range slices.Sorted(maps.Keys(grants)) {
			var old string
			if json.Unmarshal(grants[space], &old) != nil {
				continue // a list already
			}
			grants[space] = json.RawMessage(`["read"]`)
			notes = append(notes, fmt.Sprintf("%s: %s → read", space, old))
		}
		if len(notes) == 0 {
			return nil
		}
		var err error
		if rec["grants"], err = json.Marshal(grants); err != nil {
			return err
		}
		if changed[string(k)], err = json.Marshal(rec); err != nil {
			return err
		}
		evs = append(evs, Event{Kind: EventGrantsMigrated, User: string(k),
			Detail: strings.Join(notes, "; ") + " (permissions were split: give write, share or restore back where needed)"})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate grants: %w", err)
	}
	for k, v := range changed {
		if err := b.Put([]byte(k), v); err != nil {
			return nil, fmt.Errorf("migrate grants of %q: %w", k, err)
		}
	}
	return evs, nil
}
