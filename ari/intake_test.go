package ari_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
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

// A websocket lost while callmon rebuilds its view after a connect (slow REST answers: two
// requests per agent endpoint, then the inventory) is noticed at once, not after the rebuild:
// meanwhile Asterisk refuses every new caller, as the app has no socket.
func TestConnectionLostDuringResyncIsNoticed(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 3})
	// The first resync is done: two requests per agent, three for the inventory.
	h.eventually("resynchronised", func() bool { return h.fake.Connected() && h.fake.Stats().Requests >= 3*2+3 })
	// Every REST request now waits an hour of the fake's clock.
	h.fake.SetRESTFaults(aritest.RESTFaults{Delay: time.Hour})
	h.fake.DropConnections()
	h.eventually("reconnected, resync held", func() bool { return h.fake.Connected() && h.fake.Stats().Holding == 1 })
	h.fake.DropConnections()
	// The held request ends; every later one would be held again, so the rebuild must stop
	// after it (it makes 2 requests per agent and 3 for the inventory).
	h.clock.Advance(time.Hour)
	h.eventually("reconnected after the second loss", func() bool { return h.fake.Connected() })
	if n := h.fake.Stats().Holding; n > 1 {
		t.Errorf("%d REST requests held; the lost connection's rebuild should have stopped", n)
	}
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	h.clock.Advance(time.Hour) // releases the new connection's held request
}
