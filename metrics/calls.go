package metrics

import (
	"math"
	"sort"
	"sync"
	"time"
)

// recentGen is how many finished call ids a queue remembers per generation;
// it keeps the last recentGen to 2*recentGen, enough to cover the calls still
// in conversation when ARI reconnects and callmon rebuilds its view.
const recentGen = 512

// maxSkew bounds how far an event's timestamp may run ahead of the clock and
// still open a new day or interval: Asterisk's clock may be slightly ahead of
// ours, and a call stamped just past a boundary must not fall between windows;
// a wildly wrong timestamp must not push the windows into the future.
const maxSkew = int64(time.Minute / time.Millisecond)

// queue is one queue's accounting state. Its series are plain numbers under
// one lock, read together by the collector at scrape time.
type queue struct {
	name        string
	thresholdMs int64
	shortMs     int64 // < 0: no short abandons
	open        func(time.Time) bool
	target      float64
	labels      queueLabels
	buckets     []float64 // shared by every queue, read-only

	mu           sync.Mutex // guards the fields below
	waiting      waiters
	talking      map[string]struct{} // answered, conversation not yet ended
	recent       recentIDs
	today, inter window
	n            totals
	agents       [len(agentStates)]float64
	expectedWait float64 // seconds; +Inf while no agent serves the queue
	staffing     staffingFigures
}

// staffingFigures are a queue's staffing advice as last computed, by interval
// (current, next) and model (erlang_a, erlang_c); NaN before.
type staffingFigures struct {
	calls            [2]float64
	needed, level    [2][2]float64
	handle, patience float64
}

// totals are a queue's counters and histograms since the process started.
type totals struct {
	offered, answered, within, abandoned, short uint64
	cbOffered, cbAccepted                       uint64
	calls                                       [numOutcomes]uint64
	wait                                        histogram
	timeInQueue                                 [numOutcomes - 1]histogram // Closed has no time in queue
}

// histogram counts observations per bucket of the shared bucket list; the
// last count is the +Inf bucket. Counts are not cumulative.
type histogram struct {
	counts []uint64
	sum    float64
}

func newHistogram(buckets []float64) histogram {
	return histogram{counts: make([]uint64, len(buckets)+1)}
}

// observe adds v (seconds) to the first bucket whose upper bound is at least v.
func (h *histogram) observe(buckets []float64, v float64) {
	h.counts[sort.SearchFloat64s(buckets, v)]++
	h.sum += v
}

// window is the service-level count of the finished calls whose entry falls
// in [start, end), Unix milliseconds. Calls still waiting are added at scrape
// from over.
type window struct {
	start, end int64
	counts     Counts
	over       int // calls waiting past the threshold that entered in the window
}

func (w *window) has(ms int64) bool { return ms >= w.start && ms < w.end }

// Counts are service-level counts of finished calls whose entry falls in one
// window (a day or a 15-minute interval).
type Counts struct {
	Offered        int // finished offered calls, whatever their outcome (never closed ones)
	AnsweredWithin int // of those, answered within the threshold
	ShortAbandoned int // of those, short abandons
}

func (c Counts) valid() bool {
	return c.Offered >= 0 && c.AnsweredWithin >= 0 && c.ShortAbandoned >= 0 &&
		c.AnsweredWithin+c.ShortAbandoned <= c.Offered
}

func (c *Counts) add(d Counts) {
	c.Offered += d.Offered
	c.AnsweredWithin += d.AnsweredWithin
	c.ShortAbandoned += d.ShortAbandoned
}

// DayCounts are the counts of one queue's finished calls of one day, as read
// from the call records, for Restore.
type DayCounts struct {
	Offered        int
	AnsweredWithin int
	ShortAbandoned int
	// Intervals optionally holds per-interval counts; only the interval
	// that is current when Restore runs is used.
	Intervals []IntervalCounts
}

// IntervalCounts are the counts of the calls that entered in the 15-minute
// interval beginning at Start.
type IntervalCounts struct {
	Start          time.Time
	Offered        int
	AnsweredWithin int
	ShortAbandoned int
}

func newQueue(cfg Queue, buckets []float64) *queue {
	q := &queue{
		name:         cfg.Name,
		thresholdMs:  cfg.Threshold.Milliseconds(),
		shortMs:      cfg.ShortAbandon.Milliseconds(),
		open:         cfg.Open,
		labels:       newQueueLabels(cfg.Name),
		buckets:      buckets,
		expectedWait: math.Inf(1),
		staffing:     newStaffingFigures(),
		waiting:      newWaiters(),
		talking:      map[string]struct{}{},
		recent:       recentIDs{cur: map[string]struct{}{}, prev: map[string]struct{}{}},
	}
	if cfg.ShortAbandon < 0 {
		q.shortMs = -1 // no wait is that short
	}
	q.n.wait = newHistogram(buckets)
	for i := range q.n.timeInQueue {
		q.n.timeInQueue[i] = newHistogram(buckets)
	}
	return q
}

// roll moves today and the current interval forward to the ones holding ms;
// they never move back. Callers hold q.mu (or own q exclusively).
func (q *queue) roll(ms int64, loc *time.Location) {
	if ms >= q.today.end {
		q.today = window{}
		q.today.start, q.today.end = dayBounds(time.UnixMilli(ms), loc)
	}
	if ms >= q.inter.end {
		q.inter = window{}
		q.inter.start, q.inter.end = intervalBounds(time.UnixMilli(ms), loc)
	}
}

// dayBounds is the local day holding t, in Unix milliseconds; it is 23 or 25
// hours long on DST days.
func dayBounds(t time.Time, loc *time.Location) (start, end int64) {
	y, mo, d := t.In(loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, loc).UnixMilli(), time.Date(y, mo, d+1, 0, 0, 0, 0, loc).UnixMilli()
}

// intervalBounds is the 15-minute interval holding t, aligned to :00, :15,
// :30 and :45 local time. It steps back from t rather than building the start
// with time.Date, which is ambiguous in the hour repeated when DST ends.
func intervalBounds(t time.Time, loc *time.Location) (start, end int64) {
	lt := t.In(loc)
	back := time.Duration(lt.Minute()%15)*time.Minute + time.Duration(lt.Second())*time.Second + time.Duration(lt.Nanosecond())
	s := lt.Add(-back).UnixMilli()
	return s, s + int64(15*time.Minute/time.Millisecond)
}

// rollTo is the instant an event at t rolls the windows to: the clock, or t
// when t is at most maxSkew ahead of the clock.
func (m *Metrics) rollTo(t time.Time) int64 {
	now := m.clk.Now().UnixMilli()
	if ms := t.UnixMilli(); ms > now && ms-now <= maxSkew {
		return ms
	}
	return now
}

// recentIDs remembers recently finished call ids in two generations, so that
// memory stays bounded without a timer: when the current one is full, the
// previous one is cleared and reused.
type recentIDs struct{ cur, prev map[string]struct{} }

func (r *recentIDs) has(id string) bool {
	if _, ok := r.cur[id]; ok {
		return true
	}
	_, ok := r.prev[id]
	return ok
}

func (r *recentIDs) add(id string) {
	if len(r.cur) >= recentGen {
		clear(r.prev)
		r.prev, r.cur = r.cur, r.prev
	}
	r.cur[id] = struct{}{}
}

// Entered records that a call entered the queue while it was open: it is
// offered and now waiting. It returns false, changing nothing, for an unknown
// queue or a call id that is waiting or finished recently in this queue (a
// replayed StasisStart). The same id may enter another queue after leaving
// this one (a direct-dial caller moved to the general queue).
func (m *Metrics) Entered(queue, callID string, entry time.Time) bool {
	q := m.queues[queue]
	if q == nil {
		return false
	}
	q.mu.Lock()
	q.roll(m.rollTo(entry), m.loc)
	if q.waiting.has(callID) || q.recent.has(callID) {
		q.mu.Unlock()
		return false
	}
	q.waiting.add(callID, entry.UnixMilli())
	q.n.offered++
	q.mu.Unlock()
	return true
}

// Resumed registers a call that another process of this site saw enter,
// and this one carries on after a restart or takeover (DESIGN §10.1). The
// counters (_total, histograms) are not counted again: the process that saw
// the event counted it. A call still waiting (answered zero) joins the live
// figures and is finished as usual; an answered one joins the service level
// of its windows, as if finished here. It returns false, changing nothing,
// for an unknown queue or a call it already knows.
func (m *Metrics) Resumed(queue, callID string, entry, answered time.Time) bool {
	q := m.queues[queue]
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.roll(m.rollTo(m.clk.Now()), m.loc)
	if q.waiting.has(callID) || q.recent.has(callID) {
		return false
	}
	if answered.IsZero() {
		q.waiting.add(callID, entry.UnixMilli())
		return true
	}
	q.recent.add(callID)
	q.talking[callID] = struct{}{} // its end is counted here (Ended)
	waitMs := max(answered.UnixMilli()-entry.UnixMilli(), 0)
	for _, w := range [2]*window{&q.today, &q.inter} {
		if w.has(entry.UnixMilli()) {
			w.counts.Offered++
			if waitMs <= q.thresholdMs {
				w.counts.AnsweredWithin++
			}
		}
	}
	return true
}

// Handed forgets a waiting call that another process now carries on (this
// one stopped being the active callmon): it leaves the live figures with no
// outcome. It reports whether the call was waiting.
func (m *Metrics) Handed(queue, callID string) bool {
	q := m.queues[queue]
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	entry, crossed, ok := q.waiting.remove(callID)
	if crossed {
		q.uncross(entry)
	}
	delete(q.talking, callID)
	return ok
}

// ClearToday empties the service level of today and of the interval, for a
// process that becomes the active one and restores them from the call
// records (Restore): what it counted in an earlier term is in those records.
func (m *Metrics) ClearToday() {
	now := m.clk.Now()
	for _, q := range m.queues {
		q.mu.Lock()
		q.roll(m.rollTo(now), m.loc)
		q.today.counts, q.inter.counts = Counts{}, Counts{}
		q.mu.Unlock()
	}
}

// Answered records that the waiting call was answered at at. Its wait is
// at - entry in whole milliseconds, within the threshold iff wait <= threshold.
// It returns false, changing nothing, unless the call is waiting in the queue.
// The call counts in callmon_calls_total only when it ends (Ended): that
// counter is of finished calls.
func (m *Metrics) Answered(queue, callID string, at time.Time) bool {
	return m.finish(queue, callID, oAnswered, at)
}

// Ended records that the conversation of an answered call (Answered, or
// Resumed with an answer) ended: callmon_calls_total{outcome="answered"}.
// It returns false, changing nothing, for a call not in conversation here.
func (m *Metrics) Ended(queue, callID string) bool {
	q := m.queues[queue]
	if q == nil {
		return false
	}
	q.mu.Lock()
	_, ok := q.talking[callID]
	if ok {
		delete(q.talking, callID)
		q.n.calls[oAnswered]++
	}
	q.mu.Unlock()
	return ok
}

// Abandoned records that the caller of the waiting call hung up at at: a
// short abandon when at - entry <= the queue's short-abandon time, else an
// abandon. It returns false, changing nothing, unless the call is waiting.
func (m *Metrics) Abandoned(queue, callID string, at time.Time) bool {
	return m.finish(queue, callID, oAbandoned, at)
}

// Left records that the waiting call left the queue at at with outcome
// Callback, Voicemail, Transferred or Fallback. It returns false, changing nothing, for
// any other outcome or unless the call is waiting.
func (m *Metrics) Left(queue, callID string, outcome Outcome, at time.Time) bool {
	switch outcome {
	case Callback:
		return m.finish(queue, callID, oCallback, at)
	case Voicemail:
		return m.finish(queue, callID, oVoicemail, at)
	case Transferred:
		return m.finish(queue, callID, oTransferred, at)
	case Fallback:
		return m.finish(queue, callID, oFallback, at)
	}
	return false
}

// finish ends a waiting call once; o is oAnswered, oAbandoned (refined to a
// short abandon here) or one of the Left outcomes.
func (m *Metrics) finish(queue, callID string, o int, at time.Time) bool {
	q := m.queues[queue]
	if q == nil {
		return false
	}
	q.mu.Lock()
	entry, crossed, ok := q.waiting.remove(callID)
	if !ok {
		q.mu.Unlock()
		return false
	}
	q.recent.add(callID)
	if o == oAnswered {
		q.talking[callID] = struct{}{}
	}
	q.roll(m.rollTo(at), m.loc)
	if crossed {
		q.uncross(entry)
	}
	// Events of one millisecond may arrive out of order; a wait is never negative.
	waitMs := max(at.UnixMilli()-entry, 0)
	if o == oAbandoned && waitMs <= q.shortMs {
		o = oShortAbandoned
	}
	within := o == oAnswered && waitMs <= q.thresholdMs
	for _, w := range [2]*window{&q.today, &q.inter} {
		if !w.has(entry) {
			continue
		}
		w.counts.Offered++
		if within {
			w.counts.AnsweredWithin++
		}
		if o == oShortAbandoned {
			w.counts.ShortAbandoned++
		}
	}

	secs := msSeconds(waitMs)
	if o != oAnswered {
		q.n.calls[o]++
	}
	q.n.timeInQueue[o].observe(q.buckets, secs)
	switch o {
	case oAnswered:
		q.n.answered++
		q.n.wait.observe(q.buckets, secs)
		if within {
			q.n.within++
		}
	case oAbandoned:
		q.n.abandoned++
	case oShortAbandoned:
		q.n.short++
	}
	q.mu.Unlock()
	return true
}

// uncross takes a call that had waited past the threshold out of the
// windows' over counts; a window rolled since it crossed never counted it
// (a call crosses only after it entered, windows only move forward).
func (q *queue) uncross(entry int64) {
	for _, w := range [2]*window{&q.today, &q.inter} {
		if w.has(entry) {
			w.over--
		}
	}
}

// cross counts the calls that have now waited past the threshold in the
// windows they entered in.
func (q *queue) cross(now int64) {
	q.waiting.cross(now-q.thresholdMs, func(entry int64) {
		for _, w := range [2]*window{&q.today, &q.inter} {
			if w.has(entry) {
				w.over++
			}
		}
	})
}

// Closed records a call to the queue outside opening hours: outcome closed,
// never offered, so it touches no service level and at changes nothing here
// (it belongs to the caller's call record).
func (m *Metrics) Closed(queue string, at time.Time) {
	if q := m.queues[queue]; q != nil {
		q.mu.Lock()
		q.n.calls[oClosed]++
		q.mu.Unlock()
	}
}

// CallbackOffered counts a callback offer to a caller of queue.
func (m *Metrics) CallbackOffered(queue string) {
	if q := m.queues[queue]; q != nil {
		q.mu.Lock()
		q.n.cbOffered++
		q.mu.Unlock()
	}
}

// CallbackAccepted counts a callback a caller of queue agreed to.
func (m *Metrics) CallbackAccepted(queue string) {
	if q := m.queues[queue]; q != nil {
		q.mu.Lock()
		q.n.cbAccepted++
		q.mu.Unlock()
	}
}

// Waiting is the number of calls waiting in the queue now.
func (m *Metrics) Waiting(queue string) int {
	q := m.queues[queue]
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting.len()
}

// SetAgents sets the number of the queue's agents in each state (available,
// ringing, on_call, paused, offline, logged_out); states missing from counts
// are 0, unknown states are ignored to keep the label set bounded.
func (m *Metrics) SetAgents(queue string, counts map[string]int) {
	q := m.queues[queue]
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, s := range agentStates {
		q.agents[i] = float64(counts[s])
	}
}

// SetExpectedWait sets the wait expected for a caller who joins queue now;
// negative means no agent serves the queue (exported as +Inf).
func (m *Metrics) SetExpectedWait(queue string, d time.Duration) {
	q := m.queues[queue]
	if q == nil {
		return
	}
	v := math.Inf(1)
	if d >= 0 {
		v = d.Seconds()
	}
	q.mu.Lock()
	q.expectedWait = v
	q.mu.Unlock()
}

func newStaffingFigures() staffingFigures {
	nan := math.NaN()
	return staffingFigures{calls: [2]float64{nan, nan}, needed: [2][2]float64{{nan, nan}, {nan, nan}},
		level: [2][2]float64{{nan, nan}, {nan, nan}}, handle: nan, patience: nan}
}

// Staffing is one interval's advice for a queue: the calls forecast and, per
// model (Erlang A, Erlang C), the agents needed (-1: more than any number
// tried) and the service level the present staffing is expected to reach.
type Staffing struct {
	Calls            float64
	NeededA, NeededC int
	LevelA, LevelC   float64
}

// SetStaffing sets the queue's staffing advice for the running and the next
// interval and the rates it came from.
func (m *Metrics) SetStaffing(queue string, current, next Staffing, handle, patience time.Duration) {
	q := m.queues[queue]
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	st := &q.staffing
	for i, s := range [2]Staffing{current, next} {
		st.calls[i] = s.Calls
		st.needed[i] = [2]float64{float64(s.NeededA), float64(s.NeededC)}
		st.level[i] = [2]float64{s.LevelA, s.LevelC}
	}
	st.handle, st.patience = handle.Seconds(), patience.Seconds()
}

// Restore adds the counts of a queue's calls of day (any time in that local
// day) that this process did not count itself, such as the call records
// written before a restart, to the service level of today and, from
// c.Intervals, of the current interval. It returns false, changing nothing,
// for an unknown queue, a day that is not today by the clock, or inconsistent
// counts. Counters (_total) are not restored: they start at zero with every
// process.
func (m *Metrics) Restore(queue string, day time.Time, c DayCounts) bool {
	q := m.queues[queue]
	dc := Counts{Offered: c.Offered, AnsweredWithin: c.AnsweredWithin, ShortAbandoned: c.ShortAbandoned}
	if q == nil || !dc.valid() {
		return false
	}
	for _, ic := range c.Intervals {
		if !(Counts{Offered: ic.Offered, AnsweredWithin: ic.AnsweredWithin, ShortAbandoned: ic.ShortAbandoned}).valid() {
			return false
		}
	}
	dayStart, _ := dayBounds(day, m.loc)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.roll(m.clk.Now().UnixMilli(), m.loc)
	if dayStart != q.today.start {
		return false
	}
	q.today.counts.add(dc)
	for _, ic := range c.Intervals {
		if ic.Start.UnixMilli() == q.inter.start {
			q.inter.counts.add(Counts{Offered: ic.Offered, AnsweredWithin: ic.AnsweredWithin, ShortAbandoned: ic.ShortAbandoned})
		}
	}
	return true
}
