package ari

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Presence is one agent's presence as a PresenceStore keeps it.
type Presence struct {
	Agent     string
	LoggedIn  bool
	Paused    bool
	Reason    string    // why paused; "" when not paused or not said
	ChangedAt time.Time // when the change was made, by the clock of the process that made it
	ChangedBy string    // the agent's id, or ChangedByAPI
}

// PresenceStore keeps presence where every callmon process of the site sees
// it (PostgreSQL; package ari does not touch it itself).
type PresenceStore interface {
	// Load returns every stored presence by agent id, including ids that
	// are not configured here.
	Load(ctx context.Context) (map[string]Presence, error)
	// Save stores p, unless the store already holds a later change of that
	// agent (by ChangedAt): that is not an error, the later one stands. An
	// error wrapping ErrPresenceRefused is final (p is dropped); any other
	// is retried.
	Save(ctx context.Context, p Presence) error
	// Listen calls changed with an agent's id when its presence may have
	// changed in the store (by any process), and with "" when anything may
	// have (after (re)connecting), until ctx ends.
	Listen(ctx context.Context, changed func(agent string)) error
}

// ErrPresenceRefused marks a Save error that retrying cannot cure.
var ErrPresenceRefused = errors.New("presence refused by the store")

// Defaults of the presence timings in Config.
const (
	DefaultPresencePoll  = 30 * time.Second
	DefaultPresenceRetry = 2 * time.Second
	presenceSaveTimeout  = 5 * time.Second
	presenceStopTimeout  = 2 * time.Second
)

// presenceSync keeps Agents and a PresenceStore in step: it writes every
// change in the background (retrying the latest value per agent until it
// lands), and applies changes other processes made, on notification and by
// a slow poll that catches anything a notification missed.
type presenceSync struct {
	ag    *Agents
	store PresenceStore
	retry time.Duration
	poll  time.Duration

	// pending is the latest unwritten change per agent, guarded by ag.mu.
	// A newer change replaces an older one before it is written: only the
	// latest value matters, and one agent's values are written in order.
	pending map[string]Presence

	saveWake   chan struct{} // capacity 1: pending has something
	reloadWake chan struct{} // capacity 1: the store may have changed

	unknownLogged bool // guarded by ag.mu

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newPresenceSync(ag *Agents, store PresenceStore, retry, poll time.Duration) *presenceSync {
	if retry <= 0 {
		retry = DefaultPresenceRetry
	}
	if poll <= 0 {
		poll = DefaultPresencePoll
	}
	return &presenceSync{ag: ag, store: store, retry: retry, poll: poll, pending: map[string]Presence{},
		saveWake: make(chan struct{}, 1), reloadWake: make(chan struct{}, 1)}
}

// queueLocked has p written; ag.mu is held.
func (p *presenceSync) queueLocked(pr Presence) {
	p.pending[pr.Agent] = pr
	select {
	case p.saveWake <- struct{}{}:
	default:
	}
}

// PresenceBacklog is the number of agents whose latest presence change is
// not yet in the PresenceStore (0 without one).
func (s *Agents) PresenceBacklog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ps == nil {
		return 0
	}
	return len(s.ps.pending)
}

// load reads the stored presence once, before calls are routed.
func (p *presenceSync) load(ctx context.Context) error {
	rows, err := p.store.Load(ctx)
	if err != nil {
		return err
	}
	p.apply(rows)
	return nil
}

// apply takes what the store holds, agent by agent, where it is newer than
// what this process knows. An agent without a row keeps what it has (logged
// out, at start). Ids that are not configured are ignored, and said once.
func (p *presenceSync) apply(rows map[string]Presence) {
	s := p.ag
	s.mu.Lock()
	defer s.mu.Unlock()
	var unknown []string
	changed := false
	for id, pr := range rows {
		a := s.byID[id]
		if a == nil {
			unknown = append(unknown, id)
			continue
		}
		if p.applyLocked(a, pr) {
			changed = true
		}
	}
	if len(unknown) > 0 && !p.unknownLogged {
		p.unknownLogged = true
		slices.Sort(unknown)
		s.log.Info("stored presence of agents that are not configured is ignored", "agents", unknown)
	}
	if changed {
		s.dispatchLocked()
	}
}

// applyLocked sets a to the stored pr unless this process holds a later
// change of a (unwritten, or written and not yet seen back). ag.mu is held.
func (p *presenceSync) applyLocked(a *agent, pr Presence) bool {
	if mine, ok := p.pending[a.id]; ok {
		if !pr.ChangedAt.After(mine.ChangedAt) {
			return false // ours is newer and will be written
		}
		delete(p.pending, a.id) // the store would refuse it as older
	}
	if pr.ChangedAt.Before(a.changedAt) {
		return false
	}
	if pr.LoggedIn == a.loggedIn && pr.Paused == a.paused && pr.Reason == a.reason &&
		pr.ChangedAt.Equal(a.changedAt) && pr.ChangedBy == a.changedBy {
		return false // our own change, seen back
	}
	if pr.LoggedIn && !a.loggedIn {
		// Calls are not stored, so after a restart (or a login through
		// another process) the moment of the last presence change is the
		// best "idle since" known: agents who logged in earlier are still
		// rung first, and nobody jumps the line because callmon restarted.
		a.idleSince = pr.ChangedAt
	}
	a.loggedIn, a.paused, a.reason, a.changedAt, a.changedBy = pr.LoggedIn, pr.Paused, pr.Reason, pr.ChangedAt, pr.ChangedBy
	p.ag.log.Info("agent presence taken from the database", "agent", a.id, "logged_in", a.loggedIn,
		"paused", a.paused, "changed_by", a.changedBy)
	return true
}

func (p *presenceSync) start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(3)
	go func() { defer p.wg.Done(); p.runSaver(ctx) }()
	go func() { defer p.wg.Done(); p.runReloader(ctx) }()
	go func() {
		defer p.wg.Done()
		_ = p.store.Listen(ctx, func(string) { p.kickReload() })
	}()
}

// stop ends the goroutines; the saver makes one last attempt to write what
// is pending.
func (p *presenceSync) stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
}

func (p *presenceSync) kickReload() {
	select {
	case p.reloadWake <- struct{}{}:
	default:
	}
}

// runSaver writes pending changes until ctx ends, retrying every p.retry
// while the store fails.
func (p *presenceSync) runSaver(ctx context.Context) {
	log := p.ag.log
	failing := false
	retry := time.NewTimer(0)
	<-retry.C
	for {
		select {
		case <-ctx.Done():
			retry.Stop()
			sctx, cancel := context.WithTimeout(context.Background(), presenceStopTimeout)
			err := p.saveAll(sctx)
			cancel()
			if err != nil {
				log.Warn("presence changes not saved at stop: they are lost, the database keeps the previous presence",
					"agents", p.pendingAgents(), "err", err)
			}
			return
		case <-p.saveWake:
		case <-retry.C:
		}
		err := p.saveAll(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				log.Warn("presence changes not saved yet: kept in memory and retried", "backlog", p.ag.PresenceBacklog(),
					"retry_every", p.retry, "err", err)
			}
			failing = true
			retry.Reset(p.retry)
		case err == nil && failing:
			failing = false
			log.Info("presence changes saved after all")
		}
	}
}

// saveAll writes every pending change, stopping at the first failure.
func (p *presenceSync) saveAll(ctx context.Context) error {
	s := p.ag
	for {
		s.mu.Lock()
		var next Presence
		found := false
		for _, pr := range p.pending {
			// Oldest first: the order people acted in.
			if !found || pr.ChangedAt.Before(next.ChangedAt) {
				next, found = pr, true
			}
		}
		s.mu.Unlock()
		if !found {
			return nil
		}
		sctx, cancel := context.WithTimeout(ctx, presenceSaveTimeout)
		err := p.store.Save(sctx, next)
		cancel()
		if errors.Is(err, ErrPresenceRefused) {
			s.log.Error("presence change dropped: the database refused it", "agent", next.Agent, "err", err)
		} else if err != nil {
			return err
		}
		s.mu.Lock()
		if cur, ok := p.pending[next.Agent]; ok && cur.ChangedAt.Equal(next.ChangedAt) {
			delete(p.pending, next.Agent) // not replaced while it was written
		}
		s.mu.Unlock()
	}
}

func (p *presenceSync) pendingAgents() []string {
	p.ag.mu.Lock()
	defer p.ag.mu.Unlock()
	var out []string
	for id := range p.pending {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// runReloader re-reads the store when told it changed and every p.poll: the
// poll is the backstop for a notification lost with a connection.
func (p *presenceSync) runReloader(ctx context.Context) {
	t := time.NewTicker(p.poll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.reloadWake:
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, presenceSaveTimeout)
		rows, err := p.store.Load(lctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && !failing {
				p.ag.log.Warn("cannot read agent presence from the database; trying again", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		p.apply(rows)
	}
}
