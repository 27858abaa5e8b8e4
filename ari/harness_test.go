package ari_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/metrics"
)

// start is a Monday inside opening hours; tests that need "open" use it.
var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return loc
}()

type harness struct {
	t     testing.TB
	clock *aritest.ManualClock
	fake  *aritest.Server
	reg   *prometheus.Registry
	m     *metrics.Metrics
	app   *ari.App
	logs  *logBuffer
	recs  *recordSink
	cfg   ari.Config           // the App's configuration, for restart
	jrnl  *memJournal          // what a database would keep of calls in progress
	ids   []string             // agent ids
	light *prometheus.Registry // reg without the Go and process collectors: cheap to poll
	prog  *progress
}

// progress counts what callmon reports through its callbacks (answers
// journaled, call records), so a waiter wakes when they change instead of
// polling the metrics. The callbacks run on callmon's call goroutines and take
// no lock here: one waiter at a time, woken through a one-slot channel that
// keeps a wake-up sent between its check and its wait.
type progress struct {
	answered, records atomic.Int64
	wake              chan struct{}
}

func newProgress() *progress { return &progress{wake: make(chan struct{}, 1)} }

func (p *progress) note(answered, records int64) {
	p.answered.Add(answered)
	p.records.Add(records)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *progress) read() (answered, records int) {
	return int(p.answered.Load()), int(p.records.Load())
}

// lightRegisterer registers every collector in all, and those that are not
// the Go runtime's or the process's (whose Collect reads /proc) also in light.
type lightRegisterer struct{ all, light *prometheus.Registry }

func (r lightRegisterer) Register(c prometheus.Collector) error {
	if err := r.all.Register(c); err != nil {
		return err
	}
	if runtimeCollector(c) {
		return nil
	}
	return r.light.Register(c)
}

func (r lightRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r lightRegisterer) Unregister(c prometheus.Collector) bool {
	r.light.Unregister(c)
	return r.all.Unregister(c)
}

// runtimeCollector reports whether every metric c describes is go_* or process_*.
func runtimeCollector(c prometheus.Collector) bool {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	runtime, described := true, false
	for d := range ch {
		described = true
		name := d.String()
		runtime = runtime && (strings.Contains(name, `fqName: "go_`) || strings.Contains(name, `fqName: "process_`))
	}
	return described && runtime
}

// recordSink collects the call records callmon emits.
type recordSink struct {
	mu   sync.Mutex
	recs []ari.CallRecord
}

func (r *recordSink) add(rec ari.CallRecord) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recordSink) all() []ari.CallRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ari.CallRecord(nil), r.recs...)
}

type harnessOptions struct {
	agents      int    // agents a1..aN on PJSIP/1001.. (default 3)
	strategy    string // default longest-idle
	ringTimeout time.Duration
	threshold   time.Duration
	closed      bool // the calendar says closed
	order       aritest.Order
	behaviour   aritest.Behaviour
	offline     []int // agent numbers whose endpoint starts offline
	noLogin     bool
	welcome     string // queue welcome prompt
	logLimit    int    // records the fake keeps (0 = all); benchmarks bound it
	callbacks   *fakeCallbacks
	offerAfter  time.Duration
	announce    time.Duration // Queue.AnnounceEvery
	offerWait   time.Duration // Queue.CallbackOfferExpected
	voicemail   *fakeVoicemail
	employee    *employeePhone // an employee "erik" on 0503161234 (PJSIP/2001)
	maxConns    int            // Config.MaxConns (0 = its default)
	restIdle    time.Duration  // Config.RESTIdleTimeout (0 = its default)
	restTimeout time.Duration  // Config.RESTTimeout (0 = its default)
	fence       func() bool    // Config.Fence
	keepAlive   time.Duration  // the fake's keep-alive (0 = Asterisk's 15 s, negative = off: one request per connection)
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	if o.agents == 0 {
		o.agents = 3
	}
	if o.ringTimeout == 0 {
		o.ringTimeout = 15 * time.Second
	}
	if o.threshold == 0 {
		o.threshold = 30 * time.Second
	}
	if o.order == 0 {
		o.order = aritest.OrderRandom
	}
	clk := aritest.NewManualClock(start)
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "s3cret", Clock: clk, Seed: 7, Order: o.order, LogLimit: o.logLimit, KeepAlive: o.keepAlive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	var agents []ari.Agent
	var ids []string
	for i := 1; i <= o.agents; i++ {
		ep := fmt.Sprintf("PJSIP/%d", 1000+i)
		state := "online"
		for _, off := range o.offline {
			if off == i {
				state = "offline"
			}
		}
		fake.AddEndpoint(ep, state, o.behaviour)
		id := fmt.Sprintf("a%d", i)
		agents = append(agents, ari.Agent{ID: id, Name: "Agent " + id, Endpoint: ep})
		ids = append(ids, id)
	}
	reg, light := prometheus.NewRegistry(), prometheus.NewRegistry()
	m, err := metrics.New(lightRegisterer{all: reg, light: light}, clk, amsterdam, []metrics.Queue{{Name: "general", Threshold: o.threshold}, {Name: ari.DirectQueue}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	recs := &recordSink{}
	jrnl := newMemJournal()
	prog := newProgress()
	cfg := ari.Config{
		URL: fake.URL(), User: "callmon", Password: "s3cret", Application: "callmon",
		Queues: []ari.Queue{{Name: "general", Threshold: o.threshold, ShortAbandon: 5 * time.Second, Numbers: []string{"0503164911"}, Strategy: o.strategy, RingTimeout: o.ringTimeout,
			ClosedPrompt: "sound:custom/closed", WelcomePrompt: o.welcome, Agents: ids, CallbackOfferAfter: o.offerAfter,
			AnnounceEvery: o.announce, CallbackOfferExpected: o.offerWait}},
		Agents:   agents,
		Open:     func(time.Time) bool { return !o.closed },
		Location: amsterdam,
		Clock:    clk,
		Log:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  m,
		Record: func(r ari.CallRecord) {
			recs.add(r)
			jrnl.finish(r)
			prog.note(0, 1)
		},
		Journal: func(r ari.CallRecord) {
			jrnl.add(r)
			if r.Stage == ari.StageAnswered {
				prog.note(1, 0)
			}
		},
		LiveCalls: jrnl.live,
		// Automatic callbacks dial customers through the trunk (dial_test.go).
		OutboundEndpoint: "PJSIP/{number}@pstn",
		MaxConns:         o.maxConns,
		RESTIdleTimeout:  o.restIdle,
		RESTTimeout:      o.restTimeout,
		Fence:            o.fence,
	}
	if o.callbacks != nil {
		cfg.Callbacks = o.callbacks
	}
	if o.voicemail != nil {
		cfg.Voicemail = o.voicemail
	}
	if o.employee != nil {
		state := "online"
		if o.employee.Offline {
			state = "offline"
		}
		fake.AddEndpoint("PJSIP/2001", state, o.employee.Behaviour)
		cfg.Employees = []ari.Employee{{ID: "erik", Name: "Erik Smit", Numbers: []string{"0503161234"}, Endpoint: "PJSIP/2001"}}
	}
	app, err := ari.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Stop)
	h := &harness{t: t, clock: clk, fake: fake, reg: reg, m: m, app: app, logs: logs, recs: recs, cfg: cfg, jrnl: jrnl, ids: ids, light: light, prog: prog}
	h.await("app connected", fake.Connected)
	if !o.noLogin {
		for _, id := range ids {
			if _, err := app.Agents().Set(ari.PresenceChange{Agent: id, Action: ari.ActionLogin}); err != nil {
				t.Fatal(err)
			}
		}
		h.eventually("agents available", func() bool {
			return h.value("callmon_agents", "state", "available") == float64(o.agents-len(o.offline))
		})
	}
	return h
}

const wait = 10 * time.Second

// await waits for a condition on the fake's state; it is re-checked on
// every change the fake sees.
func (h *harness) await(what string, cond func() bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.fake.Await(ctx, cond); err != nil {
		h.t.Fatalf("waiting for %s: %v\nlog:\n%s", what, err, h.logs)
	}
}

// eventually waits for a condition on callmon's side (its metrics), which
// the fake cannot observe; it polls until a deadline, every 50 µs at first
// and backing off to every millisecond.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	pause := 50 * time.Microsecond
	tick := time.NewTimer(pause)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s\nlog:\n%s", what, h.logs)
		case <-tick.C:
			pause = min(2*pause, time.Millisecond)
			tick.Reset(pause)
		}
	}
}

// until waits for a condition on what callmon reported through its
// callbacks (answers journaled, call records), re-checked on every report.
func (h *harness) until(what string, cond func(answered, records int) bool) {
	h.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		answered, records := h.prog.read()
		if cond(answered, records) {
			return
		}
		select {
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s (answered %d, records %d)\nlog:\n%s", what, answered, records, h.logs)
		case <-h.prog.wake:
		}
	}
}

// call places a caller in queue general.
func (h *harness) call(number string) *aritest.Caller {
	h.t.Helper()
	c, err := h.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"},
		CallerName: "Caller", CallerNumber: number})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// ringing is the number of live channels on endpoint ep that are not Up.
func (h *harness) ringing(ep string) int {
	n := 0
	for _, c := range h.fake.Channels() {
		if c.Alive && c.Endpoint == ep && c.State == "Ringing" {
			n++
		}
	}
	return n
}

func (h *harness) totalRinging() int {
	n := 0
	for _, c := range h.fake.Channels() {
		if c.Alive && strings.HasPrefix(c.Endpoint, "PJSIP/") && c.State == "Ringing" {
			n++
		}
	}
	return n
}

// bridgedWith reports whether the caller shares a mixing bridge with a
// channel on endpoint ep.
func (h *harness) bridgedWith(caller, ep string) bool {
	chans := map[string]aritest.ChannelInfo{}
	for _, c := range h.fake.Channels() {
		chans[c.ID] = c
	}
	for _, b := range h.fake.Bridges() {
		if b.Type != "mixing" {
			continue
		}
		hasCaller, hasAgent := false, false
		for _, id := range b.Channels {
			hasCaller = hasCaller || id == caller
			hasAgent = hasAgent || (chans[id].Endpoint == ep && chans[id].Alive)
		}
		if hasCaller && hasAgent {
			return true
		}
	}
	return false
}

func (h *harness) alive(id string) bool {
	c, ok := h.fake.Channel(id)
	return ok && c.Alive
}

// value sums the samples of a metric whose labels match the pairs given.
// callmon's own metrics are gathered without the Go and process collectors.
func (h *harness) value(name string, labels ...string) float64 {
	h.t.Helper()
	g := h.light
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		g = h.reg
	}
	mfs, err := g.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	return sumMetric(mfs, name, labels...)
}

func sumMetric(mfs []*dto.MetricFamily, name string, labels ...string) float64 {
	sum := 0.0
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
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// bucket is the cumulative count of a histogram series at bucket le.
func (h *harness) bucket(name string, le float64, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	sum := 0.0
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
			for _, b := range m.GetHistogram().GetBucket() {
				if b.GetUpperBound() == le {
					sum += float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return sum
}

// finished is the number of calls with a final outcome (excluding closed).
func (h *harness) finished() float64 {
	return h.value("callmon_calls_answered_total") + h.value("callmon_calls_abandoned_total") +
		h.value("callmon_calls_short_abandoned_total")
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if os.Getenv("CALLMON_TEST_LOG") != "" {
		os.Stderr.Write(p)
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > 20000 {
		s = "...\n" + s[len(s)-20000:]
	}
	return s
}

func (l *logBuffer) contains(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), sub)
}
