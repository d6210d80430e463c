package auth

import "time"

// EventKind names a security event.
type EventKind string

// The kinds of event.
const (
	EventLogin             EventKind = "login"
	EventLoginFailed       EventKind = "login_failed"
	EventThrottled         EventKind = "throttled" // an address now waits before its next try on an account
	EventLogout            EventKind = "logout"
	EventSessionRevoked    EventKind = "session_revoked"
	EventAPIKeyCreated     EventKind = "apikey_created"
	EventAPIKeyRevoked     EventKind = "apikey_revoked"
	EventTOTPEnabled       EventKind = "totp_enabled"
	EventTOTPDisabled      EventKind = "totp_disabled"
	EventPasswordChanged   EventKind = "password_changed"
	EventUserCreated       EventKind = "user_created"
	EventUserDeleted       EventKind = "user_deleted"
	EventRoleChanged       EventKind = "role_changed"
	EventCredentialExposed EventKind = "credential_exposed"
	EventGrantsMigrated    EventKind = "grants_migrated" // old one-word grants became read only
	// A session proved the second factor after it began.
	EventSecondFactor EventKind = "second_factor"
	// An enrolment code ended unused: cancelled, or its person's
	// credentials changed.
	EventEnrolmentCancelled EventKind = "enrolment_cancelled"
	// An owner reset another person's sign-in (ResetCredentials).
	EventCredentialsReset EventKind = "credentials_reset"
)

// Event is a security event for the audit log. It never holds a secret:
// no password, token, TOTP secret or code.
type Event struct {
	Kind EventKind
	Time time.Time
	// User is the account concerned; empty for a failed sign-in with an
	// unknown name (the name typed may be a misplaced password).
	User         string
	IP           string
	Device       string
	CredentialID string // public ID of a session, API key or enrolment code
	Detail       string // human-readable, e.g. "wrong code", "member → admin"
	// Via is set on a credential that ended because the one that made it
	// did: the account of that one (an admin's session made a pairing
	// code for a new account). Who ended the maker ended this too.
	Via string
}
