package metrics

import "time"

// QueueSnapshot is what a screen shows of one queue now: the same figures /metrics exports,
// read together under the queue's lock.
type QueueSnapshot struct {
	Name                    string
	Target                  float64
	Threshold               time.Duration
	Open                    bool
	Today, Interval         float64 // live service level (1 when nothing counts yet)
	TodayCounted            int     // offered − short abandoned behind Today
	Waiting                 int
	Oldest                  time.Duration // wait so far of the longest-waiting caller
	ExpectedWait            float64       // seconds; +Inf while no agent serves the queue
	Agents                  map[string]int
	NeededNow, NeededNext   float64 // Erlang A's agents needed (NaN before the first advice)
	ForecastNow, ForecastNx float64 // calls forecast (NaN before the first advice)
}

// Snapshot returns every queue's figures at the clock's now, in configuration order.
func (m *Metrics) Snapshot() []QueueSnapshot {
	t := m.clk.Now()
	now := t.UnixMilli()
	out := make([]QueueSnapshot, 0, len(m.order))
	for _, q := range m.order {
		s := QueueSnapshot{Name: q.name, Target: q.target, Threshold: time.Duration(q.thresholdMs) * time.Millisecond,
			Open: q.open == nil || q.open(t), Agents: map[string]int{}}
		q.mu.Lock()
		q.roll(now, m.loc)
		q.cross(now)
		for i, w := range [2]*window{&q.today, &q.inter} {
			offered := w.counts.Offered + w.over
			ratio := 1.0
			d := offered - w.counts.ShortAbandoned
			if d > 0 {
				ratio = float64(w.counts.AnsweredWithin) / float64(d)
			}
			if i == 0 {
				s.Today, s.TodayCounted = ratio, max(d, 0)
			} else {
				s.Interval = ratio
			}
		}
		s.Waiting = q.waiting.len()
		if entry, ok := q.waiting.oldest(); ok {
			s.Oldest = time.Duration(max(now-entry, 0)) * time.Millisecond
		}
		s.ExpectedWait = q.expectedWait
		for i, st := range agentStates {
			s.Agents[st] = int(q.agents[i])
		}
		s.NeededNow, s.NeededNext = q.staffing.needed[0][0], q.staffing.needed[1][0]
		s.ForecastNow, s.ForecastNx = q.staffing.calls[0], q.staffing.calls[1]
		q.mu.Unlock()
		out = append(out, s)
	}
	return out
}
