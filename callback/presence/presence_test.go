package presence_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/callback/presence"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

// newStore returns a Store on a freshly migrated database of the test's own.
func newStore(t *testing.T) (*presence.Store, *store.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, pgtest.URL(t, "presence"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return presence.New(db.Pool(), nil), db
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()

	got, err := s.Load(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("Load of an empty table: %v, %v; want nothing", got, err)
	}
	anna := presence.Presence{Agent: "anna", LoggedIn: true, Paused: true, Reason: "koffie ☕", ChangedAt: t0, ChangedBy: "anna"}
	bert := presence.Presence{Agent: "bert", LoggedIn: true, ChangedAt: t0.Add(time.Second), ChangedBy: "api"}
	for _, p := range []presence.Presence{anna, bert} {
		if applied, err := s.Save(ctx, p); err != nil || !applied {
			t.Fatalf("Save %+v: applied %v, %v", p, applied, err)
		}
	}
	got, err = s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	anna.Version, bert.Version = 1, 1
	for _, want := range []presence.Presence{anna, bert} {
		g := got[want.Agent]
		if !g.ChangedAt.Equal(want.ChangedAt) {
			t.Errorf("%s: changed_at %v, want %v", want.Agent, g.ChangedAt, want.ChangedAt)
		}
		g.ChangedAt = want.ChangedAt
		if g != want {
			t.Errorf("Load: %+v, want %+v", g, want)
		}
	}
	var reason *string
	if err := db.Pool().QueryRow(ctx, "SELECT pause_reason FROM agent_presence WHERE agent = 'bert'").Scan(&reason); err != nil || reason != nil {
		t.Errorf("bert's pause_reason = %v (%v), want NULL for no reason", reason, err)
	}

	// A later change replaces the row and bumps the version.
	anna2 := presence.Presence{Agent: "anna", LoggedIn: true, ChangedAt: t0.Add(time.Minute), ChangedBy: "api"}
	if applied, err := s.Save(ctx, anna2); err != nil || !applied {
		t.Fatalf("Save later: applied %v, %v", applied, err)
	}
	// An older one (it waited for the database) does not overwrite it.
	stale := presence.Presence{Agent: "anna", LoggedIn: false, ChangedAt: t0.Add(30 * time.Second), ChangedBy: "anna"}
	if applied, err := s.Save(ctx, stale); err != nil || applied {
		t.Fatalf("Save older: applied %v, %v; want not applied, no error", applied, err)
	}
	got, _ = s.Load(ctx)
	if g := got["anna"]; !g.LoggedIn || g.Paused || g.Reason != "" || g.ChangedBy != "api" || g.Version != 2 || !g.ChangedAt.Equal(anna2.ChangedAt) {
		t.Errorf("anna after a later and an older change: %+v, want the later one, version 2", g)
	}
}

func TestSaveRefusesInvalid(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	ok := presence.Presence{Agent: "anna", LoggedIn: true, Paused: true, ChangedAt: t0, ChangedBy: "anna"}
	for name, mutate := range map[string]func(*presence.Presence){
		"no agent":            func(p *presence.Presence) { p.Agent = "" },
		"no changed_by":       func(p *presence.Presence) { p.ChangedBy = "" },
		"no changed_at":       func(p *presence.Presence) { p.ChangedAt = time.Time{} },
		"reason while active": func(p *presence.Presence) { p.Paused, p.Reason = false, "lunch" },
		"reason too long":     func(p *presence.Presence) { p.Reason = strings.Repeat("é", presence.MaxReason+1) },
		"control character":   func(p *presence.Presence) { p.Reason = "lunch\nand more" },
	} {
		p := ok
		mutate(&p)
		if _, err := s.Save(ctx, p); !errors.Is(err, presence.ErrInvalid) {
			t.Errorf("%s: Save = %v, want ErrInvalid", name, err)
		}
	}
	// The longest reason allowed fits the table (counted in characters, not bytes).
	p := ok
	p.Reason = strings.Repeat("é", presence.MaxReason)
	if _, err := s.Save(ctx, p); err != nil {
		t.Errorf("reason of %d characters: %v", presence.MaxReason, err)
	}
	if got, _ := s.Load(ctx); got["anna"].Reason != p.Reason {
		t.Errorf("stored reason %q, want %q", got["anna"].Reason, p.Reason)
	}
}

func TestCheckReason(t *testing.T) {
	for in, want := range map[string]string{"": "", "  lunch  ": "lunch", "overleg met team": "overleg met team"} {
		if got, err := presence.CheckReason(in); err != nil || got != want {
			t.Errorf("CheckReason(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := presence.CheckReason(strings.Repeat("x", 101))
	if err == nil || !strings.Contains(err.Error(), "101 characters; at most 100") {
		t.Errorf("too long: %v", err)
	}
}

// TestListenReportsEveryChange: whoever writes a row (a Save of another
// process, plain SQL), Listen hears the agent's id, after its "" at start.
func TestListenReportsEveryChange(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	heard := make(chan string, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Listen(ctx, func(agent string) { heard <- agent }); !errors.Is(err, context.Canceled) {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	next := func() string {
		t.Helper()
		select {
		case a := <-heard:
			return a
		case <-time.After(30 * time.Second):
			t.Fatal("no notification within 30 s")
			return ""
		}
	}
	if a := next(); a != "" {
		t.Fatalf("first call %q, want \"\" (listening: re-read everything)", a)
	}
	other := presence.New(db.Pool(), nil)
	if _, err := other.Save(ctx, presence.Presence{Agent: "anna", LoggedIn: true, ChangedAt: t0, ChangedBy: "anna"}); err != nil {
		t.Fatal(err)
	}
	if a := next(); a != "anna" {
		t.Errorf("after a Save: heard %q, want anna", a)
	}
	if _, err := db.Pool().Exec(ctx, "UPDATE agent_presence SET paused = true, changed_at = changed_at + interval '1 second', changed_by = 'api'"); err != nil {
		t.Fatal(err)
	}
	if a := next(); a != "anna" {
		t.Errorf("after an UPDATE: heard %q, want anna", a)
	}
	// A write the row refuses (older) changes nothing and announces nothing.
	if _, err := other.Save(ctx, presence.Presence{Agent: "anna", ChangedAt: t0.Add(-time.Hour), ChangedBy: "api"}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Save(ctx, presence.Presence{Agent: "bert", ChangedAt: t0, ChangedBy: "api"}); err != nil {
		t.Fatal(err)
	}
	if a := next(); a != "bert" {
		t.Errorf("after a refused write and bert's: heard %q, want bert (nothing for the refused one)", a)
	}
}
