package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

// TestEveryRouteChecksWhoIsAsking walks every route the API listener
// registers: without credentials each answers 401, for a wallboard 403 except
// the wallboard's own pages (and to an agent those 403); the supervisor-only
// ones 403 to an agent;
// another site cannot make a browser change anything; the public ones
// (health, sign-in) need nothing.
func TestEveryRouteChecksWhoIsAsking(t *testing.T) {
	s := newSite(t, pgtest.URL(t, "cmd_routes"))
	addErik(s, aritest.Behaviour{}) // voicemail mode ari: the voicemail routes exist
	s.cfg.Agents[0].TokenHash = testHash("agent01")
	s.cfg.Wallboards = []config.Wallboard{{ID: "wall", TokenHash: testHash("wall")}}
	s.launch()
	supervisorOnly := map[string]bool{"GET /api/agents": true, "GET /api/report": true, "POST /api/reload": true}

	send := func(pattern, who string, crossSite bool) (int, string) {
		t.Helper()
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		if strings.Contains(path, "agent") {
			// Someone else's: agent02's presence and page.
			path = strings.NewReplacer("{id}", "agent02", "{action}", "login").Replace(path)
		} else {
			path = strings.NewReplacer("{id}", "1", "{action}", "claim").Replace(path)
		}
		req, err := http.NewRequest(method, s.base()+path, strings.NewReader(`{"version": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if crossSite {
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.Header.Set("Origin", "https://evil.example")
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(authorize(req, who))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") == "text/event-stream" {
			return resp.StatusCode, "(an event stream)" // it would never end
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var checked int
	for _, r := range s.d.api.routes {
		if r.Public {
			// (POST /signin without a token is a failed sign-in: 401.)
			if code, body := send(r.Pattern, "", false); r.Pattern != "POST /signin" && (code == http.StatusUnauthorized || code == http.StatusForbidden) {
				t.Errorf("%s (public): %d %s", r.Pattern, code, body)
			}
			continue
		}
		checked++
		if code, body := send(r.Pattern, "", false); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401: %s", r.Pattern, code, body)
		}
		if strings.HasPrefix(r.Pattern, "GET /wallboard") {
			if code, body := send(r.Pattern, "wall", false); code != http.StatusOK {
				t.Errorf("%s as a wallboard: %d, want 200: %s", r.Pattern, code, body)
			}
			if code, body := send(r.Pattern, "agent01", false); code != http.StatusForbidden {
				t.Errorf("%s as agent01: %d, want 403: %s", r.Pattern, code, body)
			}
		} else if code, body := send(r.Pattern, "wall", false); code != http.StatusForbidden {
			t.Errorf("%s as a wallboard: %d, want 403: %s", r.Pattern, code, body)
		}
		if supervisorOnly[r.Pattern] || strings.HasPrefix(r.Pattern, "POST /api/agents/") || strings.HasPrefix(r.Pattern, "GET /api/agents/") ||
			strings.HasPrefix(r.Pattern, "GET /agent/") || strings.HasPrefix(r.Pattern, "POST /agent/") {
			if code, body := send(r.Pattern, "agent01", false); code != http.StatusForbidden {
				t.Errorf("%s as agent01 (not theirs): %d, want 403: %s", r.Pattern, code, body)
			}
		}
		if strings.HasPrefix(r.Pattern, "POST ") {
			if code, body := send(r.Pattern, testSupervisor, true); code != http.StatusForbidden {
				t.Errorf("%s cross-site as the supervisor: %d, want 403: %s", r.Pattern, code, body)
			}
		}
	}
	if checked < 14 {
		t.Errorf("walked %d routes with credentials, want every one (at least 14)", checked)
	}
	// Nothing above changed agent02 (cross-site and refused requests).
	if st := s.agent("agent02"); st.State != ari.StateLoggedOut {
		t.Errorf("agent02 after refused requests: %+v", st)
	}
}
