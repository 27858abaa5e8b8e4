package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	waitingDesc = prometheus.NewDesc("callmon_calls_waiting",
		"Calls waiting in the queue now (entered, not yet answered or ended).",
		[]string{"queue"}, nil)
	oldestDesc = prometheus.NewDesc("callmon_oldest_waiting_call_seconds",
		"Seconds the oldest call waiting in the queue has waited so far; 0 when none is waiting.",
		[]string{"queue"}, nil)
	slDesc = prometheus.NewDesc("callmon_service_level_ratio",
		`Live service level as a ratio: answered_within_threshold / (offered - short_abandoned) over the calls that entered the queue today (window="today", local day) or in the running 15-minute interval (window="interval"). A call still waiting counts as offered and missed once it has waited longer than the threshold. 1 when nothing counts yet (nothing missed).`,
		[]string{"queue", "window"}, nil)
	openDesc = prometheus.NewDesc("callmon_queue_open",
		"1 while the queue is inside its opening hours (not a holiday or closed day), else 0; read at scrape time. Alerts on the service level only fire while it is 1.",
		[]string{"queue"}, nil)
	windowDesc = prometheus.NewDesc("callmon_window_calls",
		`Calls behind callmon_service_level_ratio by class: offered (finished, or still waiting past the threshold), answered_within_threshold, short_abandoned, waiting_over_threshold (already included in offered). A call still waiting within the threshold is not counted yet.`,
		[]string{"queue", "window", "class"}, nil)
)

// live reports what depends on the clock at scrape time: waiting calls and
// the live service level. Computing it here keeps the event path free of it.
type live struct{ m *Metrics }

func (l *live) Describe(ch chan<- *prometheus.Desc) {
	ch <- waitingDesc
	ch <- oldestDesc
	ch <- slDesc
	ch <- windowDesc
	ch <- openDesc
}

// snapshot is one queue's state as a scrape sees it.
type snapshot struct {
	waiting         int
	oldestMs        int64
	today, interval Counts
	todayOver       int // waiting past the threshold, entered today
	intervalOver    int // waiting past the threshold, entered in the interval
}

func (l *live) Collect(ch chan<- prometheus.Metric) {
	t := l.m.clk.Now()
	now := t.UnixMilli()
	for _, q := range l.m.order {
		open := 1.0
		if q.open != nil && !q.open(t) {
			open = 0
		}
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, open, q.name)
		s := q.snapshot(now, l.m)
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(s.waiting), q.name)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, msSeconds(s.oldestMs), q.name)
		collectWindow(ch, q.name, "today", s.today, s.todayOver)
		collectWindow(ch, q.name, "interval", s.interval, s.intervalOver)
	}
}

func (q *queue) snapshot(now int64, m *Metrics) snapshot {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.roll(now, m.loc)
	s := snapshot{waiting: len(q.waiting), today: q.today.counts, interval: q.inter.counts}
	for _, entry := range q.waiting {
		waited := now - entry
		s.oldestMs = max(s.oldestMs, waited)
		if waited <= q.thresholdMs {
			continue
		}
		if q.today.has(entry) {
			s.todayOver++
		}
		if q.inter.has(entry) {
			s.intervalOver++
		}
	}
	return s
}

func collectWindow(ch chan<- prometheus.Metric, queue, window string, c Counts, over int) {
	offered := c.Offered + over
	ratio := 1.0
	if d := offered - c.ShortAbandoned; d > 0 {
		ratio = float64(c.AnsweredWithin) / float64(d)
	}
	ch <- prometheus.MustNewConstMetric(slDesc, prometheus.GaugeValue, ratio, queue, window)
	for _, v := range [...]struct {
		class string
		n     int
	}{
		{"offered", offered},
		{"answered_within_threshold", c.AnsweredWithin},
		{"short_abandoned", c.ShortAbandoned},
		{"waiting_over_threshold", over},
	} {
		ch <- prometheus.MustNewConstMetric(windowDesc, prometheus.GaugeValue, float64(v.n), queue, window, v.class)
	}
}
