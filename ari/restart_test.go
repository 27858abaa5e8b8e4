package ari_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/metrics"
)

// memJournal keeps the journal of calls in progress as PostgreSQL does
// (callback/store): an entry per caller and queue visit until its record.
type memJournal struct {
	mu   sync.Mutex
	rows map[[2]string]ari.CallRecord
	done map[[2]string]bool
}

func newMemJournal() *memJournal {
	return &memJournal{rows: map[[2]string]ari.CallRecord{}, done: map[[2]string]bool{}}
}

func (j *memJournal) add(r ari.CallRecord) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := [2]string{r.ChannelID, r.Queue}
	if j.done[k] {
		return
	}
	old, ok := j.rows[k]
	if ok && r.Stage == ari.StageEntered {
		// As live_calls' upsert: an exact entry replaces an estimated one,
		// in whichever order the two writes arrive.
		if old.EntryEstimated && !r.EntryEstimated {
			old.Entry, old.EntryEstimated = r.Entry, false
			j.rows[k] = old
		}
		return
	}
	if ok {
		old.Answered, old.Agent, old.AnswerEstimated = r.Answered, r.Agent, r.AnswerEstimated
		r = old
	}
	j.rows[k] = r
}

func (j *memJournal) finish(r ari.CallRecord) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := [2]string{r.ChannelID, r.Queue}
	delete(j.rows, k)
	j.done[k] = true
}

func (j *memJournal) live(context.Context) ([]ari.CallRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []ari.CallRecord
	for _, r := range j.rows {
		out = append(out, r)
	}
	return out, nil
}

// forget loses the journal, as when a process died before writing it.
func (j *memJournal) forget() {
	j.mu.Lock()
	defer j.mu.Unlock()
	clear(j.rows)
}

func (j *memJournal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.rows)
}

// restart stops the App as a dying process would leave Asterisk (calls
// untouched), runs gap while no process is connected, and starts a new App
// with fresh metrics, the same journal and the same agents logged in (their
// presence lives in PostgreSQL).
func (h *harness) restart(gap func()) {
	h.t.Helper()
	var in []string
	for _, st := range h.app.Agents().List() {
		if st.LoggedIn {
			in = append(in, st.ID)
		}
	}
	h.app.Stop()
	h.await("old process gone", func() bool { return !h.fake.Connected() })
	if gap != nil {
		gap()
	}
	reg, light := prometheus.NewRegistry(), prometheus.NewRegistry()
	m, err := metrics.New(lightRegisterer{all: reg, light: light}, h.clock, amsterdam, []metrics.Queue{{Name: "general", Threshold: h.cfg.Queues[0].Threshold}, {Name: ari.DirectQueue}}, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := h.cfg
	cfg.Metrics = m
	app, err := ari.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, id := range in {
		if _, err := app.Agents().Set(ari.PresenceChange{Agent: id, Action: ari.ActionLogin}); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := app.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(app.Stop)
	h.app, h.reg, h.light, h.m = app, reg, light, m
	h.await("new process connected", h.fake.Connected)
}

func (l *logBuffer) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), sub)
}

func (h *harness) bridgesLeft() int {
	n := 0
	for _, b := range h.fake.Bridges() {
		if strings.HasPrefix(b.ID, "cm-") {
			n++
		}
	}
	return n
}

func (h *harness) onHold(id string) bool {
	ch, ok := h.fake.Channel(id)
	return ok && strings.HasSuffix(ch.Bridge, "-hold")
}

// oneRecord waits for the only call record and returns it.
func (h *harness) oneRecord() ari.CallRecord {
	h.t.Helper()
	h.eventually("the call record", func() bool { return len(h.recs.all()) >= 1 })
	recs := h.recs.all()
	if len(recs) != 1 {
		h.t.Fatalf("%d call records, want 1: %+v", len(recs), recs)
	}
	return recs[0]
}

func TestRestartAdoptsWaitingCaller(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true, behaviour: aritest.Behaviour{AnswerAfter: 2 * time.Second, TalkFor: time.Minute}})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.clock.Advance(10 * time.Second)
	h.restart(nil)
	h.eventually("the new process counts the caller as waiting", func() bool { return h.value("callmon_calls_waiting") == 1 })
	if !h.onHold(c.ID()) {
		t.Fatal("the adopted caller left the holding bridge")
	}
	if _, err := h.app.Agents().Set(ari.PresenceChange{Agent: "a1", Action: ari.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	h.await("agent rung for the adopted caller", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(2 * time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	c.Hangup()
	r := h.oneRecord()
	if r.Outcome != "answered" || r.WaitMS != 12000 || !r.Adopted || r.EntryEstimated || r.EndUnobserved {
		t.Errorf("record = %+v, want answered after 12000 ms (from the first process's StasisStart), adopted, nothing estimated", r)
	}
	if !r.Entry.Equal(start) {
		t.Errorf("entry = %v, want the original StasisStart %v", r.Entry, start)
	}
	h.await("bridges deleted", func() bool { return h.bridgesLeft() == 0 })
	if n := h.jrnl.len(); n != 0 {
		t.Errorf("journal holds %d calls after the record, want 0", n)
	}
}

func TestRestartKeepsConversation(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: 3 * time.Second, TalkFor: time.Minute}})
	c := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(3 * time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	h.eventually("answer journaled", func() bool {
		rows, _ := h.jrnl.live(context.Background())
		return len(rows) == 1 && !rows[0].Answered.IsZero()
	})
	h.restart(nil)
	h.eventually("the agent is on a call in the new process", func() bool {
		return h.value("callmon_agents", "state", "on_call") == 1
	})
	h.clock.Advance(time.Minute) // the agent hangs up
	h.await("callmon hangs up the caller", func() bool { return !h.alive(c.ID()) })
	r := h.oneRecord()
	if r.Outcome != "answered" || r.WaitMS != 3000 || r.Agent != "a1" || !r.Adopted || r.AnswerEstimated || r.EndUnobserved {
		t.Errorf("record = %+v, want answered by a1 after 3000 ms, adopted, nothing estimated", r)
	}
	h.await("bridges deleted", func() bool { return h.bridgesLeft() == 0 })
	h.eventually("agent free", func() bool { return h.value("callmon_agents", "state", "available") == 1 })
}

// The agent hangs up while no process is connected, and Asterisk fails the new process's
// first inventory: the caller, alone in the bridge, must not wait for a next connect (which
// may never come) to be hung up.
func TestRestartRetriesAFailedInventory(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: 2 * time.Second}})
	c := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	h.eventually("answer journaled", func() bool {
		rows, _ := h.jrnl.live(context.Background())
		return len(rows) == 1 && !rows[0].Answered.IsZero()
	})
	h.restart(func() {
		h.clock.Advance(2 * time.Second) // the agent hangs up in the gap
		h.await("agent gone", func() bool { ch, ok := h.channelOn(endpoint(1)); return ok && !ch.Alive })
		h.fake.SetRESTFaults(aritest.RESTFaults{FailRate: 1, Match: func(method, path string) bool {
			return method == "GET" && path == "/ari/channels"
		}})
	})
	h.eventually("the inventory failed", func() bool { return h.fake.Stats().Failed > 0 })
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	// The next attempt is due 250 ms after the failure, on a timer set just after it.
	h.eventually("callmon hangs up the caller left alone", func() bool {
		h.clock.Advance(250 * time.Millisecond)
		return !h.alive(c.ID())
	})
	if r := h.oneRecord(); r.Outcome != "answered" || !r.Adopted {
		t.Errorf("record = %+v, want answered, adopted", r)
	}
}

// rest makes a request to the fake as a process would have (to set up what a dying one left).
func (h *harness) rest(method, path string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.fake.URL()+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.SetBasicAuth("callmon", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		h.t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
}

// A process that died after moving the caller into the mixing bridge and before adding the
// agent leaves the caller there alone, unanswered: the next one puts them back on hold and
// rings again, with the wait still measured from the first StasisStart.
func TestRestartRequeuesCallerAloneInMixNeverAnswered(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true, behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: time.Minute}})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.clock.Advance(4 * time.Second)
	h.restart(func() {
		mix := "/bridges/cm-" + c.ID() + "-mix"
		h.rest("POST", mix+"?type=mixing")
		h.rest("POST", mix+"/addChannel?channel="+c.ID())
	})
	h.eventually("the caller waits again, on hold", func() bool { return h.value("callmon_calls_waiting") == 1 && h.onHold(c.ID()) })
	if h.alive(c.ID()) == false {
		t.Fatal("the unanswered caller was hung up")
	}
	if _, err := h.app.Agents().Set(ari.PresenceChange{Agent: "a1", Action: ari.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	h.await("agent rung", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	c.Hangup()
	r := h.oneRecord()
	if r.Outcome != "answered" || r.WaitMS != 5000 || !r.Adopted || r.EndUnobserved {
		t.Errorf("record = %+v, want answered after 5000 ms, adopted", r)
	}
	h.await("bridges deleted", func() bool { return h.bridgesLeft() == 0 })
}

func TestRestartClosesCallThatEndedInTheGap(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.clock.Advance(20 * time.Second)
	h.restart(func() {
		c.Hangup()
		h.clock.Advance(5 * time.Second)
	})
	r := h.oneRecord()
	if r.Outcome != "abandoned" || !r.EndUnobserved || !r.Adopted || r.WaitMS != 25000 || !r.Ended.Equal(start.Add(25*time.Second)) {
		t.Errorf("record = %+v, want abandoned, end unobserved at the moment callmon learnt of it (25 s)", r)
	}
	h.await("the empty holding bridge deleted", func() bool { return h.bridgesLeft() == 0 })
	h.restart(nil)
	h.eventually("the journal is empty", func() bool { return h.jrnl.len() == 0 })
	if n := len(h.recs.all()); n != 1 {
		t.Errorf("%d records after a second restart, want 1", n)
	}
}

func TestRestartAdoptsRingingAgent(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 2, behaviour: aritest.Behaviour{AnswerAfter: 10 * time.Second, TalkFor: time.Minute}})
	c := h.call("0612345678")
	h.await("an agent ringing", func() bool { return h.totalRinging() == 1 })
	var leg string
	for _, ch := range h.fake.Channels() {
		if ch.Alive && ch.State == "Ringing" {
			leg = ch.ID
		}
	}
	h.clock.Advance(4 * time.Second)
	h.restart(nil)
	h.eventually("the ringing agent is adopted", func() bool { return h.value("callmon_agents", "state", "ringing") == 1 })
	if n := h.totalRinging(); n != 1 {
		t.Fatalf("%d agents ringing after the restart, want the 1 rung before (not rung twice)", n)
	}
	h.clock.Advance(6 * time.Second)
	h.await("bridged with the adopted leg", func() bool {
		ch, ok := h.fake.Channel(leg)
		return ok && ch.Alive && h.bridgedWith(c.ID(), ch.Endpoint)
	})
	c.Hangup()
	r := h.oneRecord()
	if r.Outcome != "answered" || r.WaitMS != 10000 || r.AnswerEstimated {
		t.Errorf("record = %+v, want answered after exactly 10000 ms (the agent's Up, seen by the new process)", r)
	}
}

func TestRestartWithoutJournalEstimatesEntry(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true, behaviour: aritest.Behaviour{AnswerAfter: time.Second}})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.clock.Advance(7 * time.Second)
	h.restartWithoutJournal()
	h.clock.Advance(2 * time.Second) // no StasisStart came: adopted
	h.eventually("adopted", func() bool { return h.value("callmon_calls_waiting") == 1 })
	if _, err := h.app.Agents().Set(ari.PresenceChange{Agent: "a1", Action: ari.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	c.Hangup()
	r := h.oneRecord()
	if r.Outcome != "answered" || !r.EntryEstimated || r.WaitMS != 10000 || r.Queue != "general" {
		t.Errorf("record = %+v, want answered in general after 10000 ms from the channel's creationtime, entry flagged as estimated", r)
	}
}

func TestRestartCleansUpLegsOfCallsThatEnded(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{NoAnswer: true}, ringTimeout: time.Hour})
	c := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.restart(c.Hangup)
	h.await("the ringing leg of the gone caller hung up", func() bool { return h.totalRinging() == 0 })
	h.await("bridges deleted", func() bool { return h.bridgesLeft() == 0 })
	r := h.oneRecord()
	if !r.EndUnobserved || r.Outcome != "short_abandoned" {
		t.Errorf("record = %+v, want a short abandon whose end was not observed", r)
	}
	h.eventually("agent free", func() bool { return h.value("callmon_agents", "state", "available") == 1 })
}

func TestRestartAdoptsDirectCall(t *testing.T) {
	vm := &fakeVoicemail{outcome: "recorded"}
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{AnswerAfter: 8 * time.Second, TalkFor: time.Minute}}})
	c := h.direct("0503161234")
	h.await("employee ringing", func() bool { return h.ringing("PJSIP/2001") == 1 })
	h.clock.Advance(3 * time.Second)
	h.restart(nil)
	h.eventually("the new process counts the direct caller as waiting", func() bool {
		return h.value("callmon_calls_waiting", "queue", ari.DirectQueue) == 1
	})
	h.clock.Advance(5 * time.Second)
	h.await("bridged with the employee", func() bool { return h.bridgedWith(c.ID(), "PJSIP/2001") })
	before := h.logs.count("carrying on a call")
	h.restart(nil) // and again, in conversation
	h.eventually("adopted in conversation", func() bool { return h.logs.count("carrying on a call") > before })
	c.Hangup()
	h.await("employee hung up by callmon", func() bool { return h.ringing("PJSIP/2001") == 0 && h.bridgesLeft() == 0 })
	r := h.oneRecord()
	if r.Kind != "direct" || r.Queue != ari.DirectQueue || r.Outcome != "answered" || r.WaitMS != 8000 || r.Agent != "erik" || !r.Adopted {
		t.Errorf("record = %+v, want a direct call answered by erik after 8000 ms", r)
	}
	if vm.count() != 0 {
		t.Error("an answered direct call went to voicemail")
	}
}

// A process that stops being the active callmon drops its calls without a
// word to Asterisk; when it becomes active again it adopts them like any
// other process would.
func TestDeactivateDropsCallsAndActivateAdoptsThem(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true, behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: time.Minute}})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.clock.Advance(5 * time.Second)

	h.app.Deactivate()
	if h.app.Active() || h.app.Calls() != 0 {
		t.Fatalf("after Deactivate: active %v, %d calls tracked; want neither", h.app.Active(), h.app.Calls())
	}
	h.await("websocket closed", func() bool { return !h.fake.Connected() })
	if got := h.value("callmon_calls_waiting"); got != 0 {
		t.Errorf("waiting = %v on a standby, want 0 (the calls are another process's now)", got)
	}
	requests := h.fake.Stats().Requests
	if _, err := h.app.Agents().Set(ari.PresenceChange{Agent: "a1", Action: ari.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	if n := h.fake.Stats().Requests; n != requests {
		t.Errorf("%d REST requests reached Asterisk from a standby", n-requests)
	}
	if len(h.recs.all()) != 0 {
		t.Fatalf("a dropped call was recorded: %+v", h.recs.all())
	}

	h.app.Activate()
	h.await("connected again", h.fake.Connected)
	h.await("the logged-in agent rung for the adopted caller", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	c.Hangup()
	if r := h.oneRecord(); r.Outcome != "answered" || r.WaitMS != 7000 || !r.Adopted {
		t.Errorf("record = %+v, want answered after 7000 ms, adopted", r)
	}
}

// A REST request while the fence says the lease may be gone never leaves.
func TestFenceRefusesRequests(t *testing.T) {
	var valid atomic.Bool
	valid.Store(true)
	h := newHarness(t, harnessOptions{agents: 1, fence: valid.Load})
	valid.Store(false)
	c := h.call("0612345678")
	h.eventually("callmon tried to answer", func() bool { return h.logs.contains("not the active one") })
	// A request of the start-up still in flight may complete; the new
	// caller's answer must not.
	if ch, _ := h.fake.Channel(c.ID()); ch.State == "Up" || ch.Bridge != "" {
		t.Errorf("caller %+v was answered or bridged past the fence", ch)
	}
}

// An automatic callback in conversation when callmon restarts goes on; when
// the customer hangs up, the new process hangs up the agent.
func TestRestartKeepsCallbackConversation(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: 2 * time.Second}})
	h.fake.AddEndpoint(custEndpoint, "online", aritest.Behaviour{AnswerAfter: 5 * time.Second, TalkFor: time.Minute})
	res := h.dialCallback(context.Background(), callbackReq())
	h.await("agent ringing", func() bool { return h.ringing("PJSIP/1001") == 1 })
	h.clock.Advance(2 * time.Second)
	h.awaitPlay(announcement, 1)
	h.clock.Advance(aritest.DefaultMediaDuration)
	h.await("customer ringing", func() bool { return h.ringing(custEndpoint) == 1 })
	h.clock.Advance(5 * time.Second)
	if r := h.outcome(res); r.err != nil || r.out.Result != ari.CallbackReached {
		t.Fatalf("outcome %+v, %v", r.out, r.err)
	}
	agent, _ := h.channelOn("PJSIP/1001")
	h.restart(nil)
	h.eventually("the conversation adopted", func() bool { return h.logs.contains("carrying on an automatic callback") })
	if !h.alive(agent.ID) || !h.bridgedWith(agent.ID, custEndpoint) {
		t.Fatal("the restart cut the callback conversation")
	}
	h.clock.Advance(time.Minute) // the customer hangs up
	h.await("agent hung up, bridge deleted", func() bool { return !h.alive(agent.ID) && h.bridgesLeft() == 0 })
	if o := h.originates(custEndpoint); len(o) != 1 {
		t.Errorf("customer dialled %d times, want once", len(o))
	}
}

// A caller no journal knows (its entry was in a frozen node's spool) is talking in its mixing
// bridge: it is adopted at once, not after the grace for a StasisStart that cannot come, so
// that it is not left alone there when its agent hangs up; the agent's leg is not cut as an
// orphan meanwhile.
func TestRestartWithoutJournalCarriesConversationAtOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: 1500 * time.Millisecond}})
	c := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	h.restartWithoutJournal()
	h.eventually("adopted", func() bool { return h.logs.contains("carrying on a call a previous callmon left") })
	if !h.bridgedWith(c.ID(), endpoint(1)) {
		t.Fatal("the adoption cut the conversation")
	}
	h.clock.Advance(1500 * time.Millisecond) // the agent hangs up, within the 2 s grace
	h.await("caller hung up after the agent", func() bool { return !h.alive(c.ID()) })
	r := h.oneRecord()
	if r.Outcome != "answered" || !r.EntryEstimated || !r.Adopted {
		t.Errorf("record = %+v, want answered, adopted, entry estimated", r)
	}
}

// A caller no journal knows hangs up during the grace for its StasisStart, and Asterisk fails
// the check whether the caller is still there: callmon must ask again, not carry on a caller
// who is gone (its flow would ring agents for nobody and never write a record).
func TestRestartWithoutJournalChecksAgainWhenAsteriskFails(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.clock.Advance(3 * time.Second)
	h.restartWithoutJournal()
	c.Hangup()
	h.fake.SetRESTFaults(aritest.RESTFaults{FailRate: 1, Match: func(method, path string) bool {
		return method == "GET" && strings.HasSuffix(path, "/channels/"+c.ID())
	}})
	h.clock.Advance(2 * time.Second)
	h.eventually("the check failed", func() bool { return h.fake.Stats().Failed > 0 })
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	h.clock.Advance(2 * time.Second)
	r := h.oneRecord()
	if !r.EndUnobserved || !r.EntryEstimated {
		t.Errorf("record = %+v, want an end not observed and an estimated entry", r)
	}
	if n := h.value("callmon_calls_waiting"); n != 0 {
		t.Errorf("%v callers waiting, want 0: the gone caller was carried on", n)
	}
}

// The connection that found a caller no journal knows is lost during the grace for its
// StasisStart, and the next connection cannot take Asterisk's inventory: the caller is still
// adopted when the grace ends.
func TestRestartWithoutJournalAdoptsAfterALostConnection(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.clock.Advance(3 * time.Second)
	h.restartWithoutJournal()
	h.fake.SetRESTFaults(aritest.RESTFaults{FailRate: 1, Match: func(method, path string) bool {
		return method == "GET" && strings.Contains(path, "/applications/")
	}})
	failed := h.fake.Stats().Failed
	h.fake.DropConnections()
	h.eventually("the next inventory failed", func() bool { return h.fake.Stats().Failed > failed })
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	h.clock.Advance(2 * time.Second)
	h.eventually("adopted", func() bool { return h.value("callmon_calls_waiting") == 1 })
}

// restartWithoutJournal restarts as a process that died before journaling
// its calls, and returns once the new one has put off adopting them.
func (h *harness) restartWithoutJournal() {
	h.t.Helper()
	before := h.logs.count("caller not in the journal")
	h.restart(h.jrnl.forget)
	h.eventually("adoption deferred", func() bool { return h.logs.count("caller not in the journal") > before })
}

// Many calls ended while no process was connected, and Asterisk is slow to delete their
// bridges: the clean-up must not hold up the events of new callers.
func TestOrphanCleanUpDoesNotHoldUpNewCallers(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true, behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: time.Minute}})
	var gone []*aritest.Caller
	for range 8 {
		c := h.call("0612345678")
		h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
		gone = append(gone, c)
	}
	h.restart(func() {
		for _, c := range gone {
			c.Hangup()
		}
		h.fake.SetRESTFaults(aritest.RESTFaults{Delay: time.Hour, Match: func(method, path string) bool {
			return method == "DELETE" && slices.ContainsFunc(gone, func(c *aritest.Caller) bool {
				return path == "/ari/bridges/cm-"+c.ID()+"-hold"
			})
		}})
	})
	h.eventually("clean-up begun", func() bool { return h.fake.Stats().Holding > 0 })
	c := h.call("0612345679")
	h.await("the new caller on hold while the clean-up waits for Asterisk", func() bool { return h.onHold(c.ID()) })
	if _, err := h.app.Agents().Set(ari.PresenceChange{Agent: "a1", Action: ari.ActionLogin}); err != nil {
		t.Fatal(err)
	}
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Second)
	h.await("the agent's answer handled: bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	// And a cut websocket is taken up again at once.
	conns := h.fake.Stats().Connections
	h.fake.DropConnections()
	h.await("reconnected", func() bool { return h.fake.Stats().Connections > conns && h.fake.Connected() })
	if got := h.fake.Stats().Holding; got > 2*4 {
		t.Errorf("%d deletions at once, want at most 4 per connection", got)
	}
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	h.clock.Advance(time.Hour)
}

// A caller the inventory lists in Stasis but not in the journal is adopted
// after a grace, unless its StasisStart comes. If it left Stasis meanwhile —
// this process served it and handed it to the dialplan fallback — it is
// still up, and still in the application's channel_ids (callmon's
// subscription to its channel outlives StasisEnd), but runs the dialplan.
// Adopting it tried POST /continue for ever (409 "Channel not in Stasis
// application"), a call that never ended (TestFailingAsteriskStrandsNobody,
// 1 run in 20 under load).
func TestRestartLeavesACallerThatLeftStasisDuringTheGrace(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.restartWithoutJournal()
	h.await("the inventory done", func() bool { return h.logs.contains("adopting it unless its StasisStart arrives") })
	// Out of Stasis into the dialplan, as the fallback does.
	req, err := http.NewRequest(http.MethodPost, h.fake.URL()+"/channels/"+c.ID()+"/continue", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("callmon", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("continue: %s", resp.Status)
	}
	h.clock.Advance(2 * time.Second) // the grace runs out
	h.await("the grace over", func() bool {
		return h.logs.contains("not adopting it") || h.logs.contains("carrying on a call a previous callmon left")
	})
	if n := h.app.Calls(); n != 0 || !h.logs.contains("not adopting it") {
		t.Errorf("%d calls tracked, want 0: the caller runs the dialplan\n%s", n, h.logs)
	}
	c.Hangup()
}

// A takeover during a PostgreSQL restart cannot read the journal; a call in it whose caller
// hung up while no process was connected is closed once the journal answers again, not left
// there without a record (the chaos test, seed 1796592634702443018, found 25 such calls).
func TestJournalUnreadAtTakeoverIsClosedLater(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.eventually("entry journaled", func() bool { return h.jrnl.len() == 1 })
	var down atomic.Bool
	var failed atomic.Int32
	down.Store(true)
	read := h.cfg.LiveCalls
	h.cfg.LiveCalls = func(ctx context.Context) ([]ari.CallRecord, error) {
		if down.Load() {
			failed.Add(1)
			return nil, errors.New("read calls in progress: unexpected EOF")
		}
		return read(ctx)
	}
	h.restart(func() { c.Hangup() })
	h.eventually("view rebuilt without the journal", func() bool {
		return h.logs.contains("cannot read the journal") && h.logs.contains("view of Asterisk rebuilt")
	})
	h.eventually("read again, still down", func() bool {
		h.clock.Advance(250 * time.Millisecond)
		return failed.Load() >= 3
	})
	if n := len(h.recs.all()); n != 0 {
		t.Fatalf("%d records while the journal cannot be read, want 0", n)
	}
	down.Store(false)
	h.eventually("closed from the journal", func() bool {
		h.clock.Advance(250 * time.Millisecond)
		return len(h.recs.all()) > 0
	})
	r := h.oneRecord()
	if r.ChannelID != c.ID() || !strings.HasSuffix(r.Outcome, "abandoned") || !r.EndUnobserved || !r.Adopted {
		t.Errorf("record = %+v, want %s (short) abandoned, ended unobserved, adopted", r, c.ID())
	}
	h.eventually("journal emptied", func() bool { return h.jrnl.len() == 0 })
}

// A process that stops being the active one while it rebuilds its view (its
// lease ran out while the journal was read) adopts nothing: the next active
// process drives those calls.
func TestDeactivateDuringRebuildAdoptsNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true})
	c := h.call("0612345678")
	h.await("caller on hold", func() bool { return h.onHold(c.ID()) })
	h.eventually("the first process's view rebuilt", func() bool { return h.logs.contains("view of Asterisk rebuilt") })
	entered := make(chan struct{})
	var once sync.Once
	h.cfg.LiveCalls = func(ctx context.Context) ([]ari.CallRecord, error) {
		once.Do(func() { close(entered) })
		<-ctx.Done()
		return nil, ctx.Err()
	}
	h.restart(nil)
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the new process never read the journal")
	}
	h.app.Deactivate()
	if n := h.logs.count("view of Asterisk rebuilt"); n != 1 {
		t.Errorf("%d rebuilds logged, want 1 (the first process's): a process no longer active rebuilt its view\nlog:\n%s", n, h.logs)
	}
	if h.logs.contains("adopting it") || h.logs.contains("carrying on a call") {
		t.Errorf("a process no longer active adopted a call\nlog:\n%s", h.logs)
	}
}

// An answer time the previous process estimated (the agent answered while its
// websocket was down) stays flagged as estimated in the record the next
// process writes: the journal says so.
func TestRestartKeepsAnEstimatedAnswerFlagged(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, behaviour: aritest.Behaviour{AnswerAfter: 2 * time.Second, TalkFor: time.Minute}})
	c := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.fake.SetRESTFaults(aritest.RESTFaults{Delay: 10 * time.Second})
	h.fake.DropConnections()
	h.eventually("reconnected, rebuild held", func() bool { return h.fake.Connected() && h.fake.Stats().Holding == 1 })
	h.clock.Advance(2 * time.Second) // the agent answers while the rebuild waits
	h.fake.SetRESTFaults(aritest.RESTFaults{})
	h.clock.Advance(8 * time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), endpoint(1)) })
	h.eventually("estimated answer journaled", func() bool {
		rows, _ := h.jrnl.live(context.Background())
		return len(rows) == 1 && !rows[0].Answered.IsZero() && rows[0].AnswerEstimated
	})
	h.restart(nil)
	h.eventually("the agent is on a call in the new process", func() bool {
		return h.value("callmon_agents", "state", "on_call") == 1
	})
	h.clock.Advance(time.Minute) // the agent hangs up
	h.await("callmon hangs up the caller", func() bool { return !h.alive(c.ID()) })
	r := h.oneRecord()
	if r.Outcome != "answered" || r.WaitMS != 10000 || r.Agent != "a1" || !r.Adopted || !r.AnswerEstimated {
		t.Errorf("record = %+v, want answered by a1 after 10000 ms (estimated), adopted, answer flagged estimated", r)
	}
}
