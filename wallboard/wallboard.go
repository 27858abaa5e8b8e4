// Package wallboard serves the supervisors' live screen, /wallboard: each queue's service level
// today and this quarter-hour against the target, callers waiting and the longest wait, agents
// available, on a call and paused and the agents needed, callbacks due and overdue and
// voicemails unheard — Dutch by default, English on a switch — readable across a room on a TV
// and usable on a phone. It updates itself by server-sent events within a second of a change
// and says plainly when callmon has lost Asterisk or the database.
//
// A supervisor signs in; a TV opens /wallboard?token=<wallboard token> once, which is exchanged
// for the HttpOnly session cookie. It reads the figures from package metrics (the same numbers
// /metrics exports) and, through Config.Backoffice, from PostgreSQL; it changes nothing.
package wallboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"callmon/auth"
	"callmon/metrics"
	"callmon/ui"
)

//go:embed assets
var assets embed.FS

var (
	pageTemplate = template.Must(template.ParseFS(assets, "assets/board.html"))
	script       = mustRead("assets/board.js")
	style        = mustRead("assets/board.css")
	policy       = "default-src 'none'; script-src " + ui.CSPHash(script) + "; style-src " + ui.CSPHash(style) +
		"; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Config is what the wallboard reads and who it lets in.
type Config struct {
	Metrics *metrics.Metrics
	Auth    *auth.Authenticator
	// Backoffice reads callbacks and voicemails; nil without a database.
	Backoffice func(ctx context.Context, now time.Time) (Backoffice, error)
	Language   ui.Setting
	Now        func() time.Time
	Log        *slog.Logger
	// Tick is how often the picture is rebuilt and, when it changed, sent (default 250 ms);
	// the database is read every fourth tick.
	Tick time.Duration
}

// Server serves the wallboard. Start begins building pictures; Stop ends them and every open
// stream.
type Server struct {
	cfg Config

	mu     sync.Mutex
	pages  map[ui.Lang][]byte // the latest board fragment per language
	seq    uint64             // bumped when a picture differs from the one before
	wake   chan struct{}      // closed and replaced on every new picture
	stop   context.CancelFunc
	done   chan struct{}
	closed bool
	// watchers counts the open streams: with none, no picture is built and the database is
	// not read (every callmon, the standby too, serves the wallboard).
	watchers atomic.Int64
}

// New returns a wallboard server; it serves nothing live until Start.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	return &Server{cfg: cfg, pages: map[ui.Lang][]byte{}, wake: make(chan struct{})}
}

// Routes are the patterns Handler serves.
func (s *Server) Routes() []string { return []string{"GET /wallboard", "GET /wallboard/events"} }

// Handler serves Routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wallboard", s.page)
	mux.HandleFunc("GET /wallboard/events", s.events)
	return mux
}

// Start builds the first picture at once, then one every Tick.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	var b Backoffice
	bOK := s.readBackoffice(ctx, &b)
	s.publish(s.picture(b, bOK))
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.Tick)
		defer t.Stop()
		idle := false
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if s.watchers.Load() == 0 {
				idle = true
				continue
			}
			if idle || n%4 == 0 {
				idle = false
				bOK = s.readBackoffice(ctx, &b)
			}
			s.publish(s.picture(b, bOK))
		}
	}()
}

// Stop ends the pictures and every open stream.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.wake)
	}
}

func (s *Server) readBackoffice(ctx context.Context, b *Backoffice) bool {
	if s.cfg.Backoffice == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 800*time.Millisecond)
	defer cancel()
	got, err := s.cfg.Backoffice(ctx, s.cfg.Now())
	if err != nil {
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			s.cfg.Log.Debug("wallboard: callbacks and voicemails not read", "err", err)
		}
		return false
	}
	*b = got
	return true
}

func (s *Server) picture(b Backoffice, bOK bool) state {
	return state{At: s.cfg.Now(), ARI: s.cfg.Metrics.ARIIsConnected(), HasDB: s.cfg.Backoffice != nil, DB: bOK,
		Queues: s.cfg.Metrics.Snapshot(), Backoffice: b}
}

// publish renders st in both languages and wakes the streams when the board changed. The
// time of the picture is left out of the comparison: a board that did not change is not sent
// every tick (the page shows when it last changed).
func (s *Server) publish(st state) {
	pages := map[ui.Lang][]byte{}
	changed := false
	s.mu.Lock()
	old := s.pages
	s.mu.Unlock()
	for _, l := range []ui.Lang{ui.NL, ui.EN} {
		var buf bytes.Buffer
		v := view(st, l)
		if err := pageTemplate.ExecuteTemplate(&buf, "board", v); err != nil {
			s.cfg.Log.Error("wallboard: render", "err", err)
			return
		}
		pages[l] = buf.Bytes()
		if !sameBoard(old[l], pages[l]) {
			changed = true
		}
	}
	if !changed {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.pages = pages
	s.seq++
	close(s.wake)
	s.wake = make(chan struct{})
}

// sameBoard compares two fragments without their "updated at" line.
func sameBoard(a, b []byte) bool {
	cut := func(p []byte) []byte {
		if i := bytes.Index(p, []byte(`<p id="updated">`)); i >= 0 {
			if j := bytes.Index(p[i:], []byte("</p>")); j >= 0 {
				return append(append([]byte(nil), p[:i]...), p[i+j:]...)
			}
		}
		return p
	}
	return a != nil && bytes.Equal(cut(a), cut(b))
}

// current is the latest fragment in l, its sequence number and what closes on the next.
func (s *Server) current(l ui.Lang) ([]byte, uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pages[l], s.seq, s.wake
}

// allowed lets in supervisors and wallboards; anyone else is told why.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, l ui.Lang) (auth.Principal, bool) {
	p, err := s.cfg.Auth.Authenticate(r)
	var th *auth.ThrottledError
	switch {
	case errors.As(err, &th):
		auth.Deny(w, err)
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="callmon"`)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		next := url.QueryEscape("/wallboard")
		fmt.Fprintf(w, `<!doctype html><html lang="%s"><meta charset="utf-8"><title>%s</title><p>%s <a href="/signin?lang=%s&amp;next=%s">%s</a></p>`,
			l, l.T("wallboard"), l.T("signed-out"), l, next, l.T("sign-in"))
	case p.Role != auth.Supervisor && p.Role != auth.Wallboard:
		http.Error(w, "403 Forbidden: "+l.T("forbidden"), http.StatusForbidden)
	default:
		return p, true
	}
	return auth.Principal{}, false
}

// GET /wallboard: the page. ?token= signs in and redirects without it; ?lang= switches the
// language and remembers it.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	l := ui.Choose(r, s.cfg.Language)
	if token := r.URL.Query().Get("token"); token != "" {
		p, err := s.cfg.Auth.Token(r, token)
		if err != nil {
			auth.Deny(w, err)
			return
		}
		s.cfg.Auth.SetSession(w, r, p)
		http.Redirect(w, r, "/wallboard", http.StatusSeeOther)
		return
	}
	p, ok := s.allowed(w, r, l)
	if !ok {
		return
	}
	if p.Role == auth.Wallboard && r.Header.Get("Authorization") == "" {
		// A screen runs for days: every load (the page reloads itself every few hours)
		// renews its session, so it never lapses while the screen is on.
		s.cfg.Auth.SetSession(w, r, p)
	}
	ui.Remember(w, r)
	if s.watchers.Load() == 0 {
		// Nobody watches, so the last picture may be old: take one now.
		var b Backoffice
		ok := s.readBackoffice(r.Context(), &b)
		s.publish(s.picture(b, ok))
	}
	board, _, _ := s.current(l)
	w.Header().Set("Content-Security-Policy", policy)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := pageTemplate.ExecuteTemplate(w, "page", struct {
		Lang, Other   ui.Lang
		Title, Switch string
		Lost          string
		Board         template.HTML
		Script        template.JS
		Style         template.CSS
	}{l, l.Other(), l.T("wallboard"), l.T("switch"), l.T("stream-lost"), template.HTML(board), template.JS(script), template.CSS(style)})
	if err != nil {
		s.cfg.Log.Error("wallboard: page", "err", err)
	}
}

// GET /wallboard/events: a "board" event with the new fragment whenever the board changes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	l := ui.Choose(r, s.cfg.Language)
	if _, ok := s.allowed(w, r, l); !ok {
		return
	}
	s.watchers.Add(1)
	defer s.watchers.Add(-1)
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout of the server
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	var sent uint64
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		board, seq, wake := s.current(l)
		if seq != sent && board != nil {
			sent = seq
			fmt.Fprint(w, "event: board\n")
			for _, line := range strings.Split(string(board), "\n") {
				fmt.Fprintf(w, "data: %s\n", line)
			}
			fmt.Fprint(w, "\n")
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-wake:
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		}
	}
}
