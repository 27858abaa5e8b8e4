package ari_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	ariv "callmon/ari"
	"callmon/ari/aritest"
)

type employeePhone struct {
	Behaviour aritest.Behaviour
	Offline   bool
}

// fakeVoicemail stands in for package voicemail (which has its own tests
// against the fake Asterisk): it notes who was handed over and answers
// with a fixed outcome once the dialogue would have ended.
type fakeVoicemail struct {
	mu      sync.Mutex
	taken   []string
	outcome string
}

func (f *fakeVoicemail) Take(ctx context.Context, ch string, e ariv.Employee, c ariv.CallerInfo, events <-chan ari.Event) (string, error) {
	f.mu.Lock()
	f.taken = append(f.taken, ch+"/"+e.ID)
	f.mu.Unlock()
	return f.outcome, nil
}

func (f *fakeVoicemail) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.taken)
}

func (h *harness) direct(number string) *aritest.Caller {
	h.t.Helper()
	c, err := h.fake.Call(aritest.CallSpec{Exten: number, Args: []string{"direct", number}, CallerName: "Caller", CallerNumber: "0612345678"})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func TestDirectDialAnswered(t *testing.T) {
	vm := &fakeVoicemail{outcome: "recorded"}
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{AnswerAfter: 5 * time.Second}}})
	c := h.direct("0503161234")
	h.await("employee ringing", func() bool { return h.ringing("PJSIP/2001") == 1 })
	if ch, _ := h.fake.Channel(c.ID()); ch.State != "Ring" {
		t.Errorf("caller state %q while ringing, want Ring (not answered)", ch.State)
	}
	h.clock.Advance(5 * time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), "PJSIP/2001") })
	h.eventually("answered under queue direct", func() bool {
		return h.value("callmon_calls_answered_total", "queue", "direct") == 1
	})
	if got := h.histSum("callmon_queue_wait_seconds"); !near(got, 5) {
		t.Errorf("wait = %v, want 5 s", got)
	}
	c.Hangup()
	h.await("employee hung up", func() bool { return h.liveChannels() == 0 })
	if vm.count() != 0 {
		t.Error("voicemail for an answered call")
	}
}

func TestDirectDialToVoicemail(t *testing.T) {
	for name, phone := range map[string]employeePhone{
		"no answer":   {Behaviour: aritest.Behaviour{NoAnswer: true}},
		"busy":        {Behaviour: aritest.Behaviour{Busy: true}},
		"dnd":         {Behaviour: aritest.Behaviour{DND: true}},
		"unreachable": {Offline: true},
	} {
		t.Run(name, func(t *testing.T) {
			vm := &fakeVoicemail{outcome: "recorded"}
			h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &phone})
			c := h.direct("050-316 12 34")
			if name == "no answer" {
				h.await("employee ringing", func() bool { return h.ringing("PJSIP/2001") == 1 })
				h.clock.Advance(20 * time.Second) // direct_ring_timeout
			}
			h.eventually("voicemail taken", func() bool { return vm.count() == 1 })
			h.await("caller hung up after the message", func() bool { return !h.alive(c.ID()) })
			h.eventually("outcome voicemail", func() bool {
				return h.value("callmon_calls_total", "queue", "direct", "outcome", "voicemail") == 1
			})
		})
	}
}

func TestDirectDialCallerHangsUpWhileRinging(t *testing.T) {
	vm := &fakeVoicemail{outcome: "recorded"}
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{NoAnswer: true}}})
	c := h.direct("0503161234")
	h.await("employee ringing", func() bool { return h.ringing("PJSIP/2001") == 1 })
	h.clock.Advance(8 * time.Second)
	c.Hangup()
	h.await("employee leg hung up", func() bool { return h.ringing("PJSIP/2001") == 0 })
	h.eventually("abandoned", func() bool { return h.value("callmon_calls_abandoned_total", "queue", "direct") == 1 })
	if vm.count() != 0 {
		t.Error("voicemail after the caller hung up")
	}
}

// As TestCallerLeavingAsAgentJoinsIsAbandoned, for a direct call: the
// employee enters a bridge the caller has just left.
func TestDirectDialCallerLeavingAsEmployeeJoinsIsAbandoned(t *testing.T) {
	vm := &fakeVoicemail{outcome: "recorded"}
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{AnswerAfter: 8 * time.Second}}})
	h.fake.SetRESTFaults(aritest.RESTFaults{Delay: time.Second, Match: func(method, path string) bool {
		return method == "POST" && strings.HasSuffix(path, "/addChannel")
	}})
	c := h.direct("0503161234")
	h.await("employee ringing", func() bool { return h.ringing("PJSIP/2001") == 1 })
	h.clock.Advance(8 * time.Second)
	h.await("caller's addChannel held", func() bool { return h.fake.Stats().Holding == 1 })
	h.clock.Advance(time.Second)
	h.await("employee's addChannel held", func() bool { return h.fake.Stats().Holding == 1 && h.fake.Stats().Delayed == 2 })
	c.Hangup()
	h.clock.Advance(time.Second)
	h.eventually("abandoned", func() bool { return h.value("callmon_calls_abandoned_total", "queue", "direct") == 1 })
	if got := h.value("callmon_calls_answered_total", "queue", "direct"); got != 0 {
		t.Errorf("answered = %v, want 0: the caller had left when the employee entered the bridge", got)
	}
	r := h.oneRecord()
	if r.Outcome != "abandoned" || !r.Answered.IsZero() {
		t.Errorf("record = %+v, want abandoned", r)
	}
	h.await("employee hung up", func() bool { return h.liveChannels() == 0 })
}

func TestDirectDialToGeneralQueue(t *testing.T) {
	// Pressing 0 (or a failed recording) and an unknown number both end in
	// the general queue, where agents are rung.
	vm := &fakeVoicemail{outcome: "to_queue"}
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{Busy: true}},
		behaviour: aritest.Behaviour{NoAnswer: true}})
	h.direct("0503161234")
	h.await("agent rung", func() bool { return h.ringing(endpoint(1)) == 1 })
	h.eventually("in the general queue", func() bool { return h.value("callmon_calls_offered_total", "queue", "general") == 1 })

	h.direct("0503169999")
	h.eventually("unknown number in the general queue", func() bool {
		return h.value("callmon_calls_offered_total", "queue", "general") == 2
	})
	h.awaitPlay("sound:callmon/number-not-in-use", 1)
}
