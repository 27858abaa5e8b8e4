// Package erlang computes what a queue of agents is expected to achieve in steady state:
// Erlang C (M/M/n, callers wait for ever) and Erlang A (M/M/n+M, callers abandon at rate θ),
// mapped to callmon's own service level — answered within the threshold ÷ (offered − short
// abandons) — and the number of agents a target needs. It knows nothing of Asterisk, the
// database or the clock: callers give it rates they measured.
package erlang

import (
	"errors"
	"math"
)

// Load is a queue's traffic, in seconds.
type Load struct {
	Arrivals float64 // λ: calls offered per second
	Handle   float64 // 1/μ: mean time an agent is occupied per call (ringing + talking + wrap-up)
	Patience float64 // 1/θ: mean patience of a waiting caller; 0 means callers never abandon
}

// Terms are the service-level definition's parameters, in seconds.
type Terms struct {
	Threshold    float64 // answered within this wait counts as in time (30)
	ShortAbandon float64 // abandons within this wait leave the denominator (5); 0 counts them all
	// Ring holds samples of the time from an agent being rung to answering: a caller's wait is
	// the time in queue plus one of these. Empty means answers come at once.
	Ring []float64
}

// Result is the steady state a number of agents reaches.
type Result struct {
	Agents         int
	Answered       float64 // share of offered calls answered
	AnsweredWithin float64 // share answered with wait ≤ Threshold
	Abandoned      float64 // share that abandon (Erlang C: 0)
	ShortAbandoned float64 // share that abandon within ShortAbandon
	ServiceLevel   float64 // AnsweredWithin ÷ (1 − ShortAbandoned)
	Stable         bool    // false for Erlang C at or above full load: waits grow without bound
}

var errLoad = errors.New("erlang: arrivals, handle time and agents must be positive")

// C is Erlang C: nobody abandons. At or above full load it reports an unstable queue with a
// service level of 0.
func C(l Load, n int, t Terms) (Result, error) {
	if !(l.Arrivals > 0) || !(l.Handle > 0) || n < 1 {
		return Result{}, errLoad
	}
	mu := 1 / l.Handle
	a := l.Arrivals / mu
	res := Result{Agents: n}
	if a >= float64(n) {
		return res, nil
	}
	res.Stable = true
	b := 1.0 // Erlang B by its recursion, then C from B.
	for k := 1; k <= n; k++ {
		b = a * b / (float64(k) + a*b)
	}
	pw := float64(n) * b / (float64(n) - a*(1-b))
	rate := float64(n)*mu - l.Arrivals // P(D > x) = pw · e^(−rate·x)
	res.Answered = 1
	res.AnsweredWithin = overRing(t, func(x, _ float64) float64 { return 1 - pw*math.Exp(-rate*x) })
	res.ServiceLevel = res.AnsweredWithin
	return res, nil
}

// A is Erlang A: callers abandon with exponential patience of mean l.Patience. Computed from
// the birth–death chain's stationary distribution (what an arriving caller finds) and, for one
// who must wait, the transient of a pure-death chain over the callers ahead, solved by
// uniformization: exact up to the truncation of both, below 1e-12.
func A(l Load, n int, t Terms) (Result, error) {
	if !(l.Arrivals > 0) || !(l.Handle > 0) || n < 1 {
		return Result{}, errLoad
	}
	if !(l.Patience > 0) || math.IsInf(l.Patience, 1) {
		return C(l, n, t)
	}
	mu, theta := 1/l.Handle, 1/l.Patience
	pi := stationary(l.Arrivals, mu, theta, n)
	res := Result{Agents: n, Stable: true}
	served := 0.0 // served at once: an agent was free
	for k := 0; k < n && k < len(pi); k++ {
		served += pi[k]
	}
	var ahead []float64 // ahead[i]: arriving with i callers ahead in the queue
	if len(pi) > n {
		ahead = pi[n:]
	}
	q := deathChain{nmu: float64(n) * mu, theta: theta, start: ahead}
	// The caller is still waiting while the agent's phone rings and may give up then too: an
	// answer needs the patience to outlast the ring, e^(−θr).
	keep := func(r float64) float64 { return math.Exp(-theta * r) }
	servedQ := 0.0
	for i, p := range ahead {
		servedQ += p * q.nmu / (q.nmu + float64(i+1)*theta)
	}
	survive := ringMean(t, keep)
	res.Answered = (served + servedQ) * survive
	res.Abandoned = 1 - res.Answered
	res.AnsweredWithin = overRing(t, func(x, r float64) float64 {
		s, _ := q.at(x)
		return (served + s) * keep(r)
	})
	if s := t.ShortAbandon; s > 0 {
		// In the queue within s, or during a ring that began within s (at once, or after
		// the queue: approximated by the ring starting on the queue's answer by s).
		qs, qa := q.at(s)
		res.ShortAbandoned = qa + (served+qs)*ringMean(t, func(r float64) float64 { return 1 - keep(min(r, s)) })
	}
	res.ServiceLevel = res.AnsweredWithin / (1 - res.ShortAbandoned)
	return res, nil
}

// Needed is the fewest agents whose service level reaches target under model (A or C), up to
// max; ok is false when even max agents fall short (as when agents take longer to answer than
// the threshold allows). The service level grows with the agents, so it bisects.
func Needed(model func(Load, int, Terms) (Result, error), l Load, t Terms, target float64, max int) (Result, bool, error) {
	top, err := model(l, max, t)
	if err != nil {
		return Result{}, false, err
	}
	if top.ServiceLevel < target {
		return top, false, nil
	}
	lo, hi, best := 0, max, top // SL(lo) < target (or lo = 0), SL(hi) ≥ target
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		r, err := model(l, mid, t)
		if err != nil {
			return Result{}, false, err
		}
		if r.ServiceLevel >= target {
			hi, best = mid, r
		} else {
			lo = mid
		}
	}
	return best, true, nil
}

// overRing averages f(Threshold − r, r) over the ring samples r, f taking the time left for
// the queue; a ring longer than the threshold leaves no time (f is not called, 0).
func overRing(t Terms, f func(x, r float64) float64) float64 {
	if len(t.Ring) == 0 {
		return f(t.Threshold, 0)
	}
	sum := 0.0
	for _, r := range t.Ring {
		if x := t.Threshold - r; x >= 0 {
			sum += f(x, r)
		}
	}
	return sum / float64(len(t.Ring))
}

// ringMean averages f over the ring samples (f(0) without any).
func ringMean(t Terms, f func(r float64) float64) float64 {
	if len(t.Ring) == 0 {
		return f(0)
	}
	sum := 0.0
	for _, r := range t.Ring {
		sum += f(r)
	}
	return sum / float64(len(t.Ring))
}

// stationary is the M/M/n+M chain's distribution of callers in the system, cut where the
// remaining mass is negligible.
func stationary(lambda, mu, theta float64, n int) []float64 {
	p := []float64{1}
	sum, x := 1.0, 1.0
	for k := 1; ; k++ {
		death := float64(min(k, n))*mu + float64(max(k-n, 0))*theta
		x *= lambda / death
		p = append(p, x)
		sum += x
		if k > n && x < 1e-14*sum && death > lambda {
			break
		}
		if x > 1e250 { // rescale to stay in range
			for i := range p {
				p[i] /= x
			}
			sum /= x
			x = 1
		}
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// deathChain follows one waiting caller: with i callers ahead, the line moves at rate
// nμ + iθ (an agent frees or one ahead gives up) and the caller gives up at rate θ.
type deathChain struct {
	nmu, theta float64
	start      []float64 // probability of arriving with i ahead (all agents busy)
}

// at is the probability of having been served, and of having abandoned, by time x.
func (d deathChain) at(x float64) (served, abandoned float64) {
	m := len(d.start)
	if m == 0 || x <= 0 {
		return 0, 0
	}
	big := d.nmu + float64(m)*d.theta // Λ ≥ every state's total rate nμ + (i+1)θ
	lt := big * x
	v := append([]float64(nil), d.start...)
	next := make([]float64, m)
	// Poisson(Λx) weights, summed until the tail left is negligible.
	logW := -lt
	cum := 0.0
	var s, a float64 // absorbed mass so far (served, abandoned) in the uniformized chain
	for k := 0; ; k++ {
		if k > 0 {
			logW += math.Log(lt) - math.Log(float64(k))
		}
		w := math.Exp(logW)
		served += w * s
		abandoned += w * a
		cum += w
		if (float64(k) > lt && 1-cum < 1e-12) || k > 100000 {
			break
		}
		// One uniformized step.
		clear(next)
		for i, p := range v {
			if p == 0 {
				continue
			}
			move := d.nmu + float64(i)*d.theta
			if i == 0 {
				s += p * move / big
			} else {
				next[i-1] += p * move / big
			}
			a += p * d.theta / big
			next[i] += p * (1 - (move+d.theta)/big)
		}
		v, next = next, v
	}
	return served, abandoned
}
