package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
)

// A restarted callmon carries on the calls of the one before it, with the
// waits measured from the first process's StasisStart, journaled in
// PostgreSQL.
func TestRestartAdoptsCallsThroughPostgreSQL(t *testing.T) {
	s := newSite(t, pgtest.URL(t, "cmd_adopt"))
	s.start()
	a1, a2 := s.cfg.Agents[0], s.cfg.Agents[1]
	s.fake.SetBehaviour(a1.Endpoint, aritest.Behaviour{AnswerAfter: 3 * time.Second})
	if _, err := s.d.App.Agents().Set(ari.PresenceChange{Agent: a2.ID, Action: "logout"}); err != nil {
		t.Fatal(err)
	}
	talking, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345678"})
	if err != nil {
		t.Fatal(err)
	}
	s.await("agent 1 ringing", func() bool { ch := s.onEndpoint(a1.Endpoint); return ch.State == "Ringing" })
	s.clk.Advance(3 * time.Second)
	s.eventually("answered", func() bool { return s.value("callmon_calls_answered_total") == 1 })
	waiting, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345679"})
	if err != nil {
		t.Fatal(err)
	}
	s.eventually("second caller waiting", func() bool { return s.value("callmon_calls_waiting") == 1 })
	s.eventually("both journaled", func() bool {
		return s.count("SELECT count(*) FROM live_calls WHERE answered_at IS NOT NULL OR channel_id = $1", waiting.ID()) == 2
	})
	s.clk.Advance(10 * time.Second)

	s.stop()
	s.fake.SetBehaviour(a2.Endpoint, aritest.Behaviour{AnswerAfter: 2 * time.Second})
	s.start() // logs both agents in: agent 2 is rung for the adopted caller
	s.eventually("agent 2 ringing", func() bool { ch := s.onEndpoint(a2.Endpoint); return ch.State == "Ringing" })
	s.clk.Advance(2 * time.Second)
	// Counters count what this process saw: the adopted conversation was
	// counted by the process before it; the waiting caller's answer here.
	s.eventually("adopted caller answered", func() bool { return s.value("callmon_calls_answered_total") == 1 })
	talking.Hangup()
	waiting.Hangup()
	s.eventually("both recorded", func() bool { return s.records() == 2 && s.count("SELECT count(*) FROM live_calls") == 0 })

	for id, want := range map[string]int64{talking.ID(): 3000, waiting.ID(): 12000} {
		var wait int64
		var outcome string
		var adopted, estimated, unobserved bool
		if err := s.row("SELECT wait_ms, outcome, adopted, entry_estimated OR answer_estimated, ended_unobserved FROM call_records WHERE channel_id = $1", id).
			Scan(&wait, &outcome, &adopted, &estimated, &unobserved); err != nil {
			t.Fatal(err)
		}
		if wait != want || outcome != "answered" || !adopted || estimated || unobserved {
			t.Errorf("call %s: wait %d ms, %s, adopted %v, estimated %v, unobserved %v; want answered after %d ms, adopted, nothing estimated",
				id, wait, outcome, adopted, estimated, unobserved, want)
		}
	}
}

// onEndpoint is the live channel on an endpoint (the zero value if none).
func (s *site) onEndpoint(ep string) aritest.ChannelInfo {
	for _, ch := range s.fake.Channels() {
		if ch.Alive && ch.Endpoint == ep {
			return ch
		}
	}
	return aritest.ChannelInfo{}
}

func (s *site) row(q string, args ...any) pgx.Row {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn.QueryRow(context.Background(), q, args...)
}

func (s *site) count(q string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.row(q, args...).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}
