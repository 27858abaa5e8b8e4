package staffing

import (
	"math"
	"testing"
	"time"

	"callmon/erlang"
)

var amsterdam = func() *time.Location {
	l, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return l
}()

// Four weeks back from a Monday in November crosses the end of summer time: the windows keep
// the wall clock (10:00–10:15 local each week), not the UTC hour.
func TestWindowsKeepTheWallClockAcrossDST(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 7, 30, 0, amsterdam)
	w := WindowsAt(now, amsterdam)
	for k := 0; k <= Weeks; k++ {
		cur := w.Current[k].From.In(amsterdam)
		if cur.Weekday() != time.Monday || cur.Hour() != 10 || cur.Minute() != 0 || w.Current[k].To.Sub(w.Current[k].From) != Interval {
			t.Errorf("week -%d: current interval %v–%v", k, cur, w.Current[k].To.In(amsterdam))
		}
		if got := w.Next[k].From.In(amsterdam); got.Hour() != 10 || got.Minute() != 15 {
			t.Errorf("week -%d: next interval starts %v", k, got)
		}
		if got := w.Recent[k].To.In(amsterdam); got.Hour() != 10 || got.Minute() != 7 || got.Second() != 30 {
			t.Errorf("week -%d: recent window ends %v", k, got)
		}
	}
	if got := w.Current[0].From.Sub(w.Current[2].From); got != 14*24*time.Hour+time.Hour {
		t.Errorf("two weeks back across DST: %v apart, want 14 days and the hour summer time gave back", got)
	}
	if n := len(w.All()); n != 4*(Weeks+1) {
		t.Errorf("%d windows", n)
	}
}

func counts(recent, current, next, day [Weeks + 1]int) []int {
	var c []int
	for _, s := range [][Weeks + 1]int{recent, current, next, day} {
		c = append(c, s[:]...)
	}
	return c
}

func TestForecast(t *testing.T) {
	// No history: the last 15 minutes carry on.
	f := ForecastFrom(counts([5]int{12}, [5]int{}, [5]int{}, [5]int{40}))
	if f.Current != 12 || f.Next != 12 || f.Days != 0 {
		t.Errorf("without history: %+v", f)
	}
	// Three weeks with calls (one a holiday without any): their mean shape, scaled by today's
	// level: (30 + 5) ÷ (mean 20 + 5) = 1.4.
	f = ForecastFrom(counts(
		[5]int{30, 18, 22, 0, 20},
		[5]int{99, 25, 35, 0, 30},
		[5]int{99, 40, 44, 0, 36},
		[5]int{300, 500, 520, 0, 480}))
	if f.Days != 3 || math.Abs(f.Scale-1.4) > 1e-12 || math.Abs(f.Current-30*1.4) > 1e-9 || math.Abs(f.Next-40*1.4) > 1e-9 {
		t.Errorf("with history: %+v, want 3 days, scale 1.4, 42 and 56 calls", f)
	}
	if f := ForecastFrom([]int{1, 2}); f != (Forecast{}) {
		t.Errorf("wrong number of counts: %+v", f)
	}
}

func TestAdvise(t *testing.T) {
	r := Rates{Handle: 95 * time.Second, Patience: 75 * time.Second, Ring: []float64{3, 5, 7}}
	terms := erlang.Terms{Threshold: 30, ShortAbandon: 5, Ring: r.Ring}
	a, c := Advise(200, r, 20, 0.9, terms) // 200 calls in 15 min ≈ 21 Erlangs
	if a.Needed <= 0 || c.Needed < a.Needed {
		t.Errorf("needed: Erlang A %d, Erlang C %d (C never fewer)", a.Needed, c.Needed)
	}
	if a.Level <= 0 || a.Level >= 0.9 || c.Level != 0 {
		t.Errorf("20 agents for 21 Erlangs: Erlang A expects %.3f (0 < level < 0.9), Erlang C %.3f (no steady state)", a.Level, c.Level)
	}
	more, _ := Advise(200, r, a.Needed, 0.9, terms)
	if more.Level < 0.9 {
		t.Errorf("the agents needed reach only %.3f", more.Level)
	}
	if a, c := Advise(0, r, 3, 0.9, terms); a.Needed != 0 || c.Needed != 0 || a.Level != 1 {
		t.Errorf("no calls: %+v %+v", a, c)
	}
}
