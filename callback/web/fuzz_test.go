package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"callmon/callback/tasks"
	"callmon/callback/voicemails"
	"callmon/callback/web"
)

// authorize gives req the credentials of principal who (anna, bram or sam).
// Every fuzz request is authorized here, and only here.
func authorize(e *env, req *http.Request, who string) {
	req.Header.Set("Authorization", "Bearer "+e.tokens[who])
}

// vmAPI is the voicemail API over the real voicemail store; an employee's
// messages belong to the agent of the same id.
type vmAPI struct{ s *voicemails.Store }

func (v vmAPI) List(ctx context.Context, employee string, unheardOnly bool) ([]voicemails.Voicemail, error) {
	return v.s.List(ctx, employee, unheardOnly)
}
func (v vmAPI) Get(ctx context.Context, id int64) (voicemails.Voicemail, error) {
	return v.s.Get(ctx, id)
}
func (v vmAPI) MarkHeard(ctx context.Context, id int64) (voicemails.Voicemail, error) {
	return v.s.MarkHeard(ctx, id, t0)
}
func (v vmAPI) Audio(_ context.Context, _ voicemails.Voicemail, w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "audio/wav")
	return nil
}
func (v vmAPI) Owner(employee string) string { return employee }

// dbState is every row a request may change.
type dbState struct {
	Tasks            []tasks.Task
	Events, VMsHeard int
}

func state(t *testing.T, e *env) dbState {
	t.Helper()
	ctx := context.Background()
	list, err := e.store.List(ctx, tasks.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	s := dbState{Tasks: list}
	if err := e.db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM task_events),
		(SELECT count(*) FROM voicemails WHERE heard_at IS NOT NULL)`).Scan(&s.Events, &s.VMsHeard); err != nil {
		t.Fatal(err)
	}
	return s
}

// fuzzRoutes are the API requests a client can shape, with the fuzzed id,
// action (an action, or a query string) in their place.
var fuzzRoutes = []struct {
	method string
	path   func(id, action string) string
}{
	{"POST", func(_, _ string) string { return "/api/tasks" }},
	{"POST", func(id, a string) string { return "/api/tasks/" + url.PathEscape(id) + "/" + url.PathEscape(a) }},
	{"GET", func(id, _ string) string { return "/api/tasks/" + url.PathEscape(id) }},
	{"GET", func(_, q string) string { return "/api/tasks?" + q }},
	{"POST", func(id, _ string) string { return "/agent/" + url.PathEscape(id) + "/presence" }},
	{"GET", func(_, q string) string { return "/api/voicemails?" + q }},
	{"POST", func(id, _ string) string { return "/api/voicemails/" + url.PathEscape(id) + "/heard" }},
	{"GET", func(id, _ string) string { return "/api/voicemails/" + url.PathEscape(id) + "/audio" }},
}

// FuzzAPI sends any body, id, action and query string to every task,
// presence and voicemail request, as an agent or a supervisor, against a
// real database. Property: never a 5xx; a refusal is a 4xx with a message,
// and changes no task, history row or voicemail.
func FuzzAPI(f *testing.F) {
	presence := &fakePresence{p: map[string]web.Presence{"anna": {}, "bram": {}}}
	var vms *voicemails.Store
	e := newEnvWith(f, func(o *web.Options) {
		o.Presence = presence
		vms = voicemails.New(o.Pool)
		o.Voicemails = vmAPI{vms}
	})
	vm, _, err := vms.Save(context.Background(), voicemails.NewVoicemail{
		Employee: "anna", CallerNumber: "0612345678", Recording: "vm-fuzz", Duration: 12 * time.Second,
		ReceivedAt: t0, ChannelID: "fuzz.1",
	})
	if err != nil {
		f.Fatal(err)
	}
	task := e.create("anna", agreed("general", at(14, 0)))
	e.seed("permits", at(15, 0))

	create, _ := json.Marshal(agreed("general", at(14, 0)))
	for _, s := range []struct {
		route      uint8
		id, action string
		body       string
		who        uint8
	}{
		{0, "", "", string(create), 0},
		{0, "", "", `{"queue":"general","number":"06\u0000","window_start":"2026-11-24T14:00","window_end":"2026-11-24T14:15"}`, 2},
		{1, fmt.Sprint(task.ID), "claim", fmt.Sprintf(`{"version":%d}`, task.Version), 0},
		{1, fmt.Sprint(task.ID), "complete", fmt.Sprintf(`{"version":%d,"result":"reached","notes":"x"}`, task.Version), 2},
		{1, fmt.Sprint(task.ID), "reschedule", fmt.Sprintf(`{"version":%d,"window_start":"2026-11-24T15:00","window_end":"2026-11-24T15:15"}`, task.Version), 0},
		{1, fmt.Sprint(task.ID), "cancel", fmt.Sprintf(`{"version":%d,"reason":"\ud800"}`, task.Version), 1},
		{1, "99999999999999999999", "claim", `{"version":1}`, 0},
		{2, fmt.Sprint(task.ID), "", "", 1},
		{3, "", "view=pool&status=all&limit=5", "", 2},
		{3, "", "agent=%ff&queue=%00&status=pending,dialing&limit=-1", "", 2},
		{4, "anna", "", `{"action":"pause","reason":"lunch"}`, 0},
		{4, "bram", "", `{"action":"login"}`, 2},
		{5, "", "employee=anna&unheard=1", "", 0},
		{5, "", "employee=%ff", "", 2},
		{6, fmt.Sprint(vm.ID), "", "", 0},
		{7, fmt.Sprint(vm.ID), "", "", 2},
	} {
		f.Add(s.route, s.id, s.action, []byte(s.body), s.who)
	}

	handler := e.srv.Handler()
	whos := []string{"anna", "bram", "sam"}
	f.Fuzz(func(t *testing.T, route uint8, id, action string, body []byte, who uint8) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := r.path(id, action)
		req, err := http.NewRequest(r.method, "http://callmon"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Content-Type", "application/json")
		authorize(e, req, whos[int(who)%len(whos)])
		before := state(t, e)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d: %s", r.method, path, body, rec.Code, rec.Body)
		}
		if rec.Code < 400 {
			return
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			var eb struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Fatalf("%s %s: %d without an error message: %s", r.method, path, rec.Code, rec.Body)
			}
		} else if strings.TrimSpace(rec.Body.String()) == "" {
			t.Fatalf("%s %s: %d with an empty body", r.method, path, rec.Code)
		}
		if after := state(t, e); !reflect.DeepEqual(before, after) {
			t.Fatalf("%s %s %q: refused with %d, but the database changed:\nbefore %+v\nafter  %+v",
				r.method, path, body, rec.Code, before, after)
		}
	})
}

// Found by FuzzAPI: an employee id that is not UTF-8 reached PostgreSQL,
// which refused it, and the client got a 500.
func TestVoicemailListRefusesAnUnstorableEmployee(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *web.Options) { o.Voicemails = vmAPI{voicemails.New(o.Pool)} })
	for _, q := range []string{"employee=%ff", "employee=anna%00"} {
		req := httptest.NewRequest("GET", "/api/voicemails?"+q, nil)
		authorize(e, req, "sam")
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not an employee id") {
			t.Errorf("%s: %d %s, want 400 naming the employee", q, rec.Code, rec.Body)
		}
	}
}
