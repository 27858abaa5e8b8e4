package callsim

import (
	"math"
	"sort"

	"callmon/predict"
)

// Measured is what callmon would report of a run: its service level (callmon's definition)
// with the noise of that figure, and the rates the staffing formulas take.
type Measured struct {
	Offered, Answered, Within, Abandoned, Short int
	ServiceLevel                                float64 // Within ÷ (Offered − Short)
	// StdErr is the service level's standard error from batch means (consecutive batches of
	// calls, so the correlation between neighbouring waits stays inside a batch).
	StdErr      float64
	Arrivals    float64 // offered per second
	Handle      float64 // mean occupancy per answered call
	AbandonRate float64 // θ̂: abandons ÷ total waiting time, answered callers' waits included
	Rings       []float64
}

// Measure summarises r for a threshold and short-abandon limit (seconds).
func Measure(r *Result, threshold, short float64, batches int) Measured {
	var m Measured
	waited := 0.0
	for _, c := range r.Calls {
		m.Offered++
		waited += c.Wait
		switch {
		case c.Answered:
			m.Answered++
			if c.Wait <= threshold {
				m.Within++
			}
		default:
			m.Abandoned++
			if c.Wait <= short {
				m.Short++
			}
		}
	}
	m.ServiceLevel = sl(r.Calls, threshold, short)
	if batches > 1 && len(r.Calls) >= batches {
		var v []float64
		for b := range batches {
			lo, hi := b*len(r.Calls)/batches, (b+1)*len(r.Calls)/batches
			v = append(v, sl(r.Calls[lo:hi], threshold, short))
		}
		_, sd := meanSD(v)
		m.StdErr = sd / math.Sqrt(float64(batches))
	}
	if r.Seconds > 0 {
		m.Arrivals = float64(m.Offered) / r.Seconds
	}
	m.Handle, _ = meanSD(r.Occupied)
	if waited > 0 {
		m.AbandonRate = float64(m.Abandoned) / waited
	}
	m.Rings = predict.Quantiles(append([]float64(nil), r.Rings...), 20)
	return m
}

func sl(calls []*Call, threshold, short float64) float64 {
	var within, denom int
	for _, c := range calls {
		if !c.Answered && c.Wait <= short {
			continue
		}
		denom++
		if c.Answered && c.Wait <= threshold {
			within++
		}
	}
	if denom == 0 {
		return math.NaN()
	}
	return float64(within) / float64(denom)
}

// Errors of one estimator over the answered calls, in seconds: predicted − actual.
type Errors struct {
	N              int
	MAE, Bias, P90 float64 // mean absolute error, mean error, 90th percentile of the absolute error
}

// PredictionErrors compares pick's prediction with each answered call's wait.
func PredictionErrors(r *Result, pick func(Predictions) float64) Errors {
	var e Errors
	var abs []float64
	for _, c := range r.Calls {
		if !c.Answered {
			continue
		}
		d := pick(c.Predicted) - c.Wait
		e.N++
		e.Bias += d
		e.MAE += math.Abs(d)
		abs = append(abs, math.Abs(d))
	}
	if e.N == 0 {
		return e
	}
	e.Bias /= float64(e.N)
	e.MAE /= float64(e.N)
	sort.Float64s(abs)
	e.P90 = abs[int(0.9*float64(len(abs)-1))]
	return e
}

func meanSD(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	mean := s / float64(len(v))
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	if len(v) < 2 {
		return mean, 0
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}
