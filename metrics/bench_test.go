package metrics

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// realClock is what cmd passes in; the benchmarks pay for the clock reads
// the event path really makes.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func benchMetrics(b *testing.B, nQueues int) (*Metrics, *prometheus.Registry) {
	b.Helper()
	qs := make([]Queue, nQueues)
	for i := range qs {
		qs[i] = Queue{Name: fmt.Sprint("queue", i)}
	}
	reg := prometheus.NewRegistry()
	m, err := New(reg, realClock{}, amsterdam, qs, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return m, reg
}

// BenchmarkEnteredAnswered is one queue call on the ARI event path: offered,
// then answered after 12 s.
func BenchmarkEnteredAnswered(b *testing.B) {
	m, _ := benchMetrics(b, 1)
	// More ids than the finished-id memory holds, so ids can be reused.
	ids := make([]string, 8*recentGen)
	for i := range ids {
		ids[i] = fmt.Sprint("1732388439.", i)
	}
	entry := time.Now()
	answered := entry.Add(12 * time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		if !m.Entered("queue0", id, entry) || !m.Answered("queue0", id, answered) {
			b.Fatal("not counted")
		}
	}
}

// BenchmarkWaitingCallMemory reports the heap a waiting call adds to its
// queue: its map entry and its place in the waiting heaps (the call id
// string itself is the caller's).
func BenchmarkWaitingCallMemory(b *testing.B) {
	const n = 100_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("1732388439.%06d", i)
	}
	entry := time.Now()
	var perCall float64
	for b.Loop() {
		m, _ := benchMetrics(b, 1)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, id := range ids {
			m.Entered("queue0", id, entry)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perCall = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perCall, "B/waiting-call")
}
