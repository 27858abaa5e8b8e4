// Package staffing advises how many agents a queue needs in the running and the next
// 15-minute interval: it forecasts the calls from the same quarter-hours of the last four same
// weekdays, scaled by how today's last 15 minutes compare with theirs, and turns the forecast,
// the measured occupancy, patience and ring times into Erlang A's and Erlang C's answer. It
// reads no database and no clock of its own: the caller counts the calls in the windows it asks
// for.
package staffing

import (
	"math"
	"time"

	"callmon/erlang"
)

// Interval is the length of a staffing interval.
const Interval = 15 * time.Minute

// Weeks is how many same weekdays back the forecast looks.
const Weeks = 4

// Window is a span of entry times whose offered calls the forecast needs counted.
type Window struct{ From, To time.Time }

// Windows are the spans to count for a forecast at now: for today and each of the Weeks same
// weekdays before it (index 0 today, k: k weeks back), the 15 minutes before now's wall-clock
// time (Recent), the running interval (Current), the next one (Next) and the whole local day
// (Day: a day without offered calls — a holiday, or before callmon ran — is left out). Wall
// clock is kept across daylight-saving changes.
type Windows struct {
	Recent, Current, Next, Day [Weeks + 1]Window
}

// WindowsAt builds the windows for now in loc.
func WindowsAt(now time.Time, loc *time.Location) Windows {
	var w Windows
	lt := now.In(loc)
	for k := 0; k <= Weeks; k++ {
		t := lt.AddDate(0, 0, -7*k)
		y, mo, d := t.Date()
		day := time.Date(y, mo, d, 0, 0, 0, 0, loc)
		start := time.Date(y, mo, d, t.Hour(), t.Minute()-t.Minute()%15, 0, 0, loc)
		w.Recent[k] = Window{t.Add(-Interval), t}
		w.Current[k] = Window{start, start.Add(Interval)}
		w.Next[k] = Window{start.Add(Interval), start.Add(2 * Interval)}
		w.Day[k] = Window{day, time.Date(y, mo, d+1, 0, 0, 0, 0, loc)}
	}
	return w
}

// All lists every window, in a fixed order, for one counting query.
func (w Windows) All() []Window {
	var out []Window
	for _, set := range [][Weeks + 1]Window{w.Recent, w.Current, w.Next, w.Day} {
		out = append(out, set[:]...)
	}
	return out
}

// Forecast is the calls expected in the running and the next interval.
type Forecast struct {
	Current, Next float64
	Days          int     // same weekdays with calls that the history came from (0: none)
	Scale         float64 // today's recent calls against the history's, shrunk towards 1
}

// shrink keeps a handful of calls from swinging the forecast: the scale is
// (today + shrink) ÷ (history + shrink).
const shrink = 5.0

// ForecastFrom turns the counts of w.All()'s windows, in that order, into a forecast. With
// history, each interval's forecast is its mean over the same weekdays that had calls, scaled
// by (today's last 15 minutes + 5) ÷ (their last 15 minutes + 5): the history gives the shape
// of the day, today's traffic its level. Without history the last 15 minutes' rate is carried
// forward.
func ForecastFrom(counts []int) Forecast {
	n := Weeks + 1
	if len(counts) != 4*n {
		return Forecast{}
	}
	recent, current, next, day := counts[:n], counts[n:2*n], counts[2*n:3*n], counts[3*n:]
	var f Forecast
	var hRecent, hCur, hNext float64
	for k := 1; k <= Weeks; k++ {
		if day[k] == 0 {
			continue
		}
		f.Days++
		hRecent += float64(recent[k])
		hCur += float64(current[k])
		hNext += float64(next[k])
	}
	today := float64(recent[0])
	if f.Days == 0 {
		f.Current, f.Next, f.Scale = today, today, 1
		return f
	}
	d := float64(f.Days)
	hRecent, hCur, hNext = hRecent/d, hCur/d, hNext/d
	f.Scale = (today + shrink) / (hRecent + shrink)
	f.Current, f.Next = hCur*f.Scale, hNext*f.Scale
	return f
}

// Rates are what the queue's recent calls measured (package predict).
type Rates struct {
	Handle   time.Duration // occupancy per call
	Patience time.Duration // 1/θ̂
	Ring     []float64     // ring-time samples, seconds
}

// Advice is one interval's staffing for one model.
type Advice struct {
	Calls   float64 // forecast offered in the interval
	Needed  int     // fewest agents reaching the target (-1: more than MaxAgents)
	Level   float64 // service level the present staffing is expected to reach
	Staffed int
}

// MaxAgents bounds the search for the agents needed.
const MaxAgents = 1000

// Advise computes Erlang A's and Erlang C's advice for calls expected in an interval.
func Advise(calls float64, r Rates, staffed int, target float64, t erlang.Terms) (a, c Advice) {
	a = Advice{Calls: calls, Staffed: staffed, Needed: 0, Level: 1}
	c = a
	if calls <= 0 || r.Handle <= 0 {
		return a, c // nobody expected: nobody needed, nothing missed
	}
	l := erlang.Load{Arrivals: calls / Interval.Seconds(), Handle: r.Handle.Seconds(), Patience: r.Patience.Seconds()}
	for i, model := range []func(erlang.Load, int, erlang.Terms) (erlang.Result, error){erlang.A, erlang.C} {
		adv := &a
		if i == 1 {
			adv = &c
		}
		if res, ok, err := erlang.Needed(model, l, t, target, MaxAgents); err == nil {
			adv.Needed = res.Agents
			if !ok {
				adv.Needed = -1
			}
		}
		adv.Level = 0
		if staffed > 0 {
			if res, err := model(l, staffed, t); err == nil {
				adv.Level = res.ServiceLevel
			}
		}
		if math.IsNaN(adv.Level) {
			adv.Level = 0
		}
	}
	return a, c
}
