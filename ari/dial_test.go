package ari_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"callmon/ari"
	"callmon/ari/aritest"
)

// The customer of the automatic callbacks below, as the harness's
// OutboundEndpoint dials them: through the PSTN trunk.
const (
	custNumber   = "+31612345678"
	custEndpoint = "PJSIP/" + custNumber + "@pstn"
	announcement = "sound:callmon/callback-task"
)

type dialed struct {
	out ari.CallbackOutcome
	err error
}

// dialCallback starts DialCallback, which blocks until the outcome is known.
func (h *harness) dialCallback(ctx context.Context, req ari.CallbackCall) <-chan dialed {
	ch := make(chan dialed, 1)
	go func() {
		out, err := h.app.DialCallback(ctx, req)
		ch <- dialed{out, err}
	}()
	return ch
}

// outcome waits for DialCallback's answer.
func (h *harness) outcome(ch <-chan dialed) dialed {
	h.t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		h.t.Fatalf("DialCallback did not return\nlog:\n%s", h.logs)
		return dialed{}
	}
}

// channelOn returns a channel on endpoint ep, live ones first.
func (h *harness) channelOn(ep string) (aritest.ChannelInfo, bool) {
	for _, c := range h.fake.Channels() {
		if c.Endpoint == ep {
			return c, true
		}
	}
	return aritest.ChannelInfo{}, false
}

func (h *harness) agentState(id string) string {
	h.t.Helper()
	st, err := h.app.Agents().Get(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return st.State
}

// callmonBridges is the number of bridges callmon has now.
func (h *harness) callmonBridges() int {
	n := 0
	for _, b := range h.fake.Bridges() {
		if strings.HasPrefix(b.ID, "cm-") {
			n++
		}
	}
	return n
}

// originates returns the bodies of the originates callmon sent to endpoint.
func (h *harness) originates(endpoint string) []map[string]any {
	var out []map[string]any
	for _, r := range h.fake.Log() {
		if r.Kind != aritest.KindREST || r.Method != "POST" || !strings.HasPrefix(r.Path, "/ari/channels") {
			continue
		}
		var body map[string]any
		if json.Unmarshal(r.Body, &body) == nil && body["endpoint"] == endpoint {
			out = append(out, body)
		}
	}
	return out
}

func callbackReq() ari.CallbackCall {
	return ari.CallbackCall{Queue: "general", Number: custNumber, CallerName: "J. de Vries", TaskID: "42"}
}

// TestCallbackReached: the longest-idle agent rings, answers, hears the
// announcement; only then is the customer dialled (with the queue's number
// as caller id); the customer answers and both are in one mixing bridge.
// The outcome is reached, with the customer's wait measured in Asterisk
// time. When the customer hangs up, callmon hangs up the agent, deletes
// the bridge and the agent is available again.
func TestCallbackReached(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 2, behaviour: aritest.Behaviour{AnswerAfter: 2 * time.Second}})
	h.fake.AddEndpoint(custEndpoint, "online", aritest.Behaviour{AnswerAfter: 5 * time.Second, TalkFor: time.Minute})
	res := h.dialCallback(context.Background(), callbackReq())

	h.await("agent a1 ringing", func() bool { return h.ringing("PJSIP/1001") == 1 })
	if got := h.agentState("a1"); got != ari.StateRinging {
		t.Errorf("a1 is %s while rung for the callback, want ringing", got)
	}
	if h.ringing("PJSIP/1002") != 0 {
		t.Error("a2 rings too")
	}
	// The ringing events may come before the originate's response is logged.
	h.eventually("originate logged", func() bool { return len(h.originates("PJSIP/1001")) > 0 })
	if o := h.originates("PJSIP/1001"); len(o) != 1 || o[0]["appArgs"] != "callback" || !strings.Contains(o[0]["callerId"].(string), custNumber) {
		t.Errorf("agent originate = %v, want appArgs callback and the customer's number as caller id", o)
	}
	h.clock.Advance(2 * time.Second)
	h.awaitPlay(announcement, 1)
	if got := h.agentState("a1"); got != ari.StateOnCall {
		t.Errorf("a1 is %s while hearing the announcement, want on_call", got)
	}
	if _, dialled := h.channelOn(custEndpoint); dialled {
		t.Fatal("customer dialled before the announcement ended")
	}
	h.clock.Advance(aritest.DefaultMediaDuration)
	h.await("customer ringing", func() bool { return h.ringing(custEndpoint) == 1 })
	h.eventually("customer originate logged", func() bool { return len(h.originates(custEndpoint)) > 0 })
	if o := h.originates(custEndpoint); len(o) != 1 || o[0]["callerId"] != "0503164911" {
		t.Errorf("customer originate = %v, want the queue's number as caller id", o)
	}
	h.clock.Advance(5 * time.Second)

	r := h.outcome(res)
	if r.err != nil {
		t.Fatal(r.err)
	}
	o := r.out
	agentUp := start.Add(2 * time.Second)
	dialledAt := agentUp.Add(aritest.DefaultMediaDuration)
	if o.Result != ari.CallbackReached || o.Agent != "a1" || o.Wait != 5*time.Second ||
		!o.AgentAnswered.Equal(agentUp) || !o.CustomerDialled.Equal(dialledAt) || !o.CustomerAnswered.Equal(dialledAt.Add(5*time.Second)) {
		t.Errorf("outcome = %+v, want reached by a1, agent up at %v, customer dialled at %v and answering 5 s later", o, agentUp, dialledAt)
	}
	if !strings.Contains(o.Note(), "a1") || !strings.Contains(o.Note(), "5.0 s") {
		t.Errorf("note %q", o.Note())
	}
	agent, _ := h.channelOn("PJSIP/1001")
	cust, _ := h.channelOn(custEndpoint)
	if !strings.HasPrefix(cust.Name, "PJSIP/pstn-") {
		t.Errorf("customer channel %q is not on the trunk", cust.Name)
	}
	if !h.bridgedWith(agent.ID, custEndpoint) {
		t.Fatalf("agent and customer are not in one mixing bridge: %+v", h.fake.Bridges())
	}
	if got := h.agentState("a1"); got != ari.StateOnCall {
		t.Errorf("a1 is %s while talking, want on_call", got)
	}
	if got := h.agentState("a2"); got != ari.StateAvailable {
		t.Errorf("a2 is %s, want available", got)
	}

	h.clock.Advance(time.Minute) // the customer hangs up
	h.await("agent hung up, bridge deleted", func() bool { return !h.alive(agent.ID) && h.callmonBridges() == 0 })
	if got := h.agentState("a1"); got != ari.StateAvailable {
		t.Errorf("a1 is %s after the callback, want available", got)
	}
	if h.liveChannels() != 0 {
		t.Errorf("live channels left: %+v", h.fake.Channels())
	}
}

// TestCallbackCustomerNotReached: the agent answers and hears the task;
// the customer does not answer, is busy, does not exist or cannot be
// dialled at all. The agent is hung up before the outcome is returned and
// is available again.
func TestCallbackCustomerNotReached(t *testing.T) {
	for _, tc := range []struct {
		name      string
		customer  *aritest.Behaviour // nil: not reachable through the trunk (500)
		ring      time.Duration      // until the customer's phone gives up
		want      ari.CallbackResult
		wantCause int
	}{
		{"no answer", &aritest.Behaviour{NoAnswer: true}, 30 * time.Second, ari.CallbackNoAnswer, 19},
		{"busy", &aritest.Behaviour{Busy: true}, 0, ari.CallbackNoAnswer, 17},
		{"unallocated", &aritest.Behaviour{Unallocated: true}, 0, ari.CallbackWrongNumber, 1},
		{"cannot be dialled", nil, 0, ari.CallbackNoAnswer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{agents: 1})
			if tc.customer != nil {
				h.fake.AddEndpoint(custEndpoint, "online", *tc.customer)
			}
			res := h.dialCallback(context.Background(), callbackReq())
			h.awaitPlay(announcement, 1)
			agent, _ := h.channelOn("PJSIP/1001")
			h.clock.Advance(aritest.DefaultMediaDuration)
			if tc.ring > 0 {
				h.await("customer ringing", func() bool { return h.ringing(custEndpoint) == 1 })
				h.clock.Advance(tc.ring)
			}
			r := h.outcome(res)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.out.Result != tc.want || r.out.Cause != tc.wantCause || r.out.Agent != "a1" || r.out.Wait != 0 {
				t.Errorf("outcome = %+v, want %s with cause %d", r.out, tc.want, tc.wantCause)
			}
			if h.alive(agent.ID) {
				t.Error("agent still connected after the outcome")
			}
			if len(h.originates(custEndpoint)) != 1 {
				t.Errorf("customer dialled %d times, want 1", len(h.originates(custEndpoint)))
			}
			if got := h.agentState("a1"); got != ari.StateAvailable {
				t.Errorf("a1 is %s, want available", got)
			}
			if n := h.app.CallbackAgents("general"); n != 1 {
				t.Errorf("CallbackAgents = %d, want 1: an agent who took the task is not skipped", n)
			}
			h.await("nothing left", func() bool { return h.liveChannels() == 0 && h.callmonBridges() == 0 })
		})
	}
}

// TestCallbackAgentNoAnswer: an agent who does not answer gives
// agent_unavailable (no attempt at the customer), is skipped for the next
// callbacks, and once every agent was skipped DialCallback says ErrNoAgent
// at once — until the skip has passed.
func TestCallbackAgentNoAnswer(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 2, ringTimeout: 15 * time.Second, behaviour: aritest.Behaviour{NoAnswer: true}})
	h.fake.AddEndpoint(custEndpoint, "online", aritest.Behaviour{})
	for _, id := range []string{"a1", "a2"} {
		ep := map[string]string{"a1": "PJSIP/1001", "a2": "PJSIP/1002"}[id]
		res := h.dialCallback(context.Background(), callbackReq())
		h.await(id+" ringing", func() bool { return h.ringing(ep) == 1 })
		h.clock.Advance(15 * time.Second)
		r := h.outcome(res)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.out.Result != ari.CallbackAgentUnavailable || r.out.Agent != id {
			t.Fatalf("outcome = %+v, want agent_unavailable by %s", r.out, id)
		}
		if got := h.agentState(id); got != ari.StateAvailable {
			t.Errorf("%s is %s after not answering, want available (for queue calls)", id, got)
		}
	}
	if _, dialled := h.channelOn(custEndpoint); dialled {
		t.Error("customer dialled although no agent answered")
	}
	if n := h.app.CallbackAgents("general"); n != 0 {
		t.Errorf("CallbackAgents = %d, want 0 (both skipped)", n)
	}
	if _, err := h.app.DialCallback(context.Background(), callbackReq()); !errors.Is(err, ari.ErrNoAgent) {
		t.Errorf("third callback: err = %v, want ErrNoAgent", err)
	}
	h.clock.Advance(2 * time.Minute)
	if n := h.app.CallbackAgents("general"); n != 2 {
		t.Errorf("CallbackAgents = %d after the skip, want 2", n)
	}
}

// TestCallbackAgentLeavesDuringAnnouncement: the agent answers and hangs up
// before the customer is dialled: agent_unavailable, nobody dialled.
func TestCallbackAgentLeavesDuringAnnouncement(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{TalkFor: time.Second}})
	h.fake.AddEndpoint(custEndpoint, "online", aritest.Behaviour{})
	res := h.dialCallback(context.Background(), callbackReq())
	h.awaitPlay(announcement, 1)
	h.clock.Advance(time.Second)
	r := h.outcome(res)
	if r.err != nil || r.out.Result != ari.CallbackAgentUnavailable {
		t.Fatalf("outcome = %+v, %v; want agent_unavailable", r.out, r.err)
	}
	if len(h.originates(custEndpoint)) != 0 {
		t.Error("customer dialled after the agent left")
	}
	h.await("nothing left", func() bool { return h.liveChannels() == 0 })
}

// TestCallbackNoAgentLoggedIn: nothing is dialled.
func TestCallbackNoAgentLoggedIn(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	if _, err := h.app.DialCallback(context.Background(), callbackReq()); !errors.Is(err, ari.ErrNoAgent) {
		t.Fatalf("err = %v, want ErrNoAgent", err)
	}
	if h.requested("POST", "/channels") {
		t.Error("something was originated")
	}
}

// TestCallbackCancelled: the task's assignee is rung rather than the
// longest-idle agent; cancelling the context while the customer rings
// hangs up both legs and returns the context's error.
func TestCallbackCancelled(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 2})
	h.fake.AddEndpoint(custEndpoint, "online", aritest.Behaviour{NoAnswer: true})
	ctx, cancel := context.WithCancel(context.Background())
	req := callbackReq()
	req.Agent = "a2"
	res := h.dialCallback(ctx, req)
	h.awaitPlay(announcement, 1)
	if _, rung := h.channelOn("PJSIP/1001"); rung {
		t.Error("a1 rung; the task's agent is a2")
	}
	h.clock.Advance(aritest.DefaultMediaDuration)
	h.await("customer ringing", func() bool { return h.ringing(custEndpoint) == 1 })
	cancel()
	r := h.outcome(res)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", r.err)
	}
	if h.liveChannels() != 0 {
		t.Errorf("live channels after cancelling: %+v", h.fake.Channels())
	}
	if got := h.agentState("a2"); got != ari.StateAvailable {
		t.Errorf("a2 is %s, want available", got)
	}
}

// TestCallbackRequestChecked: bad requests are refused before anything is
// dialled.
func TestCallbackRequestChecked(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1})
	for _, req := range []ari.CallbackCall{
		{Queue: "nope", Number: custNumber},
		{Queue: "general", Number: "0612345678"},
		{Queue: "general", Number: "+31612345678;evil"},
	} {
		if _, err := h.app.DialCallback(context.Background(), req); err == nil || errors.Is(err, ari.ErrNoAgent) {
			t.Errorf("%+v: err = %v, want a refusal", req, err)
		}
	}
	if h.requested("POST", "/channels") {
		t.Error("something was originated")
	}
}

// When the customer's dial cannot be noted in the task, the customer is not
// dialled: a process that took over could not know it had been.
func TestCallbackNotDialledUnlessNoted(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: 2 * time.Second}})
	h.fake.AddEndpoint(custEndpoint, "online", aritest.Behaviour{AnswerAfter: 5 * time.Second})
	req := callbackReq()
	noted := 0
	req.BeforeCustomer = func() error { noted++; return errors.New("database away") }
	res := h.dialCallback(context.Background(), req)
	h.await("agent ringing", func() bool { return h.ringing("PJSIP/1001") == 1 })
	h.clock.Advance(2 * time.Second)
	h.awaitPlay(announcement, 1)
	h.clock.Advance(aritest.DefaultMediaDuration)
	r := h.outcome(res)
	if r.err == nil || noted != 1 {
		t.Fatalf("outcome %+v, err %v, noted %d times; want an error after one try to note", r.out, r.err, noted)
	}
	if o := h.originates(custEndpoint); len(o) != 0 {
		t.Errorf("customer dialled %d times although the dial could not be noted", len(o))
	}
	h.await("agent hung up", func() bool { return h.liveChannels() == 0 })
}
