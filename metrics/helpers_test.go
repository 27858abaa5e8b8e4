package metrics

import (
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the machine's zoneinfo

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is the injected clock: tests set it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var amsterdam = mustLoad("Europe/Amsterdam")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// local is a wall-clock time in Amsterdam on Monday 23 November 2026 (CET),
// with milliseconds.
func local(h, m, s, ms int) time.Time {
	return time.Date(2026, 11, 23, h, m, s, ms*int(time.Millisecond), amsterdam)
}

// ms is a duration of whole milliseconds.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

type fixture struct {
	t   *testing.T
	m   *Metrics
	reg *prometheus.Registry
	clk *fakeClock
}

// newFixture builds Metrics on a fresh registry with the clock at start;
// without queues it configures "general" with the defaults.
func newFixture(t *testing.T, start time.Time, queues ...Queue) *fixture {
	t.Helper()
	if len(queues) == 0 {
		queues = []Queue{{Name: "general"}}
	}
	f := &fixture{t: t, reg: prometheus.NewRegistry(), clk: &fakeClock{t: start}}
	m, err := New(f.reg, f.clk, amsterdam, queues, "test")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.m = m
	return f
}

// compare checks the exposition of the named metrics against want.
func (f *fixture) compare(want string, names ...string) {
	f.t.Helper()
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), names...); err != nil {
		f.t.Error(err)
	}
}

// value is the value of the one gauge or counter series with exactly these
// label values (name=value pairs).
func (f *fixture) value(name string, labels ...string) float64 {
	f.t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, mt := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case mt.Gauge != nil:
				return mt.GetGauge().GetValue()
			case mt.Counter != nil:
				return mt.GetCounter().GetValue()
			}
		}
	}
	f.t.Fatalf("no series %s%v", name, labels)
	return 0
}

// sl is the live service level of queue "general" in window w.
func (f *fixture) sl(w string) float64 {
	f.t.Helper()
	return f.value("callmon_service_level_ratio", "queue", "general", "window", w)
}

// window is one class of callmon_window_calls for queue "general".
func (f *fixture) window(w, class string) float64 {
	f.t.Helper()
	return f.value("callmon_window_calls", "queue", "general", "window", w, "class", class)
}

// answer enters call id at entry and answers it after wait.
func (f *fixture) answer(queue, id string, entry time.Time, wait time.Duration) {
	f.t.Helper()
	if !f.m.Entered(queue, id, entry) {
		f.t.Fatalf("Entered(%s, %s) = false", queue, id)
	}
	if !f.m.Answered(queue, id, entry.Add(wait)) {
		f.t.Fatalf("Answered(%s, %s) = false", queue, id)
	}
}

// abandon enters call id at entry; its caller hangs up after wait.
func (f *fixture) abandon(queue, id string, entry time.Time, wait time.Duration) {
	f.t.Helper()
	if !f.m.Entered(queue, id, entry) {
		f.t.Fatalf("Entered(%s, %s) = false", queue, id)
	}
	if !f.m.Abandoned(queue, id, entry.Add(wait)) {
		f.t.Fatalf("Abandoned(%s, %s) = false", queue, id)
	}
}

func assertEq(t *testing.T, what string, got, want float64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
