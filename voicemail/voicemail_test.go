package voicemail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/ari/aritest"
	"callmon/voicemail"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
	"github.com/coder/websocket"
)

const user, pass = "callmon", "secret"

var start = time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)

var cfg = voicemail.Config{DefaultGreeting: []string{"sound:vm-intro"}}

// fixture is the fake Asterisk, a REST client and a tiny dispatcher: it reads /ari/events and
// forwards the events of one caller's channel, playbacks and recording to events.
type fixture struct {
	t      *testing.T
	s      *aritest.Server
	clock  *aritest.ManualClock
	rest   *native.Client
	c      *aritest.Caller
	events chan ari.Event

	mu     sync.Mutex
	keys   map[string]bool // channel id, playback ids, recording name
	stream chan ari.Event  // where dispatch sends them: events, or a later process's
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: aritest.NewManualClock(start), events: make(chan ari.Event, 256), keys: map[string]bool{}}
	f.stream = f.events
	s, err := aritest.New(aritest.Options{User: user, Password: pass, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	// Before the fake closes: its shutdown waits a second for a connection the transport dialled
	// for a request that got another one meanwhile (two dialogues make requests at once).
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	f.s = s
	f.rest = native.New(&native.Options{Application: "callmon", URL: s.URL(), Username: user, Password: pass})

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequest("GET", s.URL(), nil)
	req.SetBasicAuth(user, pass)
	ws, resp, err := websocket.Dial(ctx, s.WebsocketURL()+"?app=callmon", &websocket.DialOptions{HTTPHeader: req.Header})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	go f.dispatch(ctx, ws)
	f.await("the app to connect", s.Connected)

	f.c, err = s.Call(aritest.CallSpec{Exten: "0503161234", Args: []string{"direct", "0503161234"}, CallerNumber: "0612345678"})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.keys[f.c.ID()] = true
	f.keys[voicemail.RecordingName(f.c.ID())] = true
	for n := 1; n <= 8; n++ {
		f.keys[voicemail.PlaybackID(f.c.ID(), n)] = true
	}
	f.mu.Unlock()
	return f
}

func (f *fixture) dispatch(ctx context.Context, ws *websocket.Conn) {
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var ids struct {
			Channel   struct{ ID string }
			Playback  struct{ ID string }
			Recording struct{ Name string }
		}
		if json.Unmarshal(data, &ids) != nil {
			continue
		}
		f.mu.Lock()
		mine := f.keys[ids.Channel.ID] || f.keys[ids.Playback.ID] || f.keys[ids.Recording.Name]
		stream := f.stream
		f.mu.Unlock()
		if !mine {
			continue
		}
		if e, err := ari.DecodeEvent(data); err == nil && e != nil {
			select {
			case stream <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

type outcome struct {
	res voicemail.Result
	err error
}

// run starts Run on the caller's channel.
func (f *fixture) run(ctx context.Context, greeting []string) <-chan outcome {
	out := make(chan outcome, 1)
	events := f.events // restart replaces it
	go func() {
		res, err := voicemail.Run(ctx, f.rest, f.c.ID(), greeting, cfg, events)
		out <- outcome{res, err}
	}()
	return out
}

// restart leaves the dialogue as a killed process does: it gets no more events and does nothing
// more (its context ends with the test), Asterisk carries on; later events go to a new
// process's stream, f.events.
func (f *fixture) restart() {
	f.mu.Lock()
	f.events = make(chan ari.Event, 256)
	f.stream = f.events
	f.mu.Unlock()
}

// runDying starts Run in a process that restart will leave. It ends with the test, before the
// fake closes (a request of its in flight would hold the fake's shutdown).
func (f *fixture) runDying(greeting []string) {
	ctx, cancel := context.WithCancel(context.Background())
	out := f.run(ctx, greeting)
	f.t.Cleanup(func() {
		cancel()
		<-out
	})
}

// resume starts Resume on the caller's channel.
func (f *fixture) resume(ctx context.Context) <-chan outcome {
	out := make(chan outcome, 1)
	events := f.events
	go func() {
		res, err := voicemail.Resume(ctx, f.rest, f.c.ID(), cfg, events)
		out <- outcome{res, err}
	}()
	return out
}

func (f *fixture) result(out <-chan outcome) (voicemail.Result, error) {
	f.t.Helper()
	select {
	case o := <-out:
		return o.res, o.err
	case <-time.After(10 * time.Second):
		f.t.Fatalf("Run did not return; log: %s", f.summary())
		return voicemail.Result{}, nil
	}
}

func (f *fixture) await(what string, cond func() bool) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.s.Await(ctx, cond); err != nil {
		f.t.Fatalf("waiting for %s: %v; log: %s", what, err, f.summary())
	}
	// An event is in the log before the handler that sent it has finished (and, say, armed
	// the playback's timer); the fake's lock is the barrier: Channel takes it.
	f.s.Channel("")
}

// sent reports whether the fake has sent an event of that type whose frame contains sub.
func (f *fixture) sent(typ, sub string) bool {
	for _, r := range f.s.Log() {
		if r.Kind == aritest.KindEvent && r.Type == typ && bytes.Contains(r.Raw, []byte(sub)) {
			return true
		}
	}
	return false
}

// count is how many events of that type whose frame contains sub the fake has sent.
func (f *fixture) count(typ, sub string) int {
	n := 0
	for _, r := range f.s.Log() {
		if r.Kind == aritest.KindEvent && r.Type == typ && bytes.Contains(r.Raw, []byte(sub)) {
			n++
		}
	}
	return n
}

// requested reports whether the app made a request with that method and path prefix.
func (f *fixture) requested(method, path string) bool {
	return f.requests(method, path) > 0
}

// requests counts the app's requests with that method and path prefix.
func (f *fixture) requests(method, path string) int {
	n := 0
	for _, r := range f.s.Log() {
		if r.Kind == aritest.KindREST && r.Method == method && strings.HasPrefix(r.Path, "/ari"+path) {
			n++
		}
	}
	return n
}

func (f *fixture) summary() string {
	var b strings.Builder
	for _, r := range f.s.Log() {
		switch r.Kind {
		case aritest.KindEvent:
			b.WriteString(r.Type + " ")
		case aritest.KindREST:
			b.WriteString(r.Method + " " + r.Path + " " + http.StatusText(r.Status) + "; ")
		}
	}
	return b.String()
}

// greeting lets n greeting playbacks play to their end and waits for the recording to start.
func (f *fixture) greeting(n int) {
	f.t.Helper()
	for i := 1; i <= n; i++ {
		id := voicemail.PlaybackID(f.c.ID(), i)
		f.await("playback "+id, func() bool { return f.sent("PlaybackStarted", `"`+id+`"`) })
		f.clock.Advance(aritest.DefaultMediaDuration)
	}
	f.await("the recording", func() bool { return f.sent("RecordingStarted", f.name()) })
}

// message: after the beep the caller talks for d.
func (f *fixture) message(d time.Duration) {
	f.clock.Advance(aritest.BeepDuration)
	f.c.Speak(d)
	f.clock.Advance(d)
}

func (f *fixture) name() string { return voicemail.RecordingName(f.c.ID()) }

// finishedDuration is the duration of the RecordingFinished the fake sent.
func (f *fixture) finishedDuration() time.Duration {
	f.await("RecordingFinished in the log", func() bool { return f.sent("RecordingFinished", f.name()) })
	for _, r := range f.s.Log() {
		if r.Kind == aritest.KindEvent && r.Type == "RecordingFinished" {
			var e ari.RecordingFinished
			if err := json.Unmarshal(r.Raw, &e); err != nil {
				f.t.Fatal(err)
			}
			return time.Duration(e.Recording.Duration)
		}
	}
	f.t.Fatal("no RecordingFinished")
	return 0
}

func (f *fixture) stored() []string {
	var names []string
	for _, r := range f.s.StoredRecordings() {
		names = append(names, r.Name)
	}
	return names
}

func (f *fixture) wantRecorded(res voicemail.Result, err error, min time.Duration) {
	f.t.Helper()
	if err != nil || res.Outcome != voicemail.Recorded || res.Recording != f.name() {
		f.t.Fatalf("Run = %+v, %v; want recorded %s", res, err, f.name())
	}
	if fin := f.finishedDuration(); res.Duration < min || res.Duration != fin {
		f.t.Errorf("duration %v, RecordingFinished says %v, want at least %v", res.Duration, fin, min)
	}
	if !slices.Contains(f.stored(), f.name()) {
		f.t.Errorf("stored recordings %v lack %s", f.stored(), f.name())
	}
}

func TestRecordedEndedByHash(t *testing.T) {
	f := newFixture(t)
	out := f.run(context.Background(), []string{"sound:callmon/greeting-e1", "sound:vm-intro"})
	f.greeting(2)
	f.message(3 * time.Second)
	f.c.SendDTMF("#")
	res, err := f.result(out)
	f.wantRecorded(res, err, 3*time.Second)

	// The record request as the brief wants it.
	for _, r := range f.s.Log() {
		if r.Kind == aritest.KindREST && strings.HasSuffix(r.Path, "/record") {
			for _, want := range []string{`"format":"wav"`, `"maxDurationSeconds":180`, `"maxSilenceSeconds":5`, `"ifExists":"overwrite"`, `"beep":true`, `"terminateOn":"#"`} {
				if !bytes.Contains(r.Body, []byte(want)) {
					t.Errorf("record request %s lacks %s", r.Body, want)
				}
			}
		}
	}
	f.await("the answer in the log", func() bool { return f.requested("POST", "/channels/"+f.c.ID()+"/answer") })
}

func TestRecordedEndedBySilence(t *testing.T) {
	f := newFixture(t)
	out := f.run(context.Background(), nil)
	f.greeting(1)
	f.message(2 * time.Second)
	f.clock.Advance(6 * time.Second) // 5 s of silence end it
	res, err := f.result(out)
	f.wantRecorded(res, err, 2*time.Second)
}

func TestHangupDuringRecordingKeepsMessage(t *testing.T) {
	f := newFixture(t)
	if err := f.rest.Channel().Answer(ari.NewKey(ari.ChannelKey, f.c.ID())); err != nil {
		t.Fatal(err) // already answered: Run answers again harmlessly
	}
	out := f.run(context.Background(), nil)
	f.greeting(1)
	f.message(3 * time.Second)
	f.c.Hangup()
	res, err := f.result(out)
	f.wantRecorded(res, err, 3*time.Second)
}

func TestTooShortDiscarded(t *testing.T) {
	f := newFixture(t)
	out := f.run(context.Background(), nil)
	f.greeting(1)
	f.clock.Advance(aritest.BeepDuration + 500*time.Millisecond)
	f.c.SendDTMF("#")
	res, err := f.result(out)
	if err != nil || res.Outcome != voicemail.Discarded || res.Duration >= time.Second {
		t.Fatalf("Run = %+v, %v; want discarded", res, err)
	}
	f.await("the short recording's deletion", func() bool { return f.requested("DELETE", "/recordings/stored/"+f.name()) })
	if got := f.stored(); len(got) != 0 {
		t.Errorf("stored recordings %v, want none", got)
	}
}

func TestZeroDuringGreetingToQueue(t *testing.T) {
	f := newFixture(t)
	out := f.run(context.Background(), nil)
	id := voicemail.PlaybackID(f.c.ID(), 1)
	f.await("the greeting", func() bool { return f.sent("PlaybackStarted", id) })
	f.c.SendDTMF("0")
	res, err := f.result(out)
	if err != nil || res.Outcome != voicemail.ToQueue {
		t.Fatalf("Run = %+v, %v; want to_queue", res, err)
	}
	f.await("the greeting to stop", func() bool { return f.sent("PlaybackFinished", id) })
	if f.requested("POST", "/channels/"+f.c.ID()+"/record") {
		t.Error("recorded after 0")
	}
}

func TestRecordingFailed(t *testing.T) {
	f := newFixture(t)
	f.c.FailRecording("")
	out := f.run(context.Background(), nil)
	id := voicemail.PlaybackID(f.c.ID(), 1)
	f.await("the greeting", func() bool { return f.sent("PlaybackStarted", id) })
	f.clock.Advance(aritest.DefaultMediaDuration)
	res, err := f.result(out)
	if err == nil || res.Outcome != voicemail.Failed || res.Cause != "Failed to answer channel" {
		t.Fatalf("Run = %+v, %v; want failed with Asterisk's cause", res, err)
	}
}

func TestHangupDuringGreeting(t *testing.T) {
	f := newFixture(t)
	out := f.run(context.Background(), nil)
	f.await("the greeting", func() bool { return f.sent("PlaybackStarted", voicemail.PlaybackID(f.c.ID(), 1)) })
	f.c.Hangup()
	res, err := f.result(out)
	if err != nil || res.Outcome != voicemail.HungUp {
		t.Fatalf("Run = %+v, %v; want hung_up", res, err)
	}
	if f.requested("POST", "/channels/"+f.c.ID()+"/record") || len(f.stored()) != 0 {
		t.Errorf("something recorded: %v", f.stored())
	}
}

func TestCancelScrapsRecording(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := f.run(ctx, nil)
	f.greeting(1)
	f.message(2 * time.Second)
	cancel()
	res, err := f.result(out)
	if !errors.Is(err, context.Canceled) || res.Outcome != "" {
		t.Fatalf("Run = %+v, %v; want context.Canceled", res, err)
	}
	if got := f.stored(); len(got) != 0 {
		t.Errorf("stored recordings %v after cancel, want none", got)
	}
}

// killedWhileRecording runs the dialogue in a process that restart leaves 2 s into the message.
func (f *fixture) killedWhileRecording() {
	f.t.Helper()
	f.runDying(nil)
	f.greeting(1)
	f.message(2 * time.Second)
	// Its events may come before the fake logs the request itself.
	f.await("the record request logged", func() bool { return f.requested("POST", "/channels/"+f.c.ID()+"/record") })
	f.restart()
}

// resumeWhileRecording resumes the recording killedWhileRecording left; the caller talks a
// second more and then ends as end says.
func (f *fixture) resumeWhileRecording(end func()) (voicemail.Result, error) {
	f.t.Helper()
	f.killedWhileRecording()
	out := f.resume(context.Background())
	// The end comes after the look-up, as an event (the other order is TestResumeStoredDuringGap).
	f.await("the look-up of the live recording", func() bool { return f.requested("GET", "/recordings/live/"+f.name()) })
	f.c.Speak(time.Second)
	f.clock.Advance(time.Second)
	end()
	return f.result(out)
}

// noSecondDialogue checks the resumed dialogue did not start over.
func (f *fixture) noSecondDialogue() {
	f.t.Helper()
	if n, m := f.requests("POST", "/channels/"+f.c.ID()+"/play"), f.requests("POST", "/channels/"+f.c.ID()+"/record"); n != 1 || m != 1 {
		f.t.Errorf("%d greeting playbacks and %d recordings, want the first process's one of each; log: %s", n, m, f.summary())
	}
}

func TestResumeRecordingEndedByHash(t *testing.T) {
	f := newFixture(t)
	res, err := f.resumeWhileRecording(func() { f.c.SendDTMF("#") })
	f.wantRecorded(res, err, 3*time.Second)
	f.noSecondDialogue()
}

func TestResumeRecordingHangupKeepsMessage(t *testing.T) {
	f := newFixture(t)
	res, err := f.resumeWhileRecording(f.c.Hangup)
	f.wantRecorded(res, err, 3*time.Second)
	f.noSecondDialogue()
}

// The caller ended the message while no process was connected: the stored recording is the
// message, its length unknown (and not held against MinDuration).
func TestResumeStoredDuringGap(t *testing.T) {
	f := newFixture(t)
	f.killedWhileRecording()
	f.c.SendDTMF("#")
	f.await("the recording's end", func() bool { return f.sent("RecordingFinished", f.name()) })
	res, err := f.result(f.resume(context.Background()))
	if err != nil || res.Outcome != voicemail.Recorded || res.Recording != f.name() || res.Duration != 0 {
		t.Fatalf("Resume = %+v, %v; want recorded %s of unknown duration", res, err, f.name())
	}
	if !slices.Contains(f.stored(), f.name()) {
		t.Errorf("stored recordings %v lack %s", f.stored(), f.name())
	}
	f.noSecondDialogue()
}

// Killed during the greeting: the greeting still playing is stopped before Run plays it again.
func TestResumeNothingStopsGreeting(t *testing.T) {
	f := newFixture(t)
	f.runDying([]string{"sound:callmon/greeting-e1", "sound:vm-intro"})
	vm1, vm2 := voicemail.PlaybackID(f.c.ID(), 1), voicemail.PlaybackID(f.c.ID(), 2)
	f.await("the greeting", func() bool { return f.sent("PlaybackStarted", `"`+vm1+`"`) })
	f.restart()

	res, err := f.result(f.resume(context.Background()))
	if !errors.Is(err, voicemail.ErrNothingToResume) || res.Outcome != "" {
		t.Fatalf("Resume = %+v, %v; want ErrNothingToResume", res, err)
	}
	if !f.requested("DELETE", "/playbacks/"+vm1) || f.count("PlaybackFinished", `"`+vm1+`"`) != 1 {
		t.Fatalf("the old greeting was not stopped; log: %s", f.summary())
	}
	if f.requested("POST", "/channels/"+f.c.ID()+"/record") {
		t.Fatal("Resume recorded")
	}

	out := f.run(context.Background(), []string{"sound:callmon/greeting-e1", "sound:vm-intro"})
	f.await("the greeting again", func() bool { return f.count("PlaybackStarted", `"`+vm1+`"`) == 2 })
	f.clock.Advance(aritest.DefaultMediaDuration)
	f.await("its second part", func() bool { return f.sent("PlaybackStarted", `"`+vm2+`"`) })
	f.clock.Advance(aritest.DefaultMediaDuration)
	f.await("the recording", func() bool { return f.sent("RecordingStarted", f.name()) })
	f.message(2 * time.Second)
	f.c.SendDTMF("#")
	res, err = f.result(out)
	f.wantRecorded(res, err, 2*time.Second)
	// Run went on to the second part when its own first one ended, not the stopped one.
	finished := 0
	for _, r := range f.s.Log() {
		switch {
		case r.Kind == aritest.KindEvent && r.Type == "PlaybackFinished" && bytes.Contains(r.Raw, []byte(`"`+vm1+`"`)):
			finished++
		case r.Kind == aritest.KindREST && r.Method == "POST" && strings.HasSuffix(r.Path, "/play/"+vm2) && finished < 2:
			t.Errorf("the second part played after %d ends of the first; log: %s", finished, f.summary())
		}
	}
}
