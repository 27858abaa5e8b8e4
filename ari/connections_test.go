package ari_test

import (
	"testing"
	"time"
)

// TestRESTConnectionsAreReused runs 2,000 queue calls through callmon and
// counts the TCP connections the fake Asterisk accepted: no more than the REST
// connection cap plus the events websocket. A response body left unread makes
// Go's transport close its connection, and each new one is a new HTTP session
// in Asterisk, whose sessionlimit a busy site then hits (issue 10).
func TestRESTConnectionsAreReused(t *testing.T) {
	const batch, agents, maxConns = 100, 100, 64
	calls := 2000
	if testing.Short() {
		calls = 200 // still 565 connections when bodies are left unread
	}
	// Idle connections are closed on both sides after 10–15 s; under -race on
	// a busy machine a run lasts long enough for Go's LIFO idle pool to let
	// some age out and be reopened. That is not what is measured here.
	h := newHarness(t, harnessOptions{agents: agents, logLimit: 10000, maxConns: maxConns, restIdle: time.Hour, keepAlive: time.Hour})
	h.answerInBatches(calls, batch, agents)

	st := h.fake.Sessions()
	t.Logf("%d calls: %d TCP connections accepted, peak %d open, %d refused, %d REST requests",
		calls, st.Accepted, st.Peak, st.Refused, h.fake.Stats().Requests)
	if st.Refused != 0 {
		t.Errorf("the fake refused %d connections over its session limit", st.Refused)
	}
	if st.Accepted > maxConns+1 || st.Peak > maxConns+1 {
		t.Errorf("%d connections accepted (peak %d open) for %d calls, want at most %d REST + 1 websocket",
			st.Accepted, st.Peak, calls, maxConns)
	}
	if got := h.value("callmon_ari_reconnects_total"); got != 0 {
		t.Errorf("callmon reconnected %v times: a second websocket", got)
	}
}
