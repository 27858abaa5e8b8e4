package ari

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"

	"callmon/metrics"
)

// Clock is the time source for decisions that are not measurements (opening
// hours, live service level, skip expiry). Measurements use Asterisk's
// timestamps.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f after d of this clock's time; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Queue is one queue's routing configuration.
type Queue struct {
	Name          string
	Numbers       []string // dialled numbers (national form) that reach this queue
	Strategy      string   // "longest-idle" or "ring-all"
	RingTimeout   time.Duration
	Threshold     time.Duration // service-level threshold (default 30s)
	ShortAbandon  time.Duration // abandons within this are short (0: 5s; negative: none)
	MOHClass      string
	WelcomePrompt string // media URI played once before music on hold; empty for none
	ClosedPrompt  string // media URI played to callers outside opening hours
	Agents        []string
	// CallbackOfferAfter is the wait after which the caller is offered a
	// callback (0: 60 s; negative: only when no agent is logged in or the
	// queue is closed). Offers need Config.Callbacks.
	CallbackOfferAfter time.Duration
	// AnnounceEvery: the caller hears their position and expected wait at
	// entry and then this often (0: never). AnnounceErrorLimit: the wait is
	// told only while the predictor's recent p80 error is within it (0: 2m).
	AnnounceEvery, AnnounceErrorLimit time.Duration
	// CallbackOfferExpected: offer the callback at once when the expected
	// wait exceeds this, at entry or at an announcement (0: never).
	CallbackOfferExpected time.Duration
}

// CallRecord is one finished call as callmon measured it; with Stage set it
// is a journal entry of a call still in progress (Config.Journal).
type CallRecord struct {
	ChannelID       string // the caller's Asterisk channel id; with Queue, unique per visit
	Queue           string
	Kind            string // "queue" or "direct"
	CallerNumber    string
	Entry           time.Time // StasisStart
	Answered        time.Time // agent Up and bridged; zero if not answered
	Ended           time.Time
	WaitMS          int64 // entry → answer, or entry → end of the wait
	Outcome         string
	WithinThreshold bool
	Threshold       time.Duration
	Agent           string

	// Stage is "" for a finished call, StageEntered or StageAnswered for a
	// journal entry.
	Stage string
	// EntryEstimated: no process saved the StasisStart before it died; Entry
	// is the channel's creationtime.
	EntryEstimated bool
	// AnswerEstimated: the agent answered while no process was connected;
	// Answered is when callmon learnt of it.
	AnswerEstimated bool
	// EndUnobserved: the call ended while no process was connected; Ended
	// is when callmon learnt of it.
	EndUnobserved bool
	// Adopted: a process other than the one that saw the call enter carried it on.
	Adopted bool
	// Predicted: callmon predicted the caller's wait when they entered the
	// queue (package predict), PredictedWait.
	Predicted     bool
	PredictedWait time.Duration
}

// Journal stages (CallRecord.Stage).
const (
	StageEntered  = "entered"
	StageAnswered = "answered"
)

// Agent is one contact-centre agent.
type Agent struct {
	ID, Name string
	Endpoint string // e.g. PJSIP/1001
}

// Config is what the App needs; cmd builds it from the configuration file.
type Config struct {
	URL          string // ARI base, e.g. http://127.0.0.1:8088/ari
	WebsocketURL string // e.g. ws://127.0.0.1:8088/ari/events; derived from URL when empty
	User         string
	Password     string
	Application  string
	// TLS is used for https and wss URLs (a private CA); nil: Go's defaults.
	TLS    *tls.Config
	Queues []Queue
	Agents []Agent
	// Location is the contact centre's time zone (callback times read back).
	Location *time.Location
	// Open reports whether the contact centre is open at t (calendar).
	Open    func(t time.Time) bool
	Clock   Clock
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Employees are reached on direct numbers (Stasis(callmon,direct,<n>)).
	Employees []Employee
	// Voicemail, if set, takes messages for employees who do not answer.
	Voicemail Voicemail
	// Callbacks, if set, lets callers agree a callback (DESIGN §4.1 step 4).
	Callbacks Callbacks
	// Record, if set, receives every finished call; it must not block.
	Record func(CallRecord)
	// Journal, if set, receives each call's entry and answer as they happen
	// (CallRecord.Stage set), on the call's own goroutine before the call goes
	// on; it should return once an entry is durable (briefly bounded), so a
	// process killed right afterwards leaves it to the next, and at once for
	// an answer (queued in order behind the entry): the call's next event,
	// a hang-up, must not wait for a commit. It is what a process that takes
	// over cannot ask Asterisk: when the wait began, and when it ended.
	Journal func(CallRecord)
	// LiveCalls, if set, returns the journal of calls entered and not
	// finished, for adopting them at start (adopt.go).
	LiveCalls func(ctx context.Context) ([]CallRecord, error)
	// MaxConns bounds REST connections to Asterisk (keep below http.conf sessionlimit).
	MaxConns int
	// RESTIdleTimeout is how long an idle REST connection is kept (0: 10 s,
	// below Asterisk's session_keep_alive).
	RESTIdleTimeout time.Duration
	// RESTTimeout bounds one REST request (0: 15 s).
	RESTTimeout time.Duration
	// Standby makes Start leave the App standing by: it drives calls only
	// between Activate and Deactivate (term.go).
	Standby bool
	// Fence, if set, is asked before every REST request; false refuses it
	// (ErrNotActive): this process may no longer hold the lease.
	Fence func() bool
	// OutboundEndpoint is how DialCallback reaches customers: an endpoint
	// with {number} in it, replaced by the E.164 number, e.g.
	// PJSIP/{number}@pstn. Empty: DialCallback is refused.
	OutboundEndpoint string
	// Presence, if set, keeps agents' presence beyond this process: it is
	// loaded by Start before any call is routed, every change is written,
	// and changes by other processes are applied. Nil: memory only.
	Presence PresenceStore
	// PresenceRetry is the wait between attempts to write presence while
	// the store fails (DefaultPresenceRetry); PresencePoll the interval of
	// the re-read that backs up the store's notifications
	// (DefaultPresencePoll).
	PresenceRetry, PresencePoll time.Duration
}

// App is the ARI application: intake, dispatch table and call flows.
type App struct {
	cfg    Config
	rest   *native.Client
	log    *slog.Logger
	m      *metrics.Metrics
	clock  Clock
	qmu    sync.RWMutex      // guards queues, swapped whole by SetQueues
	queues map[string]*Queue // read once per call, at entry
	agents *Agents
	in     *intake

	mu       sync.Mutex
	routes   map[string]flow        // channel, bridge and playback ids → their flow
	calls    map[string]*queueCall  // by caller channel id
	dials    map[string]*dialCall   // automatic callbacks, by their id
	directs  map[string]*directCall // direct-dial calls, by caller channel id
	pairs    map[string]*pairCall   // adopted callbacks in conversation, by bridge id
	dialSeq  int
	stopped  bool
	inactive bool // between terms (Config.Standby): no flow starts
	janitor  janitor

	root  context.Context // Start's, parent of every term
	term  term
	fence *fence
	flows sync.WaitGroup // the call flows' goroutines

	wg     sync.WaitGroup
	cancel context.CancelFunc
	stop   sync.Once
}

// New validates cfg and builds the App; it does not connect.
func New(cfg Config) (*App, error) {
	if cfg.URL == "" || cfg.Application == "" {
		return nil, errors.New("ari: URL and Application are required")
	}
	if cfg.Metrics == nil || cfg.Clock == nil || cfg.Open == nil {
		return nil, errors.New("ari: Metrics, Clock and Open are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.WebsocketURL == "" {
		ws := strings.Replace(strings.TrimSuffix(cfg.URL, "/"), "http", "ws", 1)
		cfg.WebsocketURL = ws + "/events"
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 64
	}
	fc := &fence{valid: cfg.Fence, standby: cfg.Standby}
	rest, err := newREST(cfg.URL, cfg.User, cfg.Password, cfg.Application, cfg.MaxConns, cfg.RESTIdleTimeout, cfg.RESTTimeout, cfg.TLS, fc)
	if err != nil {
		return nil, err
	}
	a := &App{
		fence:   fc,
		cfg:     cfg,
		rest:    rest,
		log:     cfg.Log,
		m:       cfg.Metrics,
		clock:   cfg.Clock,
		queues:  map[string]*Queue{},
		routes:  map[string]flow{},
		calls:   map[string]*queueCall{},
		dials:   map[string]*dialCall{},
		directs: map[string]*directCall{},
		pairs:   map[string]*pairCall{},
	}
	for i := range cfg.Queues {
		q := &cfg.Queues[i]
		if err := q.applyDefaults(); err != nil {
			return nil, err
		}
		a.queues[q.Name] = q
	}
	a.agents, err = newAgents(cfg.Agents, cfg.Queues, cfg.Clock, cfg.Log, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	if cfg.Presence != nil {
		a.agents.ps = newPresenceSync(a.agents, cfg.Presence, cfg.PresenceRetry, cfg.PresencePoll)
	}
	a.in = &intake{
		wsURL:     cfg.WebsocketURL + "?app=" + cfg.Application,
		user:      cfg.User,
		password:  cfg.Password,
		tls:       cfg.TLS,
		clock:     cfg.Clock,
		log:       cfg.Log,
		m:         cfg.Metrics,
		onConnect: a.resync,
		dispatch:  a.dispatch,
		early:     earlyFrame,
		logged:    map[string]bool{},
	}
	cfg.Metrics.SetQueueDepth(a.backlog)
	return a, nil
}

// applyDefaults fills in the zero settings of q and checks it.
func (q *Queue) applyDefaults() error {
	if q.Strategy == "" {
		q.Strategy = StrategyLongestIdle
	}
	if q.RingTimeout <= 0 {
		q.RingTimeout = 15 * time.Second
	}
	if q.Threshold <= 0 {
		q.Threshold = 30 * time.Second
	}
	if q.ShortAbandon == 0 {
		q.ShortAbandon = 5 * time.Second // as package metrics: zero means the default
	}
	if q.ShortAbandon > q.Threshold {
		return fmt.Errorf("ari: queue %q: short abandon %v exceeds the threshold %v", q.Name, q.ShortAbandon, q.Threshold)
	}
	if q.CallbackOfferAfter == 0 {
		q.CallbackOfferAfter = time.Minute
	}
	if q.MOHClass == "" {
		q.MOHClass = "default"
	}
	if q.AnnounceErrorLimit <= 0 {
		q.AnnounceErrorLimit = 2 * time.Minute
	}
	return nil
}

// SetQueues replaces the settings of the configured queues (a reload). A
// call reads its queue once, when it enters: calls in progress keep the
// settings they started with, new calls get these. The set of queue names
// and their agents cannot change: agents' membership is built once.
func (a *App) SetQueues(qs []Queue) error {
	next := make(map[string]*Queue, len(qs))
	for i := range qs {
		q := qs[i] // a copy: the caller's slice stays theirs
		if err := q.applyDefaults(); err != nil {
			return err
		}
		next[q.Name] = &q
	}
	a.qmu.Lock()
	defer a.qmu.Unlock()
	if len(next) != len(a.queues) {
		return errors.New("ari: SetQueues cannot add or remove queues")
	}
	for name, q := range a.queues {
		n := next[name]
		if n == nil {
			return fmt.Errorf("ari: SetQueues cannot remove queue %q", name)
		}
		if !slices.Equal(n.Agents, q.Agents) {
			return fmt.Errorf("ari: SetQueues cannot change the agents of queue %q", name)
		}
	}
	a.queues = next
	return nil
}

// queue is the current settings of the queue named name, nil if none.
func (a *App) queue(name string) *Queue {
	a.qmu.RLock()
	defer a.qmu.RUnlock()
	return a.queues[name]
}

// REST is the ARI REST client, for packages that talk to Asterisk on
// callmon's behalf (voicemail).
func (a *App) REST() *native.Client { return a.rest }

// Agents gives access to presence (login, pause) for the HTTP API.
func (a *App) Agents() *Agents { return a.agents }

// Start loads the stored presence (with a PresenceStore; an error then
// stops it), then connects to Asterisk in the background.
func (a *App) Start(ctx context.Context) error {
	if ps := a.agents.ps; ps != nil {
		if err := ps.load(ctx); err != nil {
			return fmt.Errorf("loading agent presence: %w", err)
		}
	}
	ctx, a.cancel = context.WithCancel(ctx)
	if ps := a.agents.ps; ps != nil {
		ps.start(ctx)
	}
	a.mu.Lock()
	a.root = ctx
	a.mu.Unlock()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.tick(ctx) }()
	if !a.cfg.Standby {
		a.Activate()
	}
	return nil
}

// Stop disconnects and waits for the App's goroutines. Calls in progress are
// left to Asterisk (the dialplan fallback after Stasis() does not apply to
// them); their flows stop.
func (a *App) Stop() {
	a.stop.Do(func() {
		if a.cancel != nil {
			a.cancel()
		}
		a.mu.Lock()
		a.stopped = true
		for _, c := range a.calls {
			c.mb.close()
		}
		for _, d := range a.dials {
			d.mb.close()
		}
		for _, d := range a.directs {
			d.mb.close()
		}
		for _, p := range a.pairs {
			p.mb.close()
		}
		a.mu.Unlock()
		a.wg.Wait()
		if ps := a.agents.ps; ps != nil {
			// After the flows: a change made until now is written.
			ps.stop()
		}
	})
}

// retryRing is how soon an agent whose ring failed in Asterisk (a REST
// error, not a phone that did not answer) is rung again, and how often
// waiting calls are offered agents whose skip ran out: no agent stays idle
// much longer than this while callers wait.
const retryRing = 250 * time.Millisecond

// tick retries waiting calls whose skipped agents may be rung again.
func (a *App) tick(ctx context.Context) {
	t := time.NewTicker(retryRing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.agents.dispatch()
			a.sweep()
		}
	}
}

// backlog is the number of events and messages waiting in call mailboxes.
func (a *App) backlog() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		n += c.mb.len()
	}
	for _, d := range a.dials {
		n += d.mb.len()
	}
	for _, d := range a.directs {
		n += d.mb.len()
	}
	return n
}

// dispatch routes one decoded event. It runs on the intake goroutine and
// must never block: it only appends to a mailbox.
func (a *App) dispatch(ev ari.Event) {
	var id string
	switch e := ev.(type) {
	case *ari.StasisStart:
		a.stasisStart(e)
		return
	case *ari.EndpointStateChange:
		a.agents.endpointState(e.Endpoint.Technology+"/"+e.Endpoint.Resource, e.Endpoint.State)
		return
	case *ari.Dial:
		id = e.Peer.ID
	case *ari.ChannelStateChange:
		id = e.Channel.ID
	case *ari.ChannelHangupRequest:
		id = e.Channel.ID
	case *ari.ChannelDestroyed:
		id = e.Channel.ID
	case *ari.StasisEnd:
		id = e.Channel.ID
	case *ari.ChannelEnteredBridge:
		id = e.Channel.ID
	case *ari.ChannelLeftBridge:
		id = e.Channel.ID
	case *ari.ChannelDtmfReceived:
		id = e.Channel.ID
	case *ari.PlaybackStarted:
		id = e.Playback.ID
	case *ari.PlaybackFinished:
		id = e.Playback.ID
	case *ari.RecordingStarted:
		id = e.Recording.Name
	case *ari.RecordingFinished:
		id = e.Recording.Name
	case *ari.RecordingFailed:
		id = e.Recording.Name
	case *ari.ChannelVarset:
		if e.Variable != VoicemailStatusVar {
			return
		}
		id = e.Channel.ID
	default:
		// Varsets, dialplan steps, caller-id and connected-line updates,
		// bridge lifecycle: nothing in the flows depends on them.
		return
	}
	a.mu.Lock()
	f := a.routes[id]
	a.mu.Unlock()
	if f != nil {
		f.inbox().post(ev)
	}
}

// flow is a call flow with its own mailbox and goroutine: a queue call
// (queuecall.go) or an automatic callback (dial.go).
type flow interface{ inbox() *mailbox }

func (c *queueCall) inbox() *mailbox { return &c.mb }

func (a *App) stasisStart(e *ari.StasisStart) {
	id := e.Channel.ID
	a.mu.Lock()
	f := a.routes[id]
	a.mu.Unlock()
	if f != nil {
		f.inbox().post(e)
		return
	}
	if len(e.Args) >= 1 && (e.Args[0] == "agent" || e.Args[0] == appArgsCallback) {
		// An agent (or callback) leg of a call callmon no longer tracks (it
		// ended, or callmon restarted): nobody is waiting for it.
		a.log.Info("hanging up agent channel of a finished call", "channel", id)
		go a.hangup(id)
		return
	}
	if emp, isDirect := a.directFor(e); isDirect {
		if emp != nil {
			a.startDirect(e, emp)
			return
		}
		a.log.Info("direct call to a number no employee has; to the general queue", "channel", id)
		caller := CallerInfo{}
		if cl := e.Channel.Caller; cl != nil {
			caller = CallerInfo{Name: cl.Name, Number: cl.Number}
		}
		a.transferToQueue(id, caller, time.Time(e.Timestamp), promptUnknownNumber)
		return
	}
	q := a.queueFor(e)
	if q == nil {
		a.log.Warn("call for no configured queue (check the Stasis() arguments in the dialplan); hanging up",
			"channel", id, "args", strings.Join(e.Args, ","))
		go a.hangup(id)
		return
	}
	a.startQueueCall(newQueueCall(a, q, e), e)
}

// startQueueCall registers c and runs its flow, unless the App is stopping.
func (a *App) startQueueCall(c *queueCall, first any) {
	c.mb.post(first)
	a.spawnCall(c, func() bool {
		a.calls[c.id] = c
		a.routes[c.id] = c
		return true
	})
}

// spawnCall is spawn for a queue call, which has a goroutine only while it
// has messages (queueCall.drain); its finish ends its part in a.wg and
// a.flows.
func (a *App) spawnCall(c *queueCall, register func() bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped || a.inactive || !register() {
		return false
	}
	a.wg.Add(1)
	a.flows.Add(1)
	c.mb.start(c)
	return true
}

// spawn registers a flow (register runs under a.mu and may decline) and
// starts its goroutine, both only if Stop has not begun: a flow registered
// after Stop closed the mailboxes would wait on its own for ever, and wg.Add
// racing wg.Wait is a misuse of the WaitGroup. It reports whether the flow
// started.
func (a *App) spawn(register func() bool, run func()) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped || a.inactive || !register() {
		return false
	}
	a.wg.Add(1)
	a.flows.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.flows.Done()
		run()
	}()
	return true
}

// queueFor picks the queue from Stasis(callmon,queue,<name>), falling back to
// the queue configured for the dialled number.
func (a *App) queueFor(e *ari.StasisStart) *Queue {
	if len(e.Args) >= 2 && e.Args[0] == "queue" {
		return a.queue(e.Args[1])
	}
	a.qmu.RLock()
	defer a.qmu.RUnlock()
	if len(e.Args) == 0 && e.Channel.Dialplan != nil {
		// Stasis(callmon) without arguments: route by the dialled number.
		for _, q := range a.queues {
			if slices.Contains(q.Numbers, e.Channel.Dialplan.Exten) {
				return q
			}
		}
	}
	return nil
}

func (a *App) route(id string, f flow) {
	a.mu.Lock()
	a.routes[id] = f
	a.mu.Unlock()
}

func (a *App) unroute(ids ...string) {
	a.mu.Lock()
	for _, id := range ids {
		delete(a.routes, id)
	}
	a.mu.Unlock()
}

// finished drops a call from the tables once its flow is over.
func (a *App) finished(c *queueCall) {
	a.forget(c, func() { delete(a.calls, c.id) })
}

// forget removes a flow whose run has ended: drop takes it out of its table
// (under a.mu) and every route to it goes.
func (a *App) forget(f flow, drop func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	drop()
	for id, rf := range a.routes {
		if rf == f {
			delete(a.routes, id)
		}
	}
}

// Calls is the number of calls callmon currently tracks.
func (a *App) Calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// resync rebuilds callmon's view after every connect, the first one too: a
// previous process may have left calls (adopt.go).
//
// New callers are served meanwhile (earlyFrame), but no agent is offered a
// call until it is done: an agent may be in a conversation not adopted yet.
func (a *App) resync(ctx context.Context, reconnect bool) {
	a.agents.holdOffers()
	defer a.agents.releaseOffers()
	begin := time.Now()
	a.agents.refreshEndpoints(ctx, a)
	// Until the inventory is taken, calls a previous process left have no driver (a caller
	// can be alone in a bridge after their agent left): it is tried again on this
	// connection, not left to a next connect that may never come.
	wait := adoptRetryFirst
	for attempt := 1; ; attempt++ {
		if n, ok := a.adopt(ctx); ok {
			// How long a takeover or reconnect left calls without a driver (the chaos test
			// reads it too).
			a.log.Info("view of Asterisk rebuilt", "reconnect", reconnect, "callers", n, "attempts", attempt,
				"took", time.Since(begin).Round(time.Millisecond))
			return
		}
		if !a.sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, adoptRetryMax)
	}
}

// Pauses between attempts to take Asterisk's inventory after a connect.
const (
	adoptRetryFirst = 250 * time.Millisecond
	adoptRetryMax   = 2 * time.Second
)

// sleep waits d on the App's clock; false if ctx ended first.
func (a *App) sleep(ctx context.Context, d time.Duration) bool {
	done := make(chan struct{})
	stop := a.clock.AfterFunc(d, func() { close(done) })
	defer stop()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// earlyFrame picks the frames handled while the view is rebuilt after a
// connect: a new caller's StasisStart. An agent or callback leg's waits for
// the rebuild, which may adopt the call it belongs to.
func earlyFrame(data []byte) bool {
	var head struct {
		Type string   `json:"type"`
		Args []string `json:"args"`
	}
	if json.Unmarshal(data, &head) != nil || head.Type != "StasisStart" {
		return false
	}
	return len(head.Args) == 0 || (head.Args[0] != "agent" && head.Args[0] != appArgsCallback)
}

// hangup hangs a channel up. When Asterisk fails, the janitor tries again:
// a leg left up would ring or talk to nobody.
func (a *App) hangup(id string) {
	if err := a.rest.Channel().Hangup(ari.NewKey(ari.ChannelKey, id), "normal"); err != nil && !gone(err) {
		a.log.Warn("hangup failed; trying again", "channel", id, "err", err)
		a.janitor.add(janitorChannel, id)
	}
}

// deleteBridge deletes one of callmon's bridges. When Asterisk fails, the
// janitor tries again: a bridge left behind holds its channels' media.
func (a *App) deleteBridge(id string) {
	if err := a.rest.Bridge().Delete(ari.NewKey(ari.BridgeKey, id)); err != nil && !gone(err) {
		a.log.Warn("deleting bridge failed; trying again", "bridge", id, "err", err)
		a.janitor.add(janitorBridge, id)
	}
}

// janitor holds hang-ups and bridge deletions Asterisk failed, for the
// App's tick to try again until they succeed (or the object is gone).
type janitor struct {
	mu    sync.Mutex
	tries map[[2]string]int
}

const (
	janitorChannel = "channel"
	janitorBridge  = "bridge"
	// janitorGiveUp: tries (one per tick) before a cleanup is given up.
	janitorGiveUp = 1200
)

func (j *janitor) add(kind, id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.tries == nil {
		j.tries = map[[2]string]int{}
	}
	if _, ok := j.tries[[2]string{kind, id}]; !ok {
		j.tries[[2]string{kind, id}] = 0
	}
}

// sweep tries every pending cleanup once.
func (a *App) sweep() {
	a.janitor.mu.Lock()
	var todo [][2]string
	for k := range a.janitor.tries {
		todo = append(todo, k)
	}
	a.janitor.mu.Unlock()
	for _, k := range todo {
		var err error
		if k[0] == janitorChannel {
			err = a.rest.Channel().Hangup(ari.NewKey(ari.ChannelKey, k[1]), "normal")
		} else {
			err = a.rest.Bridge().Delete(ari.NewKey(ari.BridgeKey, k[1]))
		}
		a.janitor.mu.Lock()
		switch {
		case err == nil || gone(err):
			delete(a.janitor.tries, k)
		case a.janitor.tries[k] >= janitorGiveUp:
			a.log.Error("cleanup given up: Asterisk keeps failing it", "kind", k[0], "id", k[1], "err", err)
			delete(a.janitor.tries, k)
		default:
			a.janitor.tries[k]++
		}
		a.janitor.mu.Unlock()
	}
}

// idPrefix marks every id callmon chooses (bridges, agent channels, playbacks).
const idPrefix = "cm-"
