package ari_test

// Replays of real Asterisk conversations through callmon.
//
// aritest/testdata holds conversations a lab recorder had with a real
// Asterisk 22.10 while playing callmon's part (../shared/ari-traces/README.md).
// Here callmon itself plays that part: a small replay server sends it the
// recorded event frames over a real websocket, byte for byte except for ids,
// and answers its REST requests with the recorded responses. The test then
// checks that callmon measured what the trace says happened.
//
// Ids. Callmon chooses the ids of what it creates (cm-<caller>-a<N> for the
// N-th agent channel of a call, cm-<caller>-hold, cm-<caller>-mix); the
// recorder chose others (q1-agent1, q1-hold, ...). Those are rewritten to
// callmon's in every frame, recorded request and response. Asterisk's own ids
// (the caller's channel, 1795462462.1) are kept.
//
// Pacing. An event that reached the recorder after it had sent request R may
// have been caused by R, so it is sent only after callmon has made the same
// request (same method and rewritten path, counted: the 2nd DELETE of a
// bridge waits for callmon's 2nd). Events that arrived while R was in flight
// are sent before R's response, as Asterisk did. Requests callmon is not
// expected to make are left out of the pacing: the recorder's subscription to
// the caller's channel, and per case the requests the recorder made on behalf
// of the outside world (external).
//
// Answers. Callmon's n-th request with a given method and path gets the
// recorder's n-th answer to it. A request the recorder never made gets what
// Asterisk would plausibly have answered: 2xx, or 404/400 for a bridge or
// channel that no longer exists (callmon must shrug those off).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"callmon/ari"
	"callmon/metrics"
)

type replayCase struct {
	trace       string
	strategy    string        // default longest-idle
	ringTimeout time.Duration // the queue's ring timeout; default 15 s
	// external are requests (in callmon's ids) the recorder made as the
	// outside world rather than as the app; callmon does not make them.
	external []string
	outcome  metrics.Outcome
	// waitMs is callmon's measure as read off the trace by hand: entry (the
	// caller's StasisStart) to the answering agent's ChannelStateChange Up,
	// or to the caller's hang-up. The test also derives it from the frames.
	waitMs     int64
	originates []string // agent channels callmon rings, in order
	hangups    []string // channels callmon hangs up (DELETE /channels), in order
	requests   []string // key requests, in this order (others may come between)
}

// Placeholders in replayCase: {caller} the caller's channel id, {aN}
// callmon's N-th agent channel, {hold} and {mix} its bridges.
var (
	waitInHold = []string{
		"POST /ari/channels/{caller}/answer",
		"POST /ari/bridges/{hold} holding",
		"POST /ari/bridges/{hold}/addChannel {caller}",
		"POST /ari/bridges/{hold}/moh",
	}
	hangUpCaller = "DELETE /ari/channels/{caller}?reason=normal"
	deleteMix    = "DELETE /ari/bridges/{mix}"
)

// connect is what callmon does when agent answers: mixing bridge, caller
// out of the holding bridge, both into the mixing bridge.
func connect(agent string) []string {
	return []string{
		"POST /ari/bridges/{mix} mixing",
		"DELETE /ari/bridges/{hold}/moh",
		"POST /ari/bridges/{hold}/removeChannel {caller}",
		"DELETE /ari/bridges/{hold}",
		"POST /ari/bridges/{mix}/addChannel {caller}",
		"POST /ari/bridges/{mix}/addChannel " + agent,
	}
}

func originate(agent string) string { return "POST /ari/channels " + agent }

func hangUp(ch string) string { return "DELETE /ari/channels/" + ch + "?reason=normal" }

// steps flattens strings and string slices into one list.
func steps(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out = append(out, p)
		case []string:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("steps: %T", p))
		}
	}
	return out
}

var replayCases = []replayCase{
	{
		// Agent answers after 3 s, hangs up after 4 s of talk; callmon hangs up the caller.
		trace: "queue-answered", outcome: metrics.Answered,
		waitMs:     3011, // 19:34:25.258 − 19:34:22.247
		originates: []string{"{a1}"}, hangups: []string{"{caller}"},
		requests: steps(waitInHold, originate("{a1}"), connect("{a1}"), hangUpCaller, deleteMix),
	},
	{
		// The agent never answers; the caller hangs up 4 s after entering:
		// within the default 5 s, a short abandon. Callmon hangs up the ringing agent.
		trace: "queue-abandoned", outcome: metrics.ShortAbandoned,
		waitMs:     4008, // 19:34:56.953 − 19:34:52.945
		originates: []string{"{a1}"}, hangups: []string{"{a1}"},
		requests: steps(waitInHold, originate("{a1}"), hangUp("{a1}"), "DELETE /ari/bridges/{hold}"),
	},
	{
		// Asterisk ends the first agent's originate after its 5 s timeout;
		// callmon rings the second agent, who answers after 3 s. (Callmon has
		// one ring timeout per queue, so both originates carry timeout=5; the
		// recorder gave the second 15.)
		trace: "queue-ring-timeout", ringTimeout: 5 * time.Second, outcome: metrics.Answered,
		waitMs:     8317, // 19:35:08.000 − 19:34:59.683
		originates: []string{"{a1}", "{a2}"}, hangups: []string{"{caller}"},
		requests: steps(waitInHold, originate("{a1}"), originate("{a2}"), connect("{a2}"), hangUpCaller, deleteMix),
	},
	{
		// The only agent is busy and is skipped for this call, so the caller
		// waits on. The recorder then hung the caller up (the outside world
		// as far as callmon is concerned): 0.5 s after entry, a short abandon.
		trace: "queue-agent-busy", outcome: metrics.ShortAbandoned,
		external:   []string{hangUpCaller},
		waitMs:     516, // 19:35:15.734 − 19:35:15.218
		originates: []string{"{a1}"}, hangups: nil,
		requests: steps(waitInHold, originate("{a1}"), "DELETE /ari/bridges/{hold}"),
	},
	{
		// The caller hangs up during the conversation; callmon hangs up the agent.
		trace: "queue-caller-ends", outcome: metrics.Answered,
		waitMs:     3006, // 19:37:27.043 − 19:37:24.037
		originates: []string{"{a1}"}, hangups: []string{"{a1}"},
		requests: steps(waitInHold, originate("{a1}"), connect("{a1}"), hangUp("{a1}"), deleteMix),
	},
	{
		// Both agents ring; the second answers; callmon hangs up the first.
		trace: "queue-ring-all", strategy: ari.StrategyRingAll, outcome: metrics.Answered,
		waitMs:     3012, // 19:37:16.813 − 19:37:13.801
		originates: []string{"{a1}", "{a2}"}, hangups: []string{"{a1}", "{caller}"},
		requests: steps(waitInHold, originate("{a1}"), originate("{a2}"), hangUp("{a1}"), connect("{a2}"),
			hangUpCaller, deleteMix),
	},
	{
		// queue-answered with a real SIP caller (PJSIP, RTP statistics at hang-up).
		trace: "sip-queue-answered", outcome: metrics.Answered,
		waitMs:     3012, // 19:33:47.689 − 19:33:44.677
		originates: []string{"{a1}"}, hangups: []string{"{caller}"},
		requests: steps(waitInHold, originate("{a1}"), connect("{a1}"), hangUpCaller, deleteMix),
	},
}

const (
	replayWait     = 10 * time.Second
	replayUser     = "callmon"
	replayPassword = "secret"
	asteriskLayout = "2006-01-02T15:04:05.000-0700"
)

func TestReplayRecordedConversations(t *testing.T) {
	for _, tc := range replayCases {
		t.Run(tc.trace, func(t *testing.T) {
			t.Parallel()
			runReplay(t, tc)
		})
	}
}

func runReplay(t *testing.T, tc replayCase) {
	if tc.ringTimeout == 0 {
		tc.ringTimeout = 15 * time.Second
	}
	sc := loadReplay(t, tc)
	srv := newReplayServer(t, sc)

	// callmon's clock stands still just after the conversation: measurements
	// must come from Asterisk's timestamps, and a skipped agent stays skipped.
	clock := fixedClock(sc.last.Add(time.Second))
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, clock, amsterdam, []metrics.Queue{{Name: "general"}}, "test") // defaults: 30 s, short 5 s
	if err != nil {
		t.Fatal(err)
	}
	// Agent N has the endpoint of the N-th agent the recorder rang, so
	// callmon's choice (longest idle, ties in configuration order; ring-all
	// in configuration order) rings them in the trace's order.
	var agents []ari.Agent
	var ids []string
	for i, ep := range sc.endpoints {
		id := fmt.Sprintf("agent%d", i+1)
		agents = append(agents, ari.Agent{ID: id, Name: "Agent " + id, Endpoint: ep})
		ids = append(ids, id)
	}
	logs := &logBuffer{}
	recs := &recordSink{}
	// Threshold and ShortAbandon as cmd passes them: ari.New does not default
	// ShortAbandon (zero is 0 ms there but 5 s in metrics).
	app, err := ari.New(ari.Config{
		URL: srv.URL() + "/ari", User: replayUser, Password: replayPassword, Application: "callmon",
		Queues: []ari.Queue{{Name: "general", Numbers: []string{"0503164911"}, Strategy: tc.strategy,
			RingTimeout: tc.ringTimeout, Threshold: 30 * time.Second, ShortAbandon: 5 * time.Second, Agents: ids}},
		Agents:  agents,
		Open:    func(time.Time) bool { return true },
		Clock:   clock,
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: m,
		Record:  recs.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Logged in before the first frame. Callmon reads the agents' endpoint
	// states when it connects, before it reads any frame, so they are
	// available when the caller's StasisStart is read.
	for _, id := range ids {
		if _, err := app.Agents().Set(ari.PresenceChange{Agent: id, Action: ari.ActionLogin}); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Stop)

	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\ncallmon's requests:\n%s\ncallmon's log:\n%s", fmt.Sprintf(format, args...), srv.requestList(), logs)
	}
	if !srv.await(context.Background(), 3*replayWait, func() bool { return srv.played }) {
		fail("the replay did not finish: %d of %d frames sent", srv.framesSent(), len(sc.frames))
	}
	if err := srv.result(); err != nil {
		fail("replay: %v", err)
	}
	// The frames are on the wire; wait until callmon has read them all and
	// its call flow has ended. That is callmon's inner state, which signals
	// nothing: it is polled until a deadline.
	deadline := time.Now().Add(replayWait)
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		read := sumMetric(mfs, "callmon_ari_events_total") + sumMetric(mfs, "callmon_ari_events_skipped_total")
		if read == float64(len(sc.frames)) && app.Calls() == 0 {
			break
		}
		if time.Now().After(deadline) {
			fail("callmon read %v of %d frames and still tracks %d calls", read, len(sc.frames), app.Calls())
		}
		<-poll.C
	}
	app.Stop() // every callmon goroutine is done: the request log is complete

	reqs := srv.requests()
	checkMeasure(t, tc, sc, reg, recs.all(), len(agents))
	checkRequests(t, tc, sc, reqs)
	if srv.connections() != 1 {
		t.Errorf("callmon opened %d event websockets, want 1", srv.connections())
	}
	if t.Failed() {
		t.Logf("callmon's requests:\n%s\ncallmon's log:\n%s", srv.requestList(), logs)
	}
}

// checkMeasure compares callmon's metrics and call record with the trace.
func checkMeasure(t *testing.T, tc replayCase, sc *replayScript, reg *prometheus.Registry, recs []ari.CallRecord, agents int) {
	t.Helper()
	wait, ended, agent := sc.measure(t, tc.outcome)
	if wait.Milliseconds() != tc.waitMs {
		t.Fatalf("the trace gives a measure of %d ms, the table says %d ms", wait.Milliseconds(), tc.waitMs)
	}
	secs := float64(tc.waitMs) / 1000
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	val := func(name string, labels ...string) float64 { return sumMetric(mfs, name, labels...) }

	// The intake decoded every real frame, on one connection.
	for name, want := range map[string]float64{
		"callmon_ari_events_total":         float64(len(sc.frames)),
		"callmon_ari_events_skipped_total": 0,
		"callmon_ari_reconnects_total":     0,
	} {
		if got := val(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	answered := tc.outcome == metrics.Answered
	want := map[string]float64{
		"callmon_calls_offered_total":                   1,
		"callmon_calls_answered_total":                  0,
		"callmon_calls_answered_within_threshold_total": 0,
		"callmon_calls_abandoned_total":                 0,
		"callmon_calls_short_abandoned_total":           0,
		"callmon_calls_total":                           1, // one outcome in all
		"callmon_calls_waiting":                         0,
	}
	switch tc.outcome {
	case metrics.Answered:
		want["callmon_calls_answered_total"] = 1
		want["callmon_calls_answered_within_threshold_total"] = 1 // every wait here is far below 30 s
	case metrics.Abandoned:
		want["callmon_calls_abandoned_total"] = 1
	case metrics.ShortAbandoned:
		want["callmon_calls_short_abandoned_total"] = 1
	}
	for name, w := range want {
		if got := val(name); got != w {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
	if got := val("callmon_calls_total", "outcome", string(tc.outcome)); got != 1 {
		t.Errorf("callmon_calls_total{outcome=%q} = %v, want 1", tc.outcome, got)
	}
	// Time in queue by outcome, and the wait of answered calls: exactly the
	// trace's milliseconds.
	if n, sum := histogram(mfs, "callmon_queue_time_seconds", "outcome", string(tc.outcome)); n != 1 || !near(sum, secs) {
		t.Errorf("callmon_queue_time_seconds{outcome=%q}: %d samples, sum %v s; want 1 sample of %v s", tc.outcome, n, sum, secs)
	}
	wantWaits := uint64(0)
	if answered {
		wantWaits = 1
	}
	if n, sum := histogram(mfs, "callmon_queue_wait_seconds"); n != wantWaits || (answered && !near(sum, secs)) {
		t.Errorf("callmon_queue_wait_seconds: %d samples, sum %v s; want %d of %v s", n, sum, wantWaits, secs)
	}
	if got := val("callmon_agents", "state", ari.StateAvailable); got != float64(agents) {
		t.Errorf("agents available after the call = %v, want all %d", got, agents)
	}

	// The call record agrees, to the millisecond of Asterisk's timestamps.
	if len(recs) != 1 {
		t.Fatalf("%d call records, want 1: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.ChannelID != sc.caller || r.Queue != "general" || r.Outcome != string(tc.outcome) || r.WaitMS != tc.waitMs ||
		r.WithinThreshold != answered || r.CallerNumber != "0612345678" {
		t.Errorf("call record %+v; want caller %s, queue general, outcome %s, wait %d ms, within threshold %v, number 0612345678",
			r, sc.caller, tc.outcome, tc.waitMs, answered)
	}
	if !r.Entry.Equal(sc.entry) || !r.Ended.Equal(ended) {
		t.Errorf("call record entry %v, ended %v; the trace says %v, %v", r.Entry, r.Ended, sc.entry, ended)
	}
	if answered && (!r.Answered.Equal(sc.entry.Add(wait)) || r.Agent != agent) {
		t.Errorf("call record answered %v by %q; the trace says %v by %q", r.Answered, r.Agent, sc.entry.Add(wait), agent)
	}
	if !answered && (!r.Answered.IsZero() || r.Agent != "") {
		t.Errorf("call record of an unanswered call names an answer: %v by %q", r.Answered, r.Agent)
	}
}

// checkRequests compares callmon's requests with the case and the trace.
func checkRequests(t *testing.T, tc replayCase, sc *replayScript, reqs []callmonRequest) {
	t.Helper()
	var got []string
	var originated, hungUp []string
	mixed := false
	for _, q := range reqs {
		got = append(got, q.summary())
		var b struct {
			Endpoint  string `json:"endpoint"`
			Timeout   int    `json:"timeout"`
			App       string `json:"app"`
			AppArgs   string `json:"appArgs"`
			ChannelID string `json:"channelId"`
			Type      string `json:"type"`
		}
		_ = json.Unmarshal(q.body, &b)
		switch {
		case q.method == "POST" && q.target == "/ari/channels":
			originated = append(originated, b.ChannelID)
			i := len(originated) - 1
			if i < len(sc.endpoints) && b.Endpoint != sc.endpoints[i] {
				t.Errorf("originate %d to %s, the trace rang %s", i+1, b.Endpoint, sc.endpoints[i])
			}
			if b.App != "callmon" || b.AppArgs != "agent" || b.Timeout != int(tc.ringTimeout/time.Second) {
				t.Errorf("originate %s: app=%q appArgs=%q timeout=%d, want app=callmon appArgs=agent timeout=%d",
					b.ChannelID, b.App, b.AppArgs, b.Timeout, int(tc.ringTimeout/time.Second))
			}
		case q.method == "DELETE" && strings.HasPrefix(q.target, "/ari/channels/"):
			id, _, _ := strings.Cut(strings.TrimPrefix(q.target, "/ari/channels/"), "?")
			hungUp = append(hungUp, id)
		case q.method == "POST" && q.target == "/ari/bridges/"+sc.mix:
			mixed = true
		}
	}
	if want := sc.expand(tc.requests); !isSubsequence(want, got) {
		t.Errorf("callmon's requests lack, or misorder, some of these (in this order):\n  %s", strings.Join(want, "\n  "))
	}
	if want := sc.expand(tc.originates); !slices.Equal(originated, want) {
		t.Errorf("callmon originated %q, want %q", originated, want)
	}
	if want := sc.expand(tc.hangups); !slices.Equal(hungUp, want) {
		t.Errorf("callmon hung up %q, want %q", hungUp, want)
	}
	if answered := tc.outcome == metrics.Answered; mixed != answered {
		t.Errorf("callmon created the mixing bridge: %v; want %v", mixed, answered)
	}
	// Callmon made every request the recorder made as the app, with the
	// same body (bridge names are free text; the ring timeout is the queue's).
	counts := map[string]int{}
	for _, q := range reqs {
		counts[q.key()]++
		if q.trace != nil {
			if diff := bodyDiff(q.trace.body, q.body, tc.ringTimeout); diff != "" {
				t.Errorf("%s: body differs from the recorder's: %s", q.key(), diff)
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(sc.reqs)) {
		if n := len(sc.reqs[key]); counts[key] < n {
			t.Errorf("the recorder sent %s %d times, callmon %d", key, n, counts[key])
		}
	}
}

// bodyDiff compares two JSON request bodies key by key; "" if they agree.
func bodyDiff(trace, got []byte, ringTimeout time.Duration) string {
	decode := func(b []byte) map[string]any {
		m := map[string]any{}
		if len(b) > 0 {
			_ = json.Unmarshal(b, &m)
		}
		return m
	}
	tm, gm := decode(trace), decode(got)
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(tm, gm))) {
		switch k {
		case "name": // free text
			continue
		case "timeout":
			tm[k] = float64(ringTimeout / time.Second)
		}
		if !reflect.DeepEqual(tm[k], gm[k]) {
			diffs = append(diffs, fmt.Sprintf("%s: recorder %v, callmon %v", k, tm[k], gm[k]))
		}
	}
	return strings.Join(diffs, "; ")
}

func mergeKeys(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func histogram(mfs []*dto.MetricFamily, name string, labels ...string) (n uint64, sum float64) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			n += m.GetHistogram().GetSampleCount()
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return n, sum
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// AfterFunc never fires: a replay has no callback offers or other timers.
func (c fixedClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return false } }

// ---- the trace, as callmon should see it ----

type replayTraceLine struct {
	Dir    string          `json:"dir"` // ws, event, rest
	T      time.Time       `json:"t"`   // request sent
	Done   time.Time       `json:"done"`
	Recv   time.Time       `json:"recv"` // event received
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
	Resp   json.RawMessage `json:"response"`
	Raw    json.RawMessage `json:"raw"` // the frame, verbatim
}

// frameHead is what the replay reads of a frame.
type frameHead struct {
	Type      string   `json:"type"`
	Timestamp string   `json:"timestamp"`
	Args      []string `json:"args"`
	Channel   struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"channel"`
}

type replayFrame struct {
	data []byte // the frame with callmon's ids
	head frameHead
	ts   time.Time      // Asterisk's timestamp
	need map[string]int // callmon's requests (by key) that must have arrived first
}

// replayRequest is a request the recorder made as the app, with callmon's ids.
type replayRequest struct {
	key    string // "METHOD path[?query]"
	t      time.Time
	body   []byte
	status int
	resp   []byte // nil: no body
	flush  int    // frames [0, flush) reached the recorder before the response
}

type replayScript struct {
	caller    string
	entry     time.Time // the caller's StasisStart
	last      time.Time // the newest Asterisk timestamp
	endpoints []string  // endpoints the recorder rang, in order
	hold, mix string    // callmon's bridge ids
	agentCh   []string  // callmon's ids for the agent channels, in order
	ids       *strings.Replacer
	frames    []replayFrame
	reqs      map[string][]*replayRequest // by key, in the order sent
}

func loadReplay(t *testing.T, tc replayCase) *replayScript {
	t.Helper()
	f, err := os.Open(filepath.Join("aritest", "testdata", tc.trace+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []replayTraceLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l replayTraceLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", tc.trace, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	s := &replayScript{reqs: map[string][]*replayRequest{}}
	for _, l := range lines {
		if h := parseHead(t, l); l.Dir == "event" && h.Type == "StasisStart" && len(h.Args) > 0 && h.Args[0] == "queue" {
			s.caller = h.Channel.ID
			break
		}
	}
	if s.caller == "" {
		t.Fatalf("%s: no caller StasisStart", tc.trace)
	}
	s.hold, s.mix = "cm-"+s.caller+"-hold", "cm-"+s.caller+"-mix"

	// A rest line is written when its response arrived: order by sending.
	var rest []replayTraceLine
	for _, l := range lines {
		if l.Dir == "rest" {
			rest = append(rest, l)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].T.Before(rest[j].T) })

	// The recorder's ids → callmon's.
	var rename []string
	for _, l := range rest {
		var b struct {
			Endpoint  string `json:"endpoint"`
			ChannelID string `json:"channelId"`
			BridgeID  string `json:"bridgeId"`
			Type      string `json:"type"`
		}
		_ = json.Unmarshal(l.Body, &b)
		switch {
		case l.Method == "POST" && l.Path == "/ari/channels":
			id := fmt.Sprintf("cm-%s-a%d", s.caller, len(s.agentCh)+1)
			s.endpoints = append(s.endpoints, b.Endpoint)
			s.agentCh = append(s.agentCh, id)
			rename = append(rename, b.ChannelID, id)
		case l.Method == "POST" && b.BridgeID != "" && b.Type == "holding":
			rename = append(rename, b.BridgeID, s.hold)
		case l.Method == "POST" && b.BridgeID != "" && b.Type == "mixing":
			rename = append(rename, b.BridgeID, s.mix)
		}
	}
	s.ids = strings.NewReplacer(rename...)
	rw := func(b []byte) []byte { return []byte(s.ids.Replace(string(b))) }

	// The requests callmon is expected to make.
	external := map[string]bool{}
	for _, e := range s.expand(tc.external) {
		external[e] = true
	}
	var made []*replayRequest
	for _, l := range rest {
		key := l.Method + " " + s.ids.Replace(l.Path)
		var sub struct {
			EventSource string `json:"eventSource"`
		}
		_ = json.Unmarshal(l.Body, &sub)
		if external[key] || strings.HasPrefix(sub.EventSource, "channel:") {
			continue // the outside world's, or the recorder's subscription to the caller
		}
		r := &replayRequest{key: key, t: l.T, status: l.Status}
		if len(l.Body) > 0 && string(l.Body) != "null" {
			r.body = rw(l.Body)
		}
		if len(l.Resp) > 0 && string(l.Resp) != "null" {
			r.resp = rw(l.Resp)
		}
		made = append(made, r)
		s.reqs[key] = append(s.reqs[key], r)
	}

	// The frames, in arrival order, each held back until callmon has made
	// every request the recorder had sent before the frame arrived.
	need := map[string]int{}
	next := 0
	for _, l := range lines {
		if l.Dir != "event" {
			continue
		}
		for next < len(made) && made[next].t.Before(l.Recv) {
			need[made[next].key]++
			next++
		}
		data := rw(l.Raw)
		fr := replayFrame{data: data, need: maps.Clone(need)}
		if err := json.Unmarshal(data, &fr.head); err != nil {
			t.Fatal(err)
		}
		if fr.ts, err = time.Parse(asteriskLayout, fr.head.Timestamp); err != nil {
			t.Fatal(err)
		}
		if fr.ts.After(s.last) {
			s.last = fr.ts
		}
		if fr.head.Type == "StasisStart" && fr.head.Channel.ID == s.caller {
			s.entry = fr.ts
		}
		s.frames = append(s.frames, fr)
	}
	// A request's response follows the frames that arrived before it.
	var recv []time.Time
	for _, l := range lines {
		if l.Dir == "event" {
			recv = append(recv, l.Recv)
		}
	}
	for _, l := range rest {
		key := l.Method + " " + s.ids.Replace(l.Path)
		for _, r := range s.reqs[key] {
			if r.t.Equal(l.T) {
				r.flush = sort.Search(len(recv), func(i int) bool { return !recv[i].Before(l.Done) })
			}
		}
	}
	return s
}

func parseHead(t *testing.T, l replayTraceLine) frameHead {
	var h frameHead
	if l.Dir == "event" {
		if err := json.Unmarshal(l.Raw, &h); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// expand replaces the placeholders of replayCase with this call's ids.
func (s *replayScript) expand(in []string) []string {
	pairs := []string{"{caller}", s.caller, "{hold}", s.hold, "{mix}", s.mix}
	for i, id := range s.agentCh {
		pairs = append(pairs, fmt.Sprintf("{a%d}", i+1), id)
	}
	r := strings.NewReplacer(pairs...)
	var out []string
	for _, x := range in {
		out = append(out, r.Replace(x))
	}
	return out
}

// measure reads callmon's measure off the trace (DESIGN §3): the wait from
// the caller's StasisStart to the answering agent's ChannelStateChange Up,
// or to the caller's hang-up; when the call ended (the first hang-up of the
// caller or of the agent it talked to); and which agent answered.
func (s *replayScript) measure(t *testing.T, outcome metrics.Outcome) (wait time.Duration, ended time.Time, agent string) {
	t.Helper()
	var agentCh string
	for _, f := range s.frames {
		if f.head.Type == "StasisStart" && slices.Equal(f.head.Args, []string{"agent"}) {
			agentCh = f.head.Channel.ID
		}
	}
	var up time.Time
	for _, f := range s.frames {
		switch {
		case f.head.Type == "ChannelStateChange" && agentCh != "" && f.head.Channel.ID == agentCh &&
			f.head.Channel.State == "Up" && up.IsZero():
			up = f.ts
		case f.head.Type == "ChannelHangupRequest" && ended.IsZero() &&
			(f.head.Channel.ID == s.caller || (agentCh != "" && f.head.Channel.ID == agentCh)):
			ended = f.ts
		}
	}
	if ended.IsZero() {
		t.Fatal("the trace has no hang-up")
	}
	if outcome != metrics.Answered {
		return ended.Sub(s.entry), ended, ""
	}
	if up.IsZero() {
		t.Fatal("the trace has no agent going Up")
	}
	return up.Sub(s.entry), ended, fmt.Sprintf("agent%d", slices.Index(s.agentCh, agentCh)+1)
}

// ---- the replay server ----

// callmonRequest is one request callmon made and how it was answered.
type callmonRequest struct {
	method, target string // target: path[?query]
	body           []byte
	status         int
	trace          *replayRequest // the recorder's request it was answered from; nil: none
}

func (q callmonRequest) key() string { return q.method + " " + q.target }

// summary is the request as replayCase writes it: method, target and the
// body's bridge type, channel or originated channel id.
func (q callmonRequest) summary() string {
	var b struct {
		Type      string `json:"type"`
		Channel   string `json:"channel"`
		ChannelID string `json:"channelId"`
	}
	_ = json.Unmarshal(q.body, &b)
	s := q.key()
	for _, v := range []string{b.Type, b.Channel, b.ChannelID} {
		if v != "" {
			s += " " + v
		}
	}
	return s
}

type replayServer struct {
	sc   *replayScript
	http *httptest.Server
	ctx  context.Context

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change below
	got     map[string]int
	log     []callmonRequest
	conns   int
	sent    int  // frames written to callmon
	played  bool // the replay ended (playErr says how)
	playErr error
	bridges map[string]bool // bridges that exist now
	gone    map[string]bool // channels hung up or destroyed
}

func newReplayServer(t *testing.T, sc *replayScript) *replayServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &replayServer{sc: sc, ctx: ctx, changed: make(chan struct{}), got: map[string]int{},
		bridges: map[string]bool{}, gone: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ari/events", s.serveEvents)
	mux.HandleFunc("/ari/", s.serveREST)
	s.http = httptest.NewServer(mux)
	t.Cleanup(func() { cancel(); s.http.Close() })
	return s
}

func (s *replayServer) URL() string { return s.http.URL }

func (s *replayServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// await waits until cond (called with s.mu held) holds; false after limit.
func (s *replayServer) await(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		}
	}
}

// gateOpenLocked reports whether frame i may be sent: callmon has made the
// requests it waits for.
func (s *replayServer) gateOpenLocked(i int) bool {
	if i >= len(s.sc.frames) {
		return false
	}
	for key, n := range s.sc.frames[i].need {
		if s.got[key] < n {
			return false
		}
	}
	return true
}

func (s *replayServer) serveEvents(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != replayUser || p != replayPassword {
		http.Error(w, `{"message":"Authentication required"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("app") != "callmon" {
		http.Error(w, `{"message":"wrong application"}`, http.StatusBadRequest)
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	s.mu.Lock()
	s.conns++
	first := s.conns == 1
	s.notifyLocked()
	s.mu.Unlock()
	if !first {
		conn.Close(websocket.StatusPolicyViolation, "the replay has one conversation")
		return
	}
	ctx := conn.CloseRead(s.ctx) // answers pings; done when callmon disconnects
	err = s.play(ctx, conn)
	s.mu.Lock()
	s.played, s.playErr = true, err
	s.notifyLocked()
	s.mu.Unlock()
	<-ctx.Done()
}

// play sends the frames, each once callmon has made the requests it waits for.
func (s *replayServer) play(ctx context.Context, conn *websocket.Conn) error {
	for i, f := range s.sc.frames {
		if !s.await(ctx, replayWait, func() bool { return s.gateOpenLocked(i) }) {
			s.mu.Lock()
			defer s.mu.Unlock()
			var missing []string
			for _, key := range slices.Sorted(maps.Keys(f.need)) {
				if s.got[key] < f.need[key] {
					missing = append(missing, fmt.Sprintf("%s (recorder %d×, callmon %d×)", key, f.need[key], s.got[key]))
				}
			}
			return fmt.Errorf("frame %d (%s %s) waits for requests callmon did not make: %s",
				i, f.head.Type, f.head.Channel.ID, strings.Join(missing, ", "))
		}
		s.mu.Lock()
		if t := f.head.Type; t == "ChannelHangupRequest" || t == "StasisEnd" || t == "ChannelDestroyed" {
			s.gone[f.head.Channel.ID] = true
		}
		s.mu.Unlock()
		if err := conn.Write(ctx, websocket.MessageText, f.data); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		s.mu.Lock()
		s.sent = i + 1
		s.notifyLocked()
		s.mu.Unlock()
	}
	return nil
}

func (s *replayServer) serveREST(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != replayUser || p != replayPassword {
		http.Error(w, `{"message":"Authentication required"}`, http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	whole := callmonRequest{method: r.Method, target: r.URL.Path, body: body}
	if r.URL.RawQuery != "" {
		whole.target += "?" + r.URL.RawQuery
	}
	s.mu.Lock()
	// An addChannel of several channels stands for the recorder's one-channel
	// requests, in order: each is matched and answered as they were, and the
	// first refusal answers the whole (Asterisk checks every channel first).
	status, resp := 0, []byte(nil)
	var last *replayRequest
	for _, q := range splitAddChannel(whole) {
		n := s.got[q.key()]
		s.got[q.key()]++
		if recorded := s.sc.reqs[q.key()]; n < len(recorded) {
			q.trace = recorded[n]
			last = q.trace
		}
		var qresp []byte
		q.status, qresp = s.answerLocked(q)
		if status == 0 || (status/100 == 2 && q.status/100 != 2) {
			status, resp = q.status, qresp
		}
		s.log = append(s.log, q)
	}
	s.notifyLocked()
	s.mu.Unlock()

	if last != nil {
		// What reached the recorder while this request was in flight goes
		// out before the response (unless the replay is held up elsewhere).
		s.await(s.ctx, replayWait, func() bool {
			return s.played || s.sent >= last.flush || !s.gateOpenLocked(s.sent)
		})
	}
	if resp == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(resp)
}

// splitAddChannel turns an addChannel whose body lists several channels into
// one request per channel, as the recorder made them; any other request stays whole.
func splitAddChannel(q callmonRequest) []callmonRequest {
	var b struct {
		Channel []string `json:"channel"`
	}
	if q.method != "POST" || !strings.HasSuffix(q.target, "/addChannel") || json.Unmarshal(q.body, &b) != nil || len(b.Channel) == 0 {
		return []callmonRequest{q}
	}
	out := make([]callmonRequest, len(b.Channel))
	for i, ch := range b.Channel {
		out[i] = callmonRequest{method: q.method, target: q.target, body: jsonOf(map[string]string{"channel": ch})}
	}
	return out
}

// answerLocked is the recorder's answer to the request, or a plausible one.
func (s *replayServer) answerLocked(q callmonRequest) (int, []byte) {
	path, _, _ := strings.Cut(q.target, "?")
	p := strings.Split(strings.TrimPrefix(path, "/ari/"), "/")
	var b struct {
		Channel   string `json:"channel"`
		ChannelID string `json:"channelId"`
	}
	_ = json.Unmarshal(q.body, &b)
	status, resp := http.StatusNoContent, []byte(nil)
	switch {
	case q.trace != nil:
		status, resp = q.trace.status, q.trace.resp
	case q.method == "POST" && len(p) == 3 && p[0] == "applications" && p[2] == "subscription":
		// callmon follows its agents' endpoints
		var sub struct {
			EventSource string `json:"eventSource"`
		}
		_ = json.Unmarshal(q.body, &sub)
		ep, _ := strings.CutPrefix(sub.EventSource, "endpoint:")
		status, resp = http.StatusOK, jsonOf(map[string]any{"name": p[1], "channel_ids": []string{},
			"bridge_ids": []string{}, "endpoint_ids": []string{ep}, "device_names": []string{},
			"events_allowed": []string{}, "events_disallowed": []string{}})
	case q.method == "GET" && len(p) == 2 && p[0] == "applications":
		// the inventory at connect, before the recorded caller came
		status, resp = http.StatusOK, jsonOf(map[string]any{"name": p[1], "channel_ids": []string{},
			"bridge_ids": []string{}, "endpoint_ids": []string{}, "device_names": []string{},
			"events_allowed": []string{}, "events_disallowed": []string{}})
	case q.method == "GET" && (path == "/ari/channels" || path == "/ari/bridges"):
		status, resp = http.StatusOK, []byte("[]")
	case q.method == "GET" && len(p) == 3 && p[0] == "endpoints":
		status, resp = http.StatusOK, jsonOf(map[string]any{"technology": p[1], "resource": p[2],
			"state": "online", "channel_ids": []string{}})
	case q.method == "POST" && len(p) == 2 && p[0] == "bridges":
		status, resp = http.StatusOK, jsonOf(map[string]any{"id": p[1], "bridge_type": "mixing", "channels": []string{}})
	case p[0] == "bridges" && len(p) >= 2 && !s.bridges[p[1]]:
		status, resp = http.StatusNotFound, jsonOf(map[string]string{"message": "Bridge not found"})
	case p[0] == "bridges" && len(p) == 3 && (p[2] == "addChannel" || p[2] == "removeChannel") && s.gone[b.Channel]:
		status, resp = http.StatusBadRequest, jsonOf(map[string]string{"message": "Channel not found"})
	case p[0] == "channels" && len(p) >= 2 && s.gone[p[1]]:
		status, resp = http.StatusNotFound, jsonOf(map[string]string{"message": "Channel not found"})
	case q.method == "POST" && path == "/ari/channels":
		status, resp = http.StatusOK, jsonOf(map[string]string{"id": b.ChannelID, "state": "Down"})
	}
	if status/100 == 2 && p[0] == "bridges" && len(p) == 2 {
		switch q.method {
		case "POST":
			s.bridges[p[1]] = true
		case "DELETE":
			delete(s.bridges, p[1])
		}
	}
	return status, resp
}

func jsonOf(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (s *replayServer) requests() []callmonRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func (s *replayServer) requestList() string {
	var b strings.Builder
	for _, q := range s.requests() {
		from := "(no recorded counterpart)"
		if q.trace != nil {
			from = "(as recorded)"
		}
		fmt.Fprintf(&b, "  %s %s → %d %s\n", q.key(), strings.TrimSpace(string(q.body)), q.status, from)
	}
	return b.String()
}

func (s *replayServer) result() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.playErr
}

func (s *replayServer) framesSent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *replayServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}
