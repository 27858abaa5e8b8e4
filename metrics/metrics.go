// Package metrics owns callmon's measurements: the service-level accounting
// of every queue (offered, answered within threshold, abandoned, outcomes,
// waits, the live service level of today and of the running 15-minute
// interval), agents by state and the health of the ARI intake, all held in a
// Prometheus registry that the caller passes in.
//
// It knows neither telephony nor the database. Callers report what happened,
// stamped with Asterisk's event timestamps; the clock passed to New only
// decides which day and interval are current and how long waiting calls have
// waited at scrape time. Today's counts are restored from call records with
// Restore; the Prometheus counters start at zero with every process, as
// counters do.
package metrics

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Clock tells the current time; tests inject a fake one.
type Clock interface{ Now() time.Time }

// Outcome is how a call ended; every offered call has exactly one.
type Outcome string

// Outcomes (DESIGN.md §3). Closed calls were never offered.
const (
	Answered       Outcome = "answered"
	Abandoned      Outcome = "abandoned"
	ShortAbandoned Outcome = "short_abandoned"
	Callback       Outcome = "callback"
	Voicemail      Outcome = "voicemail"
	Transferred    Outcome = "transferred"
	// Fallback: callmon could not serve the caller in time (Asterisk too
	// slow, or callmon stopping with no standby) and handed them to the
	// dialplan after Stasis(). Offered and not answered: a miss.
	Fallback Outcome = "fallback"
	Closed   Outcome = "closed"
)

// outcomes lists every Outcome; its index is the outcome's slot in a queue's
// pre-resolved series. Closed is last: it has no time in queue.
var outcomes = [...]Outcome{Answered, Abandoned, ShortAbandoned, Callback, Voicemail, Transferred, Fallback, Closed}

const (
	oAnswered = iota
	oAbandoned
	oShortAbandoned
	oCallback
	oVoicemail
	oTransferred
	oFallback
	oClosed
	numOutcomes
)

// agentStates are the values of the state label of callmon_agents.
var agentStates = [...]string{"available", "ringing", "on_call", "paused", "offline", "logged_out"}

// Queue is the service-level configuration of one queue (the direct-dial
// calls are the queue "direct"). Zero fields take their defaults.
type Queue struct {
	Name string
	// Threshold: a call answered after a wait of at most this long is
	// answered within threshold. Default 30 s; whole milliseconds.
	Threshold time.Duration
	// Target is the service-level target ratio. Default 0.9.
	Target float64
	// ShortAbandon: a caller hanging up within this long is a short
	// abandon, left out of the service-level denominator. Default 5 s;
	// negative disables short abandons; at most Threshold.
	ShortAbandon time.Duration
	// Open tells whether the queue is inside its opening hours at t
	// (callmon_queue_open, read at scrape time); nil means always open.
	Open func(t time.Time) bool
}

const (
	defaultThreshold    = 30 * time.Second
	defaultTarget       = 0.9
	defaultShortAbandon = 5 * time.Second
)

// Metrics is callmon's set of metrics. All methods are safe for concurrent use.
type Metrics struct {
	clk    Clock
	loc    *time.Location
	queues map[string]*queue // read-only after New
	order  []*queue          // configuration order, for scrapes

	ariConnected  prometheus.Gauge
	ariUp         atomic.Bool // the gauge's value, for readiness
	leader        prometheus.Gauge
	ariReconnects prometheus.Counter
	ariEvents     *typeCounters
	ariSkipped    *typeCounters
	ariDropped    prometheus.Counter
	ariLag        prometheus.Observer
	queueDepth    atomic.Pointer[func() int]
	spoolRecords  atomic.Pointer[func() int]
	vmRecorded    prometheus.Counter
	vmDiscarded   prometheus.Counter
	ringDelay     prometheus.Histogram
	perQueue      *queueCollector
}

// New creates callmon's metrics for the given queues and registers them,
// together with the go_ and process_ collectors, in reg. loc (Europe/Amsterdam)
// sets the boundaries of days and 15-minute intervals; version is reported
// in callmon_build_info.
func New(reg prometheus.Registerer, clk Clock, loc *time.Location, queues []Queue, version string) (*Metrics, error) {
	switch {
	case reg == nil:
		return nil, errors.New("metrics: nil registerer")
	case clk == nil:
		return nil, errors.New("metrics: nil clock")
	case loc == nil:
		return nil, errors.New("metrics: nil location")
	case len(queues) == 0:
		return nil, errors.New("metrics: no queues")
	}
	qs := make([]Queue, len(queues))
	seen := map[string]bool{}
	for i, q := range queues {
		q, err := withDefaults(q)
		if err != nil {
			return nil, err
		}
		if seen[q.Name] {
			return nil, fmt.Errorf("metrics: queue %q configured twice", q.Name)
		}
		seen[q.Name] = true
		qs[i] = q
	}

	m := &Metrics{clk: clk, loc: loc, queues: make(map[string]*queue, len(qs))}
	buckets := queueBuckets(qs)
	now := clk.Now().UnixMilli()
	for _, cfg := range qs {
		q := newQueue(cfg, buckets)
		q.target = cfg.Target
		q.roll(now, loc)
		m.queues[cfg.Name] = q
		m.order = append(m.order, q)
	}

	m.ariConnected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "callmon_ari_connected",
		Help: "1 while the ARI events websocket to Asterisk is connected, else 0.",
	})
	m.ariReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callmon_ari_reconnects_total",
		Help: "Times the ARI events websocket was connected again after it had been lost.",
	})
	eventsVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callmon_ari_events_total",
		Help: "ARI events received and decoded, by event type.",
	}, []string{"type"})
	skippedVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callmon_ari_events_skipped_total",
		Help: `ARI events received but skipped, by event type: types callmon does not handle, and type="malformed" for frames that could not be read.`,
	}, []string{"type"})
	m.ariEvents = newTypeCounters(eventsVec)
	m.ariSkipped = newTypeCounters(skippedVec)
	// Exposed at 0 from the start, so "no skipped events" is a value, not
	// a missing series.
	skippedVec.WithLabelValues("malformed")
	skippedVec.WithLabelValues("unknown")
	m.ariDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callmon_ari_events_dropped_total",
		Help: "ARI events received but dropped before processing; stays 0 unless callmon loses events.",
	})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "callmon_ari_event_lag_seconds",
		Help:    "Seconds from an ARI event's Asterisk timestamp to its receipt by callmon (includes any difference between the two clocks).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.ariLag = lag
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "callmon_ari_processing_queue_depth",
		Help: "ARI events received and not yet processed, read at scrape time.",
	}, func() float64 {
		if f := m.queueDepth.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.vmRecorded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callmon_voicemails_recorded_total",
		Help: "Voicemail messages recorded and kept for employees who did not answer their direct number.",
	})
	m.vmDiscarded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callmon_voicemails_discarded_total",
		Help: "Voicemail recordings discarded because they were shorter than the minimum (default 1 s).",
	})
	spool := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "callmon_spool_records",
		Help: "Records (finished calls) waiting to be written to PostgreSQL: queued in memory or kept in the durable local spool while the database is unreachable; read at scrape time.",
	}, func() float64 {
		if f := m.spoolRecords.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.ringDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "callmon_agent_ring_delay_seconds",
		Help:    "How long an available agent waited to be rung while a caller they could take waited with nobody ringing for them (callmon's clock): the dispatch delay. Under overload (Asterisk slow or failing) it shows whether agents idle while callers wait.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
	})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "callmon_leader",
		Help: "1 while this process is the active callmon (it holds the lease and drives calls), 0 while it stands by. A standby exports only this, callmon_build_info and go_/process_ metrics.",
	})
	m.leader.Set(1) // a single process without a database is always active
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "callmon_build_info",
		Help:        "Always 1; labelled with the version of callmon and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)

	m.perQueue = newQueueCollector(m, buckets)
	// In a Registry the per-queue series stay out of the part its Handler
	// gathers: the handler writes them itself.
	qreg := reg
	if r, ok := reg.(*Registry); ok {
		qreg, r.queues = r.Registry, m.perQueue
	}
	if err := qreg.Register(m.perQueue); err != nil {
		return nil, fmt.Errorf("metrics: register: %w", err)
	}
	for _, c := range []prometheus.Collector{
		m.ariConnected, m.ariReconnects, eventsVec, skippedVec, m.ariDropped, lag, depth, spool, m.vmRecorded, m.vmDiscarded,
		build, m.leader, m.ringDelay,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

func withDefaults(q Queue) (Queue, error) {
	if q.Name == "" {
		return q, errors.New("metrics: queue without a name")
	}
	if q.Threshold == 0 {
		q.Threshold = defaultThreshold
	}
	if q.Target == 0 {
		q.Target = defaultTarget
	}
	if q.ShortAbandon == 0 {
		q.ShortAbandon = defaultShortAbandon
	}
	switch {
	case q.Threshold < 0 || q.Threshold%time.Millisecond != 0:
		return q, fmt.Errorf("metrics: queue %q: threshold %v must be positive whole milliseconds", q.Name, q.Threshold)
	case q.Target < 0 || q.Target > 1:
		return q, fmt.Errorf("metrics: queue %q: target %v must be a ratio between 0 and 1", q.Name, q.Target)
	case q.ShortAbandon > 0 && q.ShortAbandon%time.Millisecond != 0:
		return q, fmt.Errorf("metrics: queue %q: short_abandon %v must be whole milliseconds", q.Name, q.ShortAbandon)
	case q.ShortAbandon > q.Threshold:
		// A waiting call counts as a miss once past the threshold; it must
		// not turn into an excluded short abandon afterwards.
		return q, fmt.Errorf("metrics: queue %q: short_abandon %v exceeds threshold %v", q.Name, q.ShortAbandon, q.Threshold)
	}
	return q, nil
}

// queueBuckets is the one bucket list every queue shares: a default set plus
// every queue's threshold and short-abandon time, so that "within threshold"
// is an exact bucket for each queue. Edges are computed from whole
// milliseconds exactly as observations are, so a wait of exactly the
// threshold lands in the threshold's bucket.
func queueBuckets(qs []Queue) []float64 {
	ms := []int64{1000, 2000, 5000, 10000, 15000, 20000, 30000, 45000, 60000, 90000, 120000, 180000, 300000, 600000}
	for _, q := range qs {
		ms = append(ms, q.Threshold.Milliseconds())
		if q.ShortAbandon > 0 {
			ms = append(ms, q.ShortAbandon.Milliseconds())
		}
	}
	slices.Sort(ms)
	ms = slices.Compact(ms)
	b := make([]float64, len(ms))
	for i, v := range ms {
		b[i] = msSeconds(v)
	}
	return b
}

// msSeconds converts whole milliseconds to seconds. Every duration that meets
// a bucket edge goes through here, so equal milliseconds give equal floats.
func msSeconds(ms int64) float64 { return float64(ms) / 1000 }
