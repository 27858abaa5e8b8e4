package ari_test

import (
	"fmt"
	"testing"

	"callmon/ari/aritest"
)

// BenchmarkEndToEnd is callmon's whole event path under load: the fake
// Asterisk writes its frames to a real loopback websocket, callmon's intake
// decodes and dispatches them, the call flows drive the fake over REST and
// report to metrics. Callers arrive in batches of up to 100 at once, with 100
// agents logged in whose phones answer at once; each batch is answered (as
// callmon journals it), every caller hangs up, and the next batch starts once
// every call is recorded and every agent is available again. One op is one
// call. The fake runs in this process; BenchmarkEndToEndProcesses
// (cmd/callmon) runs it as its own process and reports each one's CPU.
//
// The fake keeps only its last 10,000 log records, so memory stays bounded
// at any -benchtime.
func BenchmarkEndToEnd(b *testing.B) {
	const agents, batch = 100, 100
	h := newHarness(b, harnessOptions{agents: agents, logLimit: 10000}) // zero Behaviour: answer at once, stay
	skipped := h.value("callmon_ari_events_skipped_total")
	before, sessions := h.fake.Stats(), h.fake.Sessions()

	b.ResetTimer()
	h.answerInBatches(b.N, batch, agents)
	b.StopTimer()
	elapsed := b.Elapsed().Seconds()
	after := h.fake.Stats()

	if lost := after.EventsLost - before.EventsLost; lost != 0 {
		b.Fatalf("the fake lost %d events (no live websocket): the run measured a reconnect", lost)
	}
	if got := h.value("callmon_ari_reconnects_total"); got != 0 {
		b.Fatalf("callmon reconnected %v times during the run", got)
	}
	dropped := h.value("callmon_ari_events_dropped_total")
	if dropped != 0 {
		b.Fatalf("callmon dropped %v events", dropped)
	}
	sent := float64(after.EventsSent - before.EventsSent)
	b.ReportMetric(float64(b.N)/elapsed, "calls/s")
	b.ReportMetric(sent/elapsed, "events/s")
	b.ReportMetric(sent/float64(b.N), "events/call")
	b.ReportMetric(dropped, "dropped-events")
	b.ReportMetric(h.value("callmon_ari_events_skipped_total")-skipped, "skipped-events")
	b.ReportMetric(float64(h.fake.Sessions().Accepted-sessions.Accepted), "tcp-conns")
}

// answerInBatches places n queue calls, up to batch at once, with agents
// whose phones answer at once: each batch is answered (as callmon journals
// it, right after counting it), every caller hangs up, and the next batch
// starts once every call is recorded and every agent is available again.
// The waits wake on callmon's callbacks; only the agents' state is polled,
// once the records are in.
func (h *harness) answerInBatches(n, batch, agents int) {
	h.t.Helper()
	callers := make([]*aritest.Caller, 0, batch)
	answered, records := h.prog.read()
	for done := 0; done < n; {
		k := min(batch, n-done)
		callers = callers[:0]
		for i := range k {
			callers = append(callers, h.call(fmt.Sprintf("06%08d", done+i)))
		}
		answered += k
		h.until("batch answered", func(a, _ int) bool { return a >= answered })
		for _, c := range callers {
			c.Hangup()
		}
		records += k
		h.until("batch recorded", func(_, r int) bool { return r >= records })
		h.eventually("every agent available", func() bool {
			return h.value("callmon_agents", "state", "available") == float64(agents)
		})
		done += k
	}
}
