package ari_test

import (
	"math"
	"testing"
	"time"

	"callmon/ari/aritest"
)

// The expected wait follows what callmon observes: the assumed ring time before anything is
// seen, the measured ring time with an agent free, and the line's departures (occupancy 63 s,
// abandon rate still the assumed 1/120 s) once callers queue; each caller's prediction at entry
// goes into their call record.
func TestExpectedWait(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, ringTimeout: time.Minute,
		behaviour: aritest.Behaviour{AnswerAfter: 3 * time.Second, TalkFor: 60 * time.Second}})
	expected := func() float64 { return h.value("callmon_queue_expected_wait_seconds", "queue", "general") }
	h.eventually("the assumed ring time with the agent free", func() bool { return expected() == 5 })

	first := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(3 * time.Second)
	h.eventually("answered", func() bool { return h.value("callmon_calls_answered_total") == 1 })
	h.clock.Advance(60 * time.Second) // the agent hangs up
	h.eventually("agent free", func() bool { return h.value("callmon_agents", "state", "available") == 1 })
	h.eventually("the measured ring time", func() bool { return expected() == 3 })

	a := h.call("0612345671")
	h.await("agent ringing for a", func() bool { return h.totalRinging() == 1 })
	b := h.call("0612345672")
	h.eventually("b waiting", func() bool { return h.value("callmon_calls_waiting") == 2 })
	h.clock.Advance(time.Second) // c enters after b, not in the same millisecond
	c := h.call("0612345673")
	h.eventually("three waiting", func() bool { return h.value("callmon_calls_waiting") == 3 })
	const occ, theta = 63.0, 1.0 / 120
	step := func(j int) float64 { return 1 / (1/occ + float64(j)*theta) }
	want := step(0) + step(1) + step(2) + 3 // two in line nobody rings for, then the newcomer
	h.eventually("the line's expected wait", func() bool { return math.Abs(expected()-want) < 1e-6 })

	for _, x := range []*aritest.Caller{a, b, c} {
		x.Hangup()
	}
	h.eventually("all recorded", func() bool { return len(h.recs.all()) == 4 })
	predicted := map[string]time.Duration{
		first.ID(): 5 * time.Second,                                               // agent free, nothing seen yet
		a.ID():     3 * time.Second,                                               // agent free
		b.ID():     time.Duration((step(0) + 3) * float64(time.Second)),           // a is being rung: nobody ahead in line
		c.ID():     time.Duration((step(0) + step(1) + 3) * float64(time.Second)), // b ahead
	}
	for _, r := range h.recs.all() {
		want, ok := predicted[r.ChannelID]
		if !ok || !r.Predicted {
			t.Errorf("record %s: predicted %v (%v), want %v", r.ChannelID, r.Predicted, r.PredictedWait, want)
			continue
		}
		if d := r.PredictedWait - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("record %s: predicted %v, want %v", r.ChannelID, r.PredictedWait, want)
		}
	}
}

// With no agent logged in, nobody can say how long a caller will wait.
func TestExpectedWaitWithoutAgents(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	h.eventually("+Inf", func() bool {
		return math.IsInf(h.value("callmon_queue_expected_wait_seconds", "queue", "general"), 1)
	})
	c := h.call("0612345678")
	h.eventually("waiting", func() bool { return h.value("callmon_calls_waiting") == 1 })
	c.Hangup()
	h.eventually("recorded", func() bool { return len(h.recs.all()) == 1 })
	if r := h.recs.all()[0]; r.Predicted {
		t.Errorf("a prediction without agents: %v", r.PredictedWait)
	}
}
