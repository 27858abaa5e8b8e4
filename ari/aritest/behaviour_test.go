package aritest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"

	"github.com/coder/websocket"
)

// fixture is a fake on a manual clock with the app connected.
type fixture struct {
	s     *aritest.Server
	clock *aritest.ManualClock
	ec    *eventsClient
}

func newFixture(t *testing.T, opt aritest.Options) *fixture {
	t.Helper()
	clock := aritest.NewManualClock(epoch)
	opt.Clock = clock
	s := newServer(t, opt)
	s.AddLabEndpoints()
	return &fixture{s: s, clock: clock, ec: mustDialEvents(t, s)}
}

var queueCall = aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerName: "PSTN Caller", CallerNumber: "0612345678"}

func (f *fixture) call(t *testing.T) *aritest.Caller {
	t.Helper()
	c, err := f.s.Call(queueCall)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rest sends a request and checks its status.
func (f *fixture) rest(t *testing.T, want int, method, path, body string) []byte {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	status, resp := restCall(t, f.s, method, path, b)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d (%s)", method, path, status, want, resp)
	}
	return resp
}

// sentOn lists the types of the frames written on websocket conn.
func sentOn(s *aritest.Server, conn int) []string {
	var out []string
	for _, r := range s.Log() {
		if r.Kind == aritest.KindEvent && r.Conn == conn {
			out = append(out, r.Type)
		}
	}
	return out
}

func frameTypes(frames [][]byte) []string {
	var out []string
	for _, f := range frames {
		var head struct{ Type string }
		if json.Unmarshal(f, &head) != nil {
			head.Type = "(not JSON)"
		}
		out = append(out, head.Type)
	}
	return out
}

// answerOrder reports whether the answer's ChannelStateChange was written before its response.
func answerOrder(t *testing.T, s *aritest.Server) (eventFirst bool) {
	t.Helper()
	log := s.Log()
	seq, restAt, eventAt := 0, -1, -1
	for i, r := range log {
		if r.Kind == aritest.KindREST && strings.HasSuffix(r.Path, "/answer") {
			seq, restAt = r.Seq, i
		}
	}
	for i, r := range log {
		if r.Kind == aritest.KindEvent && r.Type == "ChannelStateChange" && r.Request == seq {
			eventAt = i
		}
	}
	if restAt < 0 || eventAt < 0 {
		t.Fatalf("no answer and its event in the log")
	}
	return eventAt < restAt
}

func TestOrderOfResponseAndEvents(t *testing.T) {
	for _, tc := range []struct {
		order      aritest.Order
		eventFirst bool
	}{
		{aritest.OrderEventsFirst, true},
		{aritest.OrderResponseFirst, false},
	} {
		f := newFixture(t, aritest.Options{Order: tc.order})
		c := f.call(t)
		f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "")
		waitFor(t, f.s, "events written", drained(f.s))
		if got := answerOrder(t, f.s); got != tc.eventFirst {
			t.Errorf("order %d: event before response = %v, want %v", tc.order, got, tc.eventFirst)
		}
	}
}

func TestRandomOrderIsSeededAndGivesBoth(t *testing.T) {
	orders := func(seed int64) []bool {
		f := newFixture(t, aritest.Options{Seed: seed})
		var out []bool
		for range 16 {
			c := f.call(t)
			f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "")
			waitFor(t, f.s, "events written", drained(f.s))
			out = append(out, answerOrder(t, f.s))
			f.rest(t, 204, "DELETE", "/channels/"+c.ID()+"?reason=normal", "")
		}
		return out
	}
	a, b := orders(7), orders(7)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different orders: %v vs %v", a, b)
	}
	if !slices.Contains(a, true) || !slices.Contains(a, false) {
		t.Fatalf("16 requests all in one order: %v", a)
	}
}

func TestApplicationReplaced(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	first := f.ec
	second, err := dialEvents(t, f.s, "app=callmon")
	if err != nil {
		t.Fatal(err)
	}
	first.awaitCount(t, 1)
	want := `{"type":"ApplicationReplaced","application":"callmon","asterisk_id":"02:fc:00:00:00:01"}`
	if got := string(first.frames()[0]); got != want {
		t.Fatalf("replaced socket got %s, want %s", got, want)
	}

	f.call(t)
	second.awaitCount(t, 1)
	waitFor(t, f.s, "events written", drained(f.s))
	if got := sentOn(f.s, 1); !slices.Equal(got, []string{"ApplicationReplaced"}) {
		t.Fatalf("replaced socket was sent %v after ApplicationReplaced", got)
	}
	if err := first.readErr(); err != nil {
		t.Fatalf("replaced socket was closed (%v); Asterisk keeps it open", err)
	}
	if !f.s.Connected() {
		t.Fatal("Connected() = false with the new socket live")
	}

	// Another process takes the app: our socket goes deaf, calls still enter Stasis (there).
	f.s.ReplaceApp()
	second.awaitCount(t, 2)
	if f.s.Connected() {
		t.Fatal("Connected() = true after ReplaceApp")
	}
	lost := f.s.Stats().EventsLost
	if _, err := f.s.Call(queueCall); err != nil {
		t.Fatalf("Call after ReplaceApp: %v (the app is active in the other process)", err)
	}
	if f.s.Stats().EventsLost <= lost {
		t.Fatal("the StasisStart of a call taken by the other process was not counted as lost")
	}
	if got := frameTypes(second.frames()); !slices.Equal(got, []string{"StasisStart", "ApplicationReplaced"}) {
		t.Fatalf("second socket got %v", got)
	}
}

func TestDropConnectionsLosesTheGap(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	c := f.call(t)
	f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "")
	f.rest(t, 200, "POST", "/bridges/hold", `{"bridgeId":"hold","type":"holding","name":"hold"}`)
	f.rest(t, 204, "POST", "/bridges/hold/addChannel", `{"channel":"`+c.ID()+`"}`)
	f.ec.awaitCount(t, 3)

	f.s.DropConnections()
	<-f.ec.done
	if status := websocket.CloseStatus(f.ec.readErr()); status != -1 {
		t.Fatalf("dropped socket ended with close status %d, want none (abnormal)", status)
	}
	waitFor(t, f.s, "the app to be gone", func() bool { return !f.s.Connected() })

	lost := f.s.Stats().EventsLost
	f.clock.Advance(2 * time.Second)
	c.Hangup() // during the gap: nobody hears it
	if f.s.Stats().EventsLost <= lost {
		t.Fatal("hang-up events during the gap were not counted as lost")
	}

	ec := mustDialEvents(t, f.s)
	if got := string(f.rest(t, 200, "GET", "/channels", "")); got != "[]" {
		t.Fatalf("GET /channels after the gap = %s, want []", got)
	}
	var bridges []struct {
		ID       string
		Channels []string
	}
	json.Unmarshal(f.rest(t, 200, "GET", "/bridges", ""), &bridges)
	if len(bridges) != 1 || len(bridges[0].Channels) != 0 {
		t.Fatalf("GET /bridges after the gap = %+v, want hold with no channels", bridges)
	}
	var app struct {
		BridgeIDs []string `json:"bridge_ids"`
	}
	json.Unmarshal(f.rest(t, 200, "GET", "/applications/callmon", ""), &app)
	if !slices.Equal(app.BridgeIDs, []string{"hold"}) {
		t.Fatalf("bridge_ids = %v: the app stays subscribed to a bridge whose channel hung up", app.BridgeIDs)
	}
	f.rest(t, 204, "DELETE", "/bridges/hold", "")
	ec.awaitCount(t, 1)
	if got := frameTypes(ec.frames()); !slices.Equal(got, []string{"BridgeDestroyed"}) {
		t.Fatalf("after reconnect the app got %v, want only BridgeDestroyed (nothing replayed)", got)
	}
}

func TestCallWithoutAppFails(t *testing.T) {
	s := newServer(t, aritest.Options{Clock: aritest.NewManualClock(epoch)})
	if _, err := s.Call(queueCall); !errors.Is(err, aritest.ErrAppNotActive) {
		t.Fatalf("Call without app: %v, want ErrAppNotActive", err)
	}
	if st := s.Stats(); st.Rejected != 1 || st.Calls != 0 || len(s.Channels()) != 0 {
		t.Fatalf("after a rejected call: %+v, channels %v", st, s.Channels())
	}
}

func TestHoldAndReleaseKeepOrder(t *testing.T) {
	f := newFixture(t, aritest.Options{Order: aritest.OrderEventsFirst})
	f.s.HoldEvents()
	c := f.call(t)
	f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "") // must not wait for held events
	c.SendDTMF("12")
	if n := f.s.Stats().Pending; n != 4 {
		t.Fatalf("Pending = %d while held, want 4", n)
	}
	if n := len(f.ec.frames()); n != 0 {
		t.Fatalf("%d frames arrived while held", n)
	}
	f.s.ReleaseEvents()
	f.ec.awaitCount(t, 4)
	want := []string{"StasisStart", "ChannelStateChange", "ChannelDtmfReceived", "ChannelDtmfReceived"}
	if got := frameTypes(f.ec.frames()); !slices.Equal(got, want) {
		t.Fatalf("after release got %v, want %v", got, want)
	}
}

func TestSendRawInOrder(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	c := f.call(t)
	transfer := []byte(`{"type":"ChannelTransfer","timestamp":"2026-11-23T19:34:22.000+0000","application":"callmon"}`)
	broken := []byte(`{"type":"StasisStart",`)
	f.s.SendRaw(transfer)
	f.s.SendRaw(broken)
	c.SendDTMF("5")
	f.ec.awaitCount(t, 4)
	frames := f.ec.frames()
	if string(frames[1]) != string(transfer) || string(frames[2]) != string(broken) {
		t.Fatalf("raw frames not delivered byte for byte in order: %q", frames)
	}
	if got := frameTypes(frames); got[0] != "StasisStart" || got[3] != "ChannelDtmfReceived" {
		t.Fatalf("frames %v", got)
	}
	if f.s.Stats().RawSent != 2 {
		t.Fatalf("RawSent = %d", f.s.Stats().RawSent)
	}
}

func TestAuthentication(t *testing.T) {
	s := newServer(t, aritest.Options{Clock: aritest.NewManualClock(epoch)})
	for _, tc := range []struct{ user, pass string }{{"", ""}, {testUser, "wrong"}} {
		req, _ := http.NewRequest("GET", s.URL()+"/channels", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("REST as %q/%q: %d %v, want 401 with a challenge", tc.user, tc.pass, resp.StatusCode, resp.Header)
		}
	}

	_, resp, err := websocket.Dial(context.Background(), s.WebsocketURL()+"?app=callmon", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("websocket without credentials: err %v, resp %v; want 401", err, resp)
	}
	// Asterisk also takes the credentials as api_key.
	if _, _, err := websocket.Dial(context.Background(), s.WebsocketURL()+"?app=callmon&api_key="+testUser+":wrong", nil); err == nil {
		t.Fatal("websocket with a wrong api_key was accepted")
	}
	ec, _, err := websocket.Dial(context.Background(), s.WebsocketURL()+"?app=callmon&api_key="+testUser+":"+testPass, nil)
	if err != nil {
		t.Fatalf("websocket with api_key: %v", err)
	}
	ec.CloseNow()
	if s.Stats().Refused != 2 {
		t.Fatalf("Refused = %d, want 2", s.Stats().Refused)
	}
}

func TestRefuseConnections(t *testing.T) {
	s := newServer(t, aritest.Options{Clock: aritest.NewManualClock(epoch)})
	s.RefuseConnections(true)
	if _, err := dialEvents(t, s, "app=callmon"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("upgrade while refusing: %v, want a 503", err)
	}
	s.RefuseConnections(false)
	mustDialEvents(t, s)
}

func TestPlayback(t *testing.T) {
	f := newFixture(t, aritest.Options{Media: map[string]time.Duration{"sound:beep": 440 * time.Millisecond}})
	c := f.call(t)
	resp := f.rest(t, 201, "POST", "/channels/"+c.ID()+"/play/pb1", `{"media":"sound:beep"}`)
	want := fmt.Sprintf(`{"id":"pb1","media_uri":"sound:beep","target_uri":"channel:%s","language":"en","state":"queued"}`, c.ID())
	if string(resp) != want {
		t.Fatalf("play response %s, want %s", resp, want)
	}
	f.rest(t, 201, "POST", "/channels/"+c.ID()+"/play/pb2", `{"media":"sound:vm-intro"}`) // queued behind pb1
	f.ec.awaitCount(t, 2)

	f.clock.Advance(440 * time.Millisecond) // pb1 done, pb2 starts
	f.ec.awaitCount(t, 4)
	c.Hangup() // stops pb2
	wantTypes := []string{"StasisStart", "PlaybackStarted", "PlaybackFinished", "PlaybackStarted",
		"ChannelHangupRequest", "PlaybackFinished", "StasisEnd"}
	f.ec.awaitCount(t, len(wantTypes))
	got := frameTypes(f.ec.frames())
	if !slices.Equal(got, wantTypes) {
		t.Fatalf("events %v, want %v", got, wantTypes)
	}
	f.rest(t, 404, "DELETE", "/playbacks/pb2", "")
}

func TestPJSIPAgentWithEndpointSubscription(t *testing.T) {
	f := newFixture(t, aritest.Options{Order: aritest.OrderResponseFirst})
	f.s.AddEndpoint("PJSIP/1001", "online", aritest.Behaviour{AnswerAfter: 2 * time.Second, TalkFor: 5 * time.Second})
	f.s.AddEndpoint("PJSIP/1002", "offline", aritest.Behaviour{})
	f.call(t)
	f.rest(t, 200, "POST", "/applications/callmon/subscription", `{"eventSource":"endpoint:PJSIP/1001"}`)
	f.rest(t, 500, "POST", "/channels", `{"endpoint":"PJSIP/1002","app":"callmon","appArgs":"agent","channelId":"a2"}`)
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"PJSIP/1001","timeout":15,"app":"callmon","appArgs":"agent","channelId":"a1"}`)
	f.clock.Advance(2 * time.Second)
	f.clock.Advance(5 * time.Second)
	waitFor(t, f.s, "events written", drained(f.s))

	// Channel events of a1 come twice (its subscription and its endpoint's), Stasis once.
	want := []string{"StasisStart",
		"EndpointStateChange", "ChannelCreated", "Dial", "Dial", "ChannelStateChange", "ChannelStateChange", "Dial", "Dial",
		"ChannelStateChange", "ChannelStateChange", "Dial", "Dial", "ChannelVarset", "ChannelVarset", "StasisStart",
		"ChannelVarset", "ChannelVarset", "ChannelVarset", "ChannelVarset", "ChannelVarset", "ChannelVarset", "ChannelVarset", "ChannelVarset", "ChannelVarset", "ChannelVarset",
		"ChannelHangupRequest", "ChannelHangupRequest", "StasisEnd", "ChannelVarset", "ChannelVarset",
		"ChannelDestroyed", "ChannelDestroyed", "EndpointStateChange"}
	if got := eventTypes(f.s.Log()); !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	var destroyed struct {
		Cause    int    `json:"cause"`
		CauseTxt string `json:"cause_txt"`
		Channel  struct{ Name string }
	}
	log := f.s.Log()
	for _, r := range log {
		if r.Type == "ChannelDestroyed" {
			json.Unmarshal(r.Raw, &destroyed)
		}
	}
	if destroyed.Cause != 16 || !strings.HasPrefix(destroyed.Channel.Name, "PJSIP/1001-") {
		t.Fatalf("ChannelDestroyed %+v", destroyed)
	}

	f.s.SetEndpointState("PJSIP/1001", "offline")
	f.ec.awaitCount(t, len(want)+1)
	if got := frameTypes(f.ec.frames()); got[len(got)-1] != "EndpointStateChange" {
		t.Fatalf("SetEndpointState sent %v", got[len(got)-1])
	}
}

func TestAgentNoAnswerThenTimeout(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	f.rest(t, 200, "POST", "/channels/x1", `{"endpoint":"Local/agent-noanswer@agents","timeout":5,"app":"callmon","appArgs":"agent"}`)
	f.clock.Advance(4999 * time.Millisecond)
	if info, _ := f.s.Channel("x1"); !info.Alive || info.State != "Ringing" {
		t.Fatalf("before the timeout: %+v", info)
	}
	f.clock.Advance(time.Millisecond)
	if info, _ := f.s.Channel("x1"); info.Alive {
		t.Fatalf("after the timeout: %+v", info)
	}
	waitFor(t, f.s, "events written", drained(f.s))
	for _, r := range f.s.Log() {
		if r.Type == "StasisStart" || strings.Contains(string(r.Raw), "NOANSWER") {
			t.Fatalf("a timed-out originate sent %s", r.Raw)
		}
	}
}

// TestNumberThroughTrunk: PJSIP/<number>@<trunk> reaches the phone added under that name; its
// channel is named after the trunk; the number is no ARI endpoint; a number not added cannot be
// dialled; an unallocated number ends at once with cause 1.
func TestNumberThroughTrunk(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	f.s.AddEndpoint("PJSIP/+31612345678@pstn", "online", aritest.Behaviour{AnswerAfter: time.Second})
	f.s.AddEndpoint("PJSIP/+31687654321@pstn", "online", aritest.Behaviour{Unallocated: true})
	if eps := string(f.rest(t, 200, "GET", "/endpoints", "")); strings.Contains(eps, "+316") {
		t.Errorf("GET /endpoints lists a number: %s", eps)
	}
	f.rest(t, 404, "GET", "/endpoints/PJSIP/+31612345678@pstn", "")
	f.rest(t, 500, "POST", "/channels", `{"endpoint":"PJSIP/+31600000000@pstn","app":"callmon","channelId":"n0"}`)
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"PJSIP/+31612345678@pstn","timeout":30,"app":"callmon","appArgs":"callback","channelId":"n1"}`)
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"PJSIP/+31687654321@pstn","timeout":30,"app":"callmon","channelId":"n2"}`)
	if info, _ := f.s.Channel("n1"); !info.Alive || info.State != "Ringing" || !strings.HasPrefix(info.Name, "PJSIP/pstn-") ||
		info.Endpoint != "PJSIP/+31612345678@pstn" {
		t.Fatalf("n1 = %+v", info)
	}
	f.clock.Advance(time.Second)
	if info, _ := f.s.Channel("n1"); !info.InStasis || info.State != "Up" {
		t.Fatalf("n1 after answering = %+v", info)
	}
	waitFor(t, f.s, "events written", drained(f.s))
	var destroyed struct {
		Cause    int    `json:"cause"`
		CauseTxt string `json:"cause_txt"`
		Channel  struct{ ID string }
	}
	for _, r := range f.s.Log() {
		if r.Type == "ChannelDestroyed" {
			json.Unmarshal(r.Raw, &destroyed)
		}
		if r.Type == "Dial" && strings.Contains(string(r.Raw), `"n2"`) && !strings.Contains(string(r.Raw), `"dialstatus":""`) {
			t.Errorf("an unallocated number sent a final Dial: %s", r.Raw)
		}
	}
	if destroyed.Channel.ID != "n2" || destroyed.Cause != 1 || destroyed.CauseTxt != "Unallocated (unassigned) number" {
		t.Fatalf("ChannelDestroyed %+v", destroyed)
	}
}

func TestEventShape(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	c := f.call(t)
	f.rest(t, 204, "DELETE", "/channels/"+c.ID()+"?reason=normal", "")
	f.ec.awaitCount(t, 3)
	hangup := string(f.ec.frames()[1])
	want := `{"cause":32,"soft":true,"type":"ChannelHangupRequest","timestamp":"2026-11-23T19:34:22.000+0000","channel":{"id":"` + c.ID() +
		`","name":"Local/0503164911@from-pstn-00000000;2","state":"Ring","protocol_id":"","caller":{"name":"PSTN Caller","number":"0612345678"},` +
		`"connected":{"name":"PSTN Caller","number":"0612345678"},"accountcode":"","dialplan":{"context":"from-pstn","exten":"0503164911","priority":2,` +
		`"app_name":"Stasis","app_data":"callmon,queue,general"},"creationtime":"2026-11-23T19:34:22.000+0000","language":"en"},` +
		`"asterisk_id":"02:fc:00:00:00:01","application":"callmon"}`
	if hangup != want {
		t.Fatalf("got  %s\nwant %s", hangup, want)
	}
	if c.ID() != "1795462462.1" {
		t.Fatalf("caller id %s, want the clock's epoch seconds and the counter", c.ID())
	}
}
