package metrics

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ARIConnected reports whether the ARI events websocket is connected.
func (m *Metrics) ARIConnected(up bool) {
	m.ariUp.Store(up)
	if up {
		m.ariConnected.Set(1)
	} else {
		m.ariConnected.Set(0)
	}
}

// ARIIsConnected reports what ARIConnected was told last (for /-/ready).
func (m *Metrics) ARIIsConnected() bool { return m.ariUp.Load() }

// ARIReconnected counts a reconnect of the events websocket.
func (m *Metrics) ARIReconnected() { m.ariReconnects.Inc() }

// ARIEvent counts an event received and decoded; lag is its receive time
// minus its Asterisk timestamp. A negative lag (Asterisk's clock ahead of
// ours) is observed as 0 so the histogram's sum stays meaningful.
func (m *Metrics) ARIEvent(eventType string, lag time.Duration) {
	m.ariEvents.get(eventType).Inc()
	m.ariLag.Observe(max(lag, 0).Seconds())
}

// ARISkipped counts an event of an unhandled type, or "malformed" when its
// type could not be read.
func (m *Metrics) ARISkipped(eventType string) { m.ariSkipped.get(eventType).Inc() }

// ARIDropped counts an event lost before processing; in a correct run it
// never happens, and the series proves it.
func (m *Metrics) ARIDropped() { m.ariDropped.Inc() }

// SetQueueDepth sets the function that reports how many received events wait
// to be processed; it is called at scrape time and must not block.
func (m *Metrics) SetQueueDepth(f func() int) {
	if f == nil {
		m.queueDepth.Store(nil)
		return
	}
	m.queueDepth.Store(&f)
}

// SetSpoolRecords sets the function that reports the records not yet in
// PostgreSQL; it is called at scrape time and must not block.
func (m *Metrics) SetSpoolRecords(f func() int) {
	if f == nil {
		m.spoolRecords.Store(nil)
		return
	}
	m.spoolRecords.Store(&f)
}

// maxEventTypes bounds the type label: Asterisk has about 60 event types, so
// anything beyond this is garbage and is counted as otherType.
const (
	maxEventTypes = 100
	otherType     = "other"
)

// typeCounters resolves a counter per event type once. Reads go through an
// immutable map swapped on write, so the hot path takes no lock and does not
// allocate.
type typeCounters struct {
	vec *prometheus.CounterVec
	m   atomic.Pointer[map[string]prometheus.Counter]
	mu  sync.Mutex // serialises writers
}

func newTypeCounters(vec *prometheus.CounterVec) *typeCounters {
	t := &typeCounters{vec: vec}
	t.m.Store(&map[string]prometheus.Counter{})
	return t
}

func (t *typeCounters) get(typ string) prometheus.Counter {
	if c, ok := (*t.m.Load())[typ]; ok {
		return c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if c, ok := old[typ]; ok {
		return c
	}
	label := typ
	switch {
	case typ == "":
		label = "malformed"
	case len(old) >= maxEventTypes:
		label = otherType
	}
	if c, ok := old[label]; ok {
		return c
	}
	next := maps.Clone(old)
	c := t.vec.WithLabelValues(label)
	next[label] = c
	t.m.Store(&next)
	return c
}

// VoicemailRecorded counts a message kept for an employee.
func (m *Metrics) VoicemailRecorded() { m.vmRecorded.Inc() }

// VoicemailDiscarded counts a recording dropped as too short.
func (m *Metrics) VoicemailDiscarded() { m.vmDiscarded.Inc() }

// SetLeader says whether this process is the active callmon.
func (m *Metrics) SetLeader(active bool) {
	if active {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// StandbyFamily reports whether a standby exports the metric family name:
// its role and its health, nothing that sums over instances.
func StandbyFamily(name string) bool {
	switch name {
	case "callmon_leader", "callmon_build_info":
		return true
	}
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")
}

// RingDelay observes how long an available agent waited to be rung while a
// caller they could take waited unrung.
func (m *Metrics) RingDelay(d time.Duration) { m.ringDelay.Observe(max(d, 0).Seconds()) }
