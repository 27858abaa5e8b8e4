// Package web delivers callback tasks to agents over HTTP: a JSON API under
// /api/tasks, and a plain server-rendered page per agent, /agent/{id}, that
// updates itself with server-sent events when a task changes.
//
// It owns authentication and authorisation of agents and supervisors, the
// validation of what they send (numbers, times inside opening hours) and the
// fan-out of the task store's one LISTEN connection to the open pages. It
// stores nothing itself: tasks live in callmon/callback/tasks, opening hours
// and free slots come from the functions it is given, and it knows no
// telephony.
//
// # Authentication
//
// Package auth authenticates (a bearer token, or the session cookie of the
// sign-in page; opening /agent/{id}?token=<token> once also signs in and
// redirects without the token). Every change is one audit line.
//
// An agent sees and changes only tasks assigned to them and the unassigned
// (pool) tasks of their queues, and opens only their own page; an employee
// their own voicemails and tasks; a supervisor all tasks and every agent's
// page; a wallboard none of this. Cross-origin state-changing requests from
// browsers are refused (http.CrossOriginProtection).
//
// # Lifecycle
//
// Handler serves at once; Start begins listening for task changes (without
// it pages still work, but do not update themselves) and Stop ends that and
// every open event stream. Call Stop before http.Server.Shutdown, or register
// it with RegisterOnShutdown: Shutdown does not end event streams itself.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	// The page shows times in Europe/Amsterdam even on a host without a
	// zoneinfo database.
	_ "time/tzdata"

	"github.com/jackc/pgx/v5/pgxpool"

	"callmon/auth"
	"callmon/callback/tasks"
	"callmon/ui"
)

// Store is the part of *tasks.Store the server uses.
type Store interface {
	Create(ctx context.Context, n tasks.NewTask) (tasks.Task, bool, error)
	Get(ctx context.Context, id int64) (tasks.Task, error)
	List(ctx context.Context, f tasks.Filter) ([]tasks.Task, error)
	Claim(ctx context.Context, id int64, agent string, version int64, lease time.Duration, now time.Time) (tasks.Task, error)
	Complete(ctx context.Context, id int64, actor string, version int64, r tasks.Result, notes string, now time.Time,
		next func(after time.Time) (start, end time.Time, ok bool)) (tasks.Task, error)
	Reschedule(ctx context.Context, id int64, actor string, version int64, start, end time.Time, notes string) (tasks.Task, error)
	Cancel(ctx context.Context, id int64, actor string, version int64, reason string) (tasks.Task, error)
	Listen(ctx context.Context, pool *pgxpool.Pool, fn func(tasks.Change)) error
}

var _ Store = (*tasks.Store)(nil)

// Defaults of Options.
const (
	DefaultClaimLease = 15 * time.Minute
	DefaultLocation   = "Europe/Amsterdam"
	defaultListLimit  = 500
	maxListLimit      = 1000
	maxBodyBytes      = 1 << 20
	heartbeatInterval = 25 * time.Second // below the usual 60 s proxy idle timeout
)

// Options configures a Server. Store, Auth, AgentQueues, Open and
// NextSlot are required.
type Options struct {
	Store Store
	// Pool is passed to Store.Listen, which makes its one LISTEN connection
	// with the pool's configuration; nil means the store's own pool.
	Pool *pgxpool.Pool
	// Auth authenticates requests and writes the audit lines.
	Auth *auth.Authenticator
	// AgentQueues returns the queues an agent serves (nil for an unknown
	// agent): their pool tasks are the agent's to see and claim.
	AgentQueues func(agentID string) []string
	// Queues, if set, are the queues tasks may be created in; an agent may
	// in any case only create tasks in their own queues.
	Queues []string
	// Open reports whether the window [start, end) lies inside opening
	// hours; a window outside is refused with 422.
	Open func(start, end time.Time) bool
	// NextSlot returns the next free callback slot of a queue after a time
	// (free: below the queue's capacity); a task completed with "no answer"
	// is rescheduled to it, and the page offers it for a new callback.
	NextSlot func(queue string, after time.Time) (start, end time.Time, ok bool)
	// ClaimLease is how long a claim holds a task (DefaultClaimLease).
	ClaimLease time.Duration
	// Location of the times shown and of times sent without a zone
	// (2006-01-02T15:04, as a datetime-local input sends them); default
	// Europe/Amsterdam.
	Location *time.Location
	Clock    func() time.Time // default time.Now
	Log      *slog.Logger     // default: discard
	// Voicemails, if set, adds the voicemail API (voicemails.go).
	Voicemails Voicemails
	// Presence, if set, shows the agent's presence on the page and lets
	// them change it (presence.go).
	Presence PresenceService
	// Language of the page by default (ui.language: nl, en or auto); a switch on the page
	// overrides it per person.
	Language ui.Setting
}

// Server serves the API and the pages. Create it with New.
type Server struct {
	store       Store
	pool        *pgxpool.Pool
	auth        *auth.Authenticator
	agentQueues func(string) []string
	queues      []string
	open        func(start, end time.Time) bool
	nextSlot    func(queue string, after time.Time) (time.Time, time.Time, bool)
	lease       time.Duration
	loc         *time.Location
	now         func() time.Time
	log         *slog.Logger
	broker      *broker
	handler     http.Handler
	patterns    []string        // what routes registered (Routes)
	voicemails  Voicemails      // nil: no voicemail API
	presence    PresenceService // nil: the page shows no presence
	language    ui.Setting

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a Server. It panics when a required option is missing: that
// is a wiring mistake, not a runtime condition.
func New(o Options) *Server {
	if o.Store == nil || o.Auth == nil || o.AgentQueues == nil || o.Open == nil || o.NextSlot == nil {
		panic("web.New: Store, Auth, AgentQueues, Open and NextSlot are required")
	}
	s := &Server{
		store:       o.Store,
		pool:        o.Pool,
		auth:        o.Auth,
		agentQueues: o.AgentQueues,
		queues:      slices.Clone(o.Queues),
		open:        o.Open,
		nextSlot:    o.NextSlot,
		lease:       o.ClaimLease,
		loc:         o.Location,
		now:         o.Clock,
		log:         o.Log,
		voicemails:  o.Voicemails,
		presence:    o.Presence,
		language:    o.Language,
	}
	if s.lease <= 0 {
		s.lease = DefaultClaimLease
	}
	if s.loc == nil {
		loc, err := time.LoadLocation(DefaultLocation)
		if err != nil {
			panic(err) // embedded by time/tzdata
		}
		s.loc = loc
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.broker = newBroker(s.log)
	s.handler = s.routes()
	return s
}

// Handler returns the HTTP handler of /api/tasks and /agent/.
func (s *Server) Handler() http.Handler { return s.handler }

// Routes are the http.ServeMux patterns Handler serves (method and path),
// for a daemon that mounts it in a mux of its own: mux.Handle(p,
// srv.Handler()) for each.
func (s *Server) Routes() []string { return slices.Clone(s.patterns) }

// Start begins listening for task changes (Store.Listen, one connection for
// all pages) until Stop. It returns at once; Listen re-establishes a lost
// connection, and the pages are then told to re-read their tasks.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	listen := func(ctx context.Context, fn func(tasks.Change)) error {
		return s.store.Listen(ctx, s.pool, fn)
	}
	go func() {
		defer close(s.done)
		s.broker.run(ctx, listen)
	}()
	return nil
}

// Stop stops listening, ends every open event stream and waits for that.
// It is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	s.broker.close()
	if cancel != nil {
		cancel()
		<-done
	}
}

// routeMux records the patterns it serves (Routes).
type routeMux struct {
	*http.ServeMux
	patterns *[]string
}

func (m routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	*m.patterns = append(*m.patterns, pattern)
}

func (m routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

func (s *Server) routes() http.Handler {
	mux := routeMux{http.NewServeMux(), &s.patterns}
	people := auth.Roles(auth.Agent, auth.Employee, auth.Supervisor)
	mux.Handle("GET /api/tasks", s.read(people, s.listTasks))
	mux.Handle("POST /api/tasks", s.change("task create", auth.Roles(auth.Agent, auth.Supervisor), s.createTask))
	mux.Handle("GET /api/tasks/{id}", s.read(people, s.getTask))
	mux.Handle("POST /api/tasks/{id}/{action}", s.change("task {action}", people, s.actOnTask))
	mux.HandleFunc("GET /agent/{id}", s.page)
	mux.HandleFunc("GET /agent/{id}/tasks", s.fragment)
	mux.HandleFunc("GET /agent/{id}/events", s.events)
	mux.Handle("POST /agent/{id}/presence", s.change("presence", auth.Roles(auth.Agent, auth.Supervisor), s.setPresence))
	s.voicemailRoutes(mux)
	return secure(http.NewCrossOriginProtection().Handler(mux.ServeMux))
}

// secure sets the headers every response of this package carries.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		// A page asks for its own language; its error messages then come in Dutch
		// (writeError). Programs that ask for nothing get English.
		if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "nl") {
			hd.Set("Content-Language", "nl")
		}
		h.ServeHTTP(w, r)
	})
}

// knownAgent reports whether id is an agent: one who may sign in, or who
// serves a queue.
func (s *Server) knownAgent(id string) bool {
	if p, ok := s.auth.Principals().Lookup(id); ok && (p.Role == auth.Agent || p.Role == auth.Employee) {
		return true
	}
	return len(s.agentQueues(id)) > 0
}

// mayAccess reports whether p may see and change t: a supervisor always, an
// agent when t is theirs or unassigned in one of their queues.
func (s *Server) mayAccess(p Principal, t tasks.Task) bool {
	if p.IsSupervisor() || t.Assignee == p.ID {
		return true
	}
	return t.Assignee == "" && slices.Contains(s.agentQueues(p.ID), t.Queue)
}
