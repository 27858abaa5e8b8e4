package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"callmon/ari"
	"callmon/callback/leader"
	"callmon/callback/retention"
	"callmon/callback/tasks"
	"callmon/metrics"
)

// standby runs the daemon's side of active/standby (DESIGN §10.1): the
// elector says when this process holds the lease; a term starts then
// (today's service level restored from the call records, the ARI app
// activated, callbacks dialled) and ends when the lease is lost.
type standby struct {
	e        *leader.Elector
	app      *ari.App
	m        *metrics.Metrics
	log      *slog.Logger
	restore  func(ctx context.Context) error // today's figures from the call records
	flush    func(ctx context.Context) error // writes the journal and records still queued
	autoDial func() (*tasks.Dispatcher, error)
	handOff  bool // a graceful stop with no standby sends waiting callers to the fallback
	// retention removes personal data past its period; only the active
	// process runs it (nil without a database).
	retention *retention.Job

	gather standbyGatherer
	want   chan bool // the elector's latest word: true = active
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu   sync.Mutex
	dial *tasks.Dispatcher
}

func (s *standby) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.want = make(chan bool, 1)
	tell := func(active bool) {
		// Latest wins: the elector must never wait for a term to start.
		select {
		case <-s.want:
		default:
		}
		s.want <- active
	}
	s.done.Add(2)
	go func() {
		defer s.done.Done()
		s.e.Run(ctx, func(int64) { tell(true) }, func(string) { tell(false) })
	}()
	go func() {
		defer s.done.Done()
		s.manage(ctx)
	}()
}

// manage starts and ends terms as the elector says, one at a time.
func (s *standby) manage(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case active := <-s.want:
			if active {
				s.begin(ctx)
			} else {
				s.end()
			}
		}
	}
}

func (s *standby) begin(ctx context.Context) {
	if s.app.Active() {
		return
	}
	s.m.ClearToday()
	if err := s.restore(ctx); err != nil {
		s.log.Warn("today's service level could not be read from the call records; it counts from now", "err", err)
	}
	s.app.Activate()
	s.m.SetLeader(true)
	d, err := s.autoDial()
	if err != nil {
		s.log.Error("automatic callbacks not started", "err", err)
	}
	if d != nil {
		d.Start()
	}
	s.mu.Lock()
	s.dial = d
	s.mu.Unlock()
	if s.retention != nil {
		s.retention.Start(ctx)
	}
}

func (s *standby) end() {
	if s.retention != nil {
		s.retention.Stop()
	}
	s.m.SetLeader(false)
	s.mu.Lock()
	d := s.dial
	s.dial = nil
	s.mu.Unlock()
	if d != nil {
		d.Stop()
	}
	s.app.Deactivate()
}

// stop ends this process's part: an active process stops acting first, then
// resigns, so a standby takes over at once; with no standby it can first
// hand the waiting callers to the dialplan fallback.
func (s *standby) stop() {
	if s.app.Active() && s.handOff {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n, err := s.e.Standbys(ctx)
		if err == nil && n == 0 {
			if h := s.app.HandOff(ctx); h > 0 {
				s.log.Info("no standby callmon: waiting callers handed to the dialplan fallback", "callers", h)
			}
		}
		cancel()
	}
	s.cancel()
	s.done.Wait()
	s.end()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The journal of the calls in progress reaches PostgreSQL before the
	// standby is told to take them, or it would measure them from their
	// channels' creation.
	if err := s.flush(ctx); err != nil {
		s.log.Warn("writing the journal before handing over failed; it stays in the spool", "err", err)
	}
	if s.e.Epoch() > 0 {
		if err := s.e.Resign(ctx); err != nil {
			s.log.Warn("resigning the lease failed; a standby takes over when it runs out", "err", err)
		}
	}
	s.e.Leave(ctx)
}

// standbyGatherer serves all metrics while this process is active and only
// its role and health while it stands by, so sums over instances do not
// count a standby's stale queue series.
type standbyGatherer struct {
	g      prometheus.Gatherer
	active func() bool
}

func (s standbyGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := s.g.Gather()
	if s.active() {
		return mfs, err
	}
	out := mfs[:0]
	for _, mf := range mfs {
		if metrics.StandbyFamily(mf.GetName()) {
			out = append(out, mf)
		}
	}
	return out, err
}

// dispatcher is the automatic-callback dispatcher running now, if any.
func (d *daemon) dispatcher() *tasks.Dispatcher {
	if d.ha == nil {
		return d.autoDial
	}
	d.ha.mu.Lock()
	defer d.ha.mu.Unlock()
	return d.ha.dial
}

// gatherer is what /metrics serves (tests).
func (s *standby) gatherer() standbyGatherer { return s.gather }
