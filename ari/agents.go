package ari

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"callmon/metrics"
	"callmon/predict"
)

// Ring strategies.
const (
	StrategyLongestIdle = "longest-idle"
	StrategyRingAll     = "ring-all"
)

// Agent states as exported in callmon_agents{state}.
const (
	StateAvailable = "available"
	StateRinging   = "ringing"
	StateOnCall    = "on_call"
	StatePaused    = "paused"
	StateOffline   = "offline"
	StateLoggedOut = "logged_out"
)

// ErrUnknownAgent is returned for an agent id that is not configured.
var ErrUnknownAgent = errors.New("unknown agent")

type agent struct {
	id, name, endpoint string
	queues             []string
	loggedIn, paused   bool
	reason             string    // why paused; "" when not paused or not said
	changedAt          time.Time // last presence change, here or in another process
	changedBy          string
	online             bool
	ringing            *queueCall // set while callmon rings this agent for a call
	onCall             *queueCall
	idleSince          time.Time // end of the last call, for longest-idle
	// callback is the automatic callback (dial.go) holding the agent:
	// ringing until callbackUp, then on a call.
	callback   *dialCall
	callbackUp bool
	// callbackSkip: the agent did not take an automatic callback and is
	// not rung for one before this time.
	callbackSkip time.Time
	// eligibleSince: since when the agent has been available for a waiting
	// call that nobody rings, unrung (zero: not so now). See dispatchLocked.
	eligibleSince time.Time
	// rungAt: when callmon rang the agent for ringing or onCall (callmon's
	// clock): the agent's occupancy for that call starts there.
	rungAt time.Time
}

func (a *agent) state() string {
	switch {
	case a.onCall != nil || (a.callback != nil && a.callbackUp):
		return StateOnCall
	case a.ringing != nil || a.callback != nil:
		return StateRinging
	case !a.loggedIn:
		return StateLoggedOut
	case a.paused:
		return StatePaused
	case !a.online:
		return StateOffline
	}
	return StateAvailable
}

// AgentStatus is an agent as the API reports it.
type AgentStatus struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Endpoint string   `json:"endpoint"`
	Queues   []string `json:"queues"`
	State    string   `json:"state"`
	LoggedIn bool     `json:"logged_in"`
	Paused   bool     `json:"paused"`
	Online   bool     `json:"online"`
	// PauseReason is why the agent paused; "" when not paused or not said.
	PauseReason string `json:"pause_reason"`
	// ChangedAt and ChangedBy tell the last presence change (nil and ""
	// before the first one).
	ChangedAt *time.Time `json:"changed_at"`
	ChangedBy string     `json:"changed_by"`
}

// waitState is a waiting call's bookkeeping, guarded by Agents.mu.
type waitState struct {
	waiting bool
	ringing int                  // agents being rung now
	skipped map[string]time.Time // agents not to ring for this call before the time given
	// declined: agents who were rung for this call and did not take it
	// (as opposed to a ring Asterisk failed to make).
	declined map[string]bool
}

// Agents holds presence and hands available agents to waiting calls,
// oldest call first.
type Agents struct {
	mu      sync.Mutex
	clock   Clock
	log     *slog.Logger
	m       *metrics.Metrics
	byID    map[string]*agent
	order   []*agent // config order, for stable output
	queues  map[string]Queue
	waiting []*queueCall  // in entry order
	ps      *presenceSync // nil without a PresenceStore
	held    int           // no offers while > 0: calls are being adopted
	// est holds each queue's wait predictor, fed as agents are rung, answer
	// and hang up and as callers leave the line; line is each queue's callers
	// waiting that no agent is being rung for, as of the last dispatch.
	est  map[string]*predict.Estimator
	line map[string]int
}

// holdOffers stops offering agents until releaseOffers: while adoption
// starts flows one by one, a waiting call must not be offered an agent that
// a call adopted after it holds.
func (s *Agents) holdOffers() {
	s.mu.Lock()
	s.held++
	s.mu.Unlock()
}

func (s *Agents) releaseOffers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held--
	s.dispatchLocked()
}

func newAgents(agents []Agent, queues []Queue, clock Clock, log *slog.Logger, m *metrics.Metrics) (*Agents, error) {
	s := &Agents{clock: clock, log: log, m: m, byID: map[string]*agent{}, queues: map[string]Queue{},
		est: map[string]*predict.Estimator{}, line: map[string]int{}}
	for _, a := range agents {
		if _, dup := s.byID[a.ID]; dup {
			return nil, fmt.Errorf("ari: agent %q configured twice", a.ID)
		}
		ag := &agent{id: a.ID, name: a.Name, endpoint: a.Endpoint}
		s.byID[a.ID] = ag
		s.order = append(s.order, ag)
	}
	for _, q := range queues {
		s.queues[q.Name] = q
		s.est[q.Name] = predict.New(predict.Options{})
		for _, id := range q.Agents {
			ag, ok := s.byID[id]
			if !ok {
				return nil, fmt.Errorf("ari: queue %q lists %w %q", q.Name, ErrUnknownAgent, id)
			}
			ag.queues = append(ag.queues, q.Name)
		}
	}
	s.mu.Lock()
	s.publishLocked()
	s.mu.Unlock()
	return s, nil
}

// List returns every agent's status in configuration order.
func (s *Agents) List() []AgentStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AgentStatus, 0, len(s.order))
	for _, a := range s.order {
		out = append(out, s.statusLocked(a))
	}
	return out
}

// Get returns one agent's status.
func (s *Agents) Get(id string) (AgentStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[id]
	if !ok {
		return AgentStatus{}, fmt.Errorf("%w %q", ErrUnknownAgent, id)
	}
	return s.statusLocked(a), nil
}

func (s *Agents) statusLocked(a *agent) AgentStatus {
	st := AgentStatus{ID: a.id, Name: a.name, Endpoint: a.endpoint, Queues: slices.Clone(a.queues),
		State: a.state(), LoggedIn: a.loggedIn, Paused: a.paused, Online: a.online,
		PauseReason: a.reason, ChangedBy: a.changedBy}
	if !a.changedAt.IsZero() {
		at := a.changedAt
		st.ChangedAt = &at
	}
	return st
}

// Presence actions accepted by Set.
const (
	ActionLogin   = "login"
	ActionLogout  = "logout"
	ActionPause   = "pause"
	ActionUnpause = "unpause"
)

// ChangedByAPI is PresenceChange.By for changes through the presence API
// when the request does not say who makes them (see WithChangedBy).
const ChangedByAPI = "api"

// MaxPauseReason is the longest pause reason, in characters; the table
// agent_presence allows no more.
const MaxPauseReason = 100

// ErrBadPresence is returned for a presence change that is refused as such
// (an unknown action, an unacceptable reason).
var ErrBadPresence = errors.New("bad presence change")

// PresenceChange is one presence action of an agent.
type PresenceChange struct {
	Agent  string
	Action string // ActionLogin, ActionLogout, ActionPause or ActionUnpause
	Reason string // why, for ActionPause only; optional
	By     string // who made the change: the agent's id, or ChangedByAPI
}

// CheckPauseReason returns the reason as kept (trimmed), or an error wrapping
// ErrBadPresence that says what is wrong with it.
func CheckPauseReason(reason string) (string, error) {
	r := strings.TrimSpace(reason)
	switch {
	case !utf8.ValidString(r):
		return "", fmt.Errorf("%w: the pause reason is not valid UTF-8", ErrBadPresence)
	case utf8.RuneCountInString(r) > MaxPauseReason:
		return "", fmt.Errorf("%w: the pause reason has %d characters; at most %d are allowed",
			ErrBadPresence, utf8.RuneCountInString(r), MaxPauseReason)
	case strings.ContainsFunc(r, unicode.IsControl):
		return "", fmt.Errorf("%w: the pause reason must be one line of text without control characters", ErrBadPresence)
	}
	return r, nil
}

// Set applies a presence change at once and, with a PresenceStore, has it
// written in the background. Logging out or pausing during a call takes
// effect for the next call; the current one is not touched. A change that
// changes nothing (logging in twice) is not a change: it is not written and
// keeps the time of the last one.
func (s *Agents) Set(c PresenceChange) (AgentStatus, error) {
	reason := ""
	switch c.Action {
	case ActionPause:
		r, err := CheckPauseReason(c.Reason)
		if err != nil {
			return AgentStatus{}, err
		}
		reason = r
	case ActionLogin, ActionLogout, ActionUnpause:
		if strings.TrimSpace(c.Reason) != "" {
			return AgentStatus{}, fmt.Errorf("%w: a reason goes with pause only, not with %s", ErrBadPresence, c.Action)
		}
	default:
		return AgentStatus{}, fmt.Errorf("%w: unknown action %q (want login, logout, pause or unpause)", ErrBadPresence, c.Action)
	}
	by := c.By
	if by == "" {
		by = ChangedByAPI
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byID[c.Agent]
	if !ok {
		return AgentStatus{}, fmt.Errorf("%w %q", ErrUnknownAgent, c.Agent)
	}
	loggedIn, paused := a.loggedIn, a.paused
	switch c.Action {
	case ActionLogin:
		loggedIn = true
	case ActionLogout:
		loggedIn, paused, reason = false, false, ""
	case ActionPause:
		paused = true
	case ActionUnpause:
		paused, reason = false, ""
	}
	if loggedIn == a.loggedIn && paused == a.paused && reason == a.reason {
		return s.statusLocked(a), nil
	}
	now := s.clock.Now()
	if !now.After(a.changedAt) {
		// Every change of an agent is later than the one before, even one
		// another process made by a clock slightly ahead: "newest wins"
		// between processes then follows the order people acted in.
		now = a.changedAt.Add(time.Microsecond)
	}
	if loggedIn && !a.loggedIn {
		a.idleSince = now
	}
	a.loggedIn, a.paused, a.reason, a.changedAt, a.changedBy = loggedIn, paused, reason, now, by
	if s.ps != nil {
		s.ps.queueLocked(a.presence())
	}
	st := s.statusLocked(a)
	s.dispatchLocked()
	return st, nil
}

// presence is a's presence as the store keeps it.
func (a *agent) presence() Presence {
	return Presence{Agent: a.id, LoggedIn: a.loggedIn, Paused: a.paused, Reason: a.reason,
		ChangedAt: a.changedAt, ChangedBy: a.changedBy}
}

func (s *Agents) endpointState(endpoint, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, a := range s.order {
		if strings.EqualFold(a.endpoint, endpoint) {
			online := endpointOnline(state)
			changed = changed || a.online != online
			a.online = online
		}
	}
	if changed {
		s.dispatchLocked()
	}
}

// endpointOnline treats "unknown" as online: Asterisk reports it for
// endpoints it does not qualify, and refusing to ring those would strand
// callers; a failed ring is skipped like an unanswered one.
func endpointOnline(state string) bool { return state != "offline" }

// refreshEndpoints subscribes the application to every agent's endpoint and
// reads their current state (after every connect: Asterisk may have
// restarted). It takes three requests however many agents there are: the
// application's subscriptions (kept by Asterisk across app restarts), one
// subscription for the endpoints missing from it, and GET /endpoints. A new
// active process is blind until this is done, so it must be quick.
//
// An endpoint Asterisk does not know is offline. When Asterisk fails to
// answer, the states stay as they were: marking every agent offline on a
// REST timeout would leave callers waiting with agents at their desks.
func (s *Agents) refreshEndpoints(ctx context.Context, a *App) {
	s.mu.Lock()
	eps := map[string]bool{}
	for _, ag := range s.order {
		eps[ag.endpoint] = true
	}
	s.mu.Unlock()
	var want []string
	for ep := range eps {
		tech, _, ok := strings.Cut(ep, "/")
		switch {
		case !ok:
		case strings.EqualFold(tech, "Local"):
			// Local channels have no endpoint state in Asterisk: a Local
			// "phone" is reachable whenever its dialplan is.
			s.endpointState(ep, "online")
		default:
			want = append(want, ep)
		}
	}
	if len(want) == 0 {
		return
	}
	slices.Sort(want)
	var app struct {
		EndpointIDs []string `json:"endpoint_ids"`
	}
	if err := a.getJSON(ctx, "/applications/"+url.PathEscape(a.cfg.Application), &app); err != nil {
		a.log.Warn("cannot read the application's subscriptions; agent endpoint states stay as they were", "err", err)
		return
	}
	var missing []string
	for _, ep := range want {
		if !slices.ContainsFunc(app.EndpointIDs, func(id string) bool { return strings.EqualFold(id, ep) }) {
			missing = append(missing, "endpoint:"+ep)
		}
	}
	if len(missing) > 0 {
		if err := a.subscribe(ctx, missing); err != nil && statusOf(err) == http.StatusUnprocessableEntity && len(missing) > 1 {
			// One of them does not exist, and Asterisk then subscribes none:
			// one by one, so the others are followed.
			for _, src := range missing {
				if err := a.subscribe(ctx, []string{src}); err != nil {
					a.log.Warn("cannot follow agent endpoint", "endpoint", strings.TrimPrefix(src, "endpoint:"), "err", err)
				}
			}
		} else if err != nil {
			a.log.Warn("cannot follow agent endpoints", "endpoints", len(missing), "err", err)
		}
	}
	var list []struct {
		Technology string `json:"technology"`
		Resource   string `json:"resource"`
		State      string `json:"state"`
	}
	if err := a.getJSON(ctx, "/endpoints", &list); err != nil {
		a.log.Warn("cannot read agent endpoint states; they stay as they were", "err", err)
		return
	}
	states := make(map[string]string, len(list))
	for _, e := range list {
		states[strings.ToLower(e.Technology+"/"+e.Resource)] = e.State
	}
	for _, ep := range want {
		st, ok := states[strings.ToLower(ep)]
		if !ok {
			a.log.Warn("agent endpoint unknown to Asterisk; treating it as offline", "endpoint", ep)
			st = "offline"
		}
		s.endpointState(ep, st)
	}
}

// enqueue adds a call to the waiting line and offers it agents.
func (s *Agents) enqueue(c *queueCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.ws.waiting = true
	i := sort.Search(len(s.waiting), func(i int) bool { return s.waiting[i].entry.After(c.entry) })
	s.waiting = slices.Insert(s.waiting, i, c)
	if !c.predicted && !c.adopted {
		// The wait expected at entry, kept in the call record: the callers
		// ahead in the line that nobody is being rung for.
		ahead := 0
		for _, o := range s.waiting[:i] {
			if o.q.Name == c.q.Name && o.ws.ringing == 0 {
				ahead++
			}
		}
		c.predicted = true
		c.predictedWait = s.expectedLocked(c.q.Name, ahead)
	}
	s.dispatchLocked()
}

// expectedLocked is the wait expected with ahead callers in queue's line
// before one; negative when no agent serves the queue.
func (s *Agents) expectedLocked(queue string, ahead int) time.Duration {
	counts := map[string]int{}
	for _, id := range s.queues[queue].Agents {
		counts[s.byID[id].state()]++
	}
	return s.expectedFrom(queue, ahead, counts)
}

// expectedFrom is expectedLocked from the queue's agents counted by state.
func (s *Agents) expectedFrom(queue string, ahead int, counts map[string]int) time.Duration {
	est := s.est[queue]
	if est == nil {
		return -1
	}
	free := counts[StateAvailable]
	return est.Wait(ahead, free+counts[StateRinging]+counts[StateOnCall], free)
}

// QueueRates are what a queue's recent calls measured and who serves it now,
// for staffing advice.
type QueueRates struct {
	Handle   time.Duration // mean occupancy per call, ringing to free
	Patience time.Duration // 1/θ̂ from censored waits
	Ring     []float64     // ring-time samples, seconds
	Staffed  int           // agents logged in, not paused, online (free or busy)
}

// Rates reports queue's rates; false for a queue that is not configured.
func (s *Agents) Rates(queue string) (QueueRates, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	est := s.est[queue]
	if est == nil {
		return QueueRates{}, false
	}
	r := QueueRates{Handle: est.Handle(), Ring: est.RingSamples(20)}
	if th := est.AbandonRate(); th > 0 {
		r.Patience = time.Duration(float64(time.Second) / th)
	}
	for _, id := range s.queues[queue].Agents {
		switch s.byID[id].state() {
		case StateAvailable, StateRinging, StateOnCall:
			r.Staffed++
		}
	}
	return r, true
}

// left feeds queue's predictor a caller who stopped waiting after wait:
// answered, or not (hung up, took a callback).
func (s *Agents) left(queue string, wait time.Duration, abandoned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if est := s.est[queue]; est != nil {
		est.Left(wait, abandoned)
	}
}

// occupied feeds the predictor of c's queue the agent's time on c so far:
// from being rung to now.
func (s *Agents) occupiedLocked(a *agent, c *queueCall) {
	if est := s.est[c.q.Name]; est != nil && !a.rungAt.IsZero() {
		est.Occupied(s.clock.Now().Sub(a.rungAt))
	}
	a.rungAt = time.Time{}
}

// dequeue removes a call from the waiting line (answered or gone).
func (s *Agents) dequeue(c *queueCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dequeueLocked(c)
}

func (s *Agents) dequeueLocked(c *queueCall) {
	c.ws.waiting = false
	if i := slices.Index(s.waiting, c); i >= 0 {
		s.waiting = slices.Delete(s.waiting, i, i+1)
	}
}

// ringEnded releases an agent who was rung for c and did not take it; the
// agent is not rung for c again for skip (0: at once). declined: the phone
// rang and the agent did not answer (not a ring Asterisk failed to make).
func (s *Agents) ringEnded(id string, c *queueCall, skip time.Duration, declined bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[id]
	if a == nil || a.ringing != c {
		return
	}
	a.ringing = nil
	c.ws.ringing--
	if skip > 0 {
		if c.ws.skipped == nil {
			c.ws.skipped = map[string]time.Time{}
		}
		c.ws.skipped[id] = s.clock.Now().Add(skip)
		// Offer the agent again the moment the skip ends, on callmon's clock.
		s.clock.AfterFunc(skip, s.dispatch)
	}
	if declined {
		if c.ws.declined == nil {
			c.ws.declined = map[string]bool{}
		}
		c.ws.declined[id] = true
	}
	s.dispatchLocked()
}

// adoptRinging marks an available agent as being rung for c, which a
// previous process started; it reports false if the agent is not free.
func (s *Agents) adoptRinging(id string, c *queueCall) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[id]
	if a == nil || a.ringing != nil || a.onCall != nil || a.callback != nil {
		return false
	}
	a.ringing = c
	c.ws.ringing++
	s.publishLocked()
	return true
}

// connected marks the agent as on a call with c; the call stops waiting.
func (s *Agents) connected(id string, c *queueCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[id]
	if a.ringing == c {
		a.ringing = nil
		c.ws.ringing--
	}
	a.onCall = c
	if est := s.est[c.q.Name]; est != nil && !a.rungAt.IsZero() {
		est.Rang(s.clock.Now().Sub(a.rungAt))
	}
	s.dequeueLocked(c)
	s.dispatchLocked()
}

// hungUp ends the agent's call; the agent becomes idle from now.
func (s *Agents) hungUp(id string, c *queueCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[id]
	if a == nil || a.onCall != c {
		return
	}
	s.occupiedLocked(a, c)
	a.onCall = nil
	a.idleSince = s.clock.Now()
	s.dispatchLocked()
}

// finished forgets a call whose flow has ended: it leaves the waiting line
// and every agent still marked as ringing for it or talking to it is freed.
func (s *Agents) finished(c *queueCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dequeueLocked(c)
	rang := false
	for _, a := range s.order {
		if a.ringing == c {
			if !rang && c.talking == nil {
				// The caller hung up while this phone rang: the agent was
				// taken for the ring (once per call, also under ring-all).
				rang = true
				s.occupiedLocked(a, c)
			}
			a.ringing = nil
		}
		if a.onCall == c {
			s.occupiedLocked(a, c)
			a.onCall = nil
			a.idleSince = s.clock.Now()
		}
	}
	c.ws.ringing = 0
	s.dispatchLocked()
}

// loggedIn is the number of agents of queue who are logged in.
func (s *Agents) loggedIn(queue string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range s.queues[queue].Agents {
		if s.byID[id].loggedIn {
			n++
		}
	}
	return n
}

func (s *Agents) dispatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dispatchLocked()
}

// dispatchLocked offers available agents to waiting calls, oldest first.
// A call being rung gets no more agents until those rings end.
func (s *Agents) dispatchLocked() {
	if s.held > 0 {
		s.publishLocked()
		return
	}
	now := s.clock.Now()
	eligible, offered := map[*agent]bool{}, map[*agent]bool{}
	defer func() {
		// The dispatch delay: from when an agent could have been rung for a
		// caller nobody rang to when callmon rang them (0 when at once).
		for _, a := range s.order {
			switch {
			case offered[a]:
				if a.eligibleSince.IsZero() {
					a.eligibleSince = now
				}
				s.m.RingDelay(now.Sub(a.eligibleSince))
				a.eligibleSince = time.Time{}
			case a.ringing == nil && eligible[a]:
				if a.eligibleSince.IsZero() {
					a.eligibleSince = now
				}
			case !a.eligibleSince.IsZero():
				// The caller went (hung up, answered elsewhere) before this
				// agent was rung: they idled all that time.
				s.m.RingDelay(now.Sub(a.eligibleSince))
				a.eligibleSince = time.Time{}
			}
		}
	}()
	for _, c := range s.waiting {
		if c.ws.ringing > 0 {
			continue
		}
		q := s.queues[c.q.Name]
		var cands, possible []*agent
		for _, id := range q.Agents {
			a := s.byID[id]
			if a.state() != StateAvailable {
				continue
			}
			if !c.ws.declined[id] {
				possible = append(possible, a)
			}
			if until, ok := c.ws.skipped[id]; ok && now.Before(until) {
				continue
			}
			cands = append(cands, a)
		}
		if len(cands) == 0 {
			// Nobody rings for this caller although these agents could take
			// them (a failed ring keeps them skipped for a moment): they idle
			// while the caller waits, which the dispatch delay shows.
			for _, a := range possible {
				eligible[a] = true
			}
			continue
		}
		if c.q.Strategy != StrategyRingAll { // the call's own: a reload applies to new calls
			// Longest idle first; config order breaks ties.
			best := cands[0]
			for _, a := range cands[1:] {
				if a.idleSince.Before(best.idleSince) {
					best = a
				}
			}
			cands = []*agent{best}
		}
		offer := offerMsg{}
		for _, a := range cands {
			offer.agents = append(offer.agents, Agent{ID: a.id, Name: a.name, Endpoint: a.endpoint})
		}
		if !c.mb.post(offer) {
			continue // the call's flow has ended; finished() removes it
		}
		for _, a := range cands {
			a.ringing = c
			a.rungAt = now
			offered[a] = true
		}
		c.ws.ringing += len(cands)
	}
	clear(s.line)
	for _, c := range s.waiting {
		if c.ws.ringing == 0 {
			s.line[c.q.Name]++
		}
	}
	s.publishLocked()
}

// publishLocked exports agent counts per queue and state.
func (s *Agents) publishLocked() {
	for name, q := range s.queues {
		counts := map[string]int{}
		for _, id := range q.Agents {
			counts[s.byID[id].state()]++
		}
		s.m.SetAgents(name, counts)
		s.m.SetExpectedWait(name, s.expectedFrom(name, s.line[name], counts)) // the counts just made
	}
}

// offerMsg tells a call which agents to ring.
type offerMsg struct{ agents []Agent }

// callbackSkipFor is how long an agent who did not take an automatic
// callback (no answer, busy, unreachable, hung up during the announcement)
// is not rung for another one. Queue calls still ring them.
const callbackSkipFor = 2 * time.Minute

// callbackCandidateLocked reports whether a can be rung for an automatic
// callback at now.
func (a *agent) callbackCandidateLocked(now time.Time) bool {
	return a.state() == StateAvailable && !now.Before(a.callbackSkip)
}

// callbackAvailable is the number of agents of queue who could be rung for
// an automatic callback now.
func (s *Agents) callbackAvailable(queue string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	n := 0
	for _, id := range s.queues[queue].Agents {
		if s.byID[id].callbackCandidateLocked(now) {
			n++
		}
	}
	return n
}

// reserveCallback takes an agent of queue for the automatic callback d:
// prefer when that agent (of any queue) can be rung, else the agent of the
// queue idle longest (config order breaks ties). ok is false when nobody
// can be rung. The agent shows as ringing until callbackAnswered.
func (s *Agents) reserveCallback(queue, prefer string, d *dialCall) (Agent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	best := s.byID[prefer]
	if best != nil && !best.callbackCandidateLocked(now) {
		best = nil
	}
	if best == nil {
		for _, id := range s.queues[queue].Agents {
			a := s.byID[id]
			if a.callbackCandidateLocked(now) && (best == nil || a.idleSince.Before(best.idleSince)) {
				best = a
			}
		}
	}
	if best == nil {
		return Agent{}, false
	}
	best.callback, best.callbackUp = d, false
	s.publishLocked()
	return Agent{ID: best.id, Name: best.name, Endpoint: best.endpoint}, true
}

// callbackAnswered marks the agent reserved for d as on a call.
func (s *Agents) callbackAnswered(id string, d *dialCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byID[id]; a != nil && a.callback == d {
		a.callbackUp = true
		s.publishLocked()
	}
}

// releaseCallback frees the agent reserved for d. After a conversation the
// agent is idle from now; skip keeps them from automatic callbacks for
// callbackSkipFor.
func (s *Agents) releaseCallback(id string, d *dialCall, skip bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[id]
	if a == nil || a.callback != d {
		return
	}
	now := s.clock.Now()
	if a.callbackUp {
		a.idleSince = now
	}
	a.callback, a.callbackUp = nil, false
	if skip {
		a.callbackSkip = now.Add(callbackSkipFor)
	}
	s.dispatchLocked()
}
