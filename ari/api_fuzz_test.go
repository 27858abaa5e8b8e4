package ari_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"callmon/ari"
)

// FuzzPresenceAPI sends any agent id, action and body to the presence API
// (GET /api/agents/{id}, POST /api/agents/{id}/{action}) of a running app.
// Property: never a 5xx; a refusal is a 4xx with a message and changes no
// agent's presence. The handler itself checks no credentials (the daemon
// wraps it), so the requests carry none.
func FuzzPresenceAPI(f *testing.F) {
	h := newHarness(f, harnessOptions{agents: 2, noLogin: true})
	// The phones' endpoint states arrive on their own after the start: the
	// check below compares presence only, but let them settle first.
	h.eventually("every agent's phone online", func() bool {
		for _, a := range h.app.Agents().List() {
			if !a.Online {
				return false
			}
		}
		return true
	})
	api := h.app.APIHandler()
	for _, s := range []struct {
		post       bool
		id, action string
		body       string
	}{
		{true, "a1", "login", ""}, {true, "a1", "pause", `{"reason":"lunch"}`}, {true, "a1", "unpause", "{}"},
		{true, "a2", "logout", ""}, {false, "a1", "", ""}, {false, "nobody", "", ""},
		{true, "a1", "pause", `{"reason":"two\nlines"}`}, {true, "a1", "pause", `{"reason":"x"} {}`},
		{true, "a1", "pause", `{"why":"x"}`}, {true, "a1", "dance", ""}, {true, "../a1", "login", ""},
		{true, "a1", "pause", `{"reason":"\ud800"}`}, {true, "a2", "login", "null"},
	} {
		f.Add(s.post, s.id, s.action, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, post bool, id, action string, body []byte) {
		method, path := "GET", "/api/agents/"+url.PathEscape(id)
		if post {
			method, path = "POST", path+"/"+url.PathEscape(action)
		}
		req, err := http.NewRequest(method, "http://callmon"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		before := presenceOf(h.app.Agents().List())
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code < 400 {
			return
		}
		if rec.Header().Get("Content-Type") == "application/json" {
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %s: %d without a message: %s", method, path, rec.Code, rec.Body)
			}
		} else if rec.Body.Len() == 0 {
			t.Fatalf("%s %s: %d with an empty body", method, path, rec.Code)
		}
		if after := presenceOf(h.app.Agents().List()); !reflect.DeepEqual(before, after) {
			t.Fatalf("%s %s %q: refused with %d, but presence changed:\n%+v\n%+v", method, path, body, rec.Code, before, after)
		}
	})
}

// presenceOf keeps what the presence API changes: not the phone's own
// state (online), which Asterisk's events change at any time.
func presenceOf(list []ari.AgentStatus) []ari.AgentStatus {
	out := make([]ari.AgentStatus, len(list))
	for i, a := range list {
		a.Online = false
		a.State = ""
		out[i] = a
	}
	return out
}
