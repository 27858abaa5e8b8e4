package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sumOf is a histogram's _sum for these waits, added in the same order and
// from the same milliseconds as the histogram adds them.
func sumOf(waits []time.Duration) string {
	s := 0.0
	for _, w := range waits {
		s += msSeconds(w.Milliseconds())
	}
	return strconv.FormatFloat(s, 'g', -1, 64)
}

// emptyHistogram is the exposition of a pre-initialised histogram series of
// queue "general" with the default buckets; labels come before queue.
func emptyHistogram(name, labels string) string {
	var b strings.Builder
	for _, le := range []string{"1", "2", "5", "10", "15", "20", "30", "45", "60", "90", "120", "180", "300", "600", "+Inf"} {
		fmt.Fprintf(&b, "%s_bucket{%squeue=\"general\",le=%q} 0\n", name, labels, le)
	}
	fmt.Fprintf(&b, "%s_sum{%squeue=\"general\"} 0\n%s_count{%squeue=\"general\"} 0\n", name, labels, name, labels)
	return b.String()
}

func TestNinetyPercentAnsweredWithinThirtySeconds(t *testing.T) {
	f := newFixture(t, local(10, 0, 0, 0))
	waits := []time.Duration{ms(500), ms(1000), ms(2000), ms(5000), ms(10000), ms(15000), ms(20000), ms(29999), ms(30000), ms(30001)}
	for i, w := range waits {
		f.answer("general", fmt.Sprint("c", i), local(10, 0, 10*i, 0), w)
	}
	f.clk.Set(local(10, 5, 0, 0))

	f.compare(`
# HELP callmon_calls_offered_total Calls that entered the queue while it was open (offered), counted at entry.
# TYPE callmon_calls_offered_total counter
callmon_calls_offered_total{queue="general"} 10
# HELP callmon_calls_answered_total Offered calls answered by an agent (agent's channel up and bridged with the caller).
# TYPE callmon_calls_answered_total counter
callmon_calls_answered_total{queue="general"} 10
# HELP callmon_calls_answered_within_threshold_total Answered calls whose wait (answer - entry, in whole milliseconds) was at most the queue's threshold (callmon_queue_threshold_seconds).
# TYPE callmon_calls_answered_within_threshold_total counter
callmon_calls_answered_within_threshold_total{queue="general"} 9
# HELP callmon_service_level_ratio Live service level as a ratio: answered_within_threshold / (offered - short_abandoned) over the calls that entered the queue today (window="today", local day) or in the running 15-minute interval (window="interval"). A call still waiting counts as offered and missed once it has waited longer than the threshold. 1 when nothing counts yet (nothing missed).
# TYPE callmon_service_level_ratio gauge
callmon_service_level_ratio{queue="general",window="interval"} 0.9
callmon_service_level_ratio{queue="general",window="today"} 0.9
# HELP callmon_window_calls Calls behind callmon_service_level_ratio by class: offered (finished, or still waiting past the threshold), answered_within_threshold, short_abandoned, waiting_over_threshold (already included in offered). A call still waiting within the threshold is not counted yet.
# TYPE callmon_window_calls gauge
callmon_window_calls{class="answered_within_threshold",queue="general",window="interval"} 9
callmon_window_calls{class="answered_within_threshold",queue="general",window="today"} 9
callmon_window_calls{class="offered",queue="general",window="interval"} 10
callmon_window_calls{class="offered",queue="general",window="today"} 10
callmon_window_calls{class="short_abandoned",queue="general",window="interval"} 0
callmon_window_calls{class="short_abandoned",queue="general",window="today"} 0
callmon_window_calls{class="waiting_over_threshold",queue="general",window="interval"} 0
callmon_window_calls{class="waiting_over_threshold",queue="general",window="today"} 0
# HELP callmon_queue_wait_seconds Wait of answered calls in seconds, from queue entry to answer (Asterisk timestamps, millisecond precision); a bucket edge lies exactly at each queue's threshold.
# TYPE callmon_queue_wait_seconds histogram
callmon_queue_wait_seconds_bucket{queue="general",le="1"} 2
callmon_queue_wait_seconds_bucket{queue="general",le="2"} 3
callmon_queue_wait_seconds_bucket{queue="general",le="5"} 4
callmon_queue_wait_seconds_bucket{queue="general",le="10"} 5
callmon_queue_wait_seconds_bucket{queue="general",le="15"} 6
callmon_queue_wait_seconds_bucket{queue="general",le="20"} 7
callmon_queue_wait_seconds_bucket{queue="general",le="30"} 9
callmon_queue_wait_seconds_bucket{queue="general",le="45"} 10
callmon_queue_wait_seconds_bucket{queue="general",le="60"} 10
callmon_queue_wait_seconds_bucket{queue="general",le="90"} 10
callmon_queue_wait_seconds_bucket{queue="general",le="120"} 10
callmon_queue_wait_seconds_bucket{queue="general",le="180"} 10
callmon_queue_wait_seconds_bucket{queue="general",le="300"} 10
callmon_queue_wait_seconds_bucket{queue="general",le="600"} 10
callmon_queue_wait_seconds_bucket{queue="general",le="+Inf"} 10
callmon_queue_wait_seconds_sum{queue="general"} `+sumOf(waits)+`
callmon_queue_wait_seconds_count{queue="general"} 10
`, "callmon_calls_offered_total", "callmon_calls_answered_total", "callmon_calls_answered_within_threshold_total",
		"callmon_service_level_ratio", "callmon_window_calls", "callmon_queue_wait_seconds")
}

func TestThresholdBoundaryIsInclusive(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0))
	f.answer("general", "exact", local(10, 0, 0, 0), ms(30000))
	assertEq(t, "within after 30.000 s", f.value("callmon_calls_answered_within_threshold_total", "queue", "general"), 1)
	f.answer("general", "late", local(10, 0, 1, 0), ms(30001))
	assertEq(t, "within after 30.001 s", f.value("callmon_calls_answered_within_threshold_total", "queue", "general"), 1)
	assertEq(t, "SL", f.sl("today"), 0.5)

	// The time-in-queue histogram puts 30.000 s in le="30" too, so any
	// formula over it agrees with the counters.
	f.compare(`
# HELP callmon_queue_time_seconds Seconds each offered call spent in the queue, from entry to answer or to the end of its wait, by outcome; bucket edges lie exactly at each queue's threshold and short-abandon time.
# TYPE callmon_queue_time_seconds histogram
`+emptyHistogram("callmon_queue_time_seconds", `outcome="abandoned",`)+`callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="1"} 0
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="2"} 0
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="5"} 0
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="10"} 0
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="15"} 0
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="20"} 0
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="30"} 1
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="45"} 2
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="60"} 2
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="90"} 2
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="120"} 2
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="180"} 2
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="300"} 2
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="600"} 2
callmon_queue_time_seconds_bucket{outcome="answered",queue="general",le="+Inf"} 2
callmon_queue_time_seconds_sum{outcome="answered",queue="general"} `+sumOf([]time.Duration{ms(30000), ms(30001)})+`
callmon_queue_time_seconds_count{outcome="answered",queue="general"} 2
`+emptyHistogram("callmon_queue_time_seconds", `outcome="callback",`)+
		emptyHistogram("callmon_queue_time_seconds", `outcome="fallback",`)+
		emptyHistogram("callmon_queue_time_seconds", `outcome="short_abandoned",`)+
		emptyHistogram("callmon_queue_time_seconds", `outcome="transferred",`)+
		emptyHistogram("callmon_queue_time_seconds", `outcome="voicemail",`), "callmon_queue_time_seconds")
}

// A threshold that is no default bucket, and one that is not a binary
// fraction, still gets an exact edge holding a wait of exactly that length.
func TestBucketEdgeAtEveryThreshold(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0),
		Queue{Name: "general", Threshold: ms(20100), ShortAbandon: ms(3300)},
		Queue{Name: "direct", Threshold: 25 * time.Second},
	)
	want := []float64{1, 2, 3.3, 5, 10, 15, 20, 20.1, 25, 30, 45, 60, 90, 120, 180, 300, 600}
	got := queueBuckets([]Queue{{Threshold: ms(20100), ShortAbandon: ms(3300)}, {Threshold: 25 * time.Second, ShortAbandon: defaultShortAbandon}})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("buckets = %v, want %v", got, want)
	}
	f.answer("general", "a", local(10, 0, 0, 0), ms(20100))
	f.answer("general", "b", local(10, 0, 1, 0), ms(20101))
	f.abandon("general", "c", local(10, 0, 2, 0), ms(3300))
	assertEq(t, "within", f.value("callmon_calls_answered_within_threshold_total", "queue", "general"), 1)
	assertEq(t, "short", f.value("callmon_calls_short_abandoned_total", "queue", "general"), 1)
	assertEq(t, "threshold gauge", f.value("callmon_queue_threshold_seconds", "queue", "general"), 20.1)

	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	cum := map[string]uint64{} // outcome@le → cumulative count
	for _, mf := range mfs {
		if mf.GetName() != "callmon_queue_time_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var q, o string
			for _, lp := range mt.GetLabel() {
				switch lp.GetName() {
				case "queue":
					q = lp.GetValue()
				case "outcome":
					o = lp.GetValue()
				}
			}
			if q != "general" {
				continue
			}
			for _, b := range mt.GetHistogram().GetBucket() {
				cum[fmt.Sprintf("%s@%g", o, b.GetUpperBound())] = b.GetCumulativeCount()
			}
		}
	}
	for k, want := range map[string]uint64{
		"answered@20": 0, "answered@20.1": 1, "answered@25": 2,
		"short_abandoned@2": 0, "short_abandoned@3.3": 1,
	} {
		if cum[k] != want {
			t.Errorf("bucket %s = %d, want %d", k, cum[k], want)
		}
	}
}

func TestShortAbandonBoundary(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0))
	f.answer("general", "ok", local(10, 0, 0, 0), ms(12000))
	f.abandon("general", "a4999", local(10, 0, 1, 0), ms(4999))
	f.abandon("general", "a5000", local(10, 0, 2, 0), ms(5000))
	f.abandon("general", "a5001", local(10, 0, 3, 0), ms(5001))
	f.m.Ended("general", "ok")

	// Two short abandons leave the denominator: 1 / (4 - 2).
	assertEq(t, "SL today", f.sl("today"), 0.5)
	f.compare(`
# HELP callmon_calls_abandoned_total Calls whose caller hung up before being answered, after more than the queue's short-abandon time; short abandons are not included.
# TYPE callmon_calls_abandoned_total counter
callmon_calls_abandoned_total{queue="general"} 1
# HELP callmon_calls_short_abandoned_total Calls whose caller hung up within the queue's short-abandon time (default 5 s); left out of the service-level denominator.
# TYPE callmon_calls_short_abandoned_total counter
callmon_calls_short_abandoned_total{queue="general"} 2
# HELP callmon_calls_total Finished calls by outcome: answered, abandoned, short_abandoned, callback, voicemail, transferred, or closed (arrived outside opening hours; never offered).
# TYPE callmon_calls_total counter
callmon_calls_total{outcome="abandoned",queue="general"} 1
callmon_calls_total{outcome="answered",queue="general"} 1
callmon_calls_total{outcome="callback",queue="general"} 0
callmon_calls_total{outcome="closed",queue="general"} 0
callmon_calls_total{outcome="fallback",queue="general"} 0
callmon_calls_total{outcome="short_abandoned",queue="general"} 2
callmon_calls_total{outcome="transferred",queue="general"} 0
callmon_calls_total{outcome="voicemail",queue="general"} 0
# HELP callmon_window_calls Calls behind callmon_service_level_ratio by class: offered (finished, or still waiting past the threshold), answered_within_threshold, short_abandoned, waiting_over_threshold (already included in offered). A call still waiting within the threshold is not counted yet.
# TYPE callmon_window_calls gauge
callmon_window_calls{class="answered_within_threshold",queue="general",window="interval"} 1
callmon_window_calls{class="answered_within_threshold",queue="general",window="today"} 1
callmon_window_calls{class="offered",queue="general",window="interval"} 4
callmon_window_calls{class="offered",queue="general",window="today"} 4
callmon_window_calls{class="short_abandoned",queue="general",window="interval"} 2
callmon_window_calls{class="short_abandoned",queue="general",window="today"} 2
callmon_window_calls{class="waiting_over_threshold",queue="general",window="interval"} 0
callmon_window_calls{class="waiting_over_threshold",queue="general",window="today"} 0
`, "callmon_calls_abandoned_total", "callmon_calls_short_abandoned_total", "callmon_calls_total", "callmon_window_calls")

	// A short abandon alone leaves nothing to measure: SL 1, not 0/0.
	g := newFixture(t, local(10, 1, 0, 0))
	g.abandon("general", "x", local(10, 0, 0, 0), ms(5000))
	assertEq(t, "SL with only a short abandon", g.sl("today"), 1)
}

func TestWaitingCallPastThresholdCountsLiveOnce(t *testing.T) {
	f := newFixture(t, local(10, 0, 0, 0))
	f.answer("general", "quick", local(10, 0, 0, 0), ms(10000))
	if !f.m.Entered("general", "slow", local(10, 0, 5, 0)) {
		t.Fatal("Entered slow = false")
	}

	f.clk.Set(local(10, 0, 35, 0)) // slow has waited exactly 30 s: not a miss yet
	assertEq(t, "SL at 30 s", f.sl("today"), 1)
	assertEq(t, "offered at 30 s", f.window("today", "offered"), 1)
	assertEq(t, "waiting", f.value("callmon_calls_waiting", "queue", "general"), 1)
	assertEq(t, "oldest", f.value("callmon_oldest_waiting_call_seconds", "queue", "general"), 30)

	f.clk.Set(local(10, 0, 36, 0)) // 31 s
	for _, w := range []string{"today", "interval"} {
		assertEq(t, "SL at 31 s, "+w, f.sl(w), 0.5)
		assertEq(t, "offered at 31 s, "+w, f.window(w, "offered"), 2)
		assertEq(t, "over at 31 s, "+w, f.window(w, "waiting_over_threshold"), 1)
	}
	assertEq(t, "oldest", f.value("callmon_oldest_waiting_call_seconds", "queue", "general"), 31)

	if !f.m.Abandoned("general", "slow", local(10, 0, 50, 0)) {
		t.Fatal("Abandoned slow = false")
	}
	f.clk.Set(local(10, 1, 0, 0))
	for _, w := range []string{"today", "interval"} {
		assertEq(t, "SL after finish, "+w, f.sl(w), 0.5)
		assertEq(t, "offered after finish, "+w, f.window(w, "offered"), 2)
		assertEq(t, "over after finish, "+w, f.window(w, "waiting_over_threshold"), 0)
	}
	assertEq(t, "waiting", f.value("callmon_calls_waiting", "queue", "general"), 0)
	assertEq(t, "oldest", f.value("callmon_oldest_waiting_call_seconds", "queue", "general"), 0)
	if n := f.m.Waiting("general"); n != 0 {
		t.Errorf("Waiting = %d, want 0", n)
	}
}

func TestIntervalRolloverAtQuarterHour(t *testing.T) {
	f := newFixture(t, local(10, 14, 40, 0))
	f.m.Entered("general", "long", local(10, 14, 40, 0)) // still waiting at the end
	f.answer("general", "a", local(10, 14, 50, 0), ms(5000))
	f.m.Entered("general", "b", local(10, 14, 58, 0))

	f.clk.Set(local(10, 14, 59, 999))
	assertEq(t, "interval offered before :15", f.window("interval", "offered"), 1)
	assertEq(t, "interval SL before :15", f.sl("interval"), 1)

	f.clk.Set(local(10, 15, 0, 0))
	assertEq(t, "interval offered at :15", f.window("interval", "offered"), 0)
	assertEq(t, "today offered at :15", f.window("today", "offered"), 1)

	// b entered in the previous interval: its answer counts for today only.
	f.m.Answered("general", "b", local(10, 15, 3, 0))
	f.clk.Set(local(10, 15, 5, 0))
	assertEq(t, "interval offered", f.window("interval", "offered"), 0)
	assertEq(t, "today offered", f.window("today", "offered"), 2)
	assertEq(t, "today within", f.window("today", "answered_within_threshold"), 2)

	f.abandon("general", "c", local(10, 15, 10, 0), ms(30000))
	f.clk.Set(local(10, 15, 45, 0))
	assertEq(t, "interval SL", f.sl("interval"), 0)
	assertEq(t, "interval offered", f.window("interval", "offered"), 1)
	// long has waited 65 s: a miss of today, not of this interval.
	assertEq(t, "today over", f.window("today", "waiting_over_threshold"), 1)
	assertEq(t, "interval over", f.window("interval", "waiting_over_threshold"), 0)
	assertEq(t, "today SL", f.sl("today"), 0.5) // 2 / (3 + 1)
}

func TestDayRolloverAtAmsterdamMidnight(t *testing.T) {
	// 23:59:59.999 local on a CET day is 22:59:59.999 UTC: a UTC day would
	// still be running at local midnight.
	f := newFixture(t, local(23, 50, 0, 0))
	f.answer("general", "late", local(23, 50, 0, 0), ms(1000))
	f.clk.Set(local(23, 59, 59, 999))
	assertEq(t, "today before midnight", f.window("today", "offered"), 1)
	f.clk.Set(time.Date(2026, 11, 24, 0, 0, 0, 0, amsterdam))
	assertEq(t, "today after midnight", f.window("today", "offered"), 0)
	assertEq(t, "SL after midnight", f.sl("today"), 1)
	assertEq(t, "counter keeps counting", f.value("callmon_calls_offered_total", "queue", "general"), 1)
}

func TestDayRolloverOnDSTDays(t *testing.T) {
	t.Run("autumn, 25 hours", func(t *testing.T) {
		// 25 October 2026: 02:00-03:00 happens twice; the day ends at
		// 2026-10-25T23:00Z, not 24 hours after it began at 2026-10-24T22:00Z.
		f := newFixture(t, time.Date(2026, 10, 24, 22, 30, 0, 0, time.UTC)) // 00:30 CEST
		f.answer("general", "early", time.Date(2026, 10, 24, 22, 30, 0, 0, time.UTC), ms(2000))

		first := time.Date(2026, 10, 25, 0, 16, 0, 0, time.UTC)  // 02:16 CEST
		second := time.Date(2026, 10, 25, 1, 16, 0, 0, time.UTC) // 02:16 CET, an hour later
		f.clk.Set(first)
		f.answer("general", "first", first, ms(2000))
		f.clk.Set(first.Add(4 * time.Minute))
		assertEq(t, "interval in the first 02:15-02:30", f.window("interval", "offered"), 1)
		f.clk.Set(second)
		f.answer("general", "second", second, ms(2000))
		f.clk.Set(time.Date(2026, 10, 25, 1, 20, 0, 0, time.UTC))
		assertEq(t, "interval in the repeated hour", f.window("interval", "offered"), 1)
		assertEq(t, "today", f.window("today", "offered"), 3)

		late := time.Date(2026, 10, 25, 22, 30, 0, 0, time.UTC) // 23:30 CET
		f.clk.Set(late)
		f.answer("general", "late", late, ms(2000))
		f.clk.Set(time.Date(2026, 10, 25, 22, 59, 59, 0, time.UTC))
		assertEq(t, "today at 23:59:59 CET", f.window("today", "offered"), 4)
		f.clk.Set(time.Date(2026, 10, 25, 23, 0, 0, 0, time.UTC)) // 26 October 00:00 CET
		assertEq(t, "today at midnight", f.window("today", "offered"), 0)
	})
	t.Run("spring, 23 hours", func(t *testing.T) {
		// 29 March 2026 begins at 2026-03-28T23:00Z and ends at
		// 2026-03-29T22:00Z, an hour before 24 hours have passed.
		start := time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC) // 00:30 CET
		f := newFixture(t, start)
		f.answer("general", "early", start, ms(2000))
		late := time.Date(2026, 3, 29, 21, 59, 0, 0, time.UTC) // 23:59 CEST
		f.clk.Set(late)
		f.answer("general", "late", late, ms(2000))
		f.clk.Set(time.Date(2026, 3, 29, 21, 59, 59, 999e6, time.UTC))
		assertEq(t, "today before midnight", f.window("today", "offered"), 2)
		f.clk.Set(time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)) // 30 March 00:00 CEST
		assertEq(t, "today at midnight", f.window("today", "offered"), 0)
	})
}

func TestFinishIsCountedOnce(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0))
	f.answer("general", "c1", local(10, 0, 0, 0), ms(10000))
	at := local(10, 0, 20, 0)
	for name, again := range map[string]func() bool{
		"Answered":  func() bool { return f.m.Answered("general", "c1", at) },
		"Abandoned": func() bool { return f.m.Abandoned("general", "c1", at) },
		"Left":      func() bool { return f.m.Left("general", "c1", Callback, at) },
		// A StasisStart replayed after a reconnect must not offer it again.
		"Entered": func() bool { return f.m.Entered("general", "c1", local(10, 0, 0, 0)) },
	} {
		if again() {
			t.Errorf("%s after the call finished = true", name)
		}
	}
	f.m.Entered("general", "c2", local(10, 0, 30, 0))
	if f.m.Entered("general", "c2", local(10, 0, 30, 0)) {
		t.Error("second Entered of a waiting call = true")
	}
	f.m.Abandoned("general", "c2", local(10, 0, 40, 0))
	if !f.m.Ended("general", "c1") || f.m.Ended("general", "c1") {
		t.Error("Ended of the answered call is not true exactly once")
	}
	if f.m.Ended("general", "c2") {
		t.Error("Ended of an abandoned call = true")
	}

	f.compare(`
# HELP callmon_calls_total Finished calls by outcome: answered, abandoned, short_abandoned, callback, voicemail, transferred, or closed (arrived outside opening hours; never offered).
# TYPE callmon_calls_total counter
callmon_calls_total{outcome="abandoned",queue="general"} 1
callmon_calls_total{outcome="answered",queue="general"} 1
callmon_calls_total{outcome="callback",queue="general"} 0
callmon_calls_total{outcome="closed",queue="general"} 0
callmon_calls_total{outcome="fallback",queue="general"} 0
callmon_calls_total{outcome="short_abandoned",queue="general"} 0
callmon_calls_total{outcome="transferred",queue="general"} 0
callmon_calls_total{outcome="voicemail",queue="general"} 0
# HELP callmon_calls_offered_total Calls that entered the queue while it was open (offered), counted at entry.
# TYPE callmon_calls_offered_total counter
callmon_calls_offered_total{queue="general"} 2
`, "callmon_calls_total", "callmon_calls_offered_total")
	assertEq(t, "today offered", f.window("today", "offered"), 2)
}

// The dedup memory is bounded: ids finished long ago are forgotten, the
// last recentGen are always remembered.
func TestRecentIDsBounded(t *testing.T) {
	r := recentIDs{cur: map[string]struct{}{}, prev: map[string]struct{}{}}
	for i := range 10 * recentGen {
		r.add(strconv.Itoa(i))
	}
	if n := len(r.cur) + len(r.prev); n > 2*recentGen {
		t.Errorf("remembers %d ids, want at most %d", n, 2*recentGen)
	}
	for i := 10*recentGen - recentGen; i < 10*recentGen; i++ {
		if !r.has(strconv.Itoa(i)) {
			t.Fatalf("forgot recent id %d", i)
		}
	}
	if r.has("0") {
		t.Error("still remembers the first id")
	}
}

func TestUnknownQueueAndCallIgnored(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0))
	at := local(10, 0, 0, 0)
	if f.m.Entered("nope", "c1", at) {
		t.Error("Entered on an unknown queue = true")
	}
	if f.m.Answered("nope", "c1", at) || f.m.Abandoned("nope", "c1", at) || f.m.Left("nope", "c1", Voicemail, at) {
		t.Error("finish on an unknown queue = true")
	}
	if f.m.Answered("general", "never-entered", at) || f.m.Abandoned("general", "never-entered", at) || f.m.Left("general", "never-entered", Voicemail, at) {
		t.Error("finish of an unknown call = true")
	}
	f.m.Closed("nope", at)
	f.m.SetAgents("nope", map[string]int{"available": 3})
	if n := f.m.Waiting("nope"); n != 0 {
		t.Errorf("Waiting(nope) = %d", n)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == "queue" && lp.GetValue() != "general" {
					t.Errorf("%s has a series for queue %q", mf.GetName(), lp.GetValue())
				}
			}
		}
	}
	assertEq(t, "offered", f.value("callmon_calls_offered_total", "queue", "general"), 0)
}

func TestLeftOutcomes(t *testing.T) {
	f := newFixture(t, local(10, 5, 0, 0))
	for i, o := range []Outcome{Callback, Voicemail, Transferred} {
		id := string(o)
		entry := local(10, 0, 10*i, 0)
		f.m.Entered("general", id, entry)
		for _, bad := range []Outcome{Answered, Abandoned, ShortAbandoned, Closed, "bogus"} {
			if f.m.Left("general", id, bad, entry.Add(time.Second)) {
				t.Errorf("Left(%s) = true", bad)
			}
		}
		if !f.m.Left("general", id, o, entry.Add(65*time.Second)) {
			t.Errorf("Left(%s) = false", o)
		}
	}
	for _, o := range []string{"callback", "voicemail", "transferred"} {
		assertEq(t, "calls_total "+o, f.value("callmon_calls_total", "queue", "general", "outcome", o), 1)
	}
	// They are offered and finished, none answered within the threshold.
	assertEq(t, "offered", f.window("today", "offered"), 3)
	assertEq(t, "SL", f.sl("today"), 0)
	assertEq(t, "answered", f.value("callmon_calls_answered_total", "queue", "general"), 0)
	n, err := testutil.GatherAndCount(f.reg, "callmon_queue_wait_seconds")
	if err != nil || n != 1 {
		t.Fatalf("wait histograms = %d, %v", n, err)
	}
}

func TestClosedIsNeverOffered(t *testing.T) {
	f := newFixture(t, local(18, 0, 0, 0))
	f.m.Closed("general", local(18, 0, 0, 0))
	f.m.Closed("general", local(18, 1, 0, 0))
	assertEq(t, "closed", f.value("callmon_calls_total", "queue", "general", "outcome", "closed"), 2)
	assertEq(t, "offered_total", f.value("callmon_calls_offered_total", "queue", "general"), 0)
	assertEq(t, "window offered", f.window("today", "offered"), 0)
	assertEq(t, "SL", f.sl("today"), 1)
}

// An event stamped just after a boundary by Asterisk's clock, which runs a
// little ahead of ours, opens the new interval; a wild timestamp does not.
func TestEventSlightlyAheadOfClock(t *testing.T) {
	f := newFixture(t, local(10, 14, 59, 900))
	f.answer("general", "ahead", local(10, 15, 0, 100), ms(1000))
	f.clk.Set(local(10, 15, 2, 0))
	assertEq(t, "interval offered", f.window("interval", "offered"), 1)

	f.answer("general", "wild", local(23, 0, 0, 0), ms(1000))
	f.answer("general", "normal", local(10, 15, 5, 0), ms(1000))
	f.clk.Set(local(10, 15, 10, 0))
	assertEq(t, "interval offered after a wild timestamp", f.window("interval", "offered"), 2)
	assertEq(t, "today offered after a wild timestamp", f.window("today", "offered"), 3)
}

func TestRestoreToday(t *testing.T) {
	f := newFixture(t, local(10, 20, 0, 0))
	f.answer("general", "live", local(10, 16, 0, 0), ms(40000)) // a miss, counted live

	yesterday := time.Date(2026, 11, 22, 12, 0, 0, 0, amsterdam)
	if f.m.Restore("general", yesterday, DayCounts{Offered: 5}) {
		t.Error("Restore of yesterday = true")
	}
	if f.m.Restore("nope", local(9, 0, 0, 0), DayCounts{Offered: 5}) {
		t.Error("Restore of an unknown queue = true")
	}
	if f.m.Restore("general", local(9, 0, 0, 0), DayCounts{Offered: 1, AnsweredWithin: 2}) {
		t.Error("Restore of inconsistent counts = true")
	}
	if f.m.Restore("general", local(9, 0, 0, 0), DayCounts{Offered: 4, Intervals: []IntervalCounts{{Start: local(10, 15, 0, 0), Offered: -1}}}) {
		t.Error("Restore of negative interval counts = true")
	}
	ok := f.m.Restore("general", local(0, 0, 0, 0), DayCounts{
		Offered: 21, AnsweredWithin: 18, ShortAbandoned: 1,
		Intervals: []IntervalCounts{
			{Start: local(10, 0, 0, 0), Offered: 10, AnsweredWithin: 9},
			{Start: local(10, 15, 0, 0), Offered: 3, AnsweredWithin: 2, ShortAbandoned: 1},
		},
	})
	if !ok {
		t.Fatal("Restore = false")
	}
	assertEq(t, "today offered", f.window("today", "offered"), 22)
	assertEq(t, "today SL", f.sl("today"), 18.0/21) // 18 / (22 - 1)
	assertEq(t, "interval offered", f.window("interval", "offered"), 4)
	assertEq(t, "interval SL", f.sl("interval"), 2.0/3) // 2 / (4 - 1)
	assertEq(t, "counters are not restored", f.value("callmon_calls_offered_total", "queue", "general"), 1)

	f.clk.Set(local(10, 30, 0, 0))
	assertEq(t, "next interval", f.window("interval", "offered"), 0)
	f.clk.Set(time.Date(2026, 11, 24, 0, 0, 0, 0, amsterdam))
	assertEq(t, "next day", f.window("today", "offered"), 0)
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	clk := &fakeClock{t: local(10, 0, 0, 0)}
	good := []Queue{{Name: "general"}}
	for name, tc := range map[string]struct {
		reg    prometheus.Registerer
		clk    Clock
		loc    *time.Location
		queues []Queue
	}{
		"nil registerer":        {nil, clk, amsterdam, good},
		"nil clock":             {prometheus.NewRegistry(), nil, amsterdam, good},
		"nil location":          {prometheus.NewRegistry(), clk, nil, good},
		"no queues":             {prometheus.NewRegistry(), clk, amsterdam, nil},
		"unnamed queue":         {prometheus.NewRegistry(), clk, amsterdam, []Queue{{}}},
		"duplicate queue":       {prometheus.NewRegistry(), clk, amsterdam, []Queue{{Name: "a"}, {Name: "a"}}},
		"negative threshold":    {prometheus.NewRegistry(), clk, amsterdam, []Queue{{Name: "a", Threshold: -time.Second}}},
		"sub-ms threshold":      {prometheus.NewRegistry(), clk, amsterdam, []Queue{{Name: "a", Threshold: 30*time.Second + 1}}},
		"target above 1":        {prometheus.NewRegistry(), clk, amsterdam, []Queue{{Name: "a", Target: 90}}},
		"short above threshold": {prometheus.NewRegistry(), clk, amsterdam, []Queue{{Name: "a", Threshold: 10 * time.Second, ShortAbandon: 11 * time.Second}}},
	} {
		if _, err := New(tc.reg, tc.clk, tc.loc, tc.queues, "test"); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := New(reg, clk, amsterdam, good, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg, clk, amsterdam, good, "test"); err == nil {
		t.Error("second New on one registry succeeded")
	}
}

func TestShortAbandonDisabled(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0), Queue{Name: "general", ShortAbandon: -1})
	f.abandon("general", "x", local(10, 0, 0, 0), ms(1000))
	f.abandon("general", "y", local(10, 0, 1, 0), 0)
	assertEq(t, "abandoned", f.value("callmon_calls_abandoned_total", "queue", "general"), 2)
	assertEq(t, "short", f.value("callmon_calls_short_abandoned_total", "queue", "general"), 0)
	assertEq(t, "SL", f.sl("today"), 0)
}

func TestSeriesPreinitialised(t *testing.T) {
	f := newFixture(t, local(10, 0, 0, 0), Queue{Name: "general"}, Queue{Name: "direct", Threshold: 20 * time.Second, Target: 0.8})
	for name, want := range map[string]int{
		"callmon_calls_offered_total":                   2,
		"callmon_calls_answered_total":                  2,
		"callmon_calls_answered_within_threshold_total": 2,
		"callmon_calls_abandoned_total":                 2,
		"callmon_calls_short_abandoned_total":           2,
		"callmon_calls_total":                           2 * 8,
		"callmon_queue_wait_seconds":                    2,
		"callmon_queue_time_seconds":                    2 * 7, // closed calls spend no time in a queue
		"callmon_queue_threshold_seconds":               2,
		"callmon_queue_target_ratio":                    2,
		"callmon_service_level_ratio":                   2 * 2,
		"callmon_window_calls":                          2 * 2 * 4,
		"callmon_calls_waiting":                         2,
		"callmon_oldest_waiting_call_seconds":           2,
		"callmon_agents":                                2 * 6,
		"callmon_queue_open":                            2,
		"callmon_ari_connected":                         1,
		"callmon_ari_reconnects_total":                  1,
		"callmon_ari_events_dropped_total":              1,
		"callmon_ari_event_lag_seconds":                 1,
		"callmon_ari_processing_queue_depth":            1,
		"callmon_build_info":                            1,
	} {
		n, err := testutil.GatherAndCount(f.reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: %d series, want %d", name, n, want)
		}
	}
	f.compare(`
# HELP callmon_queue_target_ratio Service-level target of the queue as a ratio (0.9 means 90 % answered within the threshold).
# TYPE callmon_queue_target_ratio gauge
callmon_queue_target_ratio{queue="direct"} 0.8
callmon_queue_target_ratio{queue="general"} 0.9
# HELP callmon_queue_threshold_seconds Service-level threshold of the queue in seconds: a call answered after at most this wait is answered within threshold.
# TYPE callmon_queue_threshold_seconds gauge
callmon_queue_threshold_seconds{queue="direct"} 20
callmon_queue_threshold_seconds{queue="general"} 30
# HELP callmon_service_level_ratio Live service level as a ratio: answered_within_threshold / (offered - short_abandoned) over the calls that entered the queue today (window="today", local day) or in the running 15-minute interval (window="interval"). A call still waiting counts as offered and missed once it has waited longer than the threshold. 1 when nothing counts yet (nothing missed).
# TYPE callmon_service_level_ratio gauge
callmon_service_level_ratio{queue="direct",window="interval"} 1
callmon_service_level_ratio{queue="direct",window="today"} 1
callmon_service_level_ratio{queue="general",window="interval"} 1
callmon_service_level_ratio{queue="general",window="today"} 1
`, "callmon_queue_target_ratio", "callmon_queue_threshold_seconds", "callmon_service_level_ratio")
}

func TestQueueOpenReadAtScrape(t *testing.T) {
	// Open from 08:00 to 17:00; "direct" has no hours and is always open.
	hours := func(t time.Time) bool { h := t.In(amsterdam).Hour(); return h >= 8 && h < 17 }
	f := newFixture(t, local(16, 59, 59, 999), Queue{Name: "general", Open: hours}, Queue{Name: "direct"})
	assertEq(t, "open at 16:59:59.999", f.value("callmon_queue_open", "queue", "general"), 1)
	f.clk.Set(local(17, 0, 0, 0))
	assertEq(t, "open at 17:00", f.value("callmon_queue_open", "queue", "general"), 0)
	assertEq(t, "direct at 17:00", f.value("callmon_queue_open", "queue", "direct"), 1)
}

func TestAgents(t *testing.T) {
	f := newFixture(t, local(10, 0, 0, 0))
	f.m.SetAgents("general", map[string]int{"available": 3, "on_call": 2, "paused": 1, "offline": 1, "ringing": 1, "logged_out": 4})
	f.m.SetAgents("general", map[string]int{"available": 2, "on_call": 3, "bogus": 7})
	f.compare(`
# HELP callmon_agents Agents of the queue by state: available, ringing, on_call, paused, offline, logged_out.
# TYPE callmon_agents gauge
callmon_agents{queue="general",state="available"} 2
callmon_agents{queue="general",state="logged_out"} 0
callmon_agents{queue="general",state="offline"} 0
callmon_agents{queue="general",state="on_call"} 3
callmon_agents{queue="general",state="paused"} 0
callmon_agents{queue="general",state="ringing"} 0
`, "callmon_agents")
}

func TestExpositionLintsClean(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0))
	f.answer("general", "a", local(10, 0, 0, 0), ms(3000))
	f.abandon("general", "b", local(10, 0, 5, 0), ms(9000))
	f.m.Closed("general", local(10, 0, 0, 0))
	f.m.ARIEvent("StasisStart", ms(3))
	f.m.ARISkipped("malformed")
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// Every help text of callmon's own metrics names its unit or what it counts.
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "callmon_") && len(mf.GetHelp()) < 30 {
			t.Errorf("%s: help %q too short", mf.GetName(), mf.GetHelp())
		}
	}
}

// callmon_calls_total counts finished calls (README, DESIGN §6): an answered
// call counts when its conversation ends, not when it is answered; its wait
// and service level are those of the answer.
func TestAnsweredCountsInCallsTotalWhenItEnds(t *testing.T) {
	f := newFixture(t, local(10, 1, 0, 0))
	answered := func() float64 {
		return f.value("callmon_calls_total", "queue", "general", "outcome", "answered")
	}
	f.answer("general", "c1", local(10, 0, 0, 0), ms(10000))
	assertEq(t, "calls_total answered while talking", answered(), 0)
	assertEq(t, "answered_total while talking", f.value("callmon_calls_answered_total", "queue", "general"), 1)
	assertEq(t, "window answered within while talking", f.window("today", "answered_within_threshold"), 1)
	if !f.m.Ended("general", "c1") {
		t.Fatal("Ended of a call in conversation = false")
	}
	assertEq(t, "calls_total answered after the end", answered(), 1)

	// Carried on after a restart: this process counts its end.
	if !f.m.Resumed("general", "c2", local(10, 0, 10, 0), local(10, 0, 20, 0)) {
		t.Fatal("Resumed = false")
	}
	assertEq(t, "calls_total answered while the resumed call talks", answered(), 1)
	f.m.Ended("general", "c2")
	assertEq(t, "calls_total answered after the resumed call ended", answered(), 2)

	// Handed to another process in conversation: that one counts its end.
	f.answer("general", "c3", local(10, 0, 30, 0), ms(1000))
	f.m.Handed("general", "c3")
	if f.m.Ended("general", "c3") {
		t.Error("Ended of a handed call = true")
	}
	assertEq(t, "calls_total answered after a handover", answered(), 2)
	if f.m.Ended("nope", "c1") || f.m.Ended("general", "never") {
		t.Error("Ended of an unknown queue or call = true")
	}
}
