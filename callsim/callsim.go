// Package callsim is a discrete-event model of one queue routed the way callmon routes it —
// the longest-idle free agent is rung for the caller at the head of the line, the caller's
// wait ends when that agent answers — on virtual time, with the traffic a contact centre
// sees: arrivals that vary through the day, lognormal conversations and callers whose patience
// need not be exponential. It exists to judge callmon's wait predictor and staffing formulas
// on days too long to run through Asterisk: the predictor it feeds is the one the daemon uses
// (package predict), fed the same observations in the same order.
package callsim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"callmon/predict"
)

// Options describe one run. Durations are in seconds.
type Options struct {
	Agents int
	Rate   float64 // mean arrivals per second over a day
	// Shape is the arrival rate's multiplier at a time of day (seconds since opening); its
	// mean over [0, Day) must be 1. Nil: constant.
	Shape    func(t float64) float64
	Day      float64 // seconds of arrivals per day; the line then drains
	Days     int
	Talk     distuv.Rander // conversation length
	Patience distuv.Rander // time a caller waits before hanging up
	RingMin  float64       // an agent answers after a ring drawn evenly from [RingMin, RingMax]
	RingMax  float64
	Warmup   float64 // calls entering earlier in a day are left out of the results
	Seed     uint64
}

// Call is one caller's fate and what each estimator predicted when they arrived.
type Call struct {
	Day       int
	Entry     float64 // seconds since the day's opening
	Wait      float64 // entry to answer, or to hang-up
	Answered  bool
	Predicted Predictions
}

// Predictions at a caller's arrival, in seconds.
type Predictions struct {
	Callmon, LES, HOL float64
}

// Result is a run's calls after the warm-up and the rates callmon would have measured.
type Result struct {
	Calls    []*Call
	Seconds  float64   // time the counted arrivals span
	Occupied []float64 // agent occupancy per caller rung for (ring + talk, or the ring cut short)
	Rings    []float64
}

type kind int

const (
	arrive kind = iota
	giveUp
	answer
	hangUp
)

type event struct {
	at   float64
	seq  int
	kind kind
	c    *caller
	a    *agent
	gen  int
}

type events []*event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(*event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

type state int

const (
	queued state = iota
	ringing
	talking
	gone
)

type caller struct {
	call  *Call
	entry float64
	state state
	agent *agent
}

type agent struct {
	gen       int // bumped when a ring is cancelled, so its answer event is void
	ringStart float64
	ring      float64
	c         *caller
}

type sim struct {
	o      Options
	rng    *rand.Rand
	now    float64
	seq    int
	ev     events
	line   []*caller // FIFO; callers who gave up are skipped when reached
	inLine int
	free   []*agent // longest idle first
	est    *predict.Estimator
	les    predict.LastToEnter
	res    *Result
	day    int
	peak   float64 // the shape's maximum, for thinning
}

// Run simulates o.Days days with one estimator that carries over from day to day, as the
// daemon's does.
func Run(o Options, est *predict.Estimator) *Result {
	s := &sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), est: est, res: &Result{}, peak: 1}
	if o.Shape != nil {
		s.peak = shapeMax(o.Shape, o.Day)
	}
	for d := range o.Days {
		s.day = d
		s.runDay()
	}
	return s.res
}

func (s *sim) push(e *event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.ev, e)
}

func (s *sim) runDay() {
	s.now, s.ev, s.line, s.inLine, s.free = 0, s.ev[:0], s.line[:0], 0, s.free[:0]
	for range s.o.Agents {
		s.free = append(s.free, &agent{})
	}
	s.scheduleArrival(0)
	for s.ev.Len() > 0 {
		e := heap.Pop(&s.ev).(*event)
		s.now = e.at
		switch e.kind {
		case arrive:
			s.arrive()
			s.scheduleArrival(s.now)
		case giveUp:
			s.giveUp(e.c)
		case answer:
			if e.gen == e.a.gen {
				s.answer(e.a)
			}
		case hangUp:
			s.agentFree(e.a)
		}
	}
	if s.o.Warmup < s.o.Day {
		s.res.Seconds += s.o.Day - s.o.Warmup
	}
}

// scheduleArrival draws the next arrival after t by thinning against the shape's maximum.
func (s *sim) scheduleArrival(t float64) {
	for {
		t += s.rng.ExpFloat64() / (s.o.Rate * s.peak)
		if t >= s.o.Day {
			return
		}
		if s.o.Shape == nil || s.rng.Float64()*s.peak <= s.o.Shape(t) {
			s.push(&event{at: t, kind: arrive})
			return
		}
	}
}

func (s *sim) arrive() {
	call := &Call{Day: s.day, Entry: s.now}
	c := &caller{call: call, entry: s.now}
	var oldest time.Time
	if h := s.head(); h != nil {
		oldest = time.Unix(0, 0).Add(seconds(h.entry))
	}
	call.Predicted = Predictions{
		Callmon: s.est.Wait(s.inLine, s.o.Agents, len(s.free)).Seconds(),
		LES:     s.les.Wait().Seconds(),
		HOL:     predict.HeadOfLine(oldest, time.Unix(0, 0).Add(seconds(s.now))).Seconds(),
	}
	if s.now >= s.o.Warmup {
		s.res.Calls = append(s.res.Calls, call)
	}
	s.push(&event{at: s.now + s.o.Patience.Rand(), kind: giveUp, c: c})
	if len(s.free) > 0 {
		a := s.free[0]
		s.free = s.free[1:]
		s.ring(a, c)
		return
	}
	s.line = append(s.line, c)
	s.inLine++
}

// head is the first caller still in line.
func (s *sim) head() *caller {
	for len(s.line) > 0 && s.line[0].state == gone {
		s.line = s.line[1:]
	}
	if len(s.line) == 0 {
		return nil
	}
	return s.line[0]
}

func (s *sim) ring(a *agent, c *caller) {
	c.state, c.agent = ringing, a
	a.c, a.ringStart = c, s.now
	a.ring = s.o.RingMin + s.rng.Float64()*(s.o.RingMax-s.o.RingMin)
	s.push(&event{at: s.now + a.ring, kind: answer, a: a, gen: a.gen})
}

func (s *sim) answer(a *agent) {
	c := a.c
	c.state = talking
	wait := s.now - c.entry
	c.call.Wait, c.call.Answered = wait, true
	s.est.Rang(seconds(a.ring))
	s.est.Left(seconds(wait), false)
	s.les.Answered(seconds(wait))
	if c.entry >= s.o.Warmup {
		s.res.Rings = append(s.res.Rings, a.ring)
	}
	s.push(&event{at: s.now + s.o.Talk.Rand(), kind: hangUp, a: a})
}

func (s *sim) giveUp(c *caller) {
	switch c.state {
	case talking, gone:
		return
	case queued:
		s.inLine--
	case ringing:
		a := c.agent
		a.gen++
		s.agentFree(a)
	}
	c.state = gone
	c.call.Wait = s.now - c.entry
	s.est.Left(seconds(c.call.Wait), true)
}

// agentFree ends an agent's call — a conversation ended, or the caller hung up while the
// agent's phone rang — and rings them for the next caller in line. Either way the agent was
// taken from ringing on: callmon counts both as occupancy.
func (s *sim) agentFree(a *agent) {
	occ := s.now - a.ringStart
	s.est.Occupied(seconds(occ))
	if a.c.entry >= s.o.Warmup {
		s.res.Occupied = append(s.res.Occupied, occ)
	}
	a.c = nil
	if h := s.head(); h != nil {
		s.line = s.line[1:]
		s.inLine--
		s.ring(a, h)
		return
	}
	s.free = append(s.free, a)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// shapeMax is the shape's maximum over a day, sampled every 10 s with a 1 % margin.
func shapeMax(f func(float64) float64, day float64) float64 {
	m := 0.0
	for t := 0.0; t < day; t += 10 {
		m = math.Max(m, f(t))
	}
	return m * 1.01
}

// MorningPeak is a working day's arrival shape over day seconds: a peak about an hour and a
// half after opening (about 1.6× the day's mean), a dip at lunch, a smaller afternoon bump;
// its mean over the day is 1.
func MorningPeak(day float64) func(float64) float64 {
	raw := func(t float64) float64 {
		h := t / day * 9 // hours since an 08:00 opening, on a 9-hour day
		return 0.7 + 1.1*math.Exp(-sq((h-1.75)/1.0)) - 0.35*math.Exp(-sq((h-4.5)/0.5)) + 0.35*math.Exp(-sq((h-6.5)/1.2))
	}
	sum, n := 0.0, 0
	for t := 0.0; t < day; t += day / 1000 {
		sum += raw(t)
		n++
	}
	mean := sum / float64(n)
	return func(t float64) float64 { return raw(t) / mean }
}

func sq(x float64) float64 { return x * x }

// LogNormal returns a lognormal distribution with the given mean and coefficient of variation.
func LogNormal(mean, cv float64, src rand.Source) distuv.LogNormal {
	sigma2 := math.Log(1 + cv*cv)
	return distuv.LogNormal{Mu: math.Log(mean) - sigma2/2, Sigma: math.Sqrt(sigma2), Src: src}
}
