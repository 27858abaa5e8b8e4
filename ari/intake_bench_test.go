package ari

import (
	"log/slog"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"

	"callmon/metrics"
)

// BenchmarkIntakeFrame is the intake's work per websocket frame (duplicate
// check, decode, event metrics, timestamp lag, skip accounting) over the
// recorded frames, round robin, with a dispatch that does nothing; one op
// is one frame. The recorded byte-identical duplicates are dropped as in
// production; every other frame is at least 64 frames from its previous
// visit, so the dedup window never hides it.
func BenchmarkIntakeFrame(b *testing.B) {
	frames := traceEvents(b)
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		b.Fatal(err)
	}
	clock := clockFunc(time.Now)
	m, err := metrics.New(prometheus.NewRegistry(), clock, loc, []metrics.Queue{{Name: "general"}}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	dispatched := 0
	in := &intake{
		clock:    clock,
		log:      slog.New(slog.DiscardHandler),
		m:        m,
		logged:   map[string]bool{},
		dispatch: func(ari.Event) { dispatched++ },
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in.frame(frames[i%len(frames)])
	}
	if b.N >= len(frames) && dispatched == 0 {
		b.Fatal("no frame reached dispatch")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(dispatched)/float64(b.N), "dispatched/op")
}
