package ari

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"callmon/ari/aritest"
	"callmon/metrics"
)

// memPresence is a PresenceStore in memory that behaves like the table:
// a Save older than the row is ignored, every write is announced.
type memPresence struct {
	mu      sync.Mutex
	rows    map[string]Presence
	down    bool
	saves   []Presence // the writes that landed, in order
	refused []Presence // the writes tried while down
	changed func(string)
}

var errDown = errors.New("database down")

func (m *memPresence) Load(context.Context) (map[string]Presence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	return maps.Clone(m.rows), nil
}

func (m *memPresence) Save(_ context.Context, p Presence) error {
	m.mu.Lock()
	if m.down {
		m.refused = append(m.refused, p)
		m.mu.Unlock()
		return errDown
	}
	if cur, ok := m.rows[p.Agent]; ok && cur.ChangedAt.After(p.ChangedAt) {
		m.mu.Unlock()
		return nil
	}
	m.rows[p.Agent] = p
	m.saves = append(m.saves, p)
	fn := m.changed
	m.mu.Unlock()
	if fn != nil {
		fn(p.Agent)
	}
	return nil
}

func (m *memPresence) Listen(ctx context.Context, changed func(string)) error {
	m.mu.Lock()
	m.changed = changed
	m.mu.Unlock()
	changed("")
	<-ctx.Done()
	return ctx.Err()
}

// write is a change another process made: the row, then its notification
// (unless quiet: a lost notification, for the poll to catch).
func (m *memPresence) write(p Presence, quiet bool) {
	m.mu.Lock()
	m.rows[p.Agent] = p
	fn := m.changed
	m.mu.Unlock()
	if fn != nil && !quiet {
		fn(p.Agent)
	}
}

func (m *memPresence) row(id string) Presence {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows[id]
}

func (m *memPresence) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// tried reports whether a write of p was tried while the store was down.
func (m *memPresence) tried(p Presence) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.refused {
		if r == p {
			return true
		}
	}
	return false
}

func (m *memPresence) landed() []Presence {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Presence(nil), m.saves...)
}

var p0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// newSyncedAgents returns agents a1 and a2 of queue q, synced with store,
// their clock, and the log.
func newSyncedAgents(t *testing.T, store *memPresence, poll time.Duration) (*Agents, *aritest.ManualClock, *lockedBuilder) {
	t.Helper()
	clk := aritest.NewManualClock(p0)
	m, err := metrics.New(prometheus.NewRegistry(), clk, time.UTC, []metrics.Queue{{Name: "q"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuilder{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ag, err := newAgents([]Agent{{ID: "a1", Endpoint: "PJSIP/1"}, {ID: "a2", Endpoint: "PJSIP/2"}},
		[]Queue{{Name: "q", Agents: []string{"a1", "a2"}}}, clk, log, m)
	if err != nil {
		t.Fatal(err)
	}
	ag.ps = newPresenceSync(ag, store, time.Millisecond, poll)
	if err := ag.ps.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ag.ps.start(context.Background())
	t.Cleanup(ag.ps.stop)
	return ag, clk, logs
}

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func mustSet(t *testing.T, ag *Agents, c PresenceChange) AgentStatus {
	t.Helper()
	st, err := ag.Set(c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPresenceOutageKeepsNewestPerAgent: changes made while the store is
// down apply at once, only each agent's newest is written when it is back,
// oldest agent first, and nothing is lost.
func TestPresenceOutageKeepsNewestPerAgent(t *testing.T) {
	store := &memPresence{rows: map[string]Presence{}}
	ag, clk, _ := newSyncedAgents(t, store, time.Hour)
	store.setDown(true)

	steps := []PresenceChange{
		{Agent: "a1", Action: ActionLogin, By: "a1"},
		{Agent: "a1", Action: ActionPause, Reason: "koffie", By: "a1"},
		{Agent: "a1", Action: ActionPause, Reason: "  overleg  ", By: "api"},
		{Agent: "a1", Action: ActionUnpause, By: "a1"},
		{Agent: "a1", Action: ActionPause, Reason: "lunch", By: "a1"},
		{Agent: "a2", Action: ActionLogin, By: "a2"},
	}
	for _, c := range steps {
		clk.Advance(time.Second)
		st := mustSet(t, ag, c)
		if c.Action == ActionPause && (!st.Paused || st.PauseReason != strings.TrimSpace(c.Reason)) {
			t.Errorf("after %+v: %+v, want paused with the reason at once", c, st)
		}
	}
	if n := ag.PresenceBacklog(); n != 2 {
		t.Errorf("backlog while down = %d, want 2 (one per agent: newer changes replace older ones)", n)
	}
	if got := store.landed(); len(got) != 0 {
		t.Fatalf("writes while down: %+v", got)
	}
	want := []Presence{
		{Agent: "a1", LoggedIn: true, Paused: true, Reason: "lunch", ChangedAt: p0.Add(5 * time.Second), ChangedBy: "a1"},
		{Agent: "a2", LoggedIn: true, ChangedAt: p0.Add(6 * time.Second), ChangedBy: "a2"},
	}
	// The saver retries all the while; once it has tried a1's newest change, no
	// attempt with an older one (taken before it) can still be under way.
	waitUntil(t, "a1's newest change tried", func() bool { return store.tried(want[0]) })
	store.setDown(false)
	waitUntil(t, "the backlog written", func() bool { return ag.PresenceBacklog() == 0 })
	got := store.landed()
	if len(got) != len(want) {
		t.Fatalf("writes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("write %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// A change that changes nothing is not written.
	mustSet(t, ag, PresenceChange{Agent: "a2", Action: ActionLogin})
	if n := ag.PresenceBacklog(); n != 0 {
		t.Errorf("a repeated login queued a write (backlog %d)", n)
	}
}

// TestPresenceFromTheStore: presence is loaded at start, unknown ids are
// said once, and changes another process writes are applied — on
// notification, or by the poll when the notification is lost — unless this
// process holds a newer change of that agent.
func TestPresenceFromTheStore(t *testing.T) {
	store := &memPresence{rows: map[string]Presence{
		"a1":    {Agent: "a1", LoggedIn: true, ChangedAt: p0.Add(-time.Hour), ChangedBy: "a1"},
		"a2":    {Agent: "a2", LoggedIn: true, ChangedAt: p0.Add(-2 * time.Hour), ChangedBy: "a2"},
		"ghost": {Agent: "ghost", LoggedIn: true, ChangedAt: p0, ChangedBy: "api"},
	}}
	ag, clk, logs := newSyncedAgents(t, store, 20*time.Millisecond)
	for _, id := range []string{"a1", "a2"} {
		if st, _ := ag.Get(id); !st.LoggedIn || st.ChangedBy != id {
			t.Errorf("%s after load: %+v, want logged in by %s", id, st, id)
		}
	}
	// Idle since the stored change: a2 logged in earlier and is rung first.
	ag.mu.Lock()
	if !ag.byID["a2"].idleSince.Before(ag.byID["a1"].idleSince) {
		t.Errorf("idle since a1 %v, a2 %v: want a2 (stored earlier) first", ag.byID["a1"].idleSince, ag.byID["a2"].idleSince)
	}
	ag.mu.Unlock()

	// Another process pauses a2, notifying.
	store.write(Presence{Agent: "a2", LoggedIn: true, Paused: true, Reason: "training", ChangedAt: p0.Add(time.Second), ChangedBy: "api"}, false)
	waitUntil(t, "a2 paused by the other process", func() bool {
		st, _ := ag.Get("a2")
		return st.Paused && st.PauseReason == "training" && st.State == StatePaused
	})
	// And a1 logs out there without a notification reaching us: the poll.
	store.write(Presence{Agent: "a1", ChangedAt: p0.Add(2 * time.Second), ChangedBy: "api"}, true)
	waitUntil(t, "a1 logged out by the poll", func() bool {
		st, _ := ag.Get("a1")
		return !st.LoggedIn
	})

	// Here a newer unwritten change of a1 beats an older one from the store.
	store.setDown(true)
	clk.Advance(time.Minute)
	mustSet(t, ag, PresenceChange{Agent: "a1", Action: ActionLogin, By: "a1"})
	store.mu.Lock()
	store.rows["a1"] = Presence{Agent: "a1", LoggedIn: true, Paused: true, ChangedAt: p0.Add(30 * time.Second), ChangedBy: "api"}
	store.down = false
	store.mu.Unlock()
	waitUntil(t, "a1's login written", func() bool { return ag.PresenceBacklog() == 0 })
	if st, _ := ag.Get("a1"); !st.LoggedIn || st.Paused || st.ChangedBy != "a1" {
		t.Errorf("a1 = %+v, want our later login, not the older pause", st)
	}
	if r := store.row("a1"); r.Paused || !r.ChangedAt.Equal(p0.Add(time.Minute)) {
		t.Errorf("stored a1 = %+v, want our login", r)
	}

	// But a change the store has that is newer than our unwritten one wins,
	// and ours is never written over it.
	store.setDown(true)
	clk.Advance(time.Minute)
	mustSet(t, ag, PresenceChange{Agent: "a2", Action: ActionUnpause, By: "a2"})
	newer := Presence{Agent: "a2", ChangedAt: clk.Now().Add(time.Second), ChangedBy: "api"}
	store.mu.Lock()
	store.rows["a2"] = newer
	store.down = false
	store.mu.Unlock()
	waitUntil(t, "a2 logged out by the newer change", func() bool {
		st, _ := ag.Get("a2")
		return !st.LoggedIn && ag.PresenceBacklog() == 0
	})
	if r := store.row("a2"); r != newer {
		t.Errorf("stored a2 = %+v, want the newer %+v kept", r, newer)
	}

	if n := strings.Count(logs.String(), "not configured"); n != 1 {
		t.Errorf("%d log lines about unconfigured ids, want 1:\n%s", n, logs.String())
	}
}

func TestPresenceRefusedInput(t *testing.T) {
	store := &memPresence{rows: map[string]Presence{}}
	ag, _, _ := newSyncedAgents(t, store, time.Hour)
	mustSet(t, ag, PresenceChange{Agent: "a1", Action: ActionLogin})
	for _, c := range []PresenceChange{
		{Agent: "a1", Action: ActionPause, Reason: strings.Repeat("x", MaxPauseReason+1)},
		{Agent: "a1", Action: ActionPause, Reason: "two\nlines"},
		{Agent: "a1", Action: ActionLogout, Reason: "home"},
		{Agent: "a1", Action: "dance"},
	} {
		if _, err := ag.Set(c); !errors.Is(err, ErrBadPresence) {
			t.Errorf("Set %+v = %v, want ErrBadPresence", c, err)
		}
	}
	if _, err := ag.Set(PresenceChange{Agent: "nobody", Action: ActionLogin}); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("unknown agent: %v", err)
	}
	if st, _ := ag.Get("a1"); !st.LoggedIn || st.Paused || st.State == StatePaused {
		t.Errorf("a1 after refused changes: %+v, want logged in, not paused", st)
	}
	if st := mustSet(t, ag, PresenceChange{Agent: "a1", Action: ActionPause, Reason: strings.Repeat("é", MaxPauseReason)}); st.PauseReason == "" {
		t.Errorf("a reason of %d characters was not kept", MaxPauseReason)
	}
}
