package aritest_test

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
)

// The conformance test replays the app's side of each real-Asterisk trace against the fake —
// the same REST requests in the same order at the same (fake) times, the same caller and agent
// behaviour — and compares the conversation the fake produced with the recorded one.

// scenario is what the lab did around the app in one trace.
type scenario struct {
	trace string
	// afterAnswer is the lab caller's behaviour ([caller-behaviour]), which starts when the
	// app answers the caller.
	afterAnswer func(clock *aritest.ManualClock, c *aritest.Caller)
	trunk       bool // the PJSIP build: the unqualified trunk PJSIP/pstn exists
	// announcer: the trace's bridge snapshot lists the MOH announcer channel, which the fake
	// does not model (README "MOH").
	announcer bool
	// media: how long the lab's prompts played (PlaybackStarted to PlaybackFinished).
	media map[string]time.Duration
	// stored: recordings earlier scenarios left in the lab's Asterisk (GET /recordings/stored).
	stored []string
}

func hangsUpAfter(d time.Duration) func(*aritest.ManualClock, *aritest.Caller) {
	return func(_ *aritest.ManualClock, c *aritest.Caller) { c.HangupAfter(d) }
}

func pressesAfter(digit string, d time.Duration) func(*aritest.ManualClock, *aritest.Caller) {
	return func(clock *aritest.ManualClock, c *aritest.Caller) {
		clock.AfterFunc(d, func() { c.SendDTMF(digit) })
	}
}

// both runs two caller behaviours.
func both(a, b func(*aritest.ManualClock, *aritest.Caller)) func(*aritest.ManualClock, *aritest.Caller) {
	return func(clock *aritest.ManualClock, c *aritest.Caller) { a(clock, c); b(clock, c) }
}

// The lab's vm-talk-* callers (lab-config/extensions.conf): Playback(silence/6), then
// hello-world, of which the silence detector hears helloWorld as speech; then vm-talk-hangup
// plays silence/3 and hangs up (10.425 s after the answer in the Asterisk log), vm-talk-hash
// plays silence/1 and starts SendDTMF(#) (8.43 s after the answer; no audio flows while the
// digit plays, so the digit's end, 0.21 s later, adds no silence), vm-talk-silence plays
// silence/10.
const helloWorld = 1330 * time.Millisecond

func leavesMessage(_ *aritest.ManualClock, c *aritest.Caller) {
	c.SpeakAfter(6*time.Second, helloWorld)
}

var vmMedia = map[string]time.Duration{"sound:vm-intro": 5660 * time.Millisecond, "sound:vm-goodbye": 880 * time.Millisecond}

var scenarios = []scenario{
	{trace: "queue-answered"},
	{trace: "queue-answered-nosub"},
	{trace: "queue-abandoned", afterAnswer: hangsUpAfter(4 * time.Second), announcer: true},
	{trace: "queue-ring-timeout"},
	{trace: "queue-agent-busy"},
	{trace: "queue-agent-congestion"},
	{trace: "queue-ring-all"},
	{trace: "queue-caller-ends", afterAnswer: hangsUpAfter(6 * time.Second)},
	{trace: "queue-dtmf", afterAnswer: pressesAfter("1", 3*time.Second)},
	{trace: "reconnect", afterAnswer: hangsUpAfter(2 * time.Second)},
	{trace: "reconnect-alive"},
	{trace: "rest-errors"},
	{trace: "sip-queue-answered", trunk: true},
	{trace: "sip-endpoint-subscribed", trunk: true},
	{trace: "direct-voicemail", media: vmMedia,
		afterAnswer: both(leavesMessage, hangsUpAfter(10425*time.Millisecond))},
	{trace: "direct-voicemail-hash", media: vmMedia, stored: []string{"vm-1795462525-47"},
		afterAnswer: both(leavesMessage, pressesAfter("#", 8430*time.Millisecond))},
	{trace: "direct-voicemail-silence", media: vmMedia, stored: []string{"vm-1795462525-47", "vm-1795462544-51"},
		afterAnswer: leavesMessage},
}

func TestConformance(t *testing.T) {
	orders := []struct {
		name  string
		order aritest.Order
	}{
		{"events-first", aritest.OrderEventsFirst},
		{"response-first", aritest.OrderResponseFirst},
		{"random", aritest.OrderRandom},
	}
	for _, sc := range scenarios {
		tr, err := loadTrace(sc.trace)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range orders {
			t.Run(sc.trace+"/"+o.name, func(t *testing.T) {
				t.Parallel()
				r := replay(t, sc, tr, o.order)
				if testing.Verbose() {
					t.Logf("fake:\n%s", timeline(fakeSteps(r)))
				}
				if problems := compare(tr, r); len(problems) > 0 {
					t.Errorf("%d differences from the real Asterisk:\n  %s\n\nreal Asterisk:\n%s\nfake:\n%s",
						len(problems), strings.Join(problems, "\n  "), timeline(traceSteps(tr, r.traceRoles)), timeline(fakeSteps(r)))
				}
			})
		}
	}
}

// replayed is the outcome of a replay.
type replayed struct {
	log        []aritest.Record
	traceRoles roles
	fakeRoles  roles
}

func replay(t *testing.T, sc scenario, tr *trace, order aritest.Order) replayed {
	clock := aritest.NewManualClock(tr.lines[0].T)
	s := newServer(t, aritest.Options{Clock: clock, Order: order, Seed: 42, Media: sc.media})
	s.AddLabEndpoints()
	if sc.trunk {
		s.AddEndpoint("PJSIP/pstn", "offline", aritest.Behaviour{})
	}
	for _, name := range sc.stored {
		s.AddStoredRecording(name, "wav", 2*time.Second)
	}
	ec := mustDialEvents(t, s)
	clients := []*eventsClient{ec}

	var (
		caller          *aritest.Caller
		traceID, fakeID string
		subst           = func(s string) string { return s }
	)
	for i, l := range tr.lines {
		waitFor(t, s, "events to be written", drained(s))
		clock.AdvanceTo(l.at())
		waitFor(t, s, "events to be written", drained(s))
		switch {
		case l.Dir == "ws" && l.Action == "connect" && i > 0:
			ec = mustDialEvents(t, s)
			clients = append(clients, ec)
		case l.Dir == "ws" && l.Action == "close" && l.Reason != "end of scenario":
			closeWhenAllReceived(t, s, ec)
			waitFor(t, s, "the app to be gone", func() bool { return !s.Connected() })
		case l.Dir == "event" && caller == nil && isCallerStart(l.ev):
			var err error
			ev := l.ev.(orderedObject)
			if caller, err = s.Call(callSpec(ev)); err != nil {
				t.Fatal(err)
			}
			traceID, fakeID = ev.obj("channel").str("id"), caller.ID()
			idRE := regexp.MustCompile(`\b` + regexp.QuoteMeta(traceID) + `\b`)
			subst = func(s string) string { return idRE.ReplaceAllLiteralString(s, fakeID) }
		case l.Dir == "rest":
			path := strings.TrimPrefix(subst(l.Path), "/ari") // s.URL() ends in /ari
			restCall(t, s, l.Method, path, requestBody(l.Body, subst))
			if caller != nil && sc.afterAnswer != nil && path == "/channels/"+fakeID+"/answer" {
				sc.afterAnswer(clock, caller)
			}
		}
	}
	waitFor(t, s, "events to be written", drained(s))
	closeWhenAllReceived(t, s, ec)
	log := s.Log()
	checkReceived(t, log, clients)
	return replayed{
		log:        log,
		traceRoles: callerRoles(traceID, sc.announcer),
		fakeRoles:  callerRoles(fakeID, sc.announcer),
	}
}

// closeWhenAllReceived closes the app's current socket once it has read every frame the fake
// sent on it.
func closeWhenAllReceived(t *testing.T, s *aritest.Server, ec *eventsClient) {
	t.Helper()
	conn, sent := 0, 0
	for _, r := range s.Log() {
		switch {
		case r.Kind == aritest.KindConnect:
			conn, sent = r.Conn, 0
		case r.Kind == aritest.KindEvent && r.Conn == conn:
			sent++
		}
	}
	ec.awaitCount(t, sent)
	ec.close()
}

// checkReceived: what the fake logged as sent is what the app's sockets received.
func checkReceived(t *testing.T, log []aritest.Record, clients []*eventsClient) {
	t.Helper()
	var got []string
	for _, c := range clients {
		for _, f := range c.frames() {
			got = append(got, string(f))
		}
	}
	var sent []string
	for _, r := range log {
		if r.Kind == aritest.KindEvent {
			sent = append(sent, string(r.Raw))
		}
	}
	if strings.Join(got, "\n") != strings.Join(sent, "\n") {
		t.Errorf("the app received %d frames, the log says %d were sent", len(got), len(sent))
	}
}

// isCallerStart is the StasisStart of a call the dialplan sent to the app.
func isCallerStart(ev ordered) bool {
	o, _ := ev.(orderedObject)
	if o.str("type") != "StasisStart" {
		return false
	}
	args, _ := o.get("args").([]ordered)
	return len(args) > 0 && (args[0] == "queue" || args[0] == "direct")
}

// callSpec is the call the lab injected, read back from its StasisStart.
func callSpec(ev orderedObject) aritest.CallSpec {
	ch := ev.obj("channel")
	dp := ch.obj("dialplan")
	spec := aritest.CallSpec{
		Exten:        dp.str("exten"),
		Context:      dp.str("context"),
		CallerName:   ch.obj("caller").str("name"),
		CallerNumber: ch.obj("caller").str("number"),
	}
	args, _ := ev.get("args").([]ordered)
	for _, a := range args {
		spec.Args = append(spec.Args, a.(string))
	}
	if rest, isSIP := strings.CutPrefix(ch.str("name"), "PJSIP/"); isSIP {
		spec.Tech = "PJSIP"
		spec.Endpoint, _, _ = strings.Cut(rest, "-")
	}
	return spec
}

// requestBody is the trace's request body with the caller's id substituted; a JSON string
// stands for a body that was not JSON (rest-errors' malformed originate).
func requestBody(raw json.RawMessage, subst func(string) string) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []byte(text)
	}
	return []byte(subst(string(raw)))
}

// callerRoles names a caller's uniqueid and that of its Local ;1 half (the counter before it).
func callerRoles(id string, announcer bool) roles {
	r := roles{ids: map[string]string{}, dropForeign: announcer}
	if id == "" {
		return r
	}
	r.ids[id] = "<caller>"
	if epoch, n, found := strings.Cut(id, "."); found {
		if k, err := strconv.Atoi(n); err == nil && k > 0 {
			r.ids[epoch+"."+strconv.Itoa(k-1)] = "<caller;1>"
		}
	}
	return r
}

// step is one item of a conversation, normalized for comparison.
type step struct {
	rest bool
	// events
	key, subject string
	json         string
	ts           time.Time // Asterisk's timestamp (trace only)
	// lo..hi: how many REST responses may precede the event (see compare)
	lo, hi int
	// REST
	method, path string
	status       int
	resp         string
}

func (st step) String() string {
	if st.rest {
		return fmt.Sprintf("rest %s %s -> %d %s", st.method, st.path, st.status, clip(st.resp, 90))
	}
	return "  ev " + st.key
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func timeline(steps []step) string {
	var b strings.Builder
	for _, st := range steps {
		b.WriteString("    " + st.String() + "\n")
	}
	return b.String()
}

func eventStep(ev ordered, r roles) step {
	n := r.normalize(ev).(orderedObject)
	return step{key: eventKey(n), subject: eventSubject(n), json: render(n, "")}
}

// restStep: where the trace keeps only the type and size of a response (audio, and HEAD, whose
// body a client never reads) those are compared, else the normalized JSON body.
func restStep(method, path string, status int, resp []byte, size string, r roles) step {
	st := step{rest: true, method: method, path: r.text(path), status: status}
	if size != "" {
		st.resp = size
		return st
	}
	if len(resp) > 0 && string(resp) != "null" {
		if v, err := parseOrdered(resp); err == nil {
			st.resp = render(sortByID(r.normalize(startedState(method, path, status, v))), "")
		} else {
			st.resp = string(resp)
		}
	}
	return st
}

// startedState: the 201 of a play or record request snapshots a playback or recording that the
// channel's thread may or may not have started yet, so Asterisk answers the same request with
// "queued" in one run and "playing" or "recording" in another (README "General facts"; 3 of 7
// plays and 1 of 3 recordings in the traces say the started state). Both count as the same
// answer; the fake's choice is checked against its own event order in TestCreatedState.
func startedState(method, path string, status int, v ordered) ordered {
	o, isObj := v.(orderedObject)
	if !isObj || method != "POST" || status != 201 || !(strings.Contains(path, "/play") || strings.HasSuffix(path, "/record")) {
		return v
	}
	out := make(orderedObject, len(o))
	copy(out, o)
	for i, m := range out {
		if m.Key == "state" && (m.Val == "queued" || m.Val == "playing" || m.Val == "recording") {
			out[i].Val = "<queued or started>"
		}
	}
	return out
}

// traceSteps: an event that arrived while a request was in flight may sit on either side of
// its response.
func traceSteps(tr *trace, r roles) []step {
	var rests []traceLine
	for _, l := range tr.lines {
		if l.Dir == "rest" {
			rests = append(rests, l)
		}
	}
	var out []step
	n := 0
	for _, l := range tr.lines {
		switch l.Dir {
		case "rest":
			size := ""
			if l.ContentLength != "" {
				size = fmt.Sprintf("<%s, %s bytes>", l.ContentType, l.ContentLength)
			}
			out = append(out, restStep(l.Method, l.Path, l.Status, l.Resp, size, r))
			n++
		case "event":
			st := eventStep(l.ev, r)
			st.ts, _ = time.Parse("2006-01-02T15:04:05.000-0700", l.ev.(orderedObject).str("timestamp"))
			st.lo, st.hi = n, n
			if n < len(rests) && l.Recv.After(rests[n].T) {
				st.hi = n + 1
			}
			out = append(out, st)
		}
	}
	return out
}

// fakeSteps: an event the fake produced while handling request p may sit before p's response
// or anywhere after it (real Asterisk sends some of them later still: queue-ring-all).
func fakeSteps(r replayed) []step {
	pos := map[int]int{}
	n := 0
	for _, rec := range r.log {
		if rec.Kind == aritest.KindREST {
			n++
			pos[rec.Seq] = n
		}
	}
	var out []step
	n = 0
	for _, rec := range r.log {
		switch rec.Kind {
		case aritest.KindREST:
			size := ""
			if rec.Method == "HEAD" || (rec.ContentType != "" && rec.ContentType != "application/json") {
				size = fmt.Sprintf("<%s, %d bytes>", rec.ContentType, rec.Length)
			}
			out = append(out, restStep(rec.Method, rec.Path, rec.Status, rec.Response, size, r.fakeRoles))
			n++
		case aritest.KindEvent:
			ev, err := parseOrdered(rec.Raw)
			if err != nil {
				panic(err)
			}
			st := eventStep(ev, r.fakeRoles)
			st.lo, st.hi = n, n
			if p, caused := pos[rec.Request]; caused && rec.Request != 0 {
				st.lo, st.hi = p-1, math.MaxInt
			}
			out = append(out, st)
		}
	}
	return out
}

// compare returns the differences between the real and the fake conversation:
//   - the same REST requests got the same status and (normalized) response;
//   - every event has a counterpart with the same type, subject and key facts;
//   - counterparts are equal, keys in order, once run-specific values are normalized;
//   - they sit between the same REST responses (within the tolerances above);
//   - they come in the same order, except two events Asterisk stamped within 1 ms of each
//     other about different channels: those come from different threads and race in
//     Asterisk itself (a Local pair's halves going Up, queue-answered vs -nosub).
func compare(tr *trace, r replayed) []string {
	want, got := traceSteps(tr, r.traceRoles), fakeSteps(r)
	var problems []string
	var wantRest, gotRest []step
	var wantEv, gotEv []step
	for _, st := range want {
		if st.rest {
			wantRest = append(wantRest, st)
		} else {
			wantEv = append(wantEv, st)
		}
	}
	for _, st := range got {
		if st.rest {
			gotRest = append(gotRest, st)
		} else {
			gotEv = append(gotEv, st)
		}
	}

	for i := range max(len(wantRest), len(gotRest)) {
		switch {
		case i >= len(gotRest):
			problems = append(problems, "REST missing: "+wantRest[i].String())
		case i >= len(wantRest):
			problems = append(problems, "REST extra: "+gotRest[i].String())
		case wantRest[i].method != gotRest[i].method || wantRest[i].path != gotRest[i].path || wantRest[i].status != gotRest[i].status || wantRest[i].resp != gotRest[i].resp:
			problems = append(problems, fmt.Sprintf("REST #%d differs:\n    real: %s\n    fake: %s", i+1, wantRest[i], gotRest[i]))
		}
	}

	match := make([]int, len(gotEv)) // fake event -> trace event, -1 if none
	used := make([]bool, len(wantEv))
	for i, g := range gotEv {
		match[i] = -1
		for j, w := range wantEv {
			if !used[j] && w.key == g.key {
				match[i], used[j] = j, true
				break
			}
		}
		if match[i] < 0 {
			problems = append(problems, "extra event: "+g.key)
			continue
		}
		w := wantEv[match[i]]
		if w.json != g.json {
			problems = append(problems, "event differs: "+g.key+"\n"+lineDiff(pretty(w.json), pretty(g.json)))
		}
		if g.hi < w.lo || w.hi < g.lo {
			problems = append(problems, fmt.Sprintf("event on the wrong side of a REST response: %s after %d responses, real Asterisk after %d..%d", g.key, g.lo, w.lo, w.hi))
		}
	}
	for j, w := range wantEv {
		if !used[j] {
			problems = append(problems, "missing event: "+w.key)
		}
	}
	for a := range gotEv {
		for b := a + 1; b < len(gotEv); b++ {
			ja, jb := match[a], match[b]
			if ja < 0 || jb < 0 || ja < jb {
				continue
			}
			wa, wb := wantEv[ja], wantEv[jb]
			if wa.subject != wb.subject && wa.ts.Sub(wb.ts).Abs() <= time.Millisecond {
				continue
			}
			problems = append(problems, fmt.Sprintf("order: fake sends %q before %q", gotEv[a].key, gotEv[b].key))
		}
	}
	return problems
}

func pretty(compact string) string {
	v, err := parseOrdered([]byte(compact))
	if err != nil {
		return compact
	}
	return render(v, "  ")
}

// lineDiff shows the lines of two documents that differ (-real, +fake), by longest common
// subsequence.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("      + " + y[j] + "\n")
			j++
		default:
			out.WriteString("      - " + x[i] + "\n")
			i++
		}
	}
	return out.String()
}
