package metrics

import (
	"math"
	"testing"
	"time"
)

// A screen's snapshot shows exactly what /metrics exports at the same moment.
func TestSnapshotAgreesWithTheExposition(t *testing.T) {
	f := newFixture(t, local(9, 0, 0, 0))
	f.m.Entered("general", "a", local(9, 0, 0, 0))
	f.m.Answered("general", "a", local(9, 0, 12, 0))
	f.m.Entered("general", "b", local(9, 0, 1, 0))
	f.m.Entered("general", "c", local(9, 0, 5, 0))
	f.m.SetAgents("general", map[string]int{"available": 1, "on_call": 2, "paused": 1})
	f.m.SetExpectedWait("general", 95*time.Second)
	f.m.SetStaffing("general", Staffing{Calls: 40, NeededA: 6, NeededC: 7, LevelA: 0.8}, Staffing{Calls: 60, NeededA: 8, NeededC: 9, LevelA: 0.7}, 90*time.Second, 75*time.Second)
	f.clk.Set(local(9, 0, 45, 0)) // b and c have waited 44 and 40 s: past the threshold, misses already
	snaps := f.m.Snapshot()
	if len(snaps) != 1 {
		t.Fatalf("%d queues", len(snaps))
	}
	s := snaps[0]
	checks := []struct {
		what      string
		got, want float64
	}{
		{"today", s.Today, f.value("callmon_service_level_ratio", "window", "today")},
		{"interval", s.Interval, f.value("callmon_service_level_ratio", "window", "interval")},
		{"waiting", float64(s.Waiting), f.value("callmon_calls_waiting")},
		{"oldest", s.Oldest.Seconds(), f.value("callmon_oldest_waiting_call_seconds")},
		{"expected", s.ExpectedWait, f.value("callmon_queue_expected_wait_seconds")},
		{"available", float64(s.Agents["available"]), f.value("callmon_agents", "state", "available")},
		{"needed next", s.NeededNext, f.value("callmon_queue_agents_needed", "interval", "next", "model", "erlang_a")},
		{"forecast", s.ForecastNow, f.value("callmon_queue_forecast_calls", "interval", "current")},
		{"target", s.Target, f.value("callmon_queue_target_ratio")},
	}
	for _, c := range checks {
		if c.got != c.want || math.IsNaN(c.got) {
			t.Errorf("%s: snapshot %v, /metrics %v", c.what, c.got, c.want)
		}
	}
	if s.Today != 1.0/3 || s.Waiting != 2 || s.Oldest != 44*time.Second || s.TodayCounted != 3 || !s.Open || s.Threshold != 30*time.Second {
		t.Errorf("snapshot %+v", s)
	}
}
