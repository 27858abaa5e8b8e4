package ari_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
)

// traceFrames returns the raw event frames of one recorded trace, by type.
func traceFrames(t *testing.T, name string) map[string][]byte {
	t.Helper()
	f, err := os.Open("aritest/testdata/" + name + ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Dir string          `json:"dir"`
			Raw json.RawMessage `json:"raw"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Dir != "event" {
			continue
		}
		var head struct{ Type string }
		if err := json.Unmarshal(l.Raw, &head); err != nil {
			t.Fatal(err)
		}
		if _, seen := out[head.Type]; !seen {
			out[head.Type] = l.Raw
		}
	}
	return out
}

func TestUnknownAndMalformedEventsAreSkipped(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: time.Second}})
	recorded := traceFrames(t, "unknown-events")
	frames := []struct {
		label string
		raw   string
	}{
		// Recorded from Asterisk 22.10 (ari/v5 v5.3.1 cannot decode them).
		{"ChannelToneDetected", string(recorded["ChannelToneDetected"])},
		{"CallBroadcast", string(recorded["CallBroadcast"])},
		{"CallClaimed", string(recorded["CallClaimed"])},
		// Documented by Asterisk 22 but not produced by the lab.
		{"ChannelTransfer", `{"type":"ChannelTransfer","timestamp":"2026-11-23T10:00:00.000+0000","refer_to":{},"referred_by":{},"state":"channel_answered","asterisk_id":"02:fc:00:00:00:01","application":"callmon"}`},
		{"RESTResponse", `{"type":"RESTResponse","transaction_id":"t1","request_id":"r1","status_code":200,"reason_phrase":"OK","uri":"channels","asterisk_id":"02:fc:00:00:00:01","application":"callmon"}`},
		{"ApplicationRegistered", `{"type":"ApplicationRegistered","timestamp":"2026-11-23T10:00:00.000+0000","asterisk_id":"02:fc:00:00:00:01","application":"callmon"}`},
		{"ApplicationUnregistered", `{"type":"ApplicationUnregistered","timestamp":"2026-11-23T10:00:00.000+0000","asterisk_id":"02:fc:00:00:00:01","application":"callmon"}`},
		// Garbage.
		{"malformed", `{"type":"StasisStart","channel":"not an object"}`},
		{"malformed", `{not json at all`},
		{"malformed", `{"no":"type"}`},
		{"unknown", `{"type":"SomethingAsteriskNeverSends"}`},
	}
	want := map[string]float64{}
	for _, f := range frames {
		if f.raw == "" {
			t.Fatalf("trace has no %s frame", f.label)
		}
		h.fake.SendRaw([]byte(f.raw))
		want[f.label]++
	}
	h.await("frames written", func() bool { return h.fake.Stats().Pending == 0 })
	h.eventually("all skipped", func() bool {
		return h.value("callmon_ari_events_skipped_total") == float64(len(frames))
	})
	for label, n := range want {
		if got := h.value("callmon_ari_events_skipped_total", "type", label); got != n {
			t.Errorf("skipped{type=%q} = %v, want %v", label, got, n)
		}
	}
	// Still alive and measuring.
	c := h.call("0612345678")
	h.await("ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	h.eventually("answered", func() bool { return h.value("callmon_calls_answered_total") == 1 })
	if got := h.value("callmon_ari_connected"); got != 1 {
		t.Errorf("connected = %v after bad frames, want 1", got)
	}
	if got := h.value("callmon_ari_events_dropped_total"); got != 0 {
		t.Errorf("dropped = %v, want 0", got)
	}
}

func TestReconnectCountsEveryCallOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 2})
	// Call 1 is answered and talking; call 2 is waiting (agent 2 rings on).
	h.fake.SetBehaviour(endpoint(1), aritest.Behaviour{AnswerAfter: time.Second})
	h.fake.SetBehaviour(endpoint(2), aritest.Behaviour{NoAnswer: true})
	c1 := h.call("0611111111")
	h.await("agent 1 ringing", func() bool { return h.ringing(endpoint(1)) == 1 })
	h.clock.Advance(time.Second)
	h.await("call 1 bridged", func() bool { return h.bridgedWith(c1.ID(), endpoint(1)) })
	c2 := h.call("0622222222")
	h.await("agent 2 ringing", func() bool { return h.ringing(endpoint(2)) == 1 })
	h.clock.Advance(10 * time.Second)

	// The websocket goes down; call 2's caller gives up meanwhile, and a
	// new call fails over to the dialplan fallback.
	h.fake.RefuseConnections(true)
	h.fake.DropConnections()
	h.eventually("callmon sees the disconnect", func() bool { return h.value("callmon_ari_connected") == 0 })
	c2.Hangup()
	if _, err := h.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}}); !errors.Is(err, aritest.ErrAppNotActive) {
		t.Fatalf("call during the gap: err = %v, want ErrAppNotActive", err)
	}
	h.fake.RefuseConnections(false)
	h.await("reconnected", h.fake.Connected)

	h.await("callmon hung up the agent still ringing for call 2", func() bool { return h.ringing(endpoint(2)) == 0 })
	h.eventually("call 2 counted once as abandoned", func() bool { return h.value("callmon_calls_abandoned_total") == 1 })
	h.eventually("gauges right again", func() bool {
		return h.value("callmon_calls_waiting") == 0 && h.value("callmon_ari_connected") == 1 &&
			h.value("callmon_agents", "state", "available") == 1 && h.value("callmon_agents", "state", "on_call") == 1
	})
	if got := h.value("callmon_ari_reconnects_total"); got != 1 {
		t.Errorf("reconnects = %v, want 1", got)
	}
	for _, b := range h.fake.Bridges() {
		if b.Type == "holding" {
			t.Errorf("holding bridge %s of the vanished call survived", b.ID)
		}
	}
	// Call 1 survived the gap and ends normally.
	c1.Hangup()
	h.await("call 1 cleaned up", func() bool { return h.liveChannels() == 0 })
	h.eventually("agents free", func() bool { return h.value("callmon_agents", "state", "available") == 2 })
	if got := h.value("callmon_calls_offered_total"); got != 2 {
		t.Errorf("offered = %v, want 2", got)
	}
	if got := h.value("callmon_calls_answered_total"); got != 1 {
		t.Errorf("answered = %v, want 1", got)
	}
	if got := h.finished(); got != 2 {
		t.Errorf("finished calls = %v, want 2 (each exactly once)", got)
	}
}

func TestApplicationReplacedIsLoud(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1})
	h.fake.ReplaceApp()
	h.eventually("disconnected", func() bool { return h.value("callmon_ari_connected") == 0 })
	h.eventually("logged", func() bool { return h.logs.contains("ANOTHER CONNECTION TOOK OVER THE ARI APPLICATION") })
}

// A websocket lost while callmon rebuilds its view after a connect (slow REST answers: the
// agents' endpoints, then the inventory) is noticed at once, not after the rebuild:
// meanwhile Asterisk refuses every new caller, as the app has no socket.
func TestConnectionLostDuringResyncIsNoticed(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 3})
	// The first resync is done: three requests for the endpoints, three for the inventory.
	h.eventually("resynchronised", func() bool { return h.fake.Connected() && h.fake.Stats().Requests >= 3+3 })
	// Every REST request now waits an hour of the fake's clock.
	h.fake.SetRESTFaults(aritest.RESTFaults{Delay: time.Hour})
	h.fake.DropConnections()
	h.eventually("reconnected, resync held", func() bool { return h.fake.Connected() && h.fake.Stats().Holding == 1 })
	h.fake.RefuseConnections(true)
	h.fake.DropConnections()
	// Noticed at once, although the rebuild waits for a REST answer: the session ends.
	h.eventually("the loss noticed during the rebuild", func() bool { return h.value("callmon_ari_connected") == 0 })
	// The held request ends; every later one would be held again, so the rebuild must have
	// stopped after it.
	h.clock.Advance(time.Hour)
	h.fake.RefuseConnections(false)
	h.eventually("reconnected after the second loss", func() bool { return h.fake.Connected() })
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	h.clock.Advance(time.Hour) // releases the new connection's held request
	// Once the third connection's rebuild is done, count:
	// 6 for the first, 1 (the held one) for the lost second, 5 for the third (the endpoint
	// subscriptions are still there).
	var rest []string
	defer func() {
		if t.Failed() {
			t.Logf("requests:\n%s", strings.Join(rest, "\n"))
		}
	}()
	h.eventually("third rebuild done", func() bool {
		if h.fake.Stats().Holding > 0 {
			h.clock.Advance(time.Hour) // a request that came just before the faults were cleared
		}
		log := h.fake.Log()
		rest = nil
		for _, r := range log {
			if r.Kind == aritest.KindREST {
				rest = append(rest, r.Method+" "+r.Path)
			}
		}
		return len(resyncs(log)) == 2 // the held request joins the third's run
	})
	if len(rest) != 12 {
		t.Errorf("%d REST requests, want 12: the lost connection's rebuild should have stopped after its held request:\n%s",
			len(rest), strings.Join(rest, "\n"))
	}
}

// resyncs splits the REST requests the fake handled ("METHOD path") into runs that each end
// with the inventory after the endpoints' states (the application, channels and bridges, in
// any order), the last requests of a resync; with no calls that is all there is.
func resyncs(log []aritest.Record) [][]string {
	var out [][]string
	var cur []string
	inventory := map[string]bool{}
	for _, r := range log {
		if r.Kind != aritest.KindREST {
			continue
		}
		q := r.Method + " " + r.Path
		cur = append(cur, q)
		switch q {
		case "GET /ari/endpoints":
			clear(inventory)
		case "GET /ari/applications/callmon", "GET /ari/channels", "GET /ari/bridges":
			inventory[q] = true
		}
		if len(inventory) == 3 {
			out, cur = append(out, cur), nil
			clear(inventory)
		}
	}
	return out
}

// resync waits for the n-th rebuild to be done and returns its requests.
func (h *harness) resync(n int) []string {
	h.t.Helper()
	var run []string
	h.eventually(fmt.Sprintf("rebuild %d done", n), func() bool {
		runs := resyncs(h.fake.Log())
		if len(runs) >= n {
			run = runs[n-1]
		}
		return len(runs) == n
	})
	return run
}

// sameRequests compares a rebuild's requests in any order: the inventory's three are made
// at once.
func sameRequests(got, want []string) bool {
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

// A newly connected callmon is blind until it has rebuilt its view, so the rebuild must not
// grow with the number of agents: one subscription for every endpoint at the first connect,
// none at a reconnect (Asterisk keeps the application's subscriptions), and one GET /endpoints
// for their states — which is also how an endpoint that went offline during the gap is seen.
func TestResyncIsCheapWithManyAgents(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 30})
	first := h.resync(1)
	want := []string{"GET /ari/applications/callmon", "POST /ari/applications/callmon/subscription", "GET /ari/endpoints",
		"GET /ari/applications/callmon", "GET /ari/channels", "GET /ari/bridges"}
	if !sameRequests(first, want) {
		t.Fatalf("first connect's requests:\n%v\nwant\n%v", first, want)
	}
	for _, r := range h.fake.Log() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/subscription") {
			if n := strings.Count(string(r.Body), "endpoint:PJSIP/"); n != 30 {
				t.Errorf("subscription names %d endpoints, want 30: %s", n, r.Body)
			}
		}
	}
	h.eventually("all agents available", func() bool { return h.value("callmon_agents", "state", "available") == 30 })

	h.fake.RefuseConnections(true)
	h.fake.DropConnections()
	h.eventually("callmon sees the disconnect", func() bool { return h.value("callmon_ari_connected") == 0 })
	h.fake.SetEndpointState(endpoint(7), "offline") // its event is lost: nobody is connected
	h.fake.RefuseConnections(false)
	h.eventually("agent 7 offline after the reconnect", func() bool {
		return h.value("callmon_agents", "state", "offline") == 1 && h.value("callmon_agents", "state", "available") == 29
	})
	again := h.resync(2)
	want = []string{"GET /ari/applications/callmon", "GET /ari/endpoints",
		"GET /ari/applications/callmon", "GET /ari/channels", "GET /ari/bridges"}
	if !sameRequests(again, want) {
		t.Fatalf("reconnect's requests:\n%v\nwant\n%v", again, want)
	}
}

// An agent who answers while callmon rebuilds its view after a reconnect is found Up by the
// rebuild and bridged; the leg's StasisStart, held back until the rebuild is done, then comes
// late. It must not be taken as a second answer (which hung the talking agent up as a lost
// ring-all race and left the caller alone in the bridge).
func TestAgentAnsweringDuringResyncIsBridgedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: 2 * time.Second, TalkFor: time.Minute}})
	c := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	// The next connection's rebuild waits on its first REST request.
	h.fake.SetRESTFaults(aritest.RESTFaults{Delay: 10 * time.Second})
	h.fake.DropConnections()
	h.eventually("reconnected, rebuild held", func() bool { return h.fake.Connected() && h.fake.Stats().Holding == 1 })
	h.clock.Advance(2 * time.Second) // the agent answers; its StasisStart waits for the rebuild
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	h.clock.Advance(8 * time.Second) // the held request ends
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	h.eventually("agent on the call", func() bool { return h.value("callmon_agents", "state", "on_call") == 1 })
	h.eventually("the late StasisStart received", func() bool { return h.value("callmon_ari_events_total", "type", "StasisStart") == 2 })
	// The agent talks a minute, hangs up, and callmon ends the caller's side: it must still
	// be following the agent's leg for that.
	h.clock.Advance(time.Minute)
	h.await("callmon hangs up the caller after the agent", func() bool { return !h.alive(c.ID()) })
	r := h.oneRecord()
	// The rebuild cannot know when the leg went Up (GET /channels does not say): the answer
	// is when it found it, and the record says so.
	if r.Outcome != "answered" || r.Agent != "a1" || r.WaitMS != 10000 || !r.AnswerEstimated {
		t.Errorf("record = %+v, want answered by a1, estimated at 10000 ms", r)
	}
}
