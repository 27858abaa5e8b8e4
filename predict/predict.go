// Package predict estimates how long a caller will wait for an agent, from what callmon sees
// of one queue: the callers ahead, the agents serving it, and recent agent occupancy, ring
// times and abandons. It also keeps the two classic estimators it is judged against
// (last-to-enter-service and head-of-line) and the rates staffing advice needs. It holds no
// clock and no locks: the queue's owner feeds it in order.
//
// The estimator is queue-length based with abandonment (Ibrahim & Whitt's QL_m, extended
// with the ring time callmon's waits include): a caller with i callers ahead, when all s
// agents are busy, waits for i+1 departures from the line; while j callers are still ahead the
// line moves at rate s·μ + j·θ (an agent frees, or someone ahead gives up), so
//
//	E[wait] = Σ_{j=0..i} 1/(s·μ + j·θ) + E[ring],
//
// with 1/μ the recent mean occupancy per call (ringing + talking + wrap-up), θ the recent
// abandon rate per second of waiting (abandons ÷ total waiting time, which counts the
// censored waits of answered callers too), and E[ring] the recent mean time from ringing an
// agent to their answer. Unlike last-to-enter-service, it does not lag behind a changing
// arrival rate: it reads the line as it is now.
package predict

import (
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/mathext"
)

// Options are the estimator's window and its assumptions before it has seen anything.
type Options struct {
	Window   int           // observations kept per quantity (default 300)
	Handle   time.Duration // assumed occupancy per call until one is seen (default 180 s)
	Ring     time.Duration // assumed ring time until one is seen (default 5 s)
	Patience time.Duration // assumed mean patience until an abandon is seen (default 120 s)
}

// Estimator keeps one queue's recent rates. The zero value is not usable: call New.
type Estimator struct {
	o        Options
	occupied ring
	rang     ring
	waits    ring // waits of callers who left the line, answered or not
	gaveUp   ring // 1 for an abandon, 0 for an answer, parallel to waits
	errs     ring // actual − predicted wait of answered callers, seconds
}

// New returns an estimator with o's defaults filled in.
func New(o Options) *Estimator {
	if o.Window <= 0 {
		o.Window = 300
	}
	if o.Handle <= 0 {
		o.Handle = 180 * time.Second
	}
	if o.Ring <= 0 {
		o.Ring = 5 * time.Second
	}
	if o.Patience <= 0 {
		o.Patience = 120 * time.Second
	}
	return &Estimator{o: o, occupied: newRing(o.Window), rang: newRing(o.Window),
		waits: newRing(o.Window), gaveUp: newRing(o.Window), errs: newRing(o.Window)}
}

// Occupied records how long an agent was taken by one call of this queue, from being rung
// to being free again.
func (e *Estimator) Occupied(d time.Duration) { e.occupied.add(d.Seconds()) }

// Rang records the time from ringing an agent to their answer.
func (e *Estimator) Rang(d time.Duration) { e.rang.add(d.Seconds()) }

// Left records a caller leaving the line after waiting d: answered, or abandoned (hung up,
// took the callback, went to voicemail).
func (e *Estimator) Left(d time.Duration, abandoned bool) {
	e.waits.add(max(d.Seconds(), 0))
	a := 0.0
	if abandoned {
		a = 1
	}
	e.gaveUp.add(a)
}

// Judged records how an answered caller's wait compared with the wait predicted at entry.
func (e *Estimator) Judged(predicted, actual time.Duration) {
	e.errs.add((actual - predicted).Seconds())
}

// MinJudged is how many judged predictions ErrorBound needs.
const MinJudged = 20

// ErrorBound is the 80th percentile of the recent errors (actual − predicted): adding it to a
// prediction gives a wait that about four callers in five did not exceed; abs is the same
// percentile of the absolute error, how wrong the predictor recently was either way. ok is
// false with fewer than MinJudged predictions judged.
func (e *Estimator) ErrorBound() (over, abs time.Duration, ok bool) {
	v := e.errs.values()
	if len(v) < MinJudged {
		return 0, 0, false
	}
	sort.Float64s(v)
	a := make([]float64, len(v))
	for i, x := range v {
		a[i] = math.Abs(x)
	}
	sort.Float64s(a)
	q := func(s []float64) float64 { return s[int(math.Ceil(0.8*float64(len(s))))-1] }
	return seconds(q(v)), seconds(q(a)), true
}

// Handle is the recent mean occupancy per call.
func (e *Estimator) Handle() time.Duration { return seconds(e.occupied.mean(e.o.Handle.Seconds())) }

// RingTime is the recent mean time from ringing to answer.
func (e *Estimator) RingTime() time.Duration { return seconds(e.rang.mean(e.o.Ring.Seconds())) }

// RingSamples returns the recent ring times in seconds, sorted, at most n of them evenly
// spread (for erlang.Terms.Ring); the assumed ring time when none was seen.
func (e *Estimator) RingSamples(n int) []float64 {
	v := e.rang.values()
	if len(v) == 0 {
		return []float64{e.o.Ring.Seconds()}
	}
	return Quantiles(v, n)
}

// Quantiles returns n evenly spread quantiles of v (the middles of n equal slices), or all of
// v when it has no more; it sorts v in place.
func Quantiles(v []float64, n int) []float64 {
	sort.Float64s(v)
	if len(v) <= n {
		return v
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = v[(2*i+1)*len(v)/(2*n)]
	}
	return out
}

// AbandonRate is θ̂ per second: abandons ÷ total waiting time of the recent leavers. Before
// any abandon it is the assumed patience's.
func (e *Estimator) AbandonRate() float64 {
	total := e.waits.sum
	if e.gaveUp.sum == 0 || total <= 0 {
		return 1 / e.o.Patience.Seconds()
	}
	return e.gaveUp.sum / total
}

// Wait is the expected wait of a caller with ahead callers in line before them (not yet
// ringing an agent), when agents serve the queue and free of them could be rung now.
func (e *Estimator) Wait(ahead, agents, free int) time.Duration {
	ring := e.RingTime().Seconds()
	if ahead < free {
		return seconds(ring)
	}
	if agents <= 0 {
		return -1 // nobody to answer: no finite expectation
	}
	i := ahead - max(free, 0)
	smu := float64(agents) / e.Handle().Seconds()
	theta := e.AbandonRate()
	return seconds(lineWait(i, smu, theta) + ring)
}

// lineWait is Σ_{j=0..i} 1/(smu + j·θ): summed for a short line, and for a long one (thousands
// waiting, computed on every change) through the digamma function, ψ(x+i+1) − ψ(x) over θ
// with x = smu/θ.
func lineWait(i int, smu, theta float64) float64 {
	if i < 64 || theta <= 0 {
		if theta <= 0 {
			return float64(i+1) / smu
		}
		w := 0.0
		for j := 0; j <= i; j++ {
			w += 1 / (smu + float64(j)*theta)
		}
		return w
	}
	x := smu / theta
	return (mathext.Digamma(x+float64(i)+1) - mathext.Digamma(x)) / theta
}

// LastToEnter is the last-to-enter-service estimator: a new caller will wait what the last
// caller answered waited.
type LastToEnter struct{ last time.Duration }

// Answered records an answered caller's wait.
func (l *LastToEnter) Answered(wait time.Duration) { l.last = wait }

// Wait is the prediction for a caller joining now.
func (l *LastToEnter) Wait() time.Duration { return l.last }

// HeadOfLine is the head-of-line estimator: a new caller will wait what the caller longest in
// line has waited so far (0 with nobody waiting).
func HeadOfLine(oldestEntry, now time.Time) time.Duration {
	if oldestEntry.IsZero() || now.Before(oldestEntry) {
		return 0
	}
	return now.Sub(oldestEntry)
}

func seconds(s float64) time.Duration {
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return -1
	}
	return time.Duration(s * float64(time.Second))
}

// ring keeps the last n values and their running sum.
type ring struct {
	v    []float64
	next int
	full bool
	sum  float64
}

func newRing(n int) ring { return ring{v: make([]float64, n)} }

func (r *ring) add(x float64) {
	if r.full {
		r.sum -= r.v[r.next]
	}
	r.v[r.next] = x
	r.sum += x
	r.next++
	if r.next == len(r.v) {
		r.next, r.full = 0, true
		r.sum = 0 // re-add once per lap so rounding cannot drift
		for _, y := range r.v {
			r.sum += y
		}
	}
}

func (r *ring) len() int {
	if r.full {
		return len(r.v)
	}
	return r.next
}

func (r *ring) mean(otherwise float64) float64 {
	if r.len() == 0 {
		return otherwise
	}
	return r.sum / float64(r.len())
}

func (r *ring) values() []float64 { return append([]float64(nil), r.v[:r.len()]...) }
