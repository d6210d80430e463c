package appliance

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Severity of an alert.
type Severity string

// Severities.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Alert is one condition the owner should know about. Alerts with the
// same Key are one alert: raising it again counts and refreshes it rather
// than notifying again, until it is resolved.
type Alert struct {
	ID   string `json:"id"`
	Key  string `json:"key"`  // de-duplication key, e.g. "disk-failing/WD-123"
	Kind string `json:"kind"` // backup-failed, backup-stalled, disk, array-degraded, scrub, drill, low-space, offsite-lag
	// Space is the source (space) the alert concerns, "" for the whole
	// box: the gateway shows an alert only to those who may read its
	// space (box-wide ones by kind, docs/GATEWAY.md).
	Space    string    `json:"space,omitempty"`
	Severity Severity  `json:"severity"`
	Subject  string    `json:"subject"`
	Message  string    `json:"message"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Count    int       `json:"count"`
	Acked    bool      `json:"acked"`
	Resolved bool      `json:"resolved"`
}

// Bus is the single event bus of alerts: services raise and resolve
// alerts; notifiers (webhook, email, the phone's push endpoint) subscribe.
// It is safe for concurrent use.
type Bus struct {
	mu     sync.Mutex
	alerts map[string]*Alert // by key
	subs   []chan Alert
	now    func() time.Time
	// hide, when set, rewrites every subject and message: the daemon
	// hides its own paths there (HidePaths).
	hide func(string) string
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{alerts: map[string]*Alert{}, now: time.Now} }

// Raise opens a box-wide alert, or refreshes the open one with the same
// key. Subscribers hear of a new alert, of a resolved one raised again,
// and of a rise in severity; repeats are only counted.
func (b *Bus) Raise(kind, key string, sev Severity, subject, message string) Alert {
	return b.RaiseIn("", kind, key, sev, subject, message)
}

// RaiseIn is Raise for an alert about a space (a source's name): only
// those who may read that space are shown it.
func (b *Bus) RaiseIn(space, kind, key string, sev Severity, subject, message string) Alert {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	a, ok := b.alerts[key]
	notify := !ok || a.Resolved || rank(sev) > rank(a.Severity)
	if !ok || a.Resolved {
		var id [8]byte
		rand.Read(id[:])
		a = &Alert{ID: hex.EncodeToString(id[:]), Key: key, First: now}
		b.alerts[key] = a
	}
	if b.hide != nil {
		subject, message = b.hide(subject), b.hide(message)
	}
	a.Kind, a.Space, a.Severity, a.Subject, a.Message, a.Last = kind, space, sev, subject, message, now
	a.Count++
	if notify {
		a.Acked = false
		b.publish(*a)
	}
	return *a
}

func rank(s Severity) int {
	switch s {
	case Critical:
		return 2
	case Warning:
		return 1
	}
	return 0
}

// Resolve closes the alert with the key, if open, and tells subscribers.
func (b *Bus) Resolve(key, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a, ok := b.alerts[key]
	if !ok || a.Resolved {
		return
	}
	a.Resolved, a.Last = true, b.now()
	if message != "" && b.hide != nil {
		message = b.hide(message)
	}
	if message != "" {
		a.Message = message
	}
	b.publish(*a)
}

// Ack marks an alert as seen by the owner. It stays open until resolved.
func (b *Bus) Ack(id string) bool { return b.AckIf(id, nil) }

// AckIf is Ack among the alerts visible says the caller may see (all
// when nil): an ID or prefix matching only alerts it may not see is
// unknown, as one matching nothing.
func (b *Bus) AckIf(id string, visible func(Alert) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	var match *Alert
	for _, a := range b.alerts {
		if visible != nil && !visible(*a) {
			continue
		}
		if a.ID == id || (len(id) >= 6 && strings.HasPrefix(a.ID, id)) {
			if match != nil {
				return false // ambiguous prefix
			}
			match = a
		}
	}
	if match == nil {
		return false
	}
	match.Acked = true
	return true
}

// List returns the alerts, open ones first, newest first.
func (b *Bus) List(includeResolved bool) []Alert {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Alert
	for _, a := range b.alerts {
		if a.Resolved && !includeResolved {
			continue
		}
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Resolved != out[j].Resolved {
			return !out[i].Resolved
		}
		return out[i].Last.After(out[j].Last)
	})
	return out
}

// Subscribe returns a channel of alert notifications. A subscriber that
// does not keep up loses notifications, never blocks the bus.
func (b *Bus) Subscribe(buffer int) <-chan Alert {
	ch, _ := b.SubscribeCancel(buffer)
	return ch
}

// SubscribeCancel is Subscribe for a subscriber that goes away (a phone's
// alert stream): cancel unsubscribes.
func (b *Bus) SubscribeCancel(buffer int) (<-chan Alert, func()) {
	ch := make(chan Alert, buffer)
	b.mu.Lock()
	b.subs = append(b.subs, ch)
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.subs = slices.DeleteFunc(b.subs, func(c chan Alert) bool { return c == ch })
	}
}

func (b *Bus) publish(a Alert) {
	for _, ch := range b.subs {
		select {
		case ch <- a:
		default:
		}
	}
}
