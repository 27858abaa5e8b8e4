package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"callmon/callback/web"
)

// fakePresence keeps presence of anna and bram and records who changed it.
type fakePresence struct {
	mu   sync.Mutex
	p    map[string]web.Presence
	last string // "agent action reason by" of the last change
}

func (f *fakePresence) Presence(agent string) (web.Presence, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.p[agent]
	return p, ok
}

func (f *fakePresence) SetPresence(agent, action, reason, by string) (web.Presence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(reason) > 10 {
		return web.Presence{}, fmt.Errorf("%w: the reason is too long", web.ErrPresenceInput)
	}
	p := f.p[agent]
	switch action {
	case "login":
		p = web.Presence{LoggedIn: true, State: "available"}
	case "logout":
		p = web.Presence{State: "logged_out"}
	case "pause":
		p.Paused, p.State, p.Reason = true, "paused", reason
	case "unpause":
		p.Paused, p.State, p.Reason = false, "available", ""
	}
	f.p[agent] = p
	f.last = strings.Join([]string{agent, action, reason, by}, " ")
	return p, nil
}

func (f *fakePresence) lastChange() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func TestPagePresence(t *testing.T) {
	t.Parallel()
	fp := &fakePresence{p: map[string]web.Presence{
		"anna": {LoggedIn: true, Paused: true, State: "paused", Reason: "Teamoverleg <b>"},
		"bram": {State: "logged_out"},
	}}
	e := newEnvWith(t, func(o *web.Options) { o.Presence = fp })

	// The page shows the state and the reason, escaped.
	_, page := e.fetch("/agent/anna", e.as("anna"))
	for _, want := range []string{`data-state="paused"`, "<strong>paused</strong>", "Teamoverleg &lt;b&gt;", `value="unpause"`, `value="logout"`} {
		if !strings.Contains(page, want) {
			t.Errorf("anna's page lacks %q:\n%s", want, page)
		}
	}
	_, page = e.fetch("/agent/bram/tasks", e.as("bram"))
	if !strings.Contains(page, "<strong>logged out</strong>") || !strings.Contains(page, `value="login"`) || strings.Contains(page, `value="pause"`) {
		t.Errorf("bram's fragment: want logged out with a login button only:\n%s", page)
	}

	// An agent changes their own presence, in their own name.
	var got web.Presence
	e.call("POST", "/agent/anna/presence", "anna", map[string]string{"action": "unpause"}, http.StatusOK, &got)
	if got.Paused || got.State != "available" || fp.lastChange() != "anna unpause  anna" {
		t.Errorf("unpause: %+v, change %q", got, fp.lastChange())
	}
	e.call("POST", "/agent/anna/presence", "anna", map[string]string{"action": "pause", "reason": "lunch"}, http.StatusOK, &got)
	if got.Reason != "lunch" {
		t.Errorf("pause: %+v", got)
	}
	// A supervisor changes anyone's, in the supervisor's name.
	e.call("POST", "/agent/bram/presence", "sam", map[string]string{"action": "login"}, http.StatusOK, &got)
	if fp.lastChange() != "bram login  sam" {
		t.Errorf("supervisor's change recorded as %q", fp.lastChange())
	}

	before := fp.lastChange()
	for _, tc := range []struct {
		name, path, who string
		body            any
		status          int
		want            string
	}{
		{"no credentials", "/agent/anna/presence", "", map[string]string{"action": "login"}, 401, ""},
		{"another agent", "/agent/anna/presence", "bram", map[string]string{"action": "logout"}, 403, "only your own presence"},
		{"unknown agent", "/agent/nobody/presence", "sam", map[string]string{"action": "login"}, 404, "no agent"},
		{"unknown action", "/agent/anna/presence", "anna", map[string]string{"action": "dance"}, 400, `dance`},
		{"bad JSON", "/agent/anna/presence", "anna", `{"action": `, 400, "malformed"},
		{"unknown field", "/agent/anna/presence", "anna", `{"action": "pause", "why": "x"}`, 400, "unknown field"},
		{"refused reason", "/agent/anna/presence", "anna", map[string]string{"action": "pause", "reason": "far too long a reason"}, 400, "too long"},
	} {
		status, body := e.request("POST", tc.path, tc.who, tc.body)
		if status != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d mentioning %q", tc.name, status, body, tc.status, tc.want)
		}
	}
	if fp.lastChange() != before {
		t.Errorf("a refused request changed presence: %q", fp.lastChange())
	}
}

// Without a PresenceService the page has no presence section and the
// endpoint is not there.
func TestPageWithoutPresence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, page := e.fetch("/agent/anna", e.as("anna"))
	if strings.Contains(page, `id="presence"`) {
		t.Error("presence section without a PresenceService")
	}
	status, _ := e.request("POST", "/agent/anna/presence", "anna", map[string]string{"action": "login"})
	if status != http.StatusNotFound {
		t.Errorf("POST presence without a service: %d, want 404", status)
	}
}
