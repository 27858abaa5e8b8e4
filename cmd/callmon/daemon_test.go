package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/cmd/callmon/config"
)

// e2e is the daemon running against the fake Asterisk on a manual clock,
// reached only over HTTP, as Prometheus and the agents' UI reach it.
type e2e struct {
	t     *testing.T
	clk   *aritest.ManualClock
	fake  *aritest.Server
	d     *daemon
	base  string // http://127.0.0.1:PORT of the API
	mbase string // http://127.0.0.1:PORT of /metrics
	cfg   *config.Config
	logs  *syncBuffer
	httpc *http.Client
}

func startE2E(t *testing.T, agents int, b aritest.Behaviour) *e2e {
	t.Helper()
	cfg := config.Demo(agents)
	cal, err := cfg.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	// A Monday morning: 10:00 in the calendar's zone, inside the interval 10:00-10:15.
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, cal.Location())
	clk := aritest.NewManualClock(start)
	const password = "demo"
	fake, err := aritest.New(aritest.Options{App: cfg.ARI.Application, User: cfg.ARI.User, Password: password, Clock: clk, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	for _, a := range cfg.Agents {
		fake.AddEndpoint(a.Endpoint, "online", b)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := startDaemon(ctx, daemonOptions{
		Config: withTestPrincipals(cfg), Password: password, Clock: clk, ARIURL: fake.URL(),
		ListenAddress: "127.0.0.1:0", APIListenAddress: "127.0.0.1:0", TelemetryPath: "/metrics",
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop) // before fake.Close: cleanups run last first
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CALLMON_TEST_LOG") != "" {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	e := &e2e{t: t, clk: clk, fake: fake, d: d, base: "http://" + d.APIAddr.String(), mbase: "http://" + d.Addr.String(), cfg: cfg, logs: logs,
		httpc: &http.Client{Timeout: waitFor}}
	e.await("callmon connected to the events websocket", fake.Connected)
	return e
}

// await waits for a condition on the fake's state, re-checked on every change.
func (e *e2e) await(what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := e.fake.Await(ctx, cond); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// do sends a request and decodes a JSON answer into v (if not nil).
func (e *e2e) do(method, path string, v any) (int, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	authorize(req, testSupervisor)
	resp, err := e.httpc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			e.t.Fatalf("%s %s: %d %q is not the JSON expected: %v", method, path, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// scrape fetches /metrics over HTTP and parses the exposition.
func (e *e2e) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp, err := e.httpc.Get(e.mbase + "/metrics")
	if err != nil {
		e.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("scrape: %s", resp.Status)
	}
	format := expfmt.ResponseFormat(resp.Header)
	if format.FormatType() != expfmt.TypeTextPlain {
		e.t.Fatalf("scrape without Accept: Content-Type %q, want the text format", resp.Header.Get("Content-Type"))
	}
	dec := expfmt.NewDecoder(resp.Body, format)
	mfs := map[string]*dto.MetricFamily{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			e.t.Fatalf("scrape: parsing the exposition: %v", err)
		}
		if mfs[mf.GetName()] != nil {
			e.t.Errorf("scrape: family %s exposed twice", mf.GetName())
		}
		mfs[mf.GetName()] = &mf
	}
	return mfs
}

// value sums the samples of a family whose labels match the name/value pairs;
// for a histogram it sums the sample counts.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	sum := 0.0
	for _, m := range series(mfs, name, labels...) {
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

func series(mfs map[string]*dto.MetricFamily, name string, labels ...string) []*dto.Metric {
	var out []*dto.Metric
	mf := mfs[name]
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
		out = append(out, m)
	}
	return out
}

// bucket is the cumulative count at upper bound le of a histogram's series.
func bucket(mfs map[string]*dto.MetricFamily, name string, le float64, labels ...string) (float64, bool) {
	sum, ok := 0.0, false
	for _, m := range series(mfs, name, labels...) {
		for _, b := range m.GetHistogram().GetBucket() {
			if b.GetUpperBound() == le {
				sum += float64(b.GetCumulativeCount())
				ok = true
			}
		}
	}
	return sum, ok
}

// eventuallyMetric scrapes until the metric has the value wanted.
func (e *e2e) eventuallyMetric(want float64, name string, labels ...string) {
	e.t.Helper()
	var got float64
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if got = value(e.scrape(), name, labels...); got == want {
			return
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("timed out waiting for %s%v = %v; it is %v", name, labels, want, got)
		case <-tick.C:
		}
	}
}

// ringing is the number of live agent channels that ring.
func (e *e2e) ringing() int {
	n := 0
	for _, c := range e.fake.Channels() {
		if c.Alive && strings.HasPrefix(c.Endpoint, "PJSIP/") && c.State == "Ringing" {
			n++
		}
	}
	return n
}

func (e *e2e) call(number string) *aritest.Caller {
	e.t.Helper()
	q := e.cfg.Queues[0]
	c, err := e.fake.Call(aritest.CallSpec{Exten: q.Numbers[0], Args: []string{"queue", q.Name},
		CallerName: "Caller " + number, CallerNumber: number})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestDaemonAgentAPI(t *testing.T) {
	e := startE2E(t, 3, aritest.Behaviour{AnswerAfter: 4 * time.Second})

	var list []ari.AgentStatus
	code, hdr := e.do("GET", "/api/agents", &list)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/agents: %d %q, want 200 JSON", code, hdr.Get("Content-Type"))
	}
	if len(list) != 3 {
		t.Fatalf("GET /api/agents: %d agents, want 3: %+v", len(list), list)
	}
	for i, a := range list {
		if want := fmt.Sprintf("agent%02d", i+1); a.ID != want {
			t.Errorf("agent %d: id %q, want %q (configuration order)", i, a.ID, want)
		}
		if a.State != ari.StateLoggedOut || a.LoggedIn {
			t.Errorf("agent %s before login: %+v, want logged out", a.ID, a)
		}
		if want := fmt.Sprintf("PJSIP/%d", 1001+i); a.Endpoint != want {
			t.Errorf("agent %s: endpoint %q, want %q", a.ID, a.Endpoint, want)
		}
		if len(a.Queues) != 1 || a.Queues[0] != "general" {
			t.Errorf("agent %s: queues %v, want [general]", a.ID, a.Queues)
		}
	}

	for _, a := range e.cfg.Agents {
		var st ari.AgentStatus
		code, hdr := e.do("POST", "/api/agents/"+a.ID+"/login", &st)
		if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Fatalf("POST /api/agents/%s/login: %d %q, want 200 JSON", a.ID, code, hdr.Get("Content-Type"))
		}
		if st.ID != a.ID || !st.LoggedIn || st.Paused {
			t.Errorf("after login: %+v", st)
		}
		// Available once callmon has seen the phone online (at connect).
		if st.State != ari.StateAvailable && st.State != ari.StateOffline {
			t.Errorf("after login: state %q, want available (or offline until the endpoint is known)", st.State)
		}
	}
	eventually(t, "all agents available", func() bool {
		var list []ari.AgentStatus
		e.do("GET", "/api/agents", &list)
		for _, a := range list {
			if a.State != ari.StateAvailable || !a.Online {
				return false
			}
		}
		return len(list) == 3
	})
	e.eventuallyMetric(3, "callmon_agents", "queue", "general", "state", "available")

	var st ari.AgentStatus
	if code, _ := e.do("POST", "/api/agents/agent02/pause", &st); code != http.StatusOK || st.State != ari.StatePaused || !st.Paused {
		t.Errorf("pause: %d %+v", code, st)
	}
	if code, _ := e.do("GET", "/api/agents/agent02", &st); code != http.StatusOK || st.State != ari.StatePaused {
		t.Errorf("GET /api/agents/agent02 after pause: %d %+v", code, st)
	}
	e.eventuallyMetric(1, "callmon_agents", "queue", "general", "state", "paused")
	if code, _ := e.do("POST", "/api/agents/agent02/unpause", &st); code != http.StatusOK || st.State != ari.StateAvailable {
		t.Errorf("unpause: %d %+v", code, st)
	}
	if code, _ := e.do("POST", "/api/agents/agent03/logout", &st); code != http.StatusOK || st.State != ari.StateLoggedOut || st.LoggedIn {
		t.Errorf("logout: %d %+v", code, st)
	}
	e.eventuallyMetric(1, "callmon_agents", "queue", "general", "state", "logged_out")
	e.eventuallyMetric(2, "callmon_agents", "queue", "general", "state", "available")

	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/api/agents/nobody/login", "unknown agent"},
		{"GET", "/api/agents/nobody", "unknown agent"},
		{"POST", "/api/agents/agent01/dance", "unknown action dance"},
		{"POST", "/api/agents/nobody/dance", "unknown action dance"},
	} {
		var apiErr struct {
			Error string `json:"error"`
		}
		code, hdr := e.do(tc.method, tc.path, &apiErr)
		if code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", tc.method, tc.path, code)
		}
		if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: Content-Type %q, want JSON", tc.method, tc.path, hdr.Get("Content-Type"))
		}
		if !strings.Contains(apiErr.Error, tc.want) {
			t.Errorf("%s %s: error %q does not contain %q", tc.method, tc.path, apiErr.Error, tc.want)
		}
	}
	// A refused action changes nothing.
	if _, _ = e.do("GET", "/api/agents/agent01", &st); st.State != ari.StateAvailable {
		t.Errorf("agent01 after a bad action: %+v", st)
	}

	// The landing page links the metrics.
	resp, err := e.httpc.Get(e.mbase + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "/metrics") {
		t.Errorf("GET /: %s, want a landing page linking /metrics:\n%s", resp.Status, body)
	}
}

// families is every metric family callmon promises, with its type.
var families = map[string]dto.MetricType{
	"callmon_calls_offered_total":                   dto.MetricType_COUNTER,
	"callmon_calls_answered_total":                  dto.MetricType_COUNTER,
	"callmon_calls_answered_within_threshold_total": dto.MetricType_COUNTER,
	"callmon_calls_abandoned_total":                 dto.MetricType_COUNTER,
	"callmon_calls_short_abandoned_total":           dto.MetricType_COUNTER,
	"callmon_calls_total":                           dto.MetricType_COUNTER,
	"callmon_queue_wait_seconds":                    dto.MetricType_HISTOGRAM,
	"callmon_queue_time_seconds":                    dto.MetricType_HISTOGRAM,
	"callmon_queue_threshold_seconds":               dto.MetricType_GAUGE,
	"callmon_queue_target_ratio":                    dto.MetricType_GAUGE,
	"callmon_service_level_ratio":                   dto.MetricType_GAUGE,
	"callmon_window_calls":                          dto.MetricType_GAUGE,
	"callmon_calls_waiting":                         dto.MetricType_GAUGE,
	"callmon_oldest_waiting_call_seconds":           dto.MetricType_GAUGE,
	"callmon_agents":                                dto.MetricType_GAUGE,
	"callmon_ari_connected":                         dto.MetricType_GAUGE,
	"callmon_ari_reconnects_total":                  dto.MetricType_COUNTER,
	"callmon_ari_events_total":                      dto.MetricType_COUNTER,
	"callmon_ari_events_skipped_total":              dto.MetricType_COUNTER,
	"callmon_ari_events_dropped_total":              dto.MetricType_COUNTER,
	"callmon_ari_event_lag_seconds":                 dto.MetricType_HISTOGRAM,
	"callmon_ari_processing_queue_depth":            dto.MetricType_GAUGE,
	"callmon_build_info":                            dto.MetricType_GAUGE,
	"callmon_presence_unsaved_changes":              dto.MetricType_GAUGE,
	"go_goroutines":                                 dto.MetricType_GAUGE,
}

// lazyFamilies are promised families whose series appear with their first
// event: events by type have no meaningful zero series.
var lazyFamilies = map[string]bool{
	"callmon_ari_events_total": true,
}

// checkFamilies reports every promised family missing from mfs or of the
// wrong type (lazy families may be missing when allowLazy), and the absence
// of process_ metrics.
func checkFamilies(t *testing.T, mfs map[string]*dto.MetricFamily, allowLazy bool) {
	t.Helper()
	for name, typ := range families {
		mf := mfs[name]
		switch {
		case mf == nil && allowLazy && lazyFamilies[name]:
			t.Logf("known gap: metric family %s is not exposed yet", name)
		case mf == nil:
			t.Errorf("metric family %s is not exposed", name)
		case mf.GetType() != typ:
			t.Errorf("metric family %s is a %v, want a %v", name, mf.GetType(), typ)
		case len(mf.GetMetric()) == 0:
			t.Errorf("metric family %s has no series", name)
		}
	}
	process := false
	for name := range mfs {
		process = process || strings.HasPrefix(name, "process_")
	}
	if !process && runtime.GOOS == "linux" {
		t.Errorf("no process_ metrics exposed")
	}
}

// TestDaemonMetricsBeforeAnyCall: a fresh daemon exposes every family, so
// dashboards and alerts see zeros rather than no data.
func TestDaemonMetricsBeforeAnyCall(t *testing.T) {
	e := startE2E(t, 2, aritest.Behaviour{})
	e.eventuallyMetric(1, "callmon_ari_connected")
	mfs := e.scrape()
	checkFamilies(t, mfs, true)
	for _, name := range []string{"callmon_calls_offered_total", "callmon_calls_waiting", "callmon_ari_events_dropped_total", "callmon_ari_reconnects_total"} {
		if got := value(mfs, name); got != 0 {
			t.Errorf("%s = %v before any call, want 0", name, got)
		}
	}
	for _, w := range []string{"today", "interval"} {
		if got := value(mfs, "callmon_service_level_ratio", "queue", "general", "window", w); got != 1 {
			t.Errorf("service level %s = %v with no calls, want 1 (nothing missed)", w, got)
		}
	}
}

func TestDaemonEndToEndMetrics(t *testing.T) {
	e := startE2E(t, 3, aritest.Behaviour{AnswerAfter: 4 * time.Second})
	for _, a := range e.cfg.Agents {
		if code, _ := e.do("POST", "/api/agents/"+a.ID+"/login", nil); code != http.StatusOK {
			t.Fatalf("login %s: %d", a.ID, code)
		}
	}
	e.eventuallyMetric(3, "callmon_agents", "queue", "general", "state", "available")

	// Call 1: an agent answers after 4 s, within the 30 s threshold.
	c1 := e.call("0612345678")
	e.await("an agent's phone ringing", func() bool { return e.ringing() == 1 })
	e.eventuallyMetric(1, "callmon_calls_waiting", "queue", "general")
	e.eventuallyMetric(1, "callmon_agents", "queue", "general", "state", "ringing")
	e.clk.Advance(4 * time.Second)
	e.eventuallyMetric(1, "callmon_calls_answered_total", "queue", "general")
	e.eventuallyMetric(1, "callmon_agents", "queue", "general", "state", "on_call")

	// A frame callmon cannot use is skipped and counted, not fatal.
	e.fake.SendRaw([]byte(`{"type":"NoSuchEvent","application":"callmon"}`))
	e.eventuallyMetric(1, "callmon_ari_events_skipped_total", "type", "unknown")

	// Scrape while a call is in progress: every family is there.
	mfs := e.scrape()
	checkFamilies(t, mfs, false)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"callmon_calls_offered_total", []string{"queue", "general"}, 1},
		{"callmon_calls_answered_within_threshold_total", []string{"queue", "general"}, 1},
		{"callmon_calls_waiting", []string{"queue", "general"}, 0},
		{"callmon_oldest_waiting_call_seconds", []string{"queue", "general"}, 0},
		{"callmon_queue_threshold_seconds", []string{"queue", "general"}, 30},
		{"callmon_queue_target_ratio", []string{"queue", "general"}, 0.9},
		{"callmon_service_level_ratio", []string{"queue", "general", "window", "today"}, 1},
		{"callmon_service_level_ratio", []string{"queue", "general", "window", "interval"}, 1},
		{"callmon_window_calls", []string{"queue", "general", "window", "today", "class", "answered_within_threshold"}, 1},
		{"callmon_queue_wait_seconds", []string{"queue", "general"}, 1},
		{"callmon_agents", []string{"queue", "general", "state", "available"}, 2},
		{"callmon_ari_connected", nil, 1},
		{"callmon_ari_reconnects_total", nil, 0},
		{"callmon_ari_events_dropped_total", nil, 0},
		{"callmon_build_info", []string{"version", version, "goversion", runtime.Version()}, 1},
	}
	for _, c := range checks {
		if got := value(mfs, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n, ok := bucket(mfs, "callmon_queue_wait_seconds", 30, "queue", "general"); !ok || n != 1 {
		t.Errorf(`callmon_queue_wait_seconds{le="30"} = %v (present %v), want 1`, n, ok)
	}
	if n, _ := bucket(mfs, "callmon_queue_wait_seconds", 2, "queue", "general"); n != 0 {
		t.Errorf(`callmon_queue_wait_seconds{le="2"} = %v, want 0: the wait was 4 s`, n)
	}
	if s := series(mfs, "callmon_queue_wait_seconds", "queue", "general"); len(s) == 1 && s[0].GetHistogram().GetSampleSum() != 4 {
		t.Errorf("callmon_queue_wait_seconds sum = %v, want exactly 4 (Asterisk's timestamps)", s[0].GetHistogram().GetSampleSum())
	}
	for _, typ := range []string{"StasisStart", "Dial", "ChannelEnteredBridge"} {
		if value(mfs, "callmon_ari_events_total", "type", typ) < 1 {
			t.Errorf("callmon_ari_events_total{type=%q} not counted", typ)
		}
	}
	if value(mfs, "callmon_ari_event_lag_seconds") < 1 {
		t.Errorf("callmon_ari_event_lag_seconds observed nothing")
	}
	lintExposition(t, mfs)

	// The caller hangs up: the call finishes as answered, the agent is free.
	c1.Hangup()
	e.eventuallyMetric(1, "callmon_calls_total", "queue", "general", "outcome", "answered")
	e.eventuallyMetric(3, "callmon_agents", "queue", "general", "state", "available")

	// Call 2: nobody answers and the caller gives up after 10 s: abandoned.
	for _, a := range e.cfg.Agents {
		e.fake.SetBehaviour(a.Endpoint, aritest.Behaviour{NoAnswer: true})
	}
	c2 := e.call("0687654321")
	e.await("an agent's phone ringing", func() bool { return e.ringing() == 1 })
	e.clk.Advance(10 * time.Second)
	e.eventuallyMetric(10, "callmon_oldest_waiting_call_seconds", "queue", "general")
	c2.Hangup()
	e.eventuallyMetric(1, "callmon_calls_abandoned_total", "queue", "general")
	e.eventuallyMetric(1, "callmon_calls_total", "queue", "general", "outcome", "abandoned")
	e.eventuallyMetric(0, "callmon_calls_waiting", "queue", "general")
	e.await("callmon hung up the ringing agent", func() bool { return e.ringing() == 0 })

	// Call 3: the caller hangs up within 5 s: a short abandon, outside the SL.
	c3 := e.call("0611111111")
	e.await("an agent's phone ringing", func() bool { return e.ringing() == 1 })
	e.clk.Advance(2 * time.Second)
	c3.Hangup()
	e.eventuallyMetric(1, "callmon_calls_short_abandoned_total", "queue", "general")

	mfs = e.scrape()
	checkFamilies(t, mfs, false)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"callmon_calls_offered_total", []string{"queue", "general"}, 3},
		{"callmon_calls_answered_total", []string{"queue", "general"}, 1},
		{"callmon_calls_abandoned_total", []string{"queue", "general"}, 1},
		{"callmon_calls_short_abandoned_total", []string{"queue", "general"}, 1},
		{"callmon_calls_total", []string{"queue", "general"}, 3},
		{"callmon_queue_time_seconds", []string{"queue", "general"}, 3},
		{"callmon_queue_time_seconds", []string{"queue", "general", "outcome", "abandoned"}, 1},
		// 1 answered within threshold of 3 offered less 1 short abandon.
		{"callmon_service_level_ratio", []string{"queue", "general", "window", "today"}, 0.5},
		{"callmon_service_level_ratio", []string{"queue", "general", "window", "interval"}, 0.5},
		{"callmon_window_calls", []string{"queue", "general", "window", "today", "class", "offered"}, 3},
		{"callmon_window_calls", []string{"queue", "general", "window", "today", "class", "short_abandoned"}, 1},
		{"callmon_ari_events_dropped_total", nil, 0},
	} {
		if got := value(mfs, c.name, c.labels...); got != c.want {
			t.Errorf("at the end: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// Every call's flow ends and its mailbox drains.
	eventually(t, "callmon to forget the finished calls", func() bool { return e.d.App.Calls() == 0 })
	e.eventuallyMetric(0, "callmon_ari_processing_queue_depth")
	e.eventuallyMetric(3, "callmon_agents", "queue", "general", "state", "available")

	// A lost websocket is counted and healed.
	e.fake.DropConnections()
	e.eventuallyMetric(1, "callmon_ari_reconnects_total")
	e.eventuallyMetric(1, "callmon_ari_connected")
}

// lintExposition runs promlint over callmon's own families.
func lintExposition(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	var own []*dto.MetricFamily
	for name, mf := range mfs {
		if strings.HasPrefix(name, "callmon_") {
			own = append(own, mf)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(own).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
