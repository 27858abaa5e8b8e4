package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/callback/leader"
	"callmon/callback/store/pgtest"
)

// fastLease keeps the takeover tests short; the defaults are 3 s / 500 ms.
var fastLease = leader.Options{Lease: 900 * time.Millisecond, Renew: 300 * time.Millisecond, Poll: 100 * time.Millisecond}

// second starts another callmon on the site's Asterisk and database, with
// its own spool, as a second host would run one.
func (s *site) second(name string) *daemon {
	s.t.Helper()
	d, err := startDaemon(context.Background(), daemonOptions{
		Config: withTestPrincipals(s.cfg), Password: "demo", Clock: s.clk, ARIURL: s.fake.URL(),
		ListenAddress: "127.0.0.1:0", APIListenAddress: "127.0.0.1:0", TelemetryPath: "/metrics",
		Log:         slog.New(slog.NewTextHandler(s.logs, nil)).With("instance", name),
		DatabaseURL: s.dbURL, SpoolFile: filepath.Join(s.t.TempDir(), name+".jsonl"), Migrate: true,
		Lease: fastLease,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(d.Stop)
	return d
}

// health returns the status of a health endpoint of d (no credentials).
func health(t *testing.T, d *daemon, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + d.APIAddr.String() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func gathered(t *testing.T, d *daemon, name string) (float64, bool) {
	t.Helper()
	mfs, err := d.ha.gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return metricValue(mfs, name), true
		}
	}
	return 0, false
}

// Two callmons on one database: one drives calls and exports everything,
// the other stands by exporting its role only; a graceful stop of the
// active one hands over within a second, and the standby carries the
// waiting caller on, measured from the first StasisStart.
func TestStandbyTakesOverGracefully(t *testing.T) {
	s := newSite(t, pgtest.URL(t, "cmd_standby"))
	s.lease = fastLease
	s.start()
	b := s.second("b")
	s.eventually("b stands by", func() bool {
		v, ok := gathered(t, b, "callmon_leader")
		return ok && v == 0
	})
	if _, ok := gathered(t, b, "callmon_calls_offered_total"); ok {
		t.Error("the standby exports queue series")
	}
	if v, _ := gathered(t, s.d, "callmon_leader"); v != 1 {
		t.Errorf("active callmon_leader = %v, want 1", v)
	}
	// Ready only on the active one; both are healthy.
	if a, b, bh := health(t, s.d, "/-/ready"), health(t, b, "/-/ready"), health(t, b, "/-/healthy"); a != 200 || b != 503 || bh != 200 {
		t.Errorf("/-/ready active %d, standby %d; standby /-/healthy %d; want 200, 503, 200", a, b, bh)
	}
	c := s.waitingCaller()
	s.clk.Advance(4 * time.Second)

	stopped := time.Now()
	s.d.Stop()
	s.await("b took over", s.fake.Connected)
	if took := time.Since(stopped); took > time.Second {
		t.Errorf("graceful hand-over took %v, want at most 1 s", took)
	}
	s.eventually("b is active", func() bool { v, _ := gathered(t, b, "callmon_leader"); return v == 1 })
	s.eventually("b is ready", func() bool { return health(t, b, "/-/ready") == 200 })
	a1 := s.cfg.Agents[0]
	// b learns of a's logouts by notification; a login through b before that would be
	// a no-op on b's view (already logged in), and the logout read back after it would stand.
	s.eventually("b saw a1 logged out", func() bool {
		return !slices.ContainsFunc(b.App.Agents().List(), func(st ari.AgentStatus) bool { return st.ID == a1.ID && st.LoggedIn })
	})
	s.fake.SetBehaviour(a1.Endpoint, aritest.Behaviour{AnswerAfter: 2 * time.Second})
	if _, err := b.App.Agents().Set(ari.PresenceChange{Agent: a1.ID, Action: ari.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	s.await("agent rung by b", func() bool { return s.onEndpoint(a1.Endpoint).State == "Ringing" })
	s.clk.Advance(2 * time.Second)
	s.await("bridged", func() bool { return s.onEndpoint(a1.Endpoint).Bridge != "" })
	c.Hangup()
	s.eventually("recorded", func() bool { return s.records() == 1 })
	var wait int64
	var adopted bool
	if err := s.row("SELECT wait_ms, adopted FROM call_records WHERE channel_id = $1", c.ID()).Scan(&wait, &adopted); err != nil {
		t.Fatal(err)
	}
	if wait != 6000 || !adopted {
		t.Errorf("wait %d ms, adopted %v; want 6000 ms from the first process's StasisStart, adopted", wait, adopted)
	}
}

// With no standby, a graceful stop sends the waiting callers to the
// dialplan fallback rather than leaving them on hold with nobody to serve
// them.
func TestStopWithoutStandbyHandsCallersToFallback(t *testing.T) {
	s := newSite(t, pgtest.URL(t, "cmd_handoff"))
	s.handOff = true
	s.start()
	c := s.waitingCaller()
	s.clk.Advance(3 * time.Second)
	s.d.Stop()
	if ch, _ := s.fake.Channel(c.ID()); !ch.Continued {
		t.Fatalf("caller %+v not sent to the dialplan fallback", ch)
	}
	var outcome string
	if err := s.row("SELECT outcome FROM call_records WHERE channel_id = $1", c.ID()).Scan(&outcome); err != nil {
		t.Fatal(err)
	}
	if outcome != "fallback" {
		t.Errorf("outcome %q, want fallback", outcome)
	}
}

// waitingCaller logs every agent out and places a caller, who waits on hold.
func (s *site) waitingCaller() *aritest.Caller {
	s.t.Helper()
	for _, a := range s.cfg.Agents {
		if _, err := s.d.App.Agents().Set(ari.PresenceChange{Agent: a.ID, Action: ari.ActionLogout}); err != nil {
			s.t.Fatal(err)
		}
	}
	c, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345678"})
	if err != nil {
		s.t.Fatal(err)
	}
	s.eventually("caller waiting", func() bool { return s.value("callmon_calls_waiting") == 1 })
	return c
}
