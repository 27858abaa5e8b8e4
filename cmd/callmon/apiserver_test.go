package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"callmon/audit"
	"callmon/auth"
)

// TestReload: POST /api/reload calls the hook in the supervisor's name and
// writes one audit line; without a hook it is 501; an agent gets 403.
func TestReload(t *testing.T) {
	ps, err := auth.NewPrincipals([]auth.Credential{
		{ID: testSupervisor, Role: auth.Supervisor, TokenHash: testHash(testSupervisor)},
		{ID: "agent01", Role: auth.Agent, TokenHash: testHash("agent01")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	a := auth.New(auth.Options{Principals: ps, Log: log, Audit: audit.New(log, nil)})
	var who []string
	reload := func(ctx context.Context, by string) error {
		who = append(who, by)
		if len(who) > 1 {
			return errors.New("queues: line 3: bad")
		}
		return nil
	}
	for _, tc := range []struct {
		reload func(context.Context, string) error
		as     string
		want   int
	}{
		{reload, "agent01", http.StatusForbidden},
		{reload, testSupervisor, http.StatusOK},
		{reload, testSupervisor, http.StatusUnprocessableEntity},
		{nil, testSupervisor, http.StatusNotImplemented},
	} {
		m := newAPIMux(apiParts{auth: a, presence: http.NotFoundHandler(), report: http.NotFoundHandler(), reload: tc.reload,
			ready: func(context.Context) bool { return true }})
		rec := httptest.NewRecorder()
		m.handler().ServeHTTP(rec, authorize(httptest.NewRequest("POST", "/api/reload", nil), tc.as))
		if rec.Code != tc.want {
			t.Errorf("reload as %s (hook %v): %d %s, want %d", tc.as, tc.reload != nil, rec.Code, rec.Body, tc.want)
		}
	}
	if strings.Join(who, ",") != testSupervisor+","+testSupervisor {
		t.Errorf("the hook was called by %v", who)
	}
	if n := strings.Count(logs.String(), "msg=audit who="+testSupervisor+" role=supervisor action=reload"); n != 3 {
		t.Errorf("%d audit lines of the supervisor's reloads, want 3:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "who=agent01 role=agent action=reload target=\"\" outcome=forbidden") {
		t.Errorf("no audit line of the agent's refused reload:\n%s", logs.String())
	}
}

// TestCheckConfigRefusesWeakTokens: check-config fails on the hash of a
// known weak token and says how to make a good one.
func TestCheckConfigRefusesWeakTokens(t *testing.T) {
	weak, err := auth.HashToken("anna.password") // the cost check-config requires
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "callmon.yml")
	cfg := "ari:\n  url: http://127.0.0.1:8088/ari\n  user: callmon\nqueues:\n  - name: general\n    agents: [anna]\n" +
		"agents:\n  - id: anna\n    endpoint: PJSIP/1001\n    token_hash: '" + weak + "'\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain(t, "check-config", "--config.file", file)
	if code == 0 || !strings.Contains(stderr, `weak token ("anna.password")`) || !strings.Contains(stderr, "callmon token --id anna") {
		t.Errorf("check-config with a weak token: exit %d, stderr %s", code, stderr)
	}
}
