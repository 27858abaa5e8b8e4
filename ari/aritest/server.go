package aritest

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	App            string // the one ARI application emulated; default "callmon"
	User, Password string // HTTP basic auth for REST and the websocket; empty User = no auth
	Clock          Clock  // default RealClock()
	AsteriskID     string // default "02:fc:00:00:00:01"
	// Media maps a media URI ("sound:vm-intro") to how long it plays; others play
	// DefaultMediaDuration.
	Media map[string]time.Duration
	// Seed drives the per-request choice between "events before the response" and "response
	// before the events" when Order is OrderRandom.
	Seed  int64
	Order Order
	// LogLimit keeps only the last LogLimit records in Log (0 keeps everything); a long demo
	// run would otherwise keep every frame it ever sent.
	LogLimit int
	// SessionLimit is http.conf's sessionlimit: the TCP connections (REST and websocket) open
	// at once; one more is closed without a response. 0 means Asterisk's default, 100.
	SessionLimit int
	// KeepAlive is http.conf's session_keep_alive: an idle keep-alive connection is closed
	// after it. 0 means Asterisk's default, 15 s; negative disables keep-alive (every response
	// closes its connection, as Asterisk does with session_keep_alive = 0). It runs on the wall
	// clock, not on Clock: the client's idle timer it races against does too.
	KeepAlive time.Duration
	// Log receives what Asterisk would write to its log (the session-limit warning); nil
	// discards it.
	Log *slog.Logger
	// Listen is the TCP address to serve on; default "127.0.0.1:0" (a free port).
	Listen string
	// Unloaded names ARI modules that are not loaded, e.g. "res_ari_bridges": their resources
	// (/ari/bridges...) answer 404 {"message":"Resource not found"} after authentication, as
	// res_ari does for a path no loaded module registered ("res_ari_events": the websocket).
	Unloaded []string
	// TLS, if set, serves https and wss with it (ari.ca_file tests).
	TLS *tls.Config
}

// DefaultMediaDuration is how long a playback of a media URI not in Options.Media lasts.
const DefaultMediaDuration = 2 * time.Second

// Order says on which side of a REST response the events it causes are sent. Real Asterisk does
// both (README "General facts": e.g. ChannelEnteredBridge before the addChannel 204 in 23 of 31
// cases), so a client must be tested against both.
type Order int

const (
	OrderRandom        Order = iota // per request, from Options.Seed
	OrderEventsFirst                // every event caused by a request is written before its response
	OrderResponseFirst              // the response is written (and flushed) before its events
)

// ErrAppNotActive is returned by Call when no websocket is connected for the application:
// Asterisk's Stasis() fails at once and the dialplan fallback runs; the app never hears of the
// call.
var ErrAppNotActive = errors.New("aritest: Stasis app not active")

// Server is a fake Asterisk 22 speaking ARI (REST and the events websocket) for one
// application. All methods are safe for concurrent use.
type Server struct {
	opt   Options
	clock Clock
	ln    net.Listener
	srv   *http.Server

	// mu guards the telephony state below. REST handlers, timer callbacks and the exported
	// methods take it; websocket writers never do, so a slow reader cannot stall Asterisk.
	mu        sync.Mutex
	rng       *rand.Rand
	order     Order
	channels  map[string]*channel
	chanOrder []*channel // live channels in creation order (GET /channels lists them so)
	history   []*channel // destroyed channels, newest last, for Channels()
	bridges   map[string]*bridge
	bridgeOrd []*bridge
	endpoints map[string]*endpoint
	playbacks map[string]*playback
	// recordings are the live ones (queued or recording), stored the recordings directory,
	// mailboxes ARI's external MWI mailboxes.
	recordings map[string]*liveRecording
	stored     map[string]*storedRecording
	mailboxes  map[string]mailbox
	app        appState
	conns      map[*wsConn]bool // every open events socket, live or deaf
	live       *wsConn          // the socket the app's events go to
	phantom    bool             // another process owns the app (ReplaceApp)
	refuse     bool
	closed     bool
	uniqueSeq  int // Asterisk's uniqueid counter
	localSeq   int // Local/...-0000000N counter
	pjsipSeq   int // PJSIP/...-0000000N counter
	reqSeq     int // REST requests received
	cur        *reqState
	held       atomic.Bool // HoldEvents: writers wait; read without mu by the writers

	lastEvent time.Time // the timestamp of the event built last (truth.go reads it)
	truth     *truth    // ground truth being written, nil if none (RecordTruth)

	connSeq atomic.Int64
	stats   statCounters
	sess    sessions
	faults  faults
	quit    chan struct{} // closed by Close: ends fault delays

	logMu sync.Mutex
	log   []Record

	changeMu sync.Mutex
	changed  chan struct{} // closed and replaced on every state change (Await)
}

// appState is what Asterisk keeps for the application between connections.
type appState struct {
	known bool // registered: a websocket for it has connected at least once
}

// New starts a fake Asterisk listening on Options.Listen, by default 127.0.0.1 with a free port.
func New(opt Options) (*Server, error) {
	if opt.App == "" {
		opt.App = "callmon"
	}
	if opt.Clock == nil {
		opt.Clock = RealClock()
	}
	if opt.AsteriskID == "" {
		opt.AsteriskID = "02:fc:00:00:00:01"
	}
	if opt.SessionLimit <= 0 {
		opt.SessionLimit = DefaultSessionLimit
	}
	if opt.KeepAlive == 0 {
		opt.KeepAlive = DefaultKeepAlive
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opt:        opt,
		clock:      opt.Clock,
		ln:         ln,
		rng:        rand.New(rand.NewPCG(uint64(opt.Seed), 0x5eed)),
		order:      opt.Order,
		channels:   make(map[string]*channel),
		bridges:    make(map[string]*bridge),
		endpoints:  make(map[string]*endpoint),
		playbacks:  make(map[string]*playback),
		recordings: make(map[string]*liveRecording),
		stored:     make(map[string]*storedRecording),
		mailboxes:  make(map[string]mailbox),
		conns:      make(map[*wsConn]bool),
		changed:    make(chan struct{}),
		sess:       sessions{limit: opt.SessionLimit, log: opt.Log},
		quit:       make(chan struct{}),
	}
	// Asterisk waits max(session_keep_alive, 10 s) for a new connection's first request and
	// session_keep_alive between requests; net/http's ReadHeaderTimeout and IdleTimeout are
	// the nearest equivalents.
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: max(10*time.Second, opt.KeepAlive), IdleTimeout: opt.KeepAlive}
	if opt.KeepAlive < 0 {
		s.srv.SetKeepAlivesEnabled(false)
	}
	if opt.TLS != nil {
		s.srv.TLSConfig = opt.TLS
		go s.srv.ServeTLS(sessionListener{Listener: ln, s: s}, "", "") //nolint:errcheck // as Serve
		return s, nil
	}
	go s.srv.Serve(sessionListener{Listener: ln, s: s}) //nolint:errcheck // returns http.ErrServerClosed on Close
	return s, nil
}

// URL is the ARI base URL, as ari/v5's native client wants it: "http://127.0.0.1:PORT/ari"
// (https with Options.TLS).
func (s *Server) URL() string {
	if s.opt.TLS != nil {
		return "https://" + s.ln.Addr().String() + "/ari"
	}
	return "http://" + s.ln.Addr().String() + "/ari"
}

// WebsocketURL is the events endpoint without query: "ws://127.0.0.1:PORT/ari/events" (wss
// with Options.TLS).
func (s *Server) WebsocketURL() string {
	if s.opt.TLS != nil {
		return "wss://" + s.ln.Addr().String() + "/ari/events"
	}
	return "ws://" + s.ln.Addr().String() + "/ari/events"
}

// Close stops the server: websockets are cut, pending timers become no-ops.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.quit)
	_, _ = s.endTruth(s.truth)
	conns := s.openConns()
	s.live = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.cut()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx) // hijacked websockets are ours to close, done above
	s.notify()
}

// SetOrder changes how REST responses and the events they cause are ordered from now on.
func (s *Server) SetOrder(o Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order = o
}

// now is the clock's time; a helper because every event needs it.
func (s *Server) now() time.Time { return s.clock.Now() }

// after runs f under s.mu once d has passed on the clock, unless the server closed. f must
// re-check the state it acts on: with a real clock it can race with a REST request that made
// it moot, and stop() then reports false.
func (s *Server) after(d time.Duration, f func()) (stop func() bool) {
	return s.clock.AfterFunc(d, func() {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		f()
		s.mu.Unlock()
		s.notify()
	})
}

func (s *Server) openConns() []*wsConn {
	out := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}
