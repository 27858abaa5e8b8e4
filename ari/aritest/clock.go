package aritest

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is the fake's only source of time: event timestamps, channel creation times, uniqueids
// and every delay (ringing, talking, originate timeouts, playbacks) come from it, so a test can
// run a 30-second ring in microseconds with a ManualClock.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f once d has passed on this clock. stop cancels it and reports whether it
	// did so before f started.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the wall clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// NewScaledClock returns a clock whose time starts at start and runs speed times as fast as the
// wall clock, for `callmon demo`: a day of calls in minutes, with timers that still fire on
// their own.
func NewScaledClock(start time.Time, speed float64) Clock {
	if speed <= 0 {
		speed = 1
	}
	return &scaledClock{start: start, origin: time.Now(), speed: speed}
}

type scaledClock struct {
	start, origin time.Time
	speed         float64
}

func (c *scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.origin)) * c.speed))
}

func (c *scaledClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(time.Duration(float64(d)/c.speed), f).Stop
}

// ManualClock stands still until the test moves it. It is meant to be advanced from one
// goroutine (the test's); timer callbacks run on that goroutine, inside Advance.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
}

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d. A timer that is already due (d <= 0) fires at the next
// Advance, never synchronously: callers often hold their own locks when they schedule.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{when: c.now.Add(d), seq: c.seq, f: f}
	heap.Push(&c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.index < 0 {
			return false // fired or stopped already
		}
		heap.Remove(&c.timers, t.index)
		return true
	}
}

// Advance moves the clock forward by d, firing every timer that falls due on the way in time
// order (ties in the order they were scheduled). A callback sees Now() equal to its own due
// time, and timers it schedules at or before the target fire in the same call.
func (c *ManualClock) Advance(d time.Duration) {
	c.AdvanceTo(c.Now().Add(d))
}

// AdvanceTo moves the clock to t (it never goes back) and fires the timers due by then.
func (c *ManualClock) AdvanceTo(t time.Time) {
	for {
		c.mu.Lock()
		if len(c.timers) == 0 || c.timers[0].when.After(t) {
			if t.After(c.now) {
				c.now = t
			}
			c.mu.Unlock()
			return
		}
		next := heap.Pop(&c.timers).(*manualTimer)
		if next.when.After(c.now) {
			c.now = next.when
		}
		c.mu.Unlock()
		next.f() // without the lock: callbacks schedule and stop timers
	}
}

// Pending reports how many timers are scheduled and not yet fired or stopped.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Next reports when the earliest pending timer is due.
func (c *ManualClock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return c.timers[0].when, true
}

type manualTimer struct {
	when  time.Time
	seq   uint64
	f     func()
	index int // position in the heap, -1 once removed
}

type timerHeap []*manualTimer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*manualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
