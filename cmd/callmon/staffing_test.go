package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store/pgtest"
)

// offered stores n offered calls of queue general entering 10 s apart from from.
func offered(t *testing.T, dbURL, prefix string, from time.Time, n int) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `
		INSERT INTO call_records (channel_id, queue, kind, entry_at, ended_at, wait_ms, outcome, within_threshold, threshold_ms)
		SELECT $1 || i, 'general', 'queue', $2::timestamptz + i * interval '10 seconds',
		       $2::timestamptz + i * interval '10 seconds' + interval '3 seconds', 3000, 'abandoned', false, 30000
		  FROM generate_series(0, $3 - 1) AS i`, prefix, from, n)
	if err != nil {
		t.Fatal(err)
	}
}

// The advice at 09:00 on a Monday: four Mondays before (across the end of summer time) had 20
// calls in the quarter-hour before, 40 in 09:00–09:15 and 60 in 09:15–09:30; today had 30 in
// the quarter-hour before, so the forecast is their shape at today's level, (30 + 5) ÷ (20 + 5):
// 56 and 84 calls. Two agents are far too few for that by either model.
func TestStaffingAdvice(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_staffing")
	s := newSite(t, dbURL)
	s.start()
	now := s.clk.Now()
	for k := 1; k <= 4; k++ {
		day := now.AddDate(0, 0, -7*k)
		offered(t, dbURL, "h-recent-"+day.Format("0102")+"-", day.Add(-15*time.Minute), 20)
		offered(t, dbURL, "h-current-"+day.Format("0102")+"-", day, 40)
		offered(t, dbURL, "h-next-"+day.Format("0102")+"-", day.Add(15*time.Minute), 60)
	}
	offered(t, dbURL, "today-", now.Add(-15*time.Minute), 30)
	s.clk.Advance(0) // the advisor's first turn
	s.eventually("the forecast", func() bool {
		return s.value("callmon_queue_forecast_calls", "queue", "general", "interval", "current") == 56
	})
	if got := s.value("callmon_queue_forecast_calls", "queue", "general", "interval", "next"); got != 84 {
		t.Errorf("next interval: %v calls, want 84", got)
	}
	needA := s.value("callmon_queue_agents_needed", "queue", "general", "interval", "current", "model", "erlang_a")
	needC := s.value("callmon_queue_agents_needed", "queue", "general", "interval", "current", "model", "erlang_c")
	// 56 calls in 15 min of 180 s each (the assumed handle time before any call): 11.2 Erlangs.
	if needA < 12 || needC < needA {
		t.Errorf("agents needed: Erlang A %v, Erlang C %v", needA, needC)
	}
	if got := s.value("callmon_queue_agents_needed", "queue", "general", "interval", "next", "model", "erlang_a"); got <= needA {
		t.Errorf("the busier next interval needs %v agents, the current %v", got, needA)
	}
	if got := s.value("callmon_queue_expected_service_level_ratio", "queue", "general", "interval", "current", "model", "erlang_a"); !(got >= 0 && got < 0.5) {
		t.Errorf("two agents for 11 Erlangs expected to reach %v", got)
	}
	if got := s.value("callmon_queue_expected_service_level_ratio", "queue", "general", "interval", "current", "model", "erlang_c"); got != 0 {
		t.Errorf("Erlang C without a steady state: %v, want 0", got)
	}
	if got := s.value("callmon_queue_handle_seconds", "queue", "general"); got != 180 {
		t.Errorf("handle before any call: %v, want the assumed 180 s", got)
	}
	// A minute later the advice is computed again, from windows a minute later: today's last
	// 15 minutes (08:46–09:01) now hold 24 of the first 30 and 20 more at 08:50, the history's
	// 14 of its 20 and 6 of its 09:00 calls: (44 + 5) ÷ (20 + 5) × 40 = 78.4 calls.
	offered(t, dbURL, "today-late-", now.Add(-10*time.Minute), 20)
	s.clk.Advance(time.Minute)
	s.eventually("the forecast a minute later", func() bool {
		return math.Abs(s.value("callmon_queue_forecast_calls", "queue", "general", "interval", "current")-78.4) < 1e-9
	})
}

// PostgreSQL restarting (cut here) while the advice is due: the turn fails, says so, and keeps
// the last figures; the next turn after it is back computes them again.
func TestStaffingAdviceThroughADatabaseOutage(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_staffing_outage")
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	s := newSite(t, proxy.URL(dbURL))
	s.start()
	now := s.clk.Now()
	offered(t, dbURL, "first-", now.Add(-10*time.Minute), 10)
	s.clk.Advance(0) // the advisor's first turn: no history, today's last 15 minutes carry on
	s.eventually("the forecast", func() bool {
		return s.value("callmon_queue_forecast_calls", "queue", "general", "interval", "current") == 10
	})
	proxy.Cut()
	offered(t, dbURL, "during-", now.Add(-5*time.Minute), 5)
	s.clk.Advance(time.Minute)
	s.eventually("the failed turn logged", func() bool { return strings.Contains(s.logs.String(), "staffing advice not updated") })
	if got := s.value("callmon_queue_forecast_calls", "queue", "general", "interval", "current"); got != 10 {
		t.Errorf("during the outage the forecast is %v, want the last one, 10", got)
	}
	proxy.Restore()
	s.clk.Advance(time.Minute)
	s.eventually("the forecast after the outage", func() bool {
		return s.value("callmon_queue_forecast_calls", "queue", "general", "interval", "current") == 15
	})
}
