package auth

import (
	"fmt"
	"slices"
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

// Access is a grant on a space.
type Access string

// The kinds of grant. AccessNone is the absence of a grant.
const (
	AccessNone  Access = ""
	AccessRead  Access = "read"
	AccessWrite Access = "write"
)

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
)

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

// granted is what a grant on a space adds, per role.
var granted = map[Role]map[Access][]Action{
	Member: {
		AccessRead:  {BackupsRead, Restore, Download, Upload, SharesManage},
		AccessWrite: {BackupsRead, Restore, Download, Upload, SharesManage, BackupsWrite, LocksSet},
	},
	Viewer: {
		AccessRead:  {BackupsRead, Download},
		AccessWrite: {BackupsRead, Download},
	},
}

// Can is the permission table: whether role r may do a in a space where
// the user holds grant g (AccessNone for box-wide actions, for "all
// spaces", or when the user has no grant). Unknown roles, actions and
// grants are refused.
func Can(r Role, a Action, g Access) bool {
	if !a.Valid() {
		return false
	}
	if slices.Contains(boxWide[r], a) {
		return true
	}
	return a.Spaced() && slices.Contains(granted[r][g], a)
}

// canEver reports whether r could be allowed a with the strongest grant:
// the bound on an API key's scopes.
func canEver(r Role, a Action) bool { return Can(r, a, AccessWrite) }

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
	if Can(p.Role, a, AccessNone) {
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
	if Can(p.Role, a, AccessNone) {
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
	if p.Role == Owner {
		return nil
	}
	if role == Owner {
		return fmt.Errorf("only an owner can make %q an owner: %w", canonName(target), ErrForbidden)
	}
	u, err := s.loadUser(canonName(target))
	if err == nil && u.Role == Owner {
		return fmt.Errorf("only an owner can change the owner account %q: %w", u.Name, ErrForbidden)
	}
	return nil
}
