package ari_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"

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
//
// With a REST client (record) its dialogue leaves in Asterisk what the real
// one does: the caller answered, then a recording vm-<channel> ended by #
// or the hang-up; outcome comes with its RecordingFinished. Resume carries
// on such a recording when it is live.
type fakeVoicemail struct {
	mu      sync.Mutex
	taken   []string
	resumed int
	outcome string

	rest *native.Client
	// stallFirst: the first dialogue answers but never gets to the
	// recording (a process killed during the greeting).
	stallFirst bool
	// quit ends the dialogues of stopped processes when the test ends.
	quit chan struct{}
}

func (f *fakeVoicemail) Take(ctx context.Context, ch string, e ariv.Employee, c ariv.CallerInfo, events <-chan ari.Event) (string, error) {
	f.mu.Lock()
	f.taken = append(f.taken, ch+"/"+e.ID)
	n, rest := len(f.taken), f.rest
	f.mu.Unlock()
	if rest == nil {
		return f.outcome, nil
	}
	key := ari.NewKey(ari.ChannelKey, ch)
	if err := rest.Channel().Answer(key); err != nil {
		return "failed", err
	}
	if n == 1 && f.stallFirst {
		<-f.quit
		return "", nil
	}
	_, err := rest.Channel().Record(key, recordingOf(ch), &ari.RecordingOptions{Format: "wav", Beep: true, Terminate: "#"})
	if err != nil {
		return "failed", err
	}
	return f.recorded(ch, events), nil
}

var _ ariv.VoicemailResumer = (*fakeVoicemail)(nil)

// Resume carries on the channel's recording if it is live.
func (f *fakeVoicemail) Resume(ctx context.Context, ch string, e ariv.Employee, c ariv.CallerInfo, events <-chan ari.Event) (string, bool, error) {
	f.mu.Lock()
	rest := f.rest
	f.mu.Unlock()
	if rest == nil {
		return "", false, nil
	}
	if _, err := rest.LiveRecording().Data(ari.NewKey(ari.LiveRecordingKey, recordingOf(ch))); err != nil {
		return "", false, nil
	}
	f.mu.Lock()
	f.resumed++
	f.mu.Unlock()
	return f.recorded(ch, events), true, nil
}

// recorded waits for the end of the channel's recording.
func (f *fakeVoicemail) recorded(ch string, events <-chan ari.Event) string {
	for {
		select {
		case e := <-events:
			if r, ok := e.(*ari.RecordingFinished); ok && r.Recording.Name == recordingOf(ch) {
				return f.outcome
			}
		case <-f.quit:
			return ""
		}
	}
}

// record makes the dialogues record in the fake Asterisk (see fakeVoicemail).
func (f *fakeVoicemail) record(h *harness) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rest = native.New(&native.Options{Application: "callmon", URL: h.cfg.URL, Username: h.cfg.User, Password: h.cfg.Password})
}

func (f *fakeVoicemail) resumes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resumed
}

func recordingOf(ch string) string { return "vm-" + strings.ReplaceAll(ch, ".", "-") }

func newRecordingVoicemail(t *testing.T, stallFirst bool) *fakeVoicemail {
	f := &fakeVoicemail{outcome: "recorded", stallFirst: stallFirst, quit: make(chan struct{})}
	t.Cleanup(func() { close(f.quit) })
	return f
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

// As TestCallerLeavingAsAgentJoinsIsAbandoned, for a direct call: the caller
// hangs up while the request adding both to the bridge is on its way.
func TestDirectDialCallerLeavingAsEmployeeJoinsIsAbandoned(t *testing.T) {
	vm := &fakeVoicemail{outcome: "recorded"}
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{AnswerAfter: 8 * time.Second}}})
	h.fake.SetRESTFaults(aritest.RESTFaults{Delay: time.Second, Match: func(method, path string) bool {
		return method == "POST" && strings.HasSuffix(path, "/addChannel")
	}})
	c := h.direct("0503161234")
	h.await("employee ringing", func() bool { return h.ringing("PJSIP/2001") == 1 })
	h.clock.Advance(8 * time.Second)
	h.await("caller's and employee's addChannel held", func() bool { return h.fake.Stats().Holding == 1 })
	c.Hangup()
	h.clock.Advance(time.Second)
	h.eventually("abandoned", func() bool { return h.value("callmon_calls_abandoned_total", "queue", "direct") == 1 })
	if d := h.fake.Stats().Delayed; d != 1 {
		t.Errorf("%d addChannel requests, want 1 adding caller and employee together", d)
	}
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

// A restart while the caller records their message carries the recording
// on: no second greeting or recording, and the message is the outcome.
func TestRestartDuringVoicemailRecordingResumesIt(t *testing.T) {
	vm := newRecordingVoicemail(t, false)
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{Busy: true}}})
	vm.record(h)
	c := h.direct("0503161234")
	h.await("the message being recorded", func() bool { _, rec := c.Recording(); return rec })
	h.clock.Advance(aritest.BeepDuration)
	c.Speak(3 * time.Second)
	h.clock.Advance(3 * time.Second)

	h.restart(nil)
	h.eventually("the recording carried on", func() bool { return vm.resumes() == 1 })
	c.SendDTMF("#")
	h.await("the caller hung up after the message", func() bool { return !h.alive(c.ID()) })
	if r := h.oneRecord(); r.Outcome != "voicemail" || !r.Adopted {
		t.Errorf("record = %+v, want voicemail, adopted", r)
	}
	if n := vm.count(); n != 1 {
		t.Errorf("%d dialogues taken, want the first process's one", n)
	}
	if n := h.requests("POST", "/record"); n != 1 {
		t.Errorf("%d recordings requested, want 1", n)
	}
	if !h.logs.contains("resumed=true") {
		t.Errorf("the outcome was not the resumed dialogue's\nlog:\n%s", h.logs)
	}
}

// A restart before the recording began starts the dialogue over.
func TestRestartDuringVoicemailGreetingTakesItAgain(t *testing.T) {
	vm := newRecordingVoicemail(t, true)
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{Busy: true}}})
	vm.record(h)
	c := h.direct("0503161234")
	h.eventually("the dialogue", func() bool { return vm.count() == 1 })
	h.await("the caller answered", func() bool { ch, _ := h.fake.Channel(c.ID()); return ch.State == "Up" })

	h.restart(nil)
	h.await("the message being recorded", func() bool { _, rec := c.Recording(); return rec })
	h.clock.Advance(aritest.BeepDuration)
	c.Speak(2 * time.Second)
	h.clock.Advance(2 * time.Second)
	c.SendDTMF("#")
	h.await("the caller hung up after the message", func() bool { return !h.alive(c.ID()) })
	if r := h.oneRecord(); r.Outcome != "voicemail" || !r.Adopted {
		t.Errorf("record = %+v, want voicemail, adopted", r)
	}
	if n, r := vm.count(), vm.resumes(); n != 2 || r != 0 {
		t.Errorf("%d dialogues taken, %d resumed; want the dialogue taken again", n, r)
	}
}

// requests counts the REST requests with that method whose path ends so.
func (h *harness) requests(method, suffix string) int {
	n := 0
	for _, r := range h.fake.Log() {
		if r.Kind == aritest.KindREST && r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// The employee hangs up while callmon's websocket is down: the reconnect's
// rebuild finds the employee's leg gone and ends the caller's side, who would
// otherwise sit alone in the bridge.
func TestDirectDialEmployeeLeavesDuringAGap(t *testing.T) {
	vm := &fakeVoicemail{outcome: "recorded"}
	h := newHarness(t, harnessOptions{agents: 1, voicemail: vm, employee: &employeePhone{Behaviour: aritest.Behaviour{AnswerAfter: time.Second, TalkFor: 10 * time.Second}}})
	c := h.direct("0503161234")
	h.await("employee ringing", func() bool { return h.ringing("PJSIP/2001") == 1 })
	h.clock.Advance(time.Second)
	h.await("bridged", func() bool { return h.bridgedWith(c.ID(), "PJSIP/2001") })
	h.fake.RefuseConnections(true)
	h.fake.DropConnections()
	h.eventually("callmon sees the disconnect", func() bool { return h.value("callmon_ari_connected") == 0 })
	h.clock.Advance(10 * time.Second) // the employee hangs up, unseen
	h.fake.RefuseConnections(false)
	h.await("reconnected", h.fake.Connected)
	h.await("callmon hangs up the caller", func() bool { return !h.alive(c.ID()) })
	r := h.oneRecord()
	if r.Outcome != "answered" || r.Kind != "direct" || r.WaitMS != 1000 || !r.EndUnobserved {
		t.Errorf("record = %+v, want a direct call answered after 1000 ms, its end unobserved", r)
	}
	h.await("bridge deleted", func() bool { return h.bridgesLeft() == 0 })
}
