package metrics

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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

// A scrape must not do work per waiting call: the allocations of a whole
// /metrics request are the same at 100 and at 10,000 waiting. Allocations,
// unlike time, do not depend on the machine's load.
func TestScrapeAllocationsIndependentOfWaiting(t *testing.T) {
	allocs := func(waiting int) float64 {
		clk := &fakeClock{t: local(10, 0, 0, 0)}
		_, h := scrapeSetup(t, clk, 20, 200, waiting)
		// Every call has waited past the threshold by the first scrape.
		clk.Set(local(11, 0, 0, 0))
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		w := &bodyWriter{hdr: http.Header{}}
		scrapeOnce(t, h, req, w)
		return testing.AllocsPerRun(20, func() { scrapeOnce(t, h, req, w) })
	}
	few, many := allocs(100), allocs(10_000)
	t.Logf("allocations per scrape: %v at 100 waiting, %v at 10,000", few, many)
	// The go_ and process_ collectors (file descriptors, /proc) may vary
	// by an allocation or two between scrapes.
	if many-few > 4 || few-many > 4 {
		t.Errorf("allocations per scrape: %v at 10,000 waiting vs %v at 100: scrape work grows with the waiting calls", many, few)
	}
}
