package appliance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "state_dir: /x\nlisten: :1\nbogus: 1\n", "line 3"},
		{"relative state dir", "state_dir: var\nrepository: {passphrase_file: /p, path: /r}\n", "config.yaml:1: state_dir: must be an absolute path"},
		{"bad mode", "state_dir: /s\nrepository:\n  passphrase_file: /p\n  path: /r\nsources:\n  - name: a\n    path: /a\n    mode: sometimes\n", "config.yaml:8: sources[0].mode: must be continuous or scheduled"},
		{"bad schedule", "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\nsources:\n  - name: a\n    path: /a\n    mode: scheduled\n    schedule: whenever\n", "config.yaml:7: sources[0].schedule"},
		{"missing passphrase", "state_dir: /s\nrepository: {path: /r}\n", "repository.passphrase_file: required"},
		{"too few disks", "state_dir: /s\nrepository: {passphrase_file: /p}\ndisks:\n  members: [/a, /b]\n  data: 2\n  parity: 1\n", "config.yaml:4: disks.members: layout needs 3 disks, 2 listed"},
		{"bad duration", "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\nscrub: {every: soon}\n", "not a duration"},
		{"unknown card copy", "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\ncards:\n  library: /l\n  require: [array, cloud]\n", "config.yaml:5: cards.require[1]: unknown copy \"cloud\""},
		{"both card keys", "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\ncards:\n  library: /l\n  require: [array]\n  required_copies: 2\n", "cards.required_copies: set either cards.require or the older cards.required_copies, not both"},
		{"three card copies", "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\ncards:\n  library: /l\n  required_copies: 3\n", "cards.required_copies: must be 1 (a verified copy on the array) or 2 (array and offsite), got 3"},
		{"duplicate source", "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\nsources:\n  - {name: a, path: /a}\n  - {name: a, path: /b}\n", "sources[1].name: duplicate"},
		{"negative kdf memory", "state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\ngateway: {kdf_memory_mib: -1}\n", "config.yaml:3: gateway.kdf_memory_mib: must be 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("config.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	cfg, err := ParseConfig("config.yaml", []byte("state_dir: /s\nrepository: {passphrase_file: /p}\ndisks: {members: [/a, /b, /c]}\nsources:\n  - {name: inbox, path: /in}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "localhost:8443" || cfg.Sources[0].Mode != "continuous" || cfg.Disks.Data != 2 || !slices.Equal(cfg.Cards.Requirement(cfg.OffsiteConfigured()), []string{"array"}) ||
		time.Duration(cfg.Scrub.Every) != 30*24*time.Hour {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestSchedule(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 15, 0, 0, time.Local) // a Sunday
	for _, tc := range []struct {
		spec string
		want time.Time
	}{
		{"every 6h", base.Add(6 * time.Hour)},
		{"hourly", base.Add(time.Hour)},
		{"daily 02:30", time.Date(2026, 11, 23, 2, 30, 0, 0, time.Local)},
		{"daily 23:00", time.Date(2026, 11, 22, 23, 0, 0, 0, time.Local)},
		{"weekly wed 03:00", time.Date(2026, 11, 25, 3, 0, 0, 0, time.Local)},
		{"weekly sun 09:00", time.Date(2026, 11, 29, 9, 0, 0, 0, time.Local)},
	} {
		s, err := ParseSchedule(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if got := s.Next(base); !got.Equal(tc.want) {
			t.Errorf("%s: next %v, want %v", tc.spec, got, tc.want)
		}
	}
	for _, bad := range []string{"", "every", "every 5s", "daily 25:00", "weekly xyz 01:00", "monthly"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", bad)
		}
	}
}

func TestBusDeduplicates(t *testing.T) {
	b := NewBus()
	ch := b.Subscribe(10)
	a1 := b.Raise("disk", "disk/X", Warning, "s", "m")
	a2 := b.Raise("disk", "disk/X", Warning, "s", "m again")
	if a1.ID != a2.ID || a2.Count != 2 {
		t.Errorf("repeat: %+v then %+v; want one alert counted twice", a1, a2)
	}
	if len(ch) != 1 {
		t.Errorf("%d notifications for a repeated alert, want 1", len(ch))
	}
	b.Raise("disk", "disk/X", Critical, "s", "worse")
	if len(ch) != 2 {
		t.Error("a rise in severity was not notified")
	}
	if !b.Ack(a1.ID[:8]) || !b.List(false)[0].Acked {
		t.Error("ack by ID prefix failed")
	}
	b.Resolve("disk/X", "fixed")
	if len(b.List(false)) != 0 || len(b.List(true)) != 1 || len(ch) != 3 {
		t.Errorf("after resolve: open %d, all %d, notifications %d", len(b.List(false)), len(b.List(true)), len(ch))
	}
	a3 := b.Raise("disk", "disk/X", Warning, "s", "back")
	if a3.ID == a1.ID || a3.Acked {
		t.Error("a resolved alert raised again must be a new, unacknowledged alert")
	}
	// An alert about a space carries it; one the caller may not see
	// cannot be acknowledged, as if it did not exist.
	a4 := b.RaiseIn("family", "backup-failed", "backup-failed/family", Critical, "s", "m")
	if a4.Space != "family" || a3.Space != "" {
		t.Errorf("spaces %q and %q, want family and none", a4.Space, a3.Space)
	}
	notFamily := func(a Alert) bool { return a.Space != "family" }
	if b.AckIf(a4.ID, notFamily) || b.AckIf(a4.ID[:8], notFamily) || !b.AckIf(a4.ID, nil) {
		t.Error("AckIf acknowledged an alert its filter hides, or not one it shows")
	}
}

func TestSupervisorRestartsFailingService(t *testing.T) {
	bus := NewBus()
	s := &Supervisor{Bus: bus}
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int32
	s.Add(ctx, "flaky", ServiceFunc(func(ctx context.Context) error {
		if runs.Add(1) == 1 {
			panic("boom")
		}
		<-ctx.Done()
		return ctx.Err()
	}))
	healthy := ServiceFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	s.Add(ctx, "healthy", healthy)
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if runs.Load() < 2 {
		t.Fatal("the panicking service was not restarted")
	}
	al := bus.List(false)
	if len(al) != 1 || !strings.Contains(al[0].Message, "panic: boom") {
		t.Errorf("alerts %+v, want one naming the panic", al)
	}
	cancel()
	s.Wait()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("unreachable")
	}
}

// TestCardsRequirement: what the copies a card needs are, for the new key,
// the older one, and neither.
func TestCardsRequirement(t *testing.T) {
	for _, tc := range []struct {
		cards string
		want  []string
	}{
		{"{library: /l}", []string{"array"}},
		{"{library: /l, require: [array, offsite]}", []string{"array", "offsite"}},
		{"{library: /l, required_copies: 1}", []string{"array"}},
		{"{library: /l, required_copies: 2}", []string{"array", "offsite"}},
	} {
		cfg, err := ParseConfig("config.yaml", []byte("state_dir: /s\nrepository: {passphrase_file: /p, path: /r}\ncards: "+tc.cards+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Cards.Requirement(cfg.OffsiteConfigured()); !slices.Equal(got, tc.want) {
			t.Errorf("cards: %s: got %v, want %v", tc.cards, got, tc.want)
		}
	}
}
