package metrics

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestARIHealth(t *testing.T) {
	f := newFixture(t, local(10, 0, 0, 0))
	f.m.ARIConnected(true)
	f.m.ARIConnected(false)
	f.m.ARIReconnected()
	f.m.ARIConnected(true)
	f.m.ARIEvent("StasisStart", ms(2))
	f.m.ARIEvent("StasisStart", ms(40))
	f.m.ARIEvent("ChannelStateChange", 1500*time.Millisecond)
	f.m.ARIEvent("Dial", -ms(3)) // Asterisk's clock ahead of ours
	f.m.ARISkipped("ChannelTransfer")
	f.m.ARISkipped("malformed")
	f.m.ARISkipped("malformed")
	depth := 7
	f.m.SetQueueDepth(func() int { return depth })

	f.compare(`
# HELP callmon_ari_connected 1 while the ARI events websocket to Asterisk is connected, else 0.
# TYPE callmon_ari_connected gauge
callmon_ari_connected 1
# HELP callmon_ari_reconnects_total Times the ARI events websocket was connected again after it had been lost.
# TYPE callmon_ari_reconnects_total counter
callmon_ari_reconnects_total 1
# HELP callmon_ari_events_total ARI events received and decoded, by event type.
# TYPE callmon_ari_events_total counter
callmon_ari_events_total{type="ChannelStateChange"} 1
callmon_ari_events_total{type="Dial"} 1
callmon_ari_events_total{type="StasisStart"} 2
# HELP callmon_ari_events_skipped_total ARI events received but skipped, by event type: types callmon does not handle, and type="malformed" for frames that could not be read.
# TYPE callmon_ari_events_skipped_total counter
callmon_ari_events_skipped_total{type="ChannelTransfer"} 1
callmon_ari_events_skipped_total{type="malformed"} 2
callmon_ari_events_skipped_total{type="unknown"} 0
# HELP callmon_ari_events_dropped_total ARI events received but dropped before processing; stays 0 unless callmon loses events.
# TYPE callmon_ari_events_dropped_total counter
callmon_ari_events_dropped_total 0
# HELP callmon_ari_event_lag_seconds Seconds from an ARI event's Asterisk timestamp to its receipt by callmon (includes any difference between the two clocks).
# TYPE callmon_ari_event_lag_seconds histogram
callmon_ari_event_lag_seconds_bucket{le="0.001"} 1
callmon_ari_event_lag_seconds_bucket{le="0.0025"} 2
callmon_ari_event_lag_seconds_bucket{le="0.005"} 2
callmon_ari_event_lag_seconds_bucket{le="0.01"} 2
callmon_ari_event_lag_seconds_bucket{le="0.025"} 2
callmon_ari_event_lag_seconds_bucket{le="0.05"} 3
callmon_ari_event_lag_seconds_bucket{le="0.1"} 3
callmon_ari_event_lag_seconds_bucket{le="0.25"} 3
callmon_ari_event_lag_seconds_bucket{le="0.5"} 3
callmon_ari_event_lag_seconds_bucket{le="1"} 3
callmon_ari_event_lag_seconds_bucket{le="2.5"} 4
callmon_ari_event_lag_seconds_bucket{le="5"} 4
callmon_ari_event_lag_seconds_bucket{le="10"} 4
callmon_ari_event_lag_seconds_bucket{le="+Inf"} 4
callmon_ari_event_lag_seconds_sum `+fmt.Sprint(0.002+0.04+1.5)+`
callmon_ari_event_lag_seconds_count 4
# HELP callmon_ari_processing_queue_depth ARI events received and not yet processed, read at scrape time.
# TYPE callmon_ari_processing_queue_depth gauge
callmon_ari_processing_queue_depth 7
# HELP callmon_build_info Always 1; labelled with the version of callmon and the Go version it was built with.
# TYPE callmon_build_info gauge
callmon_build_info{goversion="`+runtime.Version()+`",version="test"} 1
`, "callmon_ari_connected", "callmon_ari_reconnects_total", "callmon_ari_events_total", "callmon_ari_events_skipped_total",
		"callmon_ari_events_dropped_total", "callmon_ari_event_lag_seconds", "callmon_ari_processing_queue_depth", "callmon_build_info")

	depth = 0 // read at scrape, not when set
	assertEq(t, "depth", f.value("callmon_ari_processing_queue_depth"), 0)
	f.m.ARIDropped()
	assertEq(t, "dropped", f.value("callmon_ari_events_dropped_total"), 1)
	f.m.ARIConnected(false)
	assertEq(t, "connected", f.value("callmon_ari_connected"), 0)
}

// The type label stays bounded whatever arrives.
func TestARIEventTypesBounded(t *testing.T) {
	f := newFixture(t, local(10, 0, 0, 0))
	for i := range maxEventTypes + 50 {
		f.m.ARIEvent(fmt.Sprint("Type", i), 0)
	}
	f.m.ARIEvent("Type0", 0)
	f.m.ARISkipped("")
	assertEq(t, "first type", f.value("callmon_ari_events_total", "type", "Type0"), 2)
	assertEq(t, "other", f.value("callmon_ari_events_total", "type", "other"), 50)
	assertEq(t, "empty type", f.value("callmon_ari_events_skipped_total", "type", "malformed"), 1)
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "callmon_ari_events_total" && len(mf.GetMetric()) != maxEventTypes+1 {
			t.Errorf("%d type series, want %d", len(mf.GetMetric()), maxEventTypes+1)
		}
	}
}

// Event path and scrapes at once, for the race detector; the totals must
// still add up.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, local(10, 5, 0, 0), Queue{Name: "general"}, Queue{Name: "direct"})
	const workers, calls = 8, 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if _, err := f.reg.Gather(); err != nil {
				t.Error(err)
				return
			}
			f.m.SetAgents("general", map[string]int{"available": 1})
			f.m.ARIEvent("StasisStart", ms(1))
		}
	}()
	results := make(chan int, workers)
	for w := range workers {
		go func() {
			n := 0
			for i := range calls {
				id := fmt.Sprintf("w%d-%d", w, i)
				entry := local(10, 0, 0, i)
				if f.m.Entered("general", id, entry) && f.m.Answered("general", id, entry.Add(ms(1000))) {
					n++
				}
				// Every worker also tries to finish a call of another worker: at most one wins.
				f.m.Abandoned("general", fmt.Sprintf("w%d-%d", (w+1)%workers, i), entry.Add(ms(2000)))
			}
			results <- n
		}()
	}
	answered := 0
	for range workers {
		answered += <-results
	}
	<-done
	abandoned := f.value("callmon_calls_short_abandoned_total", "queue", "general")
	assertEq(t, "answered + abandoned", float64(answered)+abandoned, workers*calls)
	assertEq(t, "answered", f.value("callmon_calls_answered_total", "queue", "general"), float64(answered))
	assertEq(t, "window offered", f.window("today", "offered"), workers*calls)
	assertEq(t, "waiting", float64(f.m.Waiting("general")), 0)
}
