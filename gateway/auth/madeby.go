package auth

import (
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/shoebox/shoebox/gateway/token"
)

// What a credential made ends with it. API keys record the session that
// made them, enrolment codes the session or key (or the box's local
// token) that asked for them, and share links the credential they were
// made with (package share; the gateway ends those on the events sent
// here). When a session or API key is revoked — by its person, by a
// password or second-factor change, by a reset, by the account's
// deletion, or because it crossed the network in the clear — endMadeBy
// ends what it made, and what that made in turn. A plain sign-out and a
// session's natural expiry end nothing else: the person ended a device's
// sign-in, not what they set up with it.

// made is a credential that has ended, and the name of its account.
type made struct {
	by   Maker
	user string
}

// endMadeBy ends what the credentials in ended made — API keys (but
// those spare, when not nil, keeps) and enrolment codes, of any account
// — and, in turn, what those made, emitting an event per credential
// ended that names the maker's account (Event.Via). why says what ended
// the first ones ("revoked", "password changed").
func endMadeBy(tx *bbolt.Tx, ended []made, spare func(*apiKeyRec) bool, why string, emit func(Event)) error {
	for len(ended) > 0 {
		m := ended[0]
		ended = ended[1:]
		if m.by.ID == "" {
			continue
		}
		detail := fmt.Sprintf("made by %s %s, which ended (%s)", m.by.Kind.name(), m.by.ID, why)
		_, err := deleteWhere(tx, bucketAPIKeys, func(r *apiKeyRec) bool { return r.MadeBy == m.by && (spare == nil || !spare(r)) },
			func(r *apiKeyRec) {
				emit(Event{Kind: EventAPIKeyRevoked, User: r.User, Via: m.user, CredentialID: r.ID, Detail: fmt.Sprintf("%q: %s", r.Name, detail)})
				ended = append(ended, made{Maker{KindAPIKey, r.ID}, r.User})
			})
		if err != nil {
			return err
		}
		_, err = deleteWhere(tx, bucketEnrol, func(r *enrolRec) bool { return r.MadeBy == m.by },
			func(r *enrolRec) {
				emit(Event{Kind: EventEnrolmentCancelled, User: r.User, Via: m.user, CredentialID: r.ID, Detail: detail})
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// name is how a message names a credential of kind k.
func (k CredentialKind) name() string {
	switch k {
	case KindAPIKey:
		return "API key"
	case KindLocal:
		return "the box's local token"
	}
	return string(k)
}

// credentialKind is the kind of credential a token of kind k is.
func credentialKind(k token.Kind) CredentialKind {
	if k == token.APIKey {
		return KindAPIKey
	}
	return KindSession
}
