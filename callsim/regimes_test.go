package callsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"callmon/erlang"
	"callmon/predict"
)

// The regimes of the README's table: 8 and 25 agents; offered load 80, 95 and 110 % of the
// agents' talk capacity (λ·90 s ÷ agents); conversations lognormal, mean 90 s, CV 1; agents
// answer after a ring of 2–8 s; patience mean 75 s, exponential or lognormal with CV 1.
type regime struct {
	agents   int
	load     float64
	patience string // "exponential" or "lognormal"
}

func regimes() []regime {
	var out []regime
	for _, n := range []int{8, 25} {
		for _, rho := range []float64{0.8, 0.95, 1.1} {
			for _, p := range []string{"exponential", "lognormal"} {
				out = append(out, regime{n, rho, p})
			}
		}
	}
	return out
}

func (r regime) String() string {
	return fmt.Sprintf("%d agents, %.0f %%, %s", r.agents, r.load*100, r.patience)
}

const (
	threshold    = 30.0
	shortAbandon = 5.0
	day          = 9 * 3600.0
)

func (r regime) options(seed uint64) Options {
	src := rand.NewPCG(seed, uint64(r.agents)*1000+uint64(r.load*100))
	var p distuv.Rander = distuv.Exponential{Rate: 1.0 / 75, Src: src}
	if r.patience == "lognormal" {
		p = LogNormal(75, 1, src)
	}
	return Options{Agents: r.agents, Rate: r.load * float64(r.agents) / 90, Talk: LogNormal(90, 1, src),
		Patience: p, RingMin: 2, RingMax: 8, Seed: seed}
}

// Days with a morning peak, enough of them for at least 50,000 calls.
func (r regime) days(seed uint64) *Result {
	o := r.options(seed)
	o.Day, o.Shape = day, MorningPeak(day)
	o.Days = int(math.Ceil(50000 / (o.Rate * day)))
	return Run(o, predict.New(predict.Options{}))
}

// One long steady day of 200,000 calls after an hour's warm-up.
func (r regime) steady(seed uint64) *Result {
	o := r.options(seed)
	o.Days, o.Day, o.Warmup = 1, 200000/o.Rate+3600, 3600
	return Run(o, predict.New(predict.Options{}))
}

// callmon's expected wait must beat last-to-enter-service by at least 20 % in mean absolute
// error in every regime, on days whose arrival rate changes by the hour.
func TestPredictorBeatsLastToEnterService(t *testing.T) {
	t.Logf("| regime | calls answered | callmon MAE / bias / p90 | last-to-enter-service | head-of-line | callmon ÷ LES |")
	for _, r := range regimes() {
		res := r.days(1)
		cm := PredictionErrors(res, func(p Predictions) float64 { return p.Callmon })
		les := PredictionErrors(res, func(p Predictions) float64 { return p.LES })
		hol := PredictionErrors(res, func(p Predictions) float64 { return p.HOL })
		t.Logf("| %s | %d | %.1f / %+.1f / %.1f s | %.1f / %+.1f / %.1f s | %.1f / %+.1f / %.1f s | %.2f |", r, cm.N,
			cm.MAE, cm.Bias, cm.P90, les.MAE, les.Bias, les.P90, hol.MAE, hol.Bias, hol.P90, cm.MAE/les.MAE)
		if cm.N < 30000 {
			t.Errorf("%s: only %d answered calls", r, cm.N)
		}
		if cm.MAE > 0.8*les.MAE {
			t.Errorf("%s: callmon's mean absolute error %.2f s is not 20 %% below last-to-enter-service's %.2f s", r, cm.MAE, les.MAE)
		}
	}
}

// Erlang A, fed what callmon measures (arrival rate, occupancy per call, θ̂ from censored
// waits, ring times), must predict the service level of a steady day within 5 percentage
// points in every regime, with the measurement's own noise below 1 point.
func TestErlangAPredictsTheServiceLevel(t *testing.T) {
	t.Logf("| regime | measured service level | Erlang A (error) | Erlang C (error) |")
	for _, r := range regimes() {
		m := Measure(r.steady(2), threshold, shortAbandon, 20)
		l := erlang.Load{Arrivals: m.Arrivals, Handle: m.Handle, Patience: 1 / m.AbandonRate}
		terms := erlang.Terms{Threshold: threshold, ShortAbandon: shortAbandon, Ring: m.Rings}
		a, err := erlang.A(l, r.agents, terms)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := erlang.C(l, r.agents, terms)
		cs := fmt.Sprintf("%.1f %% (%+.1f)", 100*c.ServiceLevel, 100*(c.ServiceLevel-m.ServiceLevel))
		if !c.Stable {
			cs = "no steady state (0 %)"
		}
		t.Logf("| %s | %.1f ± %.1f %% | %.1f %% (%+.1f) | %s |", r, 100*m.ServiceLevel, 100*m.StdErr,
			100*a.ServiceLevel, 100*(a.ServiceLevel-m.ServiceLevel), cs)
		if m.StdErr >= 0.01 {
			t.Errorf("%s: the measured service level's standard error %.2f pp is not below 1", r, 100*m.StdErr)
		}
		if d := math.Abs(a.ServiceLevel - m.ServiceLevel); d > 0.05 {
			t.Errorf("%s: Erlang A %.3f against %.3f measured: %.1f pp apart", r, a.ServiceLevel, m.ServiceLevel, 100*d)
		}
	}
}

// On its own model (exponential talk and patience, no ring) Erlang A is exact: the simulated
// service level and abandon share must agree within the simulation's noise. This checks the
// simulator and the formula against each other.
func TestErlangAIsExactOnItsOwnModel(t *testing.T) {
	for _, n := range []int{8, 25} {
		for _, rho := range []float64{0.8, 1.1} {
			src := rand.NewPCG(3, uint64(n))
			o := Options{Agents: n, Rate: rho * float64(n) / 90, Talk: distuv.Exponential{Rate: 1.0 / 90, Src: src},
				Patience: distuv.Exponential{Rate: 1.0 / 75, Src: src}, Seed: 3, Days: 1, Warmup: 3600}
			o.Day = 200000/o.Rate + 3600
			m := Measure(Run(o, predict.New(predict.Options{})), threshold, shortAbandon, 20)
			a, _ := erlang.A(erlang.Load{Arrivals: o.Rate, Handle: 90, Patience: 75}, n, erlang.Terms{Threshold: threshold, ShortAbandon: shortAbandon})
			if d := math.Abs(a.ServiceLevel - m.ServiceLevel); d > 4*m.StdErr+0.002 {
				t.Errorf("%d agents at %.0f %%: Erlang A %.4f, simulated %.4f ± %.4f", n, rho*100, a.ServiceLevel, m.ServiceLevel, m.StdErr)
			}
			ab := float64(m.Abandoned) / float64(m.Offered)
			if math.Abs(a.Abandoned-ab) > 0.01 {
				t.Errorf("%d agents at %.0f %%: Erlang A abandons %.4f, simulated %.4f", n, rho*100, a.Abandoned, ab)
			}
		}
	}
}
