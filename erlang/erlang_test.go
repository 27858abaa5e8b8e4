package erlang

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f ± %g", what, got, want, tol)
	}
}

// Textbook value: a = 2 Erlangs on 3 agents waits with probability 4/9, and the wait beyond
// t is that times e^(−(nμ−λ)t).
func TestErlangCKnownValue(t *testing.T) {
	l := Load{Arrivals: 2.0 / 60, Handle: 60}
	r, err := C(l, 3, Terms{Threshold: 30})
	if err != nil {
		t.Fatal(err)
	}
	want := 1 - 4.0/9*math.Exp(-(3.0/60-2.0/60)*30)
	near(t, "answered within 30 s", r.AnsweredWithin, want, 1e-12)
	if !r.Stable || r.ServiceLevel != r.AnsweredWithin {
		t.Errorf("result %+v", r)
	}
	if r, _ := C(l, 2, Terms{Threshold: 30}); r.Stable || r.ServiceLevel != 0 {
		t.Errorf("2 agents for 2 Erlangs: %+v, want unstable with service level 0", r)
	}
}

// With patience far longer than any wait, Erlang A is Erlang C.
func TestErlangAWithoutAbandonIsErlangC(t *testing.T) {
	l := Load{Arrivals: 8.0 / 90, Handle: 90}
	terms := Terms{Threshold: 30, Ring: []float64{2, 5, 8}}
	c, _ := C(l, 10, terms)
	l.Patience = 1e9
	a, err := A(l, 10, terms)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "service level", a.ServiceLevel, c.ServiceLevel, 1e-5)
	near(t, "answered", a.Answered, 1, 1e-5)
}

// Two identities any M/M/n+M must satisfy tie the stationary distribution to the waiting
// caller's chain: abandons per second equal θ × mean queue length, and with θ = μ the number
// in the system is Poisson(λ/μ).
func TestErlangAIdentities(t *testing.T) {
	for _, c := range []struct {
		n              int
		lambda, h, pat float64
	}{{8, 0.1, 90, 75}, {25, 0.3, 90, 75}, {25, 0.35, 90, 200}, {3, 0.05, 60, 60}} {
		l := Load{Arrivals: c.lambda, Handle: c.h, Patience: c.pat}
		r, err := A(l, c.n, Terms{Threshold: 30})
		if err != nil {
			t.Fatal(err)
		}
		pi := stationary(c.lambda, 1/c.h, 1/c.pat, c.n)
		eq := 0.0
		for k, p := range pi {
			eq += float64(max(k-c.n, 0)) * p
		}
		near(t, "abandon rate ÷ θ·E[queue]", c.lambda*r.Abandoned, eq/c.pat, 1e-9)
		// Everyone who waits is, in the end, served or gone.
		q := deathChain{nmu: float64(c.n) / c.h, theta: 1 / c.pat, start: pi[c.n:]}
		s, a := q.at(1e4)
		waiting := 0.0
		for _, p := range pi[c.n:] {
			waiting += p
		}
		near(t, "served + abandoned after a long time", s+a, waiting, 1e-9)
	}
	pi := stationary(5, 1, 1, 4)
	p := math.Exp(-5.0)
	for k := 0; k < 20; k++ {
		near(t, "Poisson(5)", pi[k], p, 1e-12)
		p *= 5 / float64(k+1)
	}
}

func TestNeededIsTheFewestThatReach(t *testing.T) {
	l := Load{Arrivals: 20.0 / 90, Handle: 90, Patience: 75}
	terms := Terms{Threshold: 30, ShortAbandon: 5, Ring: []float64{3, 5}}
	r, ok, err := Needed(A, l, terms, 0.9, 100)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	less, _ := A(l, r.Agents-1, terms)
	if r.ServiceLevel < 0.9 || less.ServiceLevel >= 0.9 {
		t.Errorf("%d agents reach %.3f, %d reach %.3f", r.Agents, r.ServiceLevel, r.Agents-1, less.ServiceLevel)
	}
	rc, ok, _ := Needed(C, l, terms, 0.9, 100)
	if !ok || rc.Agents < r.Agents {
		t.Errorf("Erlang C asks %d agents, Erlang A %d: C never asks fewer", rc.Agents, r.Agents)
	}
	if _, err := A(Load{Arrivals: 0, Handle: 90}, 3, terms); err == nil {
		t.Error("no arrivals accepted")
	}
}

func BenchmarkErlangA(b *testing.B) {
	l := Load{Arrivals: 27.5 / 90, Handle: 90, Patience: 75}
	terms := Terms{Threshold: 30, ShortAbandon: 5, Ring: []float64{2, 3, 4, 5, 6, 7, 8}}
	for b.Loop() {
		if _, err := A(l, 25, terms); err != nil {
			b.Fatal(err)
		}
	}
}
