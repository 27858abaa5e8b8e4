package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/callback/presence"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

// post sends a request with a JSON body to the running daemon and decodes
// the answer into v (if not nil).
func postJSON(t *testing.T, base, path, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("POST %s: %d %q is not the JSON expected: %v", path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (s *site) base() string { return "http://" + s.d.APIAddr.String() }

func (s *site) post(path, body string) ari.AgentStatus {
	s.t.Helper()
	var st ari.AgentStatus
	if code := postJSON(s.t, s.base(), path, body, &st); code != http.StatusOK {
		s.t.Fatalf("POST %s %s: %d %+v", path, body, code, st)
	}
	return st
}

func (s *site) agent(id string) ari.AgentStatus {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.base()+"/api/agents/"+id, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st ari.AgentStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /api/agents/%s: %d %v", id, resp.StatusCode, err)
	}
	return st
}

// presenceRow is agent_presence as the test reads it, straight from the
// database (not through a proxy).
type presenceRow struct {
	loggedIn, paused bool
	reason           string
	changedBy        string
	version          int64
}

func presenceRows(t *testing.T, dbURL string) map[string]presenceRow {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT agent, logged_in, paused, coalesce(pause_reason, ''), changed_by, version FROM agent_presence")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]presenceRow{}
	for rows.Next() {
		var id string
		var r presenceRow
		if err := rows.Scan(&id, &r.loggedIn, &r.paused, &r.reason, &r.changedBy, &r.version); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ringingEndpoints lists the agent endpoints ringing now.
func (s *site) ringingEndpoints() []string {
	var out []string
	for _, ch := range s.fake.Channels() {
		if ch.Alive && strings.HasPrefix(ch.Endpoint, "PJSIP/") && ch.State == "Ringing" {
			out = append(out, ch.Endpoint)
		}
	}
	return out
}

// TestRestartKeepsPresence is the deployment: callmon restarts while
// agents are at their desks. The new process finds them logged in (and the
// paused one paused, with the reason), and the next caller is rung at once
// instead of being offered a callback for want of agents.
func TestRestartKeepsPresence(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_presence_restart")
	s := newSite(t, dbURL)
	s.launch()
	for _, a := range s.cfg.Agents {
		if st := s.agent(a.ID); st.LoggedIn || st.ChangedAt != nil {
			t.Fatalf("%s on a fresh database: %+v, want logged out, never changed", a.ID, st)
		}
	}
	s.post("/api/agents/agent01/login", "")
	s.post("/api/agents/agent02/login", "")
	s.clk.Advance(time.Minute)
	st := s.post("/api/agents/agent02/pause", `{"reason": "Teamoverleg"}`)
	// Stored with who made the change: the supervisor who signed in.
	if !st.Paused || st.PauseReason != "Teamoverleg" || st.ChangedBy != testSupervisor || st.ChangedAt == nil || !st.ChangedAt.Equal(s.clk.Now()) {
		t.Errorf("pause answered %+v, want paused for Teamoverleg by %s at %v", st, testSupervisor, s.clk.Now())
	}
	s.eventually("presence written", func() bool {
		r := presenceRows(t, dbURL)
		return r["agent01"].loggedIn && r["agent02"].paused && r["agent02"].reason == "Teamoverleg" && r["agent02"].changedBy == testSupervisor
	})
	s.stop()

	// A new process on the same database; nobody logs in again.
	s.clk.Advance(10 * time.Minute)
	s.launch()
	if st := s.agent("agent02"); !st.LoggedIn || !st.Paused || st.State != ari.StatePaused || st.PauseReason != "Teamoverleg" || st.ChangedBy != testSupervisor {
		t.Errorf("agent02 after the restart: %+v, want paused for Teamoverleg", st)
	}
	s.eventually("agent01 available after the restart", func() bool {
		st := s.agent("agent01")
		return st.LoggedIn && st.State == ari.StateAvailable
	})
	if got := s.value("callmon_agents", "state", "available"); got != 1 {
		t.Errorf("callmon_agents{state=available} = %v, want 1", got)
	}

	// A caller: agent01 rings at once (the clock does not move), answers.
	s.fake.SetBehaviour("PJSIP/1001", aritest.Behaviour{AnswerAfter: 2 * time.Second})
	caller, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345678"})
	if err != nil {
		t.Fatal(err)
	}
	s.await("agent01 ringing", func() bool {
		r := s.ringingEndpoints()
		return len(r) == 1 && r[0] == "PJSIP/1001"
	})
	s.clk.Advance(2 * time.Second)
	s.eventually("answered", func() bool { return s.value("callmon_calls_answered_total") == 1 })
	if n := s.plays("sound:callmon/callback-offer"); n != 0 {
		t.Errorf("the caller was offered a callback %d times; agent01 was logged in", n)
	}
	caller.Hangup()
	s.eventually("call finished", func() bool { return s.value("callmon_calls_total", "outcome", "answered") == 1 })
}

// TestPresenceChangeDuringOutage: while PostgreSQL is away presence changes
// still apply at once; when it is back each agent's newest value lands and
// none of the values it replaced was ever written.
func TestPresenceChangeDuringOutage(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_presence_outage")
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	s := newSite(t, proxy.URL(dbURL))
	s.presenceRetry = 20 * time.Millisecond
	s.launch()
	s.post("/api/agents/agent01/login", "")
	s.eventually("login written", func() bool { return presenceRows(t, dbURL)["agent01"].loggedIn })

	proxy.Cut()
	s.post("/api/agents/agent01/pause", `{"reason": "koffie"}`)
	s.post("/api/agents/agent01/unpause", "")
	st := s.post("/api/agents/agent01/pause", `{"reason": "overleg"}`)
	if !st.Paused || st.PauseReason != "overleg" || st.State != ari.StatePaused {
		t.Errorf("pause during the outage answered %+v, want paused for overleg at once", st)
	}
	s.post("/api/agents/agent02/login", "")
	s.eventually("backlog of 2 agents", func() bool { return s.value("callmon_presence_unsaved_changes") == 2 })
	// The saver logs once its first write has failed, which can come after the backlog grew.
	s.eventually("a log line about the unsaved presence changes", func() bool {
		return strings.Contains(s.logs.String(), "presence changes not saved yet")
	})
	if r := presenceRows(t, dbURL); r["agent01"].paused || len(r) != 1 {
		t.Fatalf("rows during the outage: %+v", r)
	}

	proxy.Restore()
	s.eventually("backlog written", func() bool { return s.value("callmon_presence_unsaved_changes") == 0 })
	r := presenceRows(t, dbURL)
	// Version 2: the login, then only the newest of the three changes.
	if got, want := r["agent01"], (presenceRow{loggedIn: true, paused: true, reason: "overleg", changedBy: testSupervisor, version: 2}); got != want {
		t.Errorf("agent01 = %+v, want %+v", got, want)
	}
	if got, want := r["agent02"], (presenceRow{loggedIn: true, changedBy: testSupervisor, version: 1}); got != want {
		t.Errorf("agent02 = %+v, want %+v", got, want)
	}
	if st := s.agent("agent01"); st.PauseReason != "overleg" {
		t.Errorf("agent01 after the outage: %+v", st)
	}
}

// TestPresenceFromAnotherProcess: a change another callmon (a standby's
// API) or an operator writes reaches the running one through NOTIFY — the
// poll runs every 30 s, longer than the test waits — and routes calls.
func TestPresenceFromAnotherProcess(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_presence_other")
	s := newSite(t, dbURL)
	s.launch()

	ctx := context.Background()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	standby := presence.New(db.Pool(), nil)
	if _, err := standby.Save(ctx, presence.Presence{Agent: "agent02", LoggedIn: true, Paused: true, Reason: "training",
		ChangedAt: s.clk.Now().Add(time.Second), ChangedBy: "agent02"}); err != nil {
		t.Fatal(err)
	}
	s.eventually("agent02 paused by the standby", func() bool {
		st := s.agent("agent02")
		return st.State == ari.StatePaused && st.PauseReason == "training" && st.ChangedBy == "agent02"
	})
	// An operator unpauses by hand in SQL.
	if _, err := db.Pool().Exec(ctx, `UPDATE agent_presence SET paused = false, pause_reason = NULL,
		changed_at = changed_at + interval '1 second', changed_by = 'api' WHERE agent = 'agent02'`); err != nil {
		t.Fatal(err)
	}
	s.eventually("agent02 available", func() bool { return s.agent("agent02").State == ari.StateAvailable })

	// agent01 is logged out: the caller rings agent02 at once.
	s.fake.SetBehaviour("PJSIP/1002", aritest.Behaviour{AnswerAfter: time.Second})
	caller, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345678"})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Hangup()
	s.await("agent02 ringing", func() bool {
		r := s.ringingEndpoints()
		return len(r) == 1 && r[0] == "PJSIP/1002"
	})
	// Our own later change wins over the row and is written.
	st := s.post("/api/agents/agent02/logout", "")
	if st.LoggedIn {
		t.Errorf("logout answered %+v", st)
	}
	s.eventually("logout written", func() bool { return !presenceRows(t, dbURL)["agent02"].loggedIn })
}

// TestPauseReasonAPI: what the pause endpoint accepts and what it refuses,
// without a database.
func TestPauseReasonAPI(t *testing.T) {
	e := startE2E(t, 2, aritest.Behaviour{})
	var st ari.AgentStatus
	if code := postJSON(t, e.base, "/api/agents/agent01/login", "", &st); code != http.StatusOK || !st.LoggedIn {
		t.Fatalf("login: %d %+v", code, st)
	}
	for _, tc := range []struct{ name, path, body, want string }{
		{"malformed JSON", "/api/agents/agent01/pause", `{"reason": "lunch"`, "not the JSON expected"},
		{"not an object", "/api/agents/agent01/pause", `"lunch"`, "not the JSON expected"},
		{"unknown field", "/api/agents/agent01/pause", `{"reden": "lunch"}`, `unknown field "reden"`},
		{"two values", "/api/agents/agent01/pause", `{"reason": "a"} {"reason": "b"}`, "more than one JSON value"},
		{"too long", "/api/agents/agent01/pause", `{"reason": "` + strings.Repeat("é", ari.MaxPauseReason+1) + `"}`, "at most 100"},
		{"two lines", "/api/agents/agent01/pause", `{"reason": "lunch\nand more"}`, "one line"},
		{"reason on login", "/api/agents/agent01/login", `{"reason": "home"}`, "pause only"},
		{"huge body", "/api/agents/agent01/pause", `{"reason": "` + strings.Repeat("x", 5000) + `"}`, "over 4096 bytes"},
	} {
		var apiErr struct {
			Error string `json:"error"`
		}
		code := postJSON(t, e.base, tc.path, tc.body, &apiErr)
		if code != http.StatusBadRequest || !strings.Contains(apiErr.Error, tc.want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", tc.name, code, apiErr.Error, tc.want)
		}
	}
	// Nothing changed.
	e.do("GET", "/api/agents/agent01", &st)
	if !st.LoggedIn || st.Paused || st.PauseReason != "" {
		t.Errorf("after refused requests: %+v, want logged in, not paused", st)
	}

	if code := postJSON(t, e.base, "/api/agents/agent01/pause", `{"reason": "  Lunch  "}`, &st); code != http.StatusOK ||
		st.State != ari.StatePaused || st.PauseReason != "Lunch" || st.ChangedBy != testSupervisor {
		t.Errorf("pause with a reason: %d %+v", code, st)
	}
	var list []ari.AgentStatus
	e.do("GET", "/api/agents", &list)
	if len(list) != 2 || list[0].PauseReason != "Lunch" || list[1].PauseReason != "" {
		t.Errorf("GET /api/agents: %+v, want agent01's reason Lunch", list)
	}
	// A pause without a body still works; unpausing drops the reason.
	if code := postJSON(t, e.base, "/api/agents/agent02/pause", "", &st); code != http.StatusOK || !st.Paused || st.PauseReason != "" {
		t.Errorf("pause without a body: %d %+v", code, st)
	}
	if code := postJSON(t, e.base, "/api/agents/agent01/unpause", "", &st); code != http.StatusOK || st.Paused || st.PauseReason != "" {
		t.Errorf("unpause: %d %+v", code, st)
	}
}

// The API refuses what the table would: both limits agree.
func TestPauseReasonLimitMatchesTable(t *testing.T) {
	if ari.MaxPauseReason != presence.MaxReason {
		t.Errorf("ari.MaxPauseReason = %d, presence.MaxReason = %d", ari.MaxPauseReason, presence.MaxReason)
	}
}

// TestAgentPagePresence: the agent page changes presence in the agent's
// name; the change is routed, written and shown on the page.
func TestAgentPagePresence(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_presence_page")
	s := newSite(t, dbURL)
	s.cfg.Agents[0].TokenHash = testHash("agent01")
	s.launch()
	send := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, s.base()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		authorize(req, "agent01")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := send("POST", "/agent/agent01/presence", `{"action": "login"}`); code != http.StatusOK {
		t.Fatalf("login from the page: %d %s", code, body)
	}
	if code, body := send("POST", "/agent/agent01/presence", `{"action": "pause", "reason": "`+strings.Repeat("x", 101)+`"}`); code != http.StatusBadRequest ||
		!strings.Contains(body, "at most 100") {
		t.Errorf("too long a reason from the page: %d %s, want 400", code, body)
	}
	if code, body := send("POST", "/agent/agent01/presence", `{"action": "pause", "reason": "Pauze"}`); code != http.StatusOK {
		t.Fatalf("pause from the page: %d %s", code, body)
	}
	if code, _ := send("POST", "/agent/agent02/presence", `{"action": "login"}`); code != http.StatusForbidden {
		t.Errorf("agent01 changing agent02: %d, want 403", code)
	}
	if st := s.agent("agent01"); st.State != ari.StatePaused || st.PauseReason != "Pauze" || st.ChangedBy != "agent01" {
		t.Errorf("agent01 after the page: %+v", st)
	}
	s.eventually("written in agent01's name", func() bool {
		r := presenceRows(t, dbURL)["agent01"]
		return r.paused && r.reason == "Pauze" && r.changedBy == "agent01"
	})
	if code, page := send("GET", "/agent/agent01", ""); code != http.StatusOK || !strings.Contains(page, "Pauze") || !strings.Contains(page, `data-state="paused"`) {
		t.Errorf("the page: %d, want it to show the pause and its reason:\n%s", code, page)
	}
}
