package predict

import (
	"math"
	"testing"
	"time"
)

func TestLineWaitClosedFormAgreesWithTheSum(t *testing.T) {
	for _, i := range []int{64, 100, 1000, 20000} {
		for _, c := range [][2]float64{{25.0 / 95, 1.0 / 75}, {8.0 / 95, 1.0 / 300}, {1, 1}} {
			sum := 0.0
			for j := 0; j <= i; j++ {
				sum += 1 / (c[0] + float64(j)*c[1])
			}
			if got := lineWait(i, c[0], c[1]); math.Abs(got-sum) > 1e-9*sum {
				t.Errorf("i=%d sμ=%g θ=%g: %g, summed %g", i, c[0], c[1], got, sum)
			}
		}
	}
}

func TestWait(t *testing.T) {
	e := New(Options{})
	for range 10 {
		e.Occupied(100 * time.Second)
		e.Rang(4 * time.Second)
		e.Left(20*time.Second, false)
		e.Left(30*time.Second, true) // θ̂ = 10 abandons ÷ 500 s
	}
	if got := e.AbandonRate(); math.Abs(got-0.02) > 1e-12 {
		t.Fatalf("θ̂ = %g, want 0.02", got)
	}
	if got := e.Wait(0, 5, 1); got != 4*time.Second {
		t.Errorf("an agent free: %v, want the ring time 4s", got)
	}
	// Two ahead, 5 agents of 100 s: 1/0.05 + 1/0.07 + 1/0.09, plus the ring.
	want := 1/0.05 + 1/0.07 + 1/0.09 + 4
	if got := e.Wait(2, 5, 0).Seconds(); math.Abs(got-want) > 1e-6 {
		t.Errorf("two ahead: %v s, want %v", got, want)
	}
	if got := e.Wait(3, 0, 0); got >= 0 {
		t.Errorf("no agent: %v, want no prediction (negative)", got)
	}
	// The window forgets: 300 short occupancies replace the long ones.
	for range 300 {
		e.Occupied(10 * time.Second)
	}
	if got := e.Handle(); got != 10*time.Second {
		t.Errorf("handle after the window turned: %v", got)
	}
}

func TestErrorBound(t *testing.T) {
	e := New(Options{})
	for i := range MinJudged - 1 {
		e.Judged(60*time.Second, time.Duration(50+i)*time.Second)
	}
	if _, _, ok := e.ErrorBound(); ok {
		t.Fatal("a bound from too few judgements")
	}
	e.Judged(60*time.Second, 69*time.Second)
	// errors −10 … +9 s: the 16th of 20 sorted is +5; of the absolute values 0, 1, 1, 2, 2, …, 9, 9, 10 the 16th is 8.
	over, abs, ok := e.ErrorBound()
	if !ok || over != 5*time.Second || abs != 8*time.Second {
		t.Errorf("bound %v, |error| %v, %v; want 5s, 8s", over, abs, ok)
	}
}
