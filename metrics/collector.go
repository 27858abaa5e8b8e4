package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func queueDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The per-queue series. Their help texts are part of the exposition.
var (
	offeredDesc = queueDesc("callmon_calls_offered_total",
		"Calls that entered the queue while it was open (offered), counted at entry.", "queue")
	answeredDesc = queueDesc("callmon_calls_answered_total",
		"Offered calls answered by an agent (agent's channel up and bridged with the caller).", "queue")
	withinDesc = queueDesc("callmon_calls_answered_within_threshold_total",
		"Answered calls whose wait (answer - entry, in whole milliseconds) was at most the queue's threshold (callmon_queue_threshold_seconds).", "queue")
	abandonedDesc = queueDesc("callmon_calls_abandoned_total",
		"Calls whose caller hung up before being answered, after more than the queue's short-abandon time; short abandons are not included.", "queue")
	shortDesc = queueDesc("callmon_calls_short_abandoned_total",
		"Calls whose caller hung up within the queue's short-abandon time (default 5 s); left out of the service-level denominator.", "queue")
	cbOfferedDesc = queueDesc("callmon_callbacks_offered_total",
		"Callers offered a callback (\"press 1 to be called back\"): after the offer wait, with no agent logged in, or when closed.", "queue")
	cbAcceptedDesc = queueDesc("callmon_callbacks_accepted_total",
		"Callbacks agreed by callers in the queue's dialogue and stored.", "queue")
	callsDesc = queueDesc("callmon_calls_total",
		"Finished calls by outcome: answered, abandoned, short_abandoned, callback, voicemail, transferred, or closed (arrived outside opening hours; never offered).", "queue", "outcome")
	waitDesc = queueDesc("callmon_queue_wait_seconds",
		"Wait of answered calls in seconds, from queue entry to answer (Asterisk timestamps, millisecond precision); a bucket edge lies exactly at each queue's threshold.", "queue")
	timeInQueueDesc = queueDesc("callmon_queue_time_seconds",
		"Seconds each offered call spent in the queue, from entry to answer or to the end of its wait, by outcome; bucket edges lie exactly at each queue's threshold and short-abandon time.", "queue", "outcome")
	thresholdDesc = queueDesc("callmon_queue_threshold_seconds",
		"Service-level threshold of the queue in seconds: a call answered after at most this wait is answered within threshold.", "queue")
	targetDesc = queueDesc("callmon_queue_target_ratio",
		"Service-level target of the queue as a ratio (0.9 means 90 % answered within the threshold).", "queue")
	agentsDesc = queueDesc("callmon_agents",
		"Agents of the queue by state: available, ringing, on_call, paused, offline, logged_out.", "queue", "state")
	waitingDesc = queueDesc("callmon_calls_waiting",
		"Calls waiting in the queue now (entered, not yet answered or ended).", "queue")
	oldestDesc = queueDesc("callmon_oldest_waiting_call_seconds",
		"Seconds the oldest call waiting in the queue has waited so far; 0 when none is waiting.", "queue")
	slDesc = queueDesc("callmon_service_level_ratio",
		`Live service level as a ratio: answered_within_threshold / (offered - short_abandoned) over the calls that entered the queue today (window="today", local day) or in the running 15-minute interval (window="interval"). A call still waiting counts as offered and missed once it has waited longer than the threshold. 1 when nothing counts yet (nothing missed).`,
		"queue", "window")
	openDesc = queueDesc("callmon_queue_open",
		"1 while the queue is inside its opening hours (not a holiday or closed day), else 0; read at scrape time. Alerts on the service level only fire while it is 1.",
		"queue")
	windowDesc = queueDesc("callmon_window_calls",
		`Calls behind callmon_service_level_ratio by class: offered (finished, or still waiting past the threshold), answered_within_threshold, short_abandoned, waiting_over_threshold (already included in offered). A call still waiting within the threshold is not counted yet.`,
		"queue", "window", "class")
)

var windowNames = [2]string{"today", "interval"}

var windowClasses = [4]string{"offered", "answered_within_threshold", "short_abandoned", "waiting_over_threshold"}

// queueLabels are a queue's label pairs, built once and shared by every
// scrape (the registry treats them as immutable), sorted by label name.
type queueLabels struct {
	queue   []*dto.LabelPair
	outcome [numOutcomes][]*dto.LabelPair
	state   [len(agentStates)][]*dto.LabelPair
	window  [2][]*dto.LabelPair
	class   [2][len(windowClasses)][]*dto.LabelPair
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

func newQueueLabels(name string) queueLabels {
	q := labelPair("queue", name)
	l := queueLabels{queue: []*dto.LabelPair{q}}
	for i, o := range outcomes {
		l.outcome[i] = []*dto.LabelPair{labelPair("outcome", string(o)), q}
	}
	for i, s := range agentStates {
		l.state[i] = []*dto.LabelPair{q, labelPair("state", s)}
	}
	for i, w := range windowNames {
		wl := labelPair("window", w)
		l.window[i] = []*dto.LabelPair{q, wl}
		for j, c := range windowClasses {
			l.class[i][j] = []*dto.LabelPair{labelPair("class", c), q, wl}
		}
	}
	return l
}

// samplesPerQueue is how many metrics a queue emits per scrape (a histogram
// is one).
const samplesPerQueue = 7 + numOutcomes + 1 + (numOutcomes - 1) + 2 + len(agentStates) + 3 + 2*(1+len(windowClasses))

// queueCollector emits every per-queue series from the queues' state, read
// under each queue's lock once per scrape. Its cost follows the number of
// series: the figures of the waiting calls are kept up to date as calls come
// and go (waiters), and one scrape allocates its samples in a few blocks.
type queueCollector struct {
	m       *Metrics
	buckets []float64
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range [...]*prometheus.Desc{
		offeredDesc, answeredDesc, withinDesc, abandonedDesc, shortDesc, cbOfferedDesc, cbAcceptedDesc,
		callsDesc, waitDesc, timeInQueueDesc, thresholdDesc, targetDesc, agentsDesc,
		waitingDesc, oldestDesc, slDesc, openDesc, windowDesc,
	} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.m.clk.Now()
	now := t.UnixMilli()
	nb := len(c.buckets) + 1
	s := scrape{
		samples: make([]sample, 0, samplesPerQueue*len(c.m.order)),
		counts:  make([]uint64, 0, numOutcomes*nb*len(c.m.order)),
		buckets: c.buckets,
	}
	for _, q := range c.m.order {
		open := 1.0
		if q.open != nil && !q.open(t) {
			open = 0
		}
		s.gauge(openDesc, q.labels.queue, open)
		s.gauge(thresholdDesc, q.labels.queue, msSeconds(q.thresholdMs))
		s.gauge(targetDesc, q.labels.queue, q.target)
		q.collect(&s, now, c.m)
	}
	for i := range s.samples {
		ch <- &s.samples[i]
	}
}

// collect adds the queue's series at now to s.
func (q *queue) collect(s *scrape, now int64, m *Metrics) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.roll(now, m.loc)
	q.cross(now)
	l := &q.labels
	n := &q.n
	s.counter(offeredDesc, l.queue, n.offered)
	s.counter(answeredDesc, l.queue, n.answered)
	s.counter(withinDesc, l.queue, n.within)
	s.counter(abandonedDesc, l.queue, n.abandoned)
	s.counter(shortDesc, l.queue, n.short)
	s.counter(cbOfferedDesc, l.queue, n.cbOffered)
	s.counter(cbAcceptedDesc, l.queue, n.cbAccepted)
	for i, v := range n.calls {
		s.counter(callsDesc, l.outcome[i], v)
	}
	s.histogram(waitDesc, l.queue, &n.wait)
	for i := range n.timeInQueue {
		s.histogram(timeInQueueDesc, l.outcome[i], &n.timeInQueue[i])
	}
	for i, v := range q.agents {
		s.gauge(agentsDesc, l.state[i], v)
	}
	s.gauge(waitingDesc, l.queue, float64(q.waiting.len()))
	var oldestMs int64
	if entry, ok := q.waiting.oldest(); ok {
		oldestMs = max(now-entry, 0)
	}
	s.gauge(oldestDesc, l.queue, msSeconds(oldestMs))
	for i, w := range [2]*window{&q.today, &q.inter} {
		offered := w.counts.Offered + w.over
		ratio := 1.0
		if d := offered - w.counts.ShortAbandoned; d > 0 {
			ratio = float64(w.counts.AnsweredWithin) / float64(d)
		}
		s.gauge(slDesc, l.window[i], ratio)
		for j, v := range [len(windowClasses)]int{offered, w.counts.AnsweredWithin, w.counts.ShortAbandoned, w.over} {
			s.gauge(windowDesc, l.class[i][j], float64(v))
		}
	}
}

// scrape holds the samples of one scrape; they are written only before
// they are sent, so concurrent scrapes share nothing mutable.
type scrape struct {
	samples []sample
	counts  []uint64 // histogram bucket counts, cumulative
	buckets []float64
}

func (s *scrape) counter(d *prometheus.Desc, l []*dto.LabelPair, v uint64) {
	s.samples = append(s.samples, sample{desc: d, labels: l, kind: dto.MetricType_COUNTER, value: float64(v)})
}

func (s *scrape) gauge(d *prometheus.Desc, l []*dto.LabelPair, v float64) {
	s.samples = append(s.samples, sample{desc: d, labels: l, kind: dto.MetricType_GAUGE, value: v})
}

func (s *scrape) histogram(d *prometheus.Desc, l []*dto.LabelPair, h *histogram) {
	start := len(s.counts)
	var cum uint64
	for _, n := range h.counts {
		cum += n
		s.counts = append(s.counts, cum)
	}
	s.samples = append(s.samples, sample{desc: d, labels: l, kind: dto.MetricType_HISTOGRAM, value: h.sum,
		counts: s.counts[start:len(s.counts):len(s.counts)], bounds: s.buckets})
}

// sample is one metric of a scrape: a counter, a gauge or a histogram
// (value is then its sum, counts its cumulative bucket counts with +Inf last).
type sample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	kind   dto.MetricType
	value  float64
	counts []uint64
	bounds []float64
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(out *dto.Metric) error {
	out.Label = s.labels
	switch s.kind {
	case dto.MetricType_COUNTER:
		out.Counter = &dto.Counter{Value: &s.value}
	case dto.MetricType_GAUGE:
		out.Gauge = &dto.Gauge{Value: &s.value}
	case dto.MetricType_HISTOGRAM:
		nb := len(s.bounds)
		h := &dto.Histogram{SampleSum: &s.value, SampleCount: &s.counts[nb]}
		buckets := make([]dto.Bucket, nb)
		h.Bucket = make([]*dto.Bucket, nb)
		for i := range buckets {
			buckets[i].CumulativeCount = &s.counts[i]
			buckets[i].UpperBound = &s.bounds[i]
			h.Bucket[i] = &buckets[i]
		}
		out.Histogram = h
	}
	return nil
}
