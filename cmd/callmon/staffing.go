package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"callmon/ari"
	"callmon/callback/store"
	"callmon/erlang"
	"callmon/metrics"
	"callmon/staffing"
)

// staffingEvery is how often the staffing advice is computed again: the forecast moves with
// each quarter-hour and the rates with every call, neither faster than a minute matters.
const staffingEvery = time.Minute

// staffingQueue is what the advice needs of a configured queue.
type staffingQueue struct {
	name                    string
	target                  float64
	threshold, shortAbandon time.Duration // shortAbandon < 0: none
}

// staffingAdvisor computes each queue's staffing advice (package staffing) from the call
// records' history and the queue's measured rates, once at start and then every minute, and
// exports it. A failed read keeps the last figures and is tried again at the next turn.
type staffingAdvisor struct {
	db     *store.DB
	rates  func(queue string) (ari.QueueRates, bool)
	m      *metrics.Metrics
	queues []staffingQueue
	loc    *time.Location
	clock  clock
	log    *slog.Logger

	mu      sync.Mutex
	stopped bool
	cancel  func() bool
	running sync.WaitGroup
	ctx     context.Context
	done    context.CancelFunc
}

func newStaffingAdvisor(db *store.DB, rates func(string) (ari.QueueRates, bool), m *metrics.Metrics,
	queues []staffingQueue, loc *time.Location, clk clock, log *slog.Logger) *staffingAdvisor {
	ctx, done := context.WithCancel(context.Background())
	return &staffingAdvisor{db: db, rates: rates, m: m, queues: queues, loc: loc, clock: clk, log: log, ctx: ctx, done: done}
}

// Start computes the advice at once and then every staffingEvery.
func (s *staffingAdvisor) Start() { s.schedule(0) }

func (s *staffingAdvisor) schedule(after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.running.Add(1)
	s.cancel = s.clock.AfterFunc(after, func() {
		defer s.running.Done()
		s.updateAll(s.ctx)
		s.schedule(staffingEvery)
	})
}

// Stop ends the turns and waits for one in progress.
func (s *staffingAdvisor) Stop() {
	s.mu.Lock()
	s.stopped = true
	if s.cancel != nil && s.cancel() {
		s.running.Done() // the turn that will not run now
	}
	s.mu.Unlock()
	s.done()
	s.running.Wait()
}

func (s *staffingAdvisor) updateAll(ctx context.Context) {
	for _, q := range s.queues {
		if err := s.update(ctx, q); err != nil && ctx.Err() == nil {
			s.log.Warn("staffing advice not updated", "queue", q.name, "err", err)
		}
	}
}

// update computes and exports one queue's advice.
func (s *staffingAdvisor) update(ctx context.Context, q staffingQueue) error {
	r, ok := s.rates(q.name)
	if !ok {
		return nil
	}
	w := staffing.WindowsAt(s.clock.Now(), s.loc)
	var from, to []time.Time
	for _, win := range w.All() {
		from, to = append(from, win.From), append(to, win.To)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	counts, err := s.db.CountOffered(ctx, q.name, from, to)
	if err != nil {
		return err
	}
	f := staffing.ForecastFrom(counts)
	terms := erlang.Terms{Threshold: q.threshold.Seconds(), ShortAbandon: max(q.shortAbandon, 0).Seconds(), Ring: r.Ring}
	rates := staffing.Rates{Handle: r.Handle, Patience: r.Patience, Ring: r.Ring}
	var out [2]metrics.Staffing
	for i, calls := range [2]float64{f.Current, f.Next} {
		a, c := staffing.Advise(calls, rates, r.Staffed, q.target, terms)
		out[i] = metrics.Staffing{Calls: calls, NeededA: a.Needed, NeededC: c.Needed, LevelA: a.Level, LevelC: c.Level}
	}
	s.m.SetStaffing(q.name, out[0], out[1], r.Handle, r.Patience)
	return nil
}
