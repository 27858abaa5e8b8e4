package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"callmon/audit"
	"callmon/auth"
	"callmon/callback/calendar"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/callback/tasks"
	"callmon/callback/web"
)

var ams = mustLocation("Europe/Amsterdam")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// t0 is the tests' "now": Tuesday 24 November 2026, 10:00 in Amsterdam,
// inside opening hours (08:30–17:00).
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, ams)

// at is a time on the day of t0, in Amsterdam.
func at(hour, minute int) time.Time {
	return time.Date(2026, 11, 24, hour, minute, 0, 0, ams)
}

const slot = 15 * time.Minute

// Agents and their queues: anna and bram share "permits"; only anna serves
// "general", only bram "licences". sam is a supervisor.
var agentQueues = map[string][]string{
	"anna": {"general", "permits"},
	"bram": {"permits", "licences"},
}

// roles of the test principals: wall is a wallboard screen, which may use
// none of this package's routes.
var roles = map[string]auth.Role{"anna": auth.Agent, "bram": auth.Agent, "sam": auth.Supervisor, "wall": auth.Wallboard}

// env is a running server on a database of the test's own.
type env struct {
	t      testing.TB
	db     *store.DB
	store  *tasks.Store
	srv    *web.Server
	ts     *httptest.Server
	tokens map[string]string // principal id → token
	logs   *syncBuffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with options changed by set before the server is made.
func newEnvWith(t testing.TB, set func(*web.Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := pgtest.URL(t, "web")
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, store: tasks.New(db.Pool()), tokens: map[string]string{}, logs: &syncBuffer{}}
	var creds []auth.Credential
	for id, role := range roles {
		e.tokens[id] = auth.NewToken(id)
		h, err := auth.HashTokenCost(e.tokens[id], bcrypt.MinCost) // fast; production uses the default cost
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, auth.Credential{ID: id, Role: role, TokenHash: h})
	}
	principals, err := auth.NewPrincipals(creds)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	cal, err := calendar.New(calendar.Config{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(start, end time.Time) bool {
		o, c, ok := cal.OpeningTimes(calendar.DateOf(start.In(cal.Location())))
		return ok && !start.Before(o) && !end.After(c)
	}
	o := web.Options{
		Language: "en", // the tests read the English page; TestAgentPageSpeaksDutch the default
		Store:    e.store,
		Pool:     db.Pool(),
		Auth: auth.New(auth.Options{Principals: principals, Clock: func() time.Time { return t0 }, Log: log,
			Audit: audit.New(log, func() time.Time { return t0 })}),
		AgentQueues: func(id string) []string { return agentQueues[id] },
		Queues:      []string{"general", "permits", "licences"},
		Open:        open,
		NextSlot: func(queue string, after time.Time) (time.Time, time.Time, bool) {
			// The next quarter hour inside opening hours (capacity is the
			// calendar's business, not this package's) of a known queue.
			if !slices.Contains([]string{"general", "permits", "licences"}, queue) {
				return time.Time{}, time.Time{}, false
			}
			s := after.Truncate(slot).Add(slot)
			for range 4 * 24 * 14 {
				if open(s, s.Add(slot)) {
					return s, s.Add(slot), true
				}
				s = s.Add(slot)
			}
			return time.Time{}, time.Time{}, false
		},
		Clock: func() time.Time { return t0 },
		Log:   log,
	}
	if set != nil {
		set(&o)
	}
	e.srv = web.New(o)
	t.Cleanup(func() {
		if t.Failed() && e.logs.String() != "" {
			t.Logf("server log:\n%s", e.logs)
		}
	})
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	if err := e.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.srv.Stop) // before ts.Close: it ends the event streams
	return e
}

// waitListening waits until the server listens for task changes.
func (e *env) waitListening() {
	e.t.Helper()
	select {
	case <-web.Listening(e.srv):
	case <-time.After(30 * time.Second):
		e.t.Fatal("the server does not listen for task changes after 30 s")
	}
}

// authorize makes req come from who ("" for nobody): the one place tests
// say how a principal proves who they are.
func (e *env) authorize(req *http.Request, who string) {
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	}
}

// as is authorize as a request option.
func (e *env) as(who string) func(*http.Request) {
	return func(r *http.Request) { e.authorize(r, who) }
}

// request sends a request as who ("" for none) with body (nil for none, a
// string as is, anything else as JSON) and returns the status and body.
func (e *env) request(method, path, who string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	e.authorize(req, who)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// call is request expecting status want, decoding the answer into out
// (unless nil).
func (e *env) call(method, path, who string, body any, want int, out any) {
	e.t.Helper()
	status, b := e.request(method, path, who, body)
	if status != want {
		e.t.Fatalf("%s %s as %q: status %d, want %d: %s", method, path, who, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// create makes a task through the API as who and returns it.
func (e *env) create(who string, body map[string]any) tasks.Task {
	e.t.Helper()
	var t tasks.Task
	e.call("POST", "/api/tasks", who, body, http.StatusCreated, &t)
	return t
}

// agreed is a valid create body for queue q in the slot starting at start.
func agreed(q string, start time.Time) map[string]any {
	return map[string]any{
		"queue": q, "number": "06-1234 5678", "caller_name": "J. de Vries",
		"window_start": start.Format(time.RFC3339), "window_end": start.Add(slot).Format(time.RFC3339),
		"notes": "asked about her permit",
	}
}

// seed makes a pool task in queue q directly in the store (as the IVR would).
func (e *env) seed(q string, start time.Time) tasks.Task {
	e.t.Helper()
	t, _, err := e.store.Create(context.Background(), tasks.NewTask{
		Kind: tasks.KindQueueCallback, Queue: q, Number: "+31503164911", CallerName: "P. Bakker",
		WindowStart: start, WindowEnd: start.Add(slot), Actor: "caller",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func (e *env) get(id int64) tasks.Task {
	e.t.Helper()
	t, err := e.store.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

// snapshot is every task and history row, to show that a request changed
// nothing.
type snapshot struct {
	Tasks  []tasks.Task
	Events int
}

func (e *env) snapshot() snapshot {
	e.t.Helper()
	ctx := context.Background()
	list, err := e.store.List(ctx, tasks.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var n int
	if err := e.db.Pool().QueryRow(ctx, "SELECT count(*) FROM task_events").Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return snapshot{Tasks: list, Events: n}
}

func (e *env) unchanged(before snapshot, what string) {
	e.t.Helper()
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		e.t.Errorf("%s changed the database:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// syncBuffer is a log shared by the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
