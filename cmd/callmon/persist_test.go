package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/callback/calendar"
	"callmon/callback/leader"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

// site is a fake Asterisk with agents and a clock; daemons come and go on it
// as callmon would be restarted next to a running Asterisk.
type site struct {
	t     *testing.T
	cfg   *config.Config
	clk   *aritest.ManualClock
	fake  *aritest.Server
	d     *daemon
	dbURL string
	spool string
	logs  *syncBuffer
	push  pushOptions // for the daemons start starts
	// presenceRetry and presencePoll, if set, shorten the daemons' timings.
	presenceRetry, presencePoll time.Duration
	lease                       leader.Options // active/standby timings (zero: defaults)
	handOff                     bool           // daemonOptions.HandOff
	webConfig                   string         // daemonOptions.WebConfigFile
}

func newSite(t *testing.T, dbURL string) *site {
	t.Helper()
	cfg := config.Demo(2)
	cfg.Queues[0].RingTimeout = time.Minute // long waits are rung through, not timed out
	cal, err := cfg.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	clk := aritest.NewManualClock(time.Date(2026, 11, 2, 9, 0, 0, 0, cal.Location()))
	fake, err := aritest.New(aritest.Options{App: cfg.ARI.Application, User: cfg.ARI.User, Password: "demo", Clock: clk, Seed: 3, LogLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	for _, a := range cfg.Agents {
		fake.AddEndpoint(a.Endpoint, "online", aritest.Behaviour{})
	}
	return &site{t: t, cfg: cfg, clk: clk, fake: fake, dbURL: dbURL,
		spool: filepath.Join(t.TempDir(), "spool.jsonl"), logs: &syncBuffer{}}
}

// start runs a daemon (a new callmon process, as far as state goes) and
// logs every agent in.
func (s *site) start() {
	s.t.Helper()
	s.launch()
	for _, a := range s.cfg.Agents {
		if _, err := s.d.App.Agents().Set(ari.PresenceChange{Agent: a.ID, Action: ari.ActionLogin}); err != nil {
			s.t.Fatal(err)
		}
	}
	// Logged in; not necessarily available: an adopted call may hold one.
	s.eventually("agents logged in", func() bool {
		return s.value("callmon_agents", "state", "logged_out") == 0 && s.value("callmon_agents") == 2
	})
}

// launch runs a daemon and waits for its websocket; presence is whatever
// the daemon finds.
func (s *site) launch() {
	s.t.Helper()
	d, err := startDaemon(context.Background(), daemonOptions{
		Config: withTestPrincipals(s.cfg), Password: "demo", Clock: s.clk, ARIURL: s.fake.URL(),
		ListenAddress: "127.0.0.1:0", APIListenAddress: "127.0.0.1:0", TelemetryPath: "/metrics",
		Log:         slog.New(slog.NewTextHandler(s.logs, nil)),
		DatabaseURL: s.dbURL, SpoolFile: s.spool, Migrate: true, Push: s.push,
		PresenceRetry: s.presenceRetry, PresencePoll: s.presencePoll,
		Lease: s.lease, HandOff: s.handOff, WebConfigFile: s.webConfig,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.d = d
	s.t.Cleanup(d.Stop)
	s.await("connected", s.fake.Connected)
}

func (s *site) stop() {
	s.d.Stop()
	s.await("disconnected", func() bool { return !s.fake.Connected() })
}

func (s *site) await(what string, cond func() bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := s.fake.Await(ctx, cond); err != nil {
		s.t.Fatalf("waiting for %s: %v\n%s", what, err, s.logs)
	}
}

func (s *site) eventually(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			s.t.Fatalf("timed out waiting for %s\nchannels: %+v\nbridges: %+v\nlog:\n%s", what, s.fake.Channels(), s.fake.Bridges(), s.logs)
		case <-tick.C:
		}
	}
}

func (s *site) value(name string, labels ...string) float64 {
	s.t.Helper()
	mfs, err := s.d.Reg.Gather()
	if err != nil {
		s.t.Fatal(err)
	}
	return metricValue(mfs, name, labels...)
}

// scenario call: answered after answer, or abandoned after abandon.
type scall struct {
	answer, abandon time.Duration
}

// play runs calls one after another: each ends (caller hangs up) before the
// next, and every finished call is counted before play returns.
func (s *site) play(calls []scall) {
	s.t.Helper()
	for _, c := range calls {
		ans := s.value("callmon_calls_answered_total")
		done := ans + s.value("callmon_calls_abandoned_total") + s.value("callmon_calls_short_abandoned_total")
		b := aritest.Behaviour{AnswerAfter: c.answer}
		if c.abandon > 0 {
			b = aritest.Behaviour{NoAnswer: true}
		}
		for _, a := range s.cfg.Agents {
			s.fake.SetBehaviour(a.Endpoint, b)
		}
		caller, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345678"})
		if err != nil {
			s.t.Fatal(err)
		}
		s.await("an agent ringing", func() bool {
			for _, ch := range s.fake.Channels() {
				if ch.Alive && strings.HasPrefix(ch.Endpoint, "PJSIP/") && ch.State == "Ringing" {
					return true
				}
			}
			return false
		})
		if c.abandon > 0 {
			s.clk.Advance(c.abandon)
		} else {
			s.clk.Advance(c.answer)
			s.eventually("answered", func() bool { return s.value("callmon_calls_answered_total") == ans+1 })
			s.clk.Advance(20 * time.Second) // talk
		}
		caller.Hangup()
		s.eventually("call finished", func() bool {
			return s.value("callmon_calls_answered_total")+s.value("callmon_calls_abandoned_total")+s.value("callmon_calls_short_abandoned_total") == done+1 &&
				s.value("callmon_agents", "state", "available") == 2
		})
		s.clk.Advance(time.Minute)
	}
}

// today is what callmon says about today: the service level and its terms.
func (s *site) today() map[string]float64 {
	out := map[string]float64{"sl": s.value("callmon_service_level_ratio", "queue", "general", "window", "today")}
	for _, c := range []string{"offered", "answered_within_threshold", "short_abandoned", "waiting_over_threshold"} {
		out[c] = s.value("callmon_window_calls", "queue", "general", "window", "today", "class", c)
	}
	return out
}

func (s *site) records() int {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM call_records").Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

var (
	before = []scall{{answer: 3 * time.Second}, {answer: 45 * time.Second}, {abandon: 2 * time.Second}, {answer: 10 * time.Second}, {abandon: 40 * time.Second}}
	after  = []scall{{answer: 5 * time.Second}, {answer: 31 * time.Second}, {abandon: 3 * time.Second}, {answer: 30 * time.Second}}
)

func TestRestartKeepsToday(t *testing.T) {
	// Uninterrupted run.
	u := newSite(t, pgtest.URL(t, "cmd_restart_a"))
	u.start()
	u.play(before)
	u.play(after)
	want := u.today()

	// The same calls with callmon restarted in between.
	r := newSite(t, pgtest.URL(t, "cmd_restart_b"))
	r.start()
	r.play(before)
	r.stop()
	r.start()
	if got := r.value("callmon_window_calls", "window", "today", "class", "offered"); got != float64(len(before)) {
		t.Fatalf("after restart, today's offered = %v, want %d from the call records", got, len(before))
	}
	r.play(after)
	got := r.today()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("today %s: restarted run %v, uninterrupted run %v", k, got[k], w)
		}
	}
	// 9 calls: 2 short abandons; within: 3 s, 10 s, 5 s, 30 s → 4 / 7.
	if want["sl"] != 4.0/7 {
		t.Errorf("service level today = %v, want 4/7", want["sl"])
	}
	r.eventually("records written", func() bool { return r.value("callmon_spool_records") == 0 })
	if n := r.records(); n != len(before)+len(after) {
		t.Errorf("call records = %d, want %d", n, len(before)+len(after))
	}
}

func TestDatabaseOutageLosesNoRecord(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_outage")
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	s := newSite(t, proxy.URL(dbURL))
	s.start()
	s.play(before)
	s.eventually("records written", func() bool { return s.value("callmon_spool_records") == 0 })
	if n := s.records(); n != len(before) {
		t.Fatalf("records = %d before the outage, want %d", n, len(before))
	}

	proxy.Cut()
	// Calls go on being answered and counted: the event path does not wait
	// for the database.
	s.play(after)
	// Each call's entry and answer are journaled through the spool too.
	spooled := 0
	for _, c := range after {
		spooled += 2 // entry, record
		if c.answer > 0 {
			spooled++
		}
	}
	s.eventually("records spooled", func() bool { return s.value("callmon_spool_records") == float64(spooled) })
	if got := s.value("callmon_calls_answered_total"); got != 6 {
		t.Errorf("answered during the outage = %v, want 6", got)
	}

	proxy.Restore()
	s.eventually("spool drained", func() bool { return s.value("callmon_spool_records") == 0 })
	if n := s.records(); n != len(before)+len(after) {
		t.Errorf("records = %d after the outage, want %d exactly once", n, len(before)+len(after))
	}
	// A restart drains nothing twice.
	s.stop()
	s.start()
	if n := s.records(); n != len(before)+len(after) {
		t.Errorf("records = %d after a restart, want %d", n, len(before)+len(after))
	}
}

func TestReportMatchesLiveCounters(t *testing.T) {
	s := newSite(t, pgtest.URL(t, "cmd_report"))
	s.start()
	loc := s.clk.Now().Location()
	first := calendar.DateOf(s.clk.Now())
	type day struct{ offered, within, short float64 }
	live := map[string]day{}
	const days = 30
	for i := range days {
		d := calendar.DateOf(s.clk.Now())
		// A different mix every day: i%4 misses, i%3 short abandons.
		var calls []scall
		for j := range 3 + i%4 {
			calls = append(calls, scall{answer: time.Duration(5+j*11) * time.Second})
		}
		for j := range i % 3 {
			calls = append(calls, scall{abandon: time.Duration(2+j*20) * time.Second})
		}
		s.play(calls)
		today := s.today()
		live[d.String()] = day{today["offered"], today["answered_within_threshold"], today["short_abandoned"]}
		if i < days-1 {
			s.clk.AdvanceTo(d.AddDays(1).In(loc).Add(9 * time.Hour))
		}
	}
	s.eventually("all written", func() bool { return s.value("callmon_spool_records") == 0 })
	rows, err := s.d.store.db.Report(context.Background(), first, first.AddDays(days-1), "", loc)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	var total store.ReportRow
	for _, r := range rows {
		if r.Total {
			if r.Queue == "" {
				total = r
			}
			continue
		}
		seen++
		l := live[r.Day.String()]
		if float64(r.Offered) != l.offered || float64(r.AnsweredWithin) != l.within || float64(r.ShortAbandoned) != l.short {
			t.Errorf("%s: report offered/within/short %d/%d/%d, live %v/%v/%v", r.Day, r.Offered, r.AnsweredWithin, r.ShortAbandoned, l.offered, l.within, l.short)
		}
	}
	if seen != days {
		t.Errorf("report has %d days, want %d", seen, days)
	}
	for name, got := range map[string]int64{
		"callmon_calls_offered_total":                   total.Offered,
		"callmon_calls_answered_total":                  total.Answered,
		"callmon_calls_answered_within_threshold_total": total.AnsweredWithin,
		"callmon_calls_abandoned_total":                 total.Abandoned,
		"callmon_calls_short_abandoned_total":           total.ShortAbandoned,
	} {
		if want := s.value(name); float64(got) != want {
			t.Errorf("report total for %s = %d, live counter %v", name, got, want)
		}
	}
}

// An answer's journal entry is queued behind the entry, not waited for: the call reacts to
// its next event at once. (Found by the chaos test: right after a PostgreSQL restart a commit
// took the whole journalWait, and a caller whose employee had hung up stayed 1.1 s alone in
// the bridge.) With PostgreSQL unreachable (a write then hangs for the recorder's 10 s
// before the entry goes to the spool) journaling an answer returns with nothing durable yet;
// an entry returns only once it is durable; both then are in the journal.
func TestJournalWaitsForAnEntryNotForAnAnswer(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.URL(t, "cmd_journal_wait")
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	log := slog.New(slog.DiscardHandler)
	p, err := openPersistence(ctx, proxy.URL(dbURL), filepath.Join(t.TempDir(), "spool.jsonl"), true, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p.start(ctx, log)
	p.wait = time.Hour

	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	call := func(id string) ari.CallRecord {
		return ari.CallRecord{ChannelID: id, Queue: "general", Kind: "queue", CallerNumber: "0612345678",
			Entry: t0, Threshold: 30 * time.Second, Stage: ari.StageEntered}
	}
	answered := call("c1")
	answered.Stage, answered.Answered, answered.Agent = ari.StageAnswered, t0.Add(5*time.Second), "a1"
	p.journal(call("c1"))

	proxy.BlackHole()
	returned := func(r ari.CallRecord) chan struct{} {
		done := make(chan struct{})
		go func() { p.journal(r); close(done) }()
		return done
	}
	select {
	case <-returned(answered):
		if n := p.sp.Len(); n != 0 {
			t.Errorf("journaling an answer returned once it was in the spool (%d entries): it waited", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("journaling an answer waited for PostgreSQL")
	}
	entered := returned(call("c2"))
	proxy.Restore()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("journaling an entry did not return once PostgreSQL was back")
	}
	var live []ari.CallRecord
	if !poll(30*time.Second, func() bool {
		live, err = p.liveCalls(ctx)
		return err == nil && len(live) == 2 && !live[0].Answered.IsZero()
	}) {
		t.Fatalf("journal = %+v (err %v), want c1 answered by a1 and c2 entered", live, err)
	}
	if live[0].ChannelID != "c1" || live[0].Agent != "a1" || live[1].ChannelID != "c2" || live[1].Stage != ari.StageEntered {
		t.Errorf("journal = %+v, want c1 answered by a1 and c2 entered", live)
	}
}
