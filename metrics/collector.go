package metrics

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// family is one per-queue metric family: its descriptor for the registry
// and what the text format needs to write it.
type family struct {
	desc                         *prometheus.Desc
	typ                          dto.MetricType
	name                         string
	bucketName, sumName, cntName string // histograms
	header                       string // # HELP and # TYPE lines
}

func newFamily(typ dto.MetricType, name, help string, labels ...string) *family {
	t := map[dto.MetricType]string{dto.MetricType_COUNTER: "counter", dto.MetricType_GAUGE: "gauge", dto.MetricType_HISTOGRAM: "histogram"}[typ]
	return &family{
		desc: prometheus.NewDesc(name, help, labels, nil),
		typ:  typ, name: name,
		bucketName: name + "_bucket", sumName: name + "_sum", cntName: name + "_count",
		header: "# HELP " + name + " " + helpEscaper.Replace(help) + "\n# TYPE " + name + " " + t + "\n",
	}
}

func counterFamily(name, help string, labels ...string) *family {
	return newFamily(dto.MetricType_COUNTER, name, help, labels...)
}

func gaugeFamily(name, help string, labels ...string) *family {
	return newFamily(dto.MetricType_GAUGE, name, help, labels...)
}

func histogramFamily(name, help string, labels ...string) *family {
	return newFamily(dto.MetricType_HISTOGRAM, name, help, labels...)
}

// The per-queue families. Their help texts are part of the exposition.
var (
	offeredFam = counterFamily("callmon_calls_offered_total",
		"Calls that entered the queue while it was open (offered), counted at entry.", "queue")
	answeredFam = counterFamily("callmon_calls_answered_total",
		"Offered calls answered by an agent (agent's channel up and bridged with the caller).", "queue")
	withinFam = counterFamily("callmon_calls_answered_within_threshold_total",
		"Answered calls whose wait (answer - entry, in whole milliseconds) was at most the queue's threshold (callmon_queue_threshold_seconds).", "queue")
	abandonedFam = counterFamily("callmon_calls_abandoned_total",
		"Calls whose caller hung up before being answered, after more than the queue's short-abandon time; short abandons are not included.", "queue")
	shortFam = counterFamily("callmon_calls_short_abandoned_total",
		"Calls whose caller hung up within the queue's short-abandon time (default 5 s); left out of the service-level denominator.", "queue")
	cbOfferedFam = counterFamily("callmon_callbacks_offered_total",
		"Callers offered a callback (\"press 1 to be called back\"): after the offer wait, with no agent logged in, or when closed.", "queue")
	cbAcceptedFam = counterFamily("callmon_callbacks_accepted_total",
		"Callbacks agreed by callers in the queue's dialogue and stored.", "queue")
	callsFam = counterFamily("callmon_calls_total",
		"Finished calls by outcome: answered, abandoned, short_abandoned, callback, voicemail, transferred, or closed (arrived outside opening hours; never offered).", "queue", "outcome")
	waitFam = histogramFamily("callmon_queue_wait_seconds",
		"Wait of answered calls in seconds, from queue entry to answer (Asterisk timestamps, millisecond precision); a bucket edge lies exactly at each queue's threshold.", "queue")
	timeInQueueFam = histogramFamily("callmon_queue_time_seconds",
		"Seconds each offered call spent in the queue, from entry to answer or to the end of its wait, by outcome; bucket edges lie exactly at each queue's threshold and short-abandon time.", "queue", "outcome")
	thresholdFam = gaugeFamily("callmon_queue_threshold_seconds",
		"Service-level threshold of the queue in seconds: a call answered after at most this wait is answered within threshold.", "queue")
	targetFam = gaugeFamily("callmon_queue_target_ratio",
		"Service-level target of the queue as a ratio (0.9 means 90 % answered within the threshold).", "queue")
	agentsFam = gaugeFamily("callmon_agents",
		"Agents of the queue by state: available, ringing, on_call, paused, offline, logged_out.", "queue", "state")
	waitingFam = gaugeFamily("callmon_calls_waiting",
		"Calls waiting in the queue now (entered, not yet answered or ended).", "queue")
	expectedWaitFam = gaugeFamily("callmon_queue_expected_wait_seconds",
		"Wait expected for a caller who joins the queue now, in seconds, from the callers in line, the agents serving the queue and their recent occupancy, ring times and abandons (package predict); +Inf while no agent serves the queue.", "queue")
	forecastFam = gaugeFamily("callmon_queue_forecast_calls",
		`Calls expected to be offered in the running (interval="current") and the next (interval="next") 15-minute interval: the same quarter-hours of the last four same weekdays, scaled by today's last 15 minutes against theirs. NaN until first computed.`, "queue", "interval")
	neededFam = gaugeFamily("callmon_queue_agents_needed",
		`Fewest agents expected to reach the queue's service-level target in the interval, by model: erlang_a (callers abandon) or erlang_c (they never do); -1 when no number up to 1000 does. NaN until first computed.`, "queue", "interval", "model")
	expectedSLFam = gaugeFamily("callmon_queue_expected_service_level_ratio",
		`Service level (callmon's definition) the agents staffed now (logged in, not paused, online) are expected to reach in the interval, by model. NaN until first computed.`, "queue", "interval", "model")
	handleFam = gaugeFamily("callmon_queue_handle_seconds",
		"Mean time an agent was occupied per call of the queue, from being rung to free again, over the recent calls (the assumed 180 s before any).", "queue")
	patienceFam = gaugeFamily("callmon_queue_patience_seconds",
		"Mean patience of the queue's callers estimated from censored waits: total waiting time of recent callers over the abandons among them (the assumed 120 s before any abandon).", "queue")
	oldestFam = gaugeFamily("callmon_oldest_waiting_call_seconds",
		"Seconds the oldest call waiting in the queue has waited so far; 0 when none is waiting.", "queue")
	slFam = gaugeFamily("callmon_service_level_ratio",
		`Live service level as a ratio: answered_within_threshold / (offered - short_abandoned) over the calls that entered the queue today (window="today", local day) or in the running 15-minute interval (window="interval"). A call still waiting counts as offered and missed once it has waited longer than the threshold. 1 when nothing counts yet (nothing missed).`,
		"queue", "window")
	openFam = gaugeFamily("callmon_queue_open",
		"1 while the queue is inside its opening hours (not a holiday or closed day), else 0; read at scrape time. Alerts on the service level only fire while it is 1.",
		"queue")
	windowFam = gaugeFamily("callmon_window_calls",
		`Calls behind callmon_service_level_ratio by class: offered (finished, or still waiting past the threshold), answered_within_threshold, short_abandoned, waiting_over_threshold (already included in offered). A call still waiting within the threshold is not counted yet.`,
		"queue", "window", "class")
)

var windowNames = [2]string{"today", "interval"}

var intervalNames = [2]string{"current", "next"}

var modelNames = [2]string{"erlang_a", "erlang_c"}

var windowClasses = [4]string{"offered", "answered_within_threshold", "short_abandoned", "waiting_over_threshold"}

// labelSet is the labels of one series, as the registry takes them (sorted
// by name, shared by every scrape: the registry treats them as immutable)
// and as the text format writes them.
type labelSet struct {
	pairs []*dto.LabelPair
	text  string // name="value",... without braces
}

func newLabelSet(nameValues ...string) *labelSet {
	l := &labelSet{}
	for i := 0; i < len(nameValues); i += 2 {
		name, value := nameValues[i], nameValues[i+1]
		l.pairs = append(l.pairs, &dto.LabelPair{Name: &name, Value: &value})
		if i > 0 {
			l.text += ","
		}
		l.text += name + `="` + labelEscaper.Replace(value) + `"`
	}
	l.pairs = l.pairs[:len(l.pairs):len(l.pairs)]
	return l
}

// queueLabels are a queue's label sets, built once.
type queueLabels struct {
	queue   *labelSet
	outcome [numOutcomes]*labelSet
	state   [len(agentStates)]*labelSet
	window  [2]*labelSet
	class   [2][len(windowClasses)]*labelSet
	inter   [2]*labelSet    // queue, interval
	model   [2][2]*labelSet // interval, model, queue
}

func newQueueLabels(name string) queueLabels {
	l := queueLabels{queue: newLabelSet("queue", name)}
	for i, o := range outcomes {
		l.outcome[i] = newLabelSet("outcome", string(o), "queue", name)
	}
	for i, s := range agentStates {
		l.state[i] = newLabelSet("queue", name, "state", s)
	}
	for i, iv := range intervalNames {
		l.inter[i] = newLabelSet("interval", iv, "queue", name)
		for j, m := range modelNames {
			l.model[i][j] = newLabelSet("interval", iv, "model", m, "queue", name)
		}
	}
	for i, w := range windowNames {
		l.window[i] = newLabelSet("queue", name, "window", w)
		for j, c := range windowClasses {
			l.class[i][j] = newLabelSet("class", c, "queue", name, "window", w)
		}
	}
	return l
}

// samplesPerQueue is how many metrics a queue emits per scrape (a histogram
// is one), always in the same order.
const samplesPerQueue = 3 + 7 + numOutcomes + 1 + (numOutcomes - 1) + len(agentStates) + 3 + 2*(1+len(windowClasses)) + 2*(1+2*2) + 2

// queueCollector emits every per-queue series from the queues' state, read
// under each queue's lock once per scrape. Its cost follows the number of
// series: the figures of the waiting calls are kept up to date as calls come
// and go (waiters), and a scrape allocates its samples in two blocks.
type queueCollector struct {
	m       *Metrics
	buckets []float64
	le      []string // le="..." of each bucket, for the text format

	layoutOnce sync.Once
	layout     []textFamily
}

func newQueueCollector(m *Metrics, buckets []float64) *queueCollector {
	c := &queueCollector{m: m, buckets: buckets}
	for _, b := range buckets {
		c.le = append(c.le, `le="`+string(appendFloat(nil, b))+`"`)
	}
	return c
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range [...]*family{
		offeredFam, answeredFam, withinFam, abandonedFam, shortFam, cbOfferedFam, cbAcceptedFam,
		callsFam, waitFam, timeInQueueFam, thresholdFam, targetFam, agentsFam,
		waitingFam, oldestFam, expectedWaitFam, slFam, openFam, windowFam,
		forecastFam, neededFam, expectedSLFam, handleFam, patienceFam,
	} {
		ch <- f.desc
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	var s scrape
	c.gather(&s)
	for i := range s.samples {
		ch <- &s.samples[i]
	}
}

// gather fills s with every queue's samples, samplesPerQueue per queue.
func (c *queueCollector) gather(s *scrape) {
	t := c.m.clk.Now()
	now := t.UnixMilli()
	nb := len(c.buckets) + 1
	s.buckets = c.buckets
	s.samples = slices.Grow(s.samples[:0], samplesPerQueue*len(c.m.order))
	s.counts = slices.Grow(s.counts[:0], numOutcomes*nb*len(c.m.order))
	for _, q := range c.m.order {
		open := 1.0
		if q.open != nil && !q.open(t) {
			open = 0
		}
		s.gauge(openFam, q.labels.queue, open)
		s.gauge(thresholdFam, q.labels.queue, msSeconds(q.thresholdMs))
		s.gauge(targetFam, q.labels.queue, q.target)
		q.collect(s, now, c.m)
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
	s.counter(offeredFam, l.queue, n.offered)
	s.counter(answeredFam, l.queue, n.answered)
	s.counter(withinFam, l.queue, n.within)
	s.counter(abandonedFam, l.queue, n.abandoned)
	s.counter(shortFam, l.queue, n.short)
	s.counter(cbOfferedFam, l.queue, n.cbOffered)
	s.counter(cbAcceptedFam, l.queue, n.cbAccepted)
	for i, v := range n.calls {
		s.counter(callsFam, l.outcome[i], v)
	}
	s.histogram(waitFam, l.queue, &n.wait)
	for i := range n.timeInQueue {
		s.histogram(timeInQueueFam, l.outcome[i], &n.timeInQueue[i])
	}
	for i, v := range q.agents {
		s.gauge(agentsFam, l.state[i], v)
	}
	s.gauge(waitingFam, l.queue, float64(q.waiting.len()))
	var oldestMs int64
	if entry, ok := q.waiting.oldest(); ok {
		oldestMs = max(now-entry, 0)
	}
	s.gauge(oldestFam, l.queue, msSeconds(oldestMs))
	s.gauge(expectedWaitFam, l.queue, q.expectedWait)
	st := &q.staffing
	for i := range intervalNames {
		s.gauge(forecastFam, l.inter[i], st.calls[i])
		for j := range modelNames {
			s.gauge(neededFam, l.model[i][j], st.needed[i][j])
			s.gauge(expectedSLFam, l.model[i][j], st.level[i][j])
		}
	}
	s.gauge(handleFam, l.queue, st.handle)
	s.gauge(patienceFam, l.queue, st.patience)
	for i, w := range [2]*window{&q.today, &q.inter} {
		offered := w.counts.Offered + w.over
		ratio := 1.0
		if d := offered - w.counts.ShortAbandoned; d > 0 {
			ratio = float64(w.counts.AnsweredWithin) / float64(d)
		}
		s.gauge(slFam, l.window[i], ratio)
		for j, v := range [len(windowClasses)]int{offered, w.counts.AnsweredWithin, w.counts.ShortAbandoned, w.over} {
			s.gauge(windowFam, l.class[i][j], float64(v))
		}
	}
}

// scrape holds the samples of one scrape. Samples handed to the registry
// are never written again, so concurrent scrapes share nothing mutable.
type scrape struct {
	samples []sample
	counts  []uint64 // histogram bucket counts, cumulative
	buckets []float64
}

func (s *scrape) counter(f *family, l *labelSet, v uint64) {
	s.samples = append(s.samples, sample{fam: f, labels: l, value: float64(v)})
}

func (s *scrape) gauge(f *family, l *labelSet, v float64) {
	s.samples = append(s.samples, sample{fam: f, labels: l, value: v})
}

func (s *scrape) histogram(f *family, l *labelSet, h *histogram) {
	start := len(s.counts)
	var cum uint64
	for _, n := range h.counts {
		cum += n
		s.counts = append(s.counts, cum)
	}
	s.samples = append(s.samples, sample{fam: f, labels: l, value: h.sum,
		counts: s.counts[start:len(s.counts):len(s.counts)], bounds: s.buckets})
}

// sample is one metric of a scrape: a counter, a gauge or a histogram
// (value is then its sum, counts its cumulative bucket counts with +Inf last).
type sample struct {
	fam    *family
	labels *labelSet
	value  float64
	counts []uint64
	bounds []float64
}

func (s *sample) Desc() *prometheus.Desc { return s.fam.desc }

func (s *sample) Write(out *dto.Metric) error {
	out.Label = s.labels.pairs
	switch s.fam.typ {
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
