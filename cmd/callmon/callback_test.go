package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/callback/tasks"
)

func (s *site) plays(media string) int {
	n := 0
	for _, r := range s.fake.Log() {
		if r.Kind == aritest.KindREST && r.Method == "POST" && strings.Contains(r.Path, "/play") && r.Status == 201 {
			var body struct{ Media string }
			if json.Unmarshal(r.Body, &body) == nil && body.Media == media {
				n++
			}
		}
	}
	return n
}

func (s *site) awaitPlay(media string) {
	s.t.Helper()
	s.await("prompt "+media, func() bool { return s.plays(media) > 0 })
}

func (s *site) key(c *aritest.Caller, digits string) {
	for _, d := range digits {
		c.SendDTMF(string(d))
		s.clk.Advance(200 * time.Millisecond)
	}
}

type taskRow struct {
	number, status, sourceKey string
	start, end                time.Time
}

func (s *site) tasks(dbURL string) []taskRow {
	s.t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), "SELECT number, status, source_key, window_start, window_end FROM tasks ORDER BY id")
	if err != nil {
		s.t.Fatal(err)
	}
	var out []taskRow
	for rows.Next() {
		var r taskRow
		if err := rows.Scan(&r.number, &r.status, &r.sourceKey, &r.start, &r.end); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// agreeCallback takes a caller through the dialogue: wait for the offer,
// press 1, choose the first slot.
func (s *site) agreeCallback() *aritest.Caller {
	s.t.Helper()
	for _, a := range s.cfg.Agents {
		s.fake.SetBehaviour(a.Endpoint, aritest.Behaviour{NoAnswer: true})
	}
	c, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345678"})
	if err != nil {
		s.t.Fatal(err)
	}
	s.await("agent ringing", func() bool {
		for _, ch := range s.fake.Channels() {
			if ch.Alive && strings.HasPrefix(ch.Endpoint, "PJSIP/") && ch.State == "Ringing" {
				return true
			}
		}
		return false
	})
	s.clk.Advance(time.Minute)
	s.awaitPlay("sound:callmon/callback-offer")
	s.key(c, "1")
	s.awaitPlay("sound:callmon/press-1-for")
	s.key(c, "1")
	s.awaitPlay("sound:callmon/callback-confirmed")
	return c
}

func TestAgreedCallbackIsATask(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_callback")
	s := newSite(t, dbURL)
	s.cfg.Queues[0].RingTimeout = 5 * time.Minute
	s.start()
	entered := s.clk.Now()
	c := s.agreeCallback()
	got := s.tasks(dbURL)
	if len(got) != 1 {
		t.Fatalf("tasks = %+v, want 1", got)
	}
	// The first free slot after the agreement (entry + 60 s): the next
	// quarter hour. Demo hours are open around the clock.
	want := entered.Add(time.Minute).Truncate(15 * time.Minute).Add(15 * time.Minute)
	r := got[0]
	if r.number != "+31612345678" || r.status != "pending" || r.sourceKey != c.ID() ||
		!r.start.Equal(want) || r.end.Sub(r.start) != 15*time.Minute {
		t.Errorf("task = %+v, want +31612345678 pending from %v", r, want)
	}
	s.eventually("callbacks pending", func() bool { return s.value("callmon_callbacks_pending", "queue", "general") == 1 })
	if s.value("callmon_callbacks_up") != 1 {
		t.Error("callmon_callbacks_up != 1")
	}
}

func TestCallbackAgreedWhileDatabaseDownLandsOnce(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_callback_down")
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	s := newSite(t, proxy.URL(dbURL))
	s.cfg.Queues[0].RingTimeout = 5 * time.Minute
	s.start()
	proxy.Cut()
	s.agreeCallback()
	if n := len(s.tasks(dbURL)); n != 0 {
		t.Fatalf("%d tasks while the database is down?", n)
	}
	s.eventually("callback spooled", func() bool { return s.value("callmon_spool_records") >= 1 })
	proxy.Restore()
	s.eventually("spool drained", func() bool { return s.value("callmon_spool_records") == 0 })
	if got := s.tasks(dbURL); len(got) != 1 || got[0].number != "+31612345678" {
		t.Fatalf("tasks after the outage = %+v, want exactly one", got)
	}
	s.stop()
	s.start()
	if got := s.tasks(dbURL); len(got) != 1 {
		t.Fatalf("tasks after a restart = %d, want 1", len(got))
	}
}

func TestAgentHandlesAgreedCallbackThroughTheAPI(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_callback_api")
	s := newSite(t, dbURL)
	s.cfg.Queues[0].RingTimeout = 5 * time.Minute
	s.cfg.Agents[0].TokenHash = testHash(s.cfg.Agents[0].ID)
	s.start()
	s.agreeCallback()

	base := "http://" + s.d.APIAddr.String()
	call := func(method, path, body string, out any) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		authorize(req, s.cfg.Agents[0].ID)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
		return resp.StatusCode
	}
	var list struct{ Tasks []tasks.Task }
	if code := call("GET", "/api/tasks?view=pool", "", &list); code != 200 || len(list.Tasks) != 1 {
		t.Fatalf("pool: %d %+v", code, list)
	}
	tk := list.Tasks[0]
	if tk.Number != "+31612345678" || tk.Kind != tasks.KindQueueCallback {
		t.Fatalf("task = %+v", tk)
	}
	var claimed tasks.Task
	if code := call("POST", fmt.Sprintf("/api/tasks/%d/claim", tk.ID), fmt.Sprintf(`{"version":%d}`, tk.Version), &claimed); code != 200 {
		t.Fatalf("claim: %d", code)
	}
	// A stale version is refused and changes nothing.
	if code := call("POST", fmt.Sprintf("/api/tasks/%d/complete", tk.ID), fmt.Sprintf(`{"version":%d,"result":"reached"}`, tk.Version), nil); code != http.StatusConflict {
		t.Fatalf("stale complete: %d, want 409", code)
	}
	if code := call("POST", fmt.Sprintf("/api/tasks/%d/complete", tk.ID), fmt.Sprintf(`{"version":%d,"result":"reached","notes":"called back"}`, claimed.Version), nil); code != 200 {
		t.Fatalf("complete: %d", code)
	}
	if code := call("GET", "/api/tasks?view=pool", "", nil); code != 200 {
		t.Fatalf("list after: %d", code)
	}
	s.eventually("callback done on time", func() bool {
		return s.value("callmon_callbacks_completed_total", "queue", "general", "when", "on_time") == 1 &&
			s.value("callmon_callbacks_pending", "queue", "general") == 0
	})
	if got := s.tasks(dbURL); len(got) != 1 || got[0].status != "done" {
		t.Errorf("tasks = %+v, want one done", got)
	}
}
