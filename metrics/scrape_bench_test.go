package metrics

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// scrapeSetup is the large installation of issue 12: nQueues queues of
// agentsPerQueue agents each, waiting callers spread over the queues, and
// every histogram with observations, in a Registry.
func scrapeSetup(tb testing.TB, clk Clock, nQueues, agentsPerQueue, waiting int) (*Metrics, *Registry) {
	tb.Helper()
	qs := make([]Queue, nQueues)
	for i := range qs {
		qs[i] = Queue{Name: fmt.Sprint("queue", i)}
	}
	reg := NewRegistry()
	m, err := New(reg, clk, amsterdam, qs, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	now := clk.Now()
	agents := map[string]int{}
	for i := range agentsPerQueue {
		agents[agentStates[i%len(agentStates)]]++
	}
	for _, q := range qs {
		m.SetAgents(q.Name, agents)
		// One finished call of each outcome so every series has a value.
		for o, out := range outcomes[:oClosed] {
			id := fmt.Sprint(q.Name, "-done-", o)
			m.Entered(q.Name, id, now.Add(-time.Minute))
			switch out {
			case Answered:
				m.Answered(q.Name, id, now.Add(-40*time.Second))
			case Abandoned:
				m.Abandoned(q.Name, id, now.Add(-30*time.Second))
			case ShortAbandoned:
				m.Abandoned(q.Name, id, now.Add(-58*time.Second))
			default:
				m.Left(q.Name, id, out, now.Add(-20*time.Second))
			}
		}
		m.Closed(q.Name, now)
		m.CallbackOffered(q.Name)
		m.CallbackAccepted(q.Name)
	}
	for i := range waiting {
		m.Entered(qs[i%nQueues].Name, fmt.Sprint("1732388439.", i), now.Add(-time.Duration(i)*10*time.Millisecond))
	}
	for _, typ := range []string{"StasisStart", "StasisEnd", "ChannelStateChange", "ChannelDestroyed", "BridgeCreated"} {
		m.ARIEvent(typ, time.Millisecond)
	}
	m.ARISkipped("ChannelVarset")
	m.RingDelay(300 * time.Millisecond)
	return m, reg
}

// handlers are the two ways to serve a Registry: as cmd/callmon does (an
// active process: every family kept), and promhttp over the whole registry
// (any format but uncompressed or gzip text).
func handlers(reg *Registry) map[string]http.Handler {
	active := func(string) bool { return true }
	return map[string]http.Handler{
		"callmon":  reg.Handler(active, promhttp.HandlerOpts{Registry: reg, ErrorLog: log.New(io.Discard, "", 0)}),
		"promhttp": promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	}
}

// bodyWriter is a reusable http.ResponseWriter keeping the last body.
type bodyWriter struct {
	hdr  http.Header
	code int
	body bytes.Buffer
}

func (w *bodyWriter) Header() http.Header         { return w.hdr }
func (w *bodyWriter) WriteHeader(code int)        { w.code = code }
func (w *bodyWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

// scrapeOnce serves one uncompressed text-format scrape (no Accept or
// Accept-Encoding header, as curl sends it) into w.
func scrapeOnce(tb testing.TB, h http.Handler, req *http.Request, w *bodyWriter) {
	clear(w.hdr)
	w.code = http.StatusOK
	w.body.Reset()
	h.ServeHTTP(w, req)
	if w.code != http.StatusOK {
		tb.Fatalf("scrape: status %d: %s", w.code, w.body.String())
	}
}

// processCPU is the user and system CPU time of the whole process so far:
// on a busy machine it shows the cost of a scrape better than the wall
// clock does (it includes the garbage collector's work on other threads).
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// samples counts the sample lines of a text exposition (the series).
func samples(body []byte) int {
	n := 0
	for line := range bytes.Lines(body) {
		if len(line) > 1 && line[0] != '#' {
			n++
		}
	}
	return n
}

// BenchmarkScrapeHandler is a whole uncompressed text /metrics request,
// gathering and encoding included, at 100 queues × 200 agents and 1,000,
// 10,000 or 100,000 callers waiting: as callmon serves it, and through
// promhttp over the whole registry for comparison.
func BenchmarkScrapeHandler(b *testing.B) {
	for _, name := range []string{"callmon", "promhttp"} {
		for _, waiting := range []int{1_000, 10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/waiting=%d", name, waiting), func(b *testing.B) {
				_, reg := scrapeSetup(b, realClock{}, 100, 200, waiting)
				h := handlers(reg)[name]
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				w := &bodyWriter{hdr: http.Header{}}
				scrapeOnce(b, h, req, w)
				series := samples(w.body.Bytes())
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := processCPU(b)
				for b.Loop() {
					scrapeOnce(b, h, req, w)
				}
				b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(series), "series")
				b.ReportMetric(float64(w.body.Len()), "body-bytes")
			})
		}
	}
}

// BenchmarkScrapeHandlerGzip is the same request with Accept-Encoding: gzip,
// as Prometheus sends it by default, at 10,000 waiting.
func BenchmarkScrapeHandlerGzip(b *testing.B) {
	for _, name := range []string{"callmon", "promhttp"} {
		b.Run(name, func(b *testing.B) {
			_, reg := scrapeSetup(b, realClock{}, 100, 200, 10_000)
			h := handlers(reg)[name]
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			w := &bodyWriter{hdr: http.Header{}}
			scrapeOnce(b, h, req, w)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b)
			for b.Loop() {
				scrapeOnce(b, h, req, w)
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(w.body.Len()), "body-bytes")
		})
	}
}
