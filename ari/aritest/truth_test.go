package aritest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
)

// readTruth decodes the JSON lines of a truth.
func readTruth(t *testing.T, b []byte) []aritest.TruthRecord {
	t.Helper()
	var out []aritest.TruthRecord
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r aritest.TruthRecord
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("truth line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// frameStamp is the timestamp of the first frame of type typ about channel id, as the app got it.
func frameStamp(t *testing.T, frames [][]byte, typ, id string, match func(map[string]any) bool) string {
	t.Helper()
	for _, f := range frames {
		var ev map[string]any
		if err := json.Unmarshal(f, &ev); err != nil {
			t.Fatal(err)
		}
		ch, _ := ev["channel"].(map[string]any)
		if ev["type"] == typ && ch != nil && ch["id"] == id && (match == nil || match(ev)) {
			return ev["timestamp"].(string)
		}
	}
	t.Fatalf("no %s for %s among %d frames", typ, id, len(frames))
	return ""
}

// answeredCall runs queue-answered as the app would: hold, ring an agent that answers, bridge,
// the agent hangs up, and after a while the app hangs up the caller.
func answeredCall(t *testing.T, f *fixture, agent string, advance func(time.Duration)) *aritest.Caller {
	t.Helper()
	c := f.call(t)
	f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "")
	f.rest(t, 200, "POST", "/bridges/hold", `{"bridgeId":"hold","type":"holding"}`)
	f.rest(t, 204, "POST", "/bridges/hold/addChannel", `{"channel":"`+c.ID()+`"}`)
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"`+agent+`","timeout":15,"app":"callmon","appArgs":"agent","channelId":"a1"}`)
	advance(0)
	waitFor(t, f.s, "the agent in Stasis", func() bool { ch, _ := f.s.Channel("a1"); return ch.InStasis })
	f.rest(t, 200, "POST", "/bridges/mix", `{"bridgeId":"mix","type":"mixing"}`)
	f.rest(t, 204, "POST", "/bridges/hold/removeChannel", `{"channel":"`+c.ID()+`"}`)
	f.rest(t, 204, "DELETE", "/bridges/hold", "")
	f.rest(t, 204, "POST", "/bridges/mix/addChannel", `{"channel":"`+c.ID()+`"}`)
	f.rest(t, 204, "POST", "/bridges/mix/addChannel", `{"channel":"a1"}`)
	advance(1)
	waitFor(t, f.s, "the agent to hang up", func() bool { ch, _ := f.s.Channel("a1"); return !ch.Alive })
	advance(2)
	f.rest(t, 204, "DELETE", "/channels/"+c.ID()+"?reason=normal", "")
	f.rest(t, 204, "DELETE", "/bridges/mix", "")
	return c
}

func TestTruthAnsweredCall(t *testing.T) {
	f := newFixture(t, aritest.Options{Order: aritest.OrderEventsFirst})
	var buf bytes.Buffer
	stop := f.s.RecordTruth(&buf)
	// Odd steps, so that entry, answer, the agent leaving and the hang-up all differ.
	steps := []time.Duration{3*time.Second + 17*time.Millisecond, 4*time.Second + 533*time.Millisecond, 2*time.Second + 250*time.Millisecond}
	c := answeredCall(t, f, "Local/agent-answer3@agents", func(i time.Duration) { f.clock.Advance(steps[i]) })
	waitFor(t, f.s, "every event written", drained(f.s))
	f.ec.awaitCount(t, f.s.Stats().EventsSent) // and read by the app
	sum, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	recs := readTruth(t, buf.Bytes())
	if len(recs) != 2 {
		t.Fatalf("truth has %d lines, want the caller and the agent's originate count:\n%s", len(recs), buf.Bytes())
	}
	r := recs[0]
	frames := f.ec.frames()
	want := aritest.TruthRecord{
		Kind: aritest.TruthCaller, Channel: c.ID(), Exten: "0503164911", Args: []string{"queue", "general"},
		CallerNumber: "0612345678", Stasis: true, StasisStatus: "SUCCESS",
		At:       frameStamp(t, frames, "StasisStart", c.ID(), nil),
		Answered: frameStamp(t, frames, "ChannelStateChange", "a1", func(ev map[string]any) bool { return ev["channel"].(map[string]any)["state"] == "Up" }),
		Bridged:  "2026-11-23T19:34:25.017+0000", Agent: "Local/agent-answer3@agents", AgentChannel: "a1", Agents: 1,
		// The agent talks 4 s after the 500 ms Answer() of a Local channel: 4.5 s after answering.
		AgentLeft: "2026-11-23T19:34:29.500+0000",
		Hangup:    frameStamp(t, frames, "ChannelHangupRequest", c.ID(), nil), HangupBy: "app", EndedBy: "agent",
		AloneMaxMS: 2300, // 29.500 to 31.800
	}
	if got, _ := json.Marshal(r); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("caller line\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	// The agent answers 3 s after the originate, before the clock reaches 3.017 s.
	if want.At != "2026-11-23T19:34:22.000+0000" || want.Answered != "2026-11-23T19:34:25.000+0000" || want.Hangup != "2026-11-23T19:34:31.800+0000" {
		t.Errorf("the app got StasisStart %s and the agent's Up %s; the scenario is off", want.At, want.Answered)
	}
	if o := recs[1]; o.Kind != aritest.TruthOriginated || o.Endpoint != "Local/agent-answer3@agents" || o.Count != 1 || o.Outbound {
		t.Errorf("originate line = %+v", o)
	}
	if sum.Callers != 1 || sum.Answered != 1 || sum.Stranded != 1 || sum.Open != 0 {
		t.Errorf("summary = %+v", sum)
	}
}

// With the wall clock every event gets its own time: the truth must still hold exactly the
// timestamps the app got, not a moment read next to them.
func TestTruthTimestampsAreTheEvents(t *testing.T) {
	s := newServer(t, aritest.Options{})
	s.AddEndpoint("PJSIP/1001", "online", aritest.Behaviour{AnswerAfter: 7 * time.Millisecond, TalkFor: 100 * time.Millisecond})
	f := &fixture{s: s, ec: mustDialEvents(t, s)}
	var buf bytes.Buffer
	stop := s.RecordTruth(&buf)
	var callers []string
	for range 20 {
		callers = append(callers, answeredCall(t, f, "PJSIP/1001", func(time.Duration) {}).ID())
		waitFor(t, s, "the mixing bridge to go", func() bool { return len(s.Bridges()) == 0 })
	}
	waitFor(t, s, "every event written", drained(s))
	f.ec.awaitCount(t, s.Stats().EventsSent) // and read by the app
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	recs := readTruth(t, buf.Bytes())
	frames := f.ec.frames()
	for i, id := range callers {
		r := recs[i]
		if r.Channel != id {
			t.Fatalf("line %d is %s, want %s", i, r.Channel, id)
		}
		if want := frameStamp(t, frames, "StasisStart", id, nil); r.At != want {
			t.Errorf("%s: at %s, StasisStart said %s", id, r.At, want)
		}
		if want := frameStamp(t, frames, "ChannelHangupRequest", id, nil); r.Hangup != want {
			t.Errorf("%s: hangup %s, ChannelHangupRequest said %s", id, r.Hangup, want)
		}
		if r.Answered == "" || r.Agent != "PJSIP/1001" {
			t.Errorf("%s: not answered by PJSIP/1001: %+v", id, r)
		}
	}
	// Each call's agent channel was "a1": its Up timestamps in order, one per call.
	var ups []string
	for _, fr := range frames {
		var ev struct {
			Type, Timestamp string
			Channel         struct{ ID, State string }
		}
		_ = json.Unmarshal(fr, &ev)
		if ev.Type == "ChannelStateChange" && ev.Channel.ID == "a1" && ev.Channel.State == "Up" {
			ups = append(ups, ev.Timestamp)
		}
	}
	if len(ups) != len(callers) {
		t.Fatalf("%d agent Up events for %d calls", len(ups), len(callers))
	}
	for i := range callers {
		if recs[i].Answered != ups[i] {
			t.Errorf("call %d: answered %s, the agent's Up said %s", i, recs[i].Answered, ups[i])
		}
	}
}

func TestTruthRefusedAbandonedContinuedOpen(t *testing.T) {
	clock := aritest.NewManualClock(epoch)
	s := newServer(t, aritest.Options{Clock: clock})
	s.AddEndpoint("PJSIP/+31612345678@pstn", "online", aritest.Behaviour{NoAnswer: true})
	var buf bytes.Buffer
	stop := s.RecordTruth(&buf)

	// Nobody serves the app yet: Stasis() fails.
	if _, err := s.Call(aritest.CallSpec{Exten: "0503161234", Args: []string{"direct", "0503161234"}, CallerNumber: "0611111111"}); err != aritest.ErrAppNotActive {
		t.Fatalf("call without the app: %v", err)
	}
	f := &fixture{s: s, clock: clock, ec: mustDialEvents(t, s)}
	abandoned := f.call(t)
	clock.Advance(1500 * time.Millisecond)
	abandoned.Hangup()

	continued := f.call(t)
	clock.Advance(time.Second)
	f.rest(t, 204, "POST", "/channels/"+continued.ID()+"/continue", `{"context":"callmon-fallback","extension":"s","priority":1}`)
	open := f.call(t)
	for _, id := range []string{"n1", "n2"} {
		f.rest(t, 200, "POST", "/channels", `{"endpoint":"PJSIP/+31612345678@pstn","timeout":30,"app":"callmon","channelId":"`+id+`"}`)
		f.rest(t, 204, "DELETE", "/channels/"+id, "")
	}
	clock.Advance(time.Second)
	sum, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // after stop: nothing more is written
	recs := readTruth(t, buf.Bytes())
	kinds := func() (out []string) {
		for _, r := range recs {
			out = append(out, r.Kind+" "+r.Channel+r.Endpoint)
		}
		return out
	}()
	want := []string{"refused ", "caller " + abandoned.ID(), "caller " + continued.ID(), "caller " + open.ID(), "originated PJSIP/+31612345678@pstn"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Fatalf("truth lines %q, want %q:\n%s", kinds, want, buf.Bytes())
	}
	if r := recs[0]; r.Stasis || r.StasisStatus != "FAILED" || r.CallerNumber != "0611111111" || r.Args[0] != "direct" || r.At != "2026-11-23T19:34:22.000+0000" {
		t.Errorf("refused line = %+v", r)
	}
	if r := recs[1]; r.Hangup != "2026-11-23T19:34:23.500+0000" || r.HangupBy != "caller" || r.EndedBy != "caller" || r.Answered != "" || r.Open {
		t.Errorf("abandoned line = %+v", r)
	}
	if r := recs[2]; r.Continued == nil || *r.Continued != (aritest.TruthContinue{Context: "callmon-fallback", Exten: "s", Priority: 1, At: "2026-11-23T19:34:24.500+0000"}) || !r.Open || r.Hangup != "" {
		t.Errorf("continued line = %+v (continued %+v)", r, r.Continued)
	}
	if r := recs[3]; !r.Open || r.Hangup != "" || r.At != "2026-11-23T19:34:24.500+0000" {
		t.Errorf("open line = %+v", r)
	}
	if r := recs[4]; r.Count != 2 || !r.Outbound || r.At != "2026-11-23T19:34:24.500+0000" || r.Last != r.At {
		t.Errorf("originated line = %+v", r)
	}
	if sum != (aritest.TruthSummary{Callers: 3, Refused: 1, Unanswered: 1, Continued: 1, Open: 2, MaxOriginated: 2}) {
		t.Errorf("summary = %+v", sum)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
