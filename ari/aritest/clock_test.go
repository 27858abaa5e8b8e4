package aritest_test

import (
	"slices"
	"testing"
	"time"

	"callmon/ari/aritest"
)

var epoch = time.Date(2026, 11, 23, 19, 34, 22, 0, time.UTC)

func TestManualClockFiresInTimeOrder(t *testing.T) {
	c := aritest.NewManualClock(epoch)
	var fired []string
	at := func(name string) func() {
		return func() { fired = append(fired, name+"@"+c.Now().Sub(epoch).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(1*time.Second, at("a"))
	c.AfterFunc(2*time.Second, at("b1"))
	c.AfterFunc(2*time.Second, at("b2")) // same time: in scheduling order
	stop := c.AfterFunc(2500*time.Millisecond, at("stopped"))
	c.AfterFunc(time.Second, func() {
		// scheduled by a callback, due before the target: fires in the same Advance
		c.AfterFunc(500*time.Millisecond, at("chained"))
	})
	if !stop() {
		t.Fatal("stop of a pending timer reported false")
	}

	c.Advance(2 * time.Second)
	want := []string{"a@1s", "chained@1.5s", "b1@2s", "b2@2s"}
	if !slices.Equal(fired, want) {
		t.Fatalf("after 2s fired %v, want %v", fired, want)
	}
	if got := c.Now(); !got.Equal(epoch.Add(2 * time.Second)) {
		t.Fatalf("Now = %v, want start+2s", got)
	}
	if n := c.Pending(); n != 1 {
		t.Fatalf("Pending = %d, want 1", n)
	}
	if next, ok := c.Next(); !ok || !next.Equal(epoch.Add(3*time.Second)) {
		t.Fatalf("Next = %v %v, want start+3s", next, ok)
	}

	c.Advance(time.Hour)
	if fired[len(fired)-1] != "c@3s" {
		t.Fatalf("last fired %q, want c@3s", fired[len(fired)-1])
	}
	if stop() {
		t.Fatal("stop of a stopped timer reported true")
	}
}

func TestManualClockNeverGoesBack(t *testing.T) {
	c := aritest.NewManualClock(epoch)
	c.AdvanceTo(epoch.Add(-time.Minute))
	if !c.Now().Equal(epoch) {
		t.Fatalf("Now = %v after AdvanceTo the past", c.Now())
	}
	fired := false
	c.AfterFunc(0, func() { fired = true })
	if fired {
		t.Fatal("a due timer fired synchronously in AfterFunc")
	}
	c.Advance(0)
	if !fired {
		t.Fatal("a due timer did not fire on Advance(0)")
	}
}

func TestScaledClockRunsFaster(t *testing.T) {
	c := aritest.NewScaledClock(epoch, 1000)
	done := make(chan time.Time, 1)
	c.AfterFunc(10*time.Second, func() { done <- c.Now() }) // 10 ms of wall time
	select {
	case at := <-done:
		if at.Before(epoch.Add(10 * time.Second)) {
			t.Fatalf("timer fired at %v, before its simulated due time", at.Sub(epoch))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a 10 s timer at 1000x did not fire within 5 s of wall time")
	}
	var _ aritest.Clock = aritest.RealClock()
}
