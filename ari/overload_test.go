package ari_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
)

// Asterisk too slow to answer the caller's channel: the caller is handed to
// the dialplan fallback (continue) and counted as offered, not answered.
func TestSlowAsteriskHandsCallerToFallback(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, restTimeout: 300 * time.Millisecond})
	h.fake.SetRESTFaults(aritest.RESTFaults{Delay: time.Minute, Match: func(method, path string) bool {
		return method == "POST" && strings.HasSuffix(path, "/answer")
	}})
	c := h.call("0612345678")
	h.await("caller continued in the dialplan", func() bool {
		ch, ok := h.fake.Channel(c.ID())
		return ok && ch.Continued
	})
	r := h.oneRecord()
	if r.Outcome != "fallback" {
		t.Errorf("outcome = %q, want fallback", r.Outcome)
	}
	h.eventually("counted", func() bool { return h.value("callmon_calls_total", "outcome", "fallback") == 1 })
	if got := h.value("callmon_service_level_ratio", "queue", "general", "window", "today"); got != 0 {
		t.Errorf("service level = %v, want 0: a fallback is a miss", got)
	}
	if got := h.value("callmon_calls_waiting"); got != 0 {
		t.Errorf("waiting = %v after the fallback, want 0", got)
	}
	if h.totalRinging() != 0 {
		t.Error("an agent rings for a caller handed to the fallback")
	}
}

// A ring that Asterisk refuses (the phone was never asked) does not keep the
// agent from the waiting caller for a whole ring timeout.
func TestAgentRungAgainSoonAfterFailedOriginate(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: time.Minute}})
	originate := func(method, path string) bool { return method == "POST" && path == "/ari/channels" }
	h.fake.SetRESTFaults(aritest.RESTFaults{FailRate: 1, Match: originate})
	c := h.call("0612345678")
	h.eventually("callmon saw the originate fail", func() bool { return h.logs.contains("ringing agent failed") })
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	if n := h.totalRinging(); n != 0 {
		t.Fatalf("%d ringing after a refused originate", n)
	}
	h.clock.Advance(250 * time.Millisecond)
	h.await("the agent rung again", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	c.Hangup()
	if r := h.oneRecord(); r.Outcome != "answered" || r.WaitMS > 1500 {
		t.Errorf("record = %+v, want answered within 1.5 s (not after a 15 s ring timeout)", r)
	}
}

// Asterisk failing a third of all requests: every caller still ends with one
// record, none is left alone in a bridge or in Stasis with no flow, and
// callmon leaves no bridge behind.
func TestFailingAsteriskStrandsNobody(t *testing.T) {
	const calls, agents = 30, 4
	h := newHarness(t, harnessOptions{agents: agents, ringTimeout: 5 * time.Second,
		behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: 2 * time.Second}})
	h.fake.SetRESTFaults(aritest.RESTFaults{FailRate: 0.3, Seed: 11})
	// The clock runs on its own at 5x, so callmon's reactions (real time)
	// keep pace with the calls' (fake time).
	stop := h.runClock(5)
	var callers []*aritest.Caller
	for i := range calls {
		callers = append(callers, h.call(fmt.Sprintf("06123456%02d", i)))
		h.eventually("the caller handled", func() bool { return h.fake.Stats().Requests > 0 })
	}
	// Every caller ends answered or handed to the fallback: nobody is left
	// waiting while agents cycle. A generous deadline: on a loaded CI
	// machine the 5x clock outruns callmon's REST round trips.
	deadline := time.Now().Add(time.Minute)
	for h.value("callmon_calls_answered_total")+h.value("callmon_calls_total", "outcome", "fallback") < calls {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute %v answered, %v handed on, %v waiting, of %d\nlog:\n%s", h.value("callmon_calls_answered_total"),
				h.value("callmon_calls_total", "outcome", "fallback"), h.value("callmon_calls_waiting"), calls, h.logs)
		}
		time.Sleep(5 * time.Millisecond) //nolint:forbidigo // polling callmon's counters with a deadline
	}
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	continued := 0
	for _, c := range callers {
		if ch, _ := h.fake.Channel(c.ID()); ch.Continued {
			continued++
		}
		c.Hangup()
	}
	stop()
	h.eventually("every caller recorded", func() bool { return len(h.recs.all()) == calls })
	defer func() {
		if t.Failed() {
			t.Logf("bridges %+v", h.fake.Bridges())
			for _, ch := range h.fake.Channels() {
				if ch.Alive {
					t.Logf("alive %+v", ch)
				}
			}
		}
	}()
	h.eventually("no bridge and no agent leg left", func() bool {
		if h.bridgesLeft() != 0 {
			return false
		}
		for _, ch := range h.fake.Channels() {
			if ch.Alive && strings.HasPrefix(ch.ID, "cm-") {
				return false
			}
		}
		return true
	})
	seen := map[string]int{}
	outcomes := map[string]int{}
	for _, r := range h.recs.all() {
		seen[r.ChannelID]++
		outcomes[r.Outcome]++
	}
	for _, c := range callers {
		if seen[c.ID()] != 1 {
			t.Errorf("caller %s has %d records, want 1", c.ID(), seen[c.ID()])
		}
	}
	if outcomes["fallback"] != continued {
		t.Errorf("%d fallback records, %d callers continued in the dialplan: want equal", outcomes["fallback"], continued)
	}
	if h.fake.Stats().Failed == 0 {
		t.Fatal("no request failed: the test tested nothing")
	}
	h.eventually("no call tracked after every caller hung up", func() bool { return h.app.Calls() == 0 })
	// No available agent idled while a caller they could take waited unrung:
	// p99 of the dispatch delay within 1 s.
	rings := h.value("callmon_agent_ring_delay_seconds")
	late := rings - h.bucket("callmon_agent_ring_delay_seconds", 1)
	if rings == 0 || late > rings/100 {
		t.Errorf("%v of %v rings came more than 1 s after the agent could have been rung, want at most 1 %%", late, rings)
	}
	t.Logf("%d requests failed; outcomes %v; %v rings, %v later than 1 s", h.fake.Stats().Failed, outcomes, rings, late)
}

// runClock advances the manual clock by speed ms every real millisecond
// until stop is called.
func (h *harness) runClock(speed int) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				h.clock.Advance(time.Duration(speed) * time.Millisecond)
			}
		}
	}()
	return func() { close(quit); <-done }
}

// Asterisk refusing half the rings: a refused ring is tried again within a
// second, so agents are not left idle while a caller waits (p99 of the
// dispatch delay), rather than skipped for that caller for a ring timeout.
func TestFailedRingsDoNotIdleAgents(t *testing.T) {
	const calls, agents = 20, 2
	h := newHarness(t, harnessOptions{agents: agents, ringTimeout: 10 * time.Second,
		behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: time.Second}})
	h.fake.SetRESTFaults(aritest.RESTFaults{FailRate: 0.5, Seed: 5, Match: func(method, path string) bool {
		return method == "POST" && path == "/ari/channels"
	}})
	stop := h.runClock(10)
	for i := range calls {
		c := h.call(fmt.Sprintf("06123457%02d", i))
		h.eventually("the caller answered by an agent", func() bool { return h.value("callmon_calls_answered_total") == float64(i+1) })
		h.await("the agent hung up, callmon hung up the caller", func() bool { return !h.alive(c.ID()) })
	}
	stop()
	rings := h.value("callmon_agent_ring_delay_seconds")
	late := rings - h.bucket("callmon_agent_ring_delay_seconds", 1)
	t.Logf("%d rings refused; %v dispatch delays observed, %v over 1 s", h.fake.Stats().Failed, rings, late)
	if h.fake.Stats().Failed == 0 {
		t.Fatal("no ring was refused: the test tested nothing")
	}
	if late > rings/100 {
		t.Errorf("%v of %v dispatch delays over 1 s, want at most 1 %%", late, rings)
	}
}
