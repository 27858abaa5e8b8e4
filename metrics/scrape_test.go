package metrics

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The figures of the waiting calls are kept as calls come and go; this
// checks them after every step of a random run against the definition,
// computed from every waiting call: across interval and day boundaries,
// with calls entered before the current window and crossing the threshold
// between scrapes.
func TestWaitingFiguresMatchDefinition(t *testing.T) {
	start := local(23, 40, 0, 0) // the run crosses midnight and several quarter hours
	f := newFixture(t, start, Queue{Name: "general", Threshold: 20 * time.Second, ShortAbandon: 3 * time.Second})
	rng := rand.New(rand.NewPCG(1, 2))
	const thresholdMs = 20_000
	waiting := map[string]int64{} // the model: call id → entry
	now := start
	next := 0
	for step := range 3000 {
		now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
		f.clk.Set(now)
		switch r := rng.IntN(10); {
		case r < 5 || len(waiting) == 0:
			// Mostly now; sometimes up to two minutes back (a replayed
			// or resumed call), so entries reach into earlier windows.
			entry := now
			if rng.IntN(4) == 0 {
				entry = now.Add(-time.Duration(rng.IntN(120_000)) * time.Millisecond)
			}
			id := fmt.Sprint("c", next)
			next++
			if rng.IntN(5) == 0 {
				if !f.m.Resumed("general", id, entry, time.Time{}) {
					t.Fatalf("step %d: Resumed %s = false", step, id)
				}
			} else if !f.m.Entered("general", id, entry) {
				t.Fatalf("step %d: Entered %s = false", step, id)
			}
			waiting[id] = entry.UnixMilli()
		default:
			var id string
			for id = range waiting {
				break
			}
			var ok bool
			switch rng.IntN(5) {
			case 0:
				ok = f.m.Answered("general", id, now)
			case 1:
				ok = f.m.Abandoned("general", id, now)
			case 2:
				ok = f.m.Left("general", id, Callback, now)
			case 3:
				ok = f.m.Handed("general", id)
			default:
				ok = f.m.Left("general", id, Transferred, now)
			}
			if !ok {
				t.Fatalf("step %d: finishing %s = false", step, id)
			}
			delete(waiting, id)
		}
		if step%7 != 0 {
			continue // scrape now and then, so calls cross the threshold between scrapes
		}
		nowMs := now.UnixMilli()
		dayStart, dayEnd := dayBounds(now, amsterdam)
		intStart, intEnd := intervalBounds(now, amsterdam)
		var oldestMs int64
		overToday, overInterval := 0, 0
		for _, e := range waiting {
			oldestMs = max(oldestMs, nowMs-e)
			if nowMs-e <= thresholdMs {
				continue
			}
			if e >= dayStart && e < dayEnd {
				overToday++
			}
			if e >= intStart && e < intEnd {
				overInterval++
			}
		}
		what := func(s string) string { return fmt.Sprintf("step %d at %s: %s", step, now.Format("15:04:05.000"), s) }
		assertEq(t, what("waiting"), f.value("callmon_calls_waiting", "queue", "general"), float64(len(waiting)))
		assertEq(t, what("oldest"), f.value("callmon_oldest_waiting_call_seconds", "queue", "general"), msSeconds(oldestMs))
		assertEq(t, what("over today"), f.window("today", "waiting_over_threshold"), float64(overToday))
		assertEq(t, what("over interval"), f.window("interval", "waiting_over_threshold"), float64(overInterval))
		if t.Failed() {
			return
		}
	}
	if now.Day() == start.Day() {
		t.Fatalf("the run ended at %v, before midnight", now)
	}
}

// A scrape must not do work per waiting call. Allocations, unlike time,
// do not depend on the machine's load: the per-queue series allocate
// nothing when callmon's handler writes them and the same two blocks at
// any number of waiting calls when the registry collects them, and a whole
// /metrics request allocates the same at 100 and at 10,000 waiting.
func TestScrapeAllocationsIndependentOfWaiting(t *testing.T) {
	type result struct{ text, collect, callmon, promhttp float64 }
	measure := func(waiting int) (r result) {
		clk := &fakeClock{t: local(10, 0, 0, 0)}
		m, reg := scrapeSetup(t, clk, 20, 200, waiting)
		// Every call has waited past the threshold by the first scrape.
		clk.Set(local(11, 0, 0, 0))
		c := m.perQueue
		var s scrape
		var buf []byte
		text := func() {
			c.gather(&s)
			buf = c.appendText(buf[:0], &s, nil)
		}
		text()
		r.text = testing.AllocsPerRun(50, text)
		ch := make(chan prometheus.Metric, samplesPerQueue*20)
		r.collect = testing.AllocsPerRun(50, func() {
			c.Collect(ch)
			for len(ch) > 0 {
				<-ch
			}
		})
		if raceEnabled {
			return r // the race detector makes sync.Pool drop items at random
		}
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		w := &bodyWriter{hdr: http.Header{}}
		for name, h := range handlers(reg) {
			scrapeOnce(t, h, req, w)
			n := testing.AllocsPerRun(20, func() { scrapeOnce(t, h, req, w) })
			if name == "callmon" {
				r.callmon = n
			} else {
				r.promhttp = n
			}
		}
		return r
	}
	few, many := measure(100), measure(10_000)
	t.Logf("allocations per scrape at 100 waiting: %+v, at 10,000: %+v", few, many)
	if few.text != 0 || many.text != 0 {
		t.Errorf("writing the queue series allocates: %v at 100 waiting, %v at 10,000", few.text, many.text)
	}
	if few.collect != many.collect || !raceEnabled && many.collect > 2 {
		t.Errorf("collecting the queue series: %v allocations at 100 waiting, %v at 10,000; want the same, at most 2", few.collect, many.collect)
	}
	// The go_ and process_ collectors, promhttp and expfmt use pools that a
	// garbage collection may empty: a few allocations either way.
	for _, d := range []float64{many.callmon - few.callmon, many.promhttp - few.promhttp} {
		if d > 10 || d < -10 {
			t.Errorf("whole scrape: %+v allocations at 10,000 waiting vs %+v at 100", many, few)
		}
	}
}

// callmonLines are the lines of the callmon_ families of a text exposition,
// sorted, and whether each family's lines came together (the format's rule).
func callmonLines(t *testing.T, body []byte) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(bytes.NewReader(body)); err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	var lines []string
	seen := map[string]bool{}
	last := ""
	for line := range strings.Lines(string(body)) {
		name := line
		if f := strings.Fields(line); len(f) > 2 && f[0] == "#" {
			name = f[2]
		}
		name = strings.TrimRight(strings.SplitN(name, "{", 2)[0], " \n")
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && seen[b] {
				name = b
			}
		}
		if name != last && seen[name] {
			t.Errorf("family %s is split", name)
		}
		seen[name], last = true, name
		if strings.HasPrefix(name, "callmon_") {
			lines = append(lines, line)
		}
	}
	slices.Sort(lines)
	return lines
}

// The handler writes the per-queue series itself; what it serves must be
// what promhttp serves from the whole registry, also gzipped, and a format
// other than text must still have them.
func TestHandlerServesWhatPromhttpServes(t *testing.T) {
	clk := &fakeClock{t: local(10, 0, 0, 0)}
	m, reg := scrapeSetup(t, clk, 7, 30, 500)
	m.SetAgents("queue3", map[string]int{"available": 3, "paused": 1})
	clk.Set(local(10, 0, 45, 0))
	hs := handlers(reg)
	get := func(h http.Handler, header ...string) ([]byte, http.Header) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		return w.Body.Bytes(), w.Header()
	}
	want, _ := get(hs["promhttp"])
	got, hdr := get(hs["callmon"])
	wantLines, gotLines := callmonLines(t, want), callmonLines(t, got)
	if len(wantLines) < 7*172 {
		t.Fatalf("promhttp served %d callmon_ lines, want at least %d", len(wantLines), 7*172)
	}
	if !slices.Equal(gotLines, wantLines) {
		t.Errorf("callmon handler and promhttp differ:\n%s", lineDiff(gotLines, wantLines))
	}
	if ct := hdr.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" {
		t.Errorf("Content-Type %q", ct)
	}

	zipped, hdr := get(hs["callmon"], "Accept-Encoding", "gzip")
	if hdr.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", hdr.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if l := callmonLines(t, unzipped); !slices.Equal(l, wantLines) {
		t.Errorf("gzipped exposition differs:\n%s", lineDiff(l, wantLines))
	}

	proto, _ := get(hs["callmon"], "Accept", `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`)
	dec := expfmt.NewDecoder(bytes.NewReader(proto), expfmt.NewFormat(expfmt.TypeProtoDelim))
	n := 0
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if mf.GetName() == "callmon_queue_time_seconds" {
			n = len(mf.GetMetric())
		}
	}
	if n != 7*(numOutcomes-1) {
		t.Errorf("protobuf: %d callmon_queue_time_seconds series, want %d", n, 7*(numOutcomes-1))
	}
}

// A standby serves only the families its filter keeps, none of the queues'.
func TestHandlerKeepsOnlyStandbyFamilies(t *testing.T) {
	_, reg := scrapeSetup(t, &fakeClock{t: local(10, 0, 0, 0)}, 3, 5, 10)
	h := reg.Handler(StandbyFamily, promhttp.HandlerOpts{Registry: reg})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	for name := range families {
		if !StandbyFamily(name) {
			t.Errorf("standby serves %s", name)
		}
	}
	if families["callmon_leader"] == nil || families["go_goroutines"] == nil {
		t.Errorf("standby misses its own families: %v", slices.Sorted(maps.Keys(families)))
	}
}

func lineDiff(got, want []string) string {
	var b strings.Builder
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "+ %s", l)
		}
	}
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "- %s", l)
		}
	}
	return b.String()
}

// Scrapes share label sets, pooled buffers and the queues' state with each
// other and with the event path; run with -race.
func TestConcurrentScrapesAndEvents(t *testing.T) {
	clk := &fakeClock{t: local(10, 0, 0, 0)}
	m, reg := scrapeSetup(t, clk, 4, 10, 100)
	hs := handlers(reg)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range []string{"callmon", "callmon", "promhttp"} {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				w := httptest.NewRecorder()
				hs[name].ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
				if w.Code != http.StatusOK {
					t.Errorf("%s: status %d", name, w.Code)
					return
				}
			}
		})
	}
	for i := range 2000 {
		q, id := fmt.Sprint("queue", i%4), fmt.Sprint("x", i)
		at := local(10, 0, 0, 0).Add(time.Duration(i) * 50 * time.Millisecond)
		clk.Set(at)
		m.Entered(q, id, at)
		if i%3 == 0 {
			m.Answered(q, id, at.Add(time.Second))
		}
		m.SetAgents(q, map[string]int{"available": i % 7})
	}
	close(done)
	wg.Wait()
	if got := m.Waiting("queue1") + m.Waiting("queue2"); got == 0 {
		t.Errorf("no calls waiting")
	}
}

// raceEnabled is set under -race (race_test.go).
var raceEnabled bool
