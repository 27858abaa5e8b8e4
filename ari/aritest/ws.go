package aritest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// wsConn is one events websocket. Its writer goroutine sends queued frames in order; a frame
// may carry a gate (the REST response it follows must be written first) or a done channel (a
// REST response waits for it).
type wsConn struct {
	s      *Server
	id     int
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queue  []*item
	wake   chan struct{}
	closed bool // the writer has stopped: frames pushed now are lost
}

type item struct {
	f    *frame
	typ  string
	req  int           // REST request that caused it, 0 if none
	gate chan struct{} // wait for this before writing
	done chan struct{} // closed once written or given up
	once sync.Once
}

func (it *item) finish() {
	if it.done != nil {
		it.once.Do(func() { close(it.done) })
	}
}

// frame is what an item writes: an event encoded by the socket's writer, outside s.mu (the
// snapshots in it are copies), or bytes given as they are. The copies of one event share it and
// go to one socket, whose writer alone encodes it.
type frame struct {
	ev   object
	data []byte
}

func (f *frame) bytes() []byte {
	if f.data == nil {
		f.data, f.ev = marshal(f.ev), nil
	}
	return f.data
}

// emit hands an event to the live socket copies times; with no live socket (or copies == 0,
// nobody subscribed) it is gone: Asterisk keeps nothing for an absent app.
func (s *Server) emit(typ string, ev object, copies int) {
	if copies == 0 {
		return
	}
	f := &frame{ev: ev}
	for range copies {
		s.deliverFrame(typ, f)
	}
}

func (s *Server) deliver(typ string, data []byte) { s.deliverFrame(typ, &frame{data: data}) }

func (s *Server) deliverFrame(typ string, f *frame) {
	c := s.live
	if c == nil {
		s.stats.lost.Add(1)
		return
	}
	it := &item{f: f, typ: typ}
	if r := s.cur; r != nil {
		it.req = r.seq
		it.gate = r.gate
		if r.gate == nil && !s.held.Load() {
			it.done = make(chan struct{})
			r.last = it
		}
	}
	c.push(it)
}

func (w *wsConn) push(it *item) {
	w.s.stats.pending.Add(1)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.lose(it)
		return
	}
	w.queue = append(w.queue, it)
	w.mu.Unlock()
	w.poke()
}

func (w *wsConn) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes queued frames until the connection ends; what is left is lost.
func (w *wsConn) run() {
	defer w.discard()
	for {
		it := w.next()
		if it == nil {
			return
		}
		if it.gate != nil {
			select {
			case <-it.gate:
			case <-w.ctx.Done():
				w.lose(it)
				return
			}
		}
		data := it.f.bytes()
		if err := w.c.Write(w.ctx, websocket.MessageText, data); err != nil {
			w.lose(it)
			return
		}
		w.s.record(Record{Kind: KindEvent, Time: w.s.now(), Conn: w.id, Type: it.typ, Raw: data, Request: it.req})
		w.s.stats.sent.Add(1)
		w.s.stats.pending.Add(-1)
		it.finish()
		w.s.notify()
	}
}

// next waits for a frame that may be sent: none while events are held.
func (w *wsConn) next() *item {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 && !w.s.held.Load() {
			it := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return it
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.ctx.Done():
			return nil
		}
	}
}

func (w *wsConn) lose(it *item) {
	w.s.stats.lost.Add(1)
	w.s.stats.pending.Add(-1)
	it.finish()
}

func (w *wsConn) discard() {
	w.mu.Lock()
	q := w.queue
	w.queue = nil
	w.closed = true
	w.mu.Unlock()
	for _, it := range q {
		w.lose(it)
	}
	w.s.notify()
}

// releaseWaiters lets REST handlers stop waiting for frames that HoldEvents keeps back.
func (w *wsConn) releaseWaiters() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, it := range w.queue {
		it.finish()
	}
}

// cut closes the socket without a close frame: to the app it is a dropped connection.
func (w *wsConn) cut() {
	w.cancel()
	_ = w.c.CloseNow()
}

// serveEvents is GET /ari/events?app=NAME[,NAME...][&subscribeAll=...].
func (s *Server) serveEvents(rw http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.stats.refused.Add(1)
		writeJSON(rw, http.StatusUnauthorized, errorBody("Authentication required"))
		return
	}
	if s.unloaded(r.URL.Path) {
		writeJSON(rw, http.StatusNotFound, errorBody("Resource not found"))
		return
	}
	var apps []string
	for _, v := range r.URL.Query()["app"] {
		apps = append(apps, strings.Split(v, ",")...)
	}
	s.mu.Lock()
	refuse := s.refuse || s.closed
	s.mu.Unlock()
	switch {
	case refuse:
		s.stats.refused.Add(1)
		writeJSON(rw, http.StatusServiceUnavailable, errorBody("Service Unavailable"))
		return
	case len(apps) == 0:
		writeJSON(rw, http.StatusBadRequest, errorBody("Missing param 'app'"))
		return
	}
	ours := slices.Contains(apps, s.opt.App)
	if ours {
		// Asterisk registers the application during the upgrade, so a REST
		// request sent right after the handshake already finds it.
		s.mu.Lock()
		s.app.known = true
		s.mu.Unlock()
	}
	c, err := websocket.Accept(rw, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &wsConn{s: s, id: int(s.connSeq.Add(1)), c: c, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1)}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.cut()
		return
	}
	s.conns[w] = true
	if ours {
		s.app.known = true
		s.replaceLive(w)
	}
	s.mu.Unlock()

	s.stats.connections.Add(1)
	s.record(Record{Kind: KindConnect, Time: s.now(), Conn: w.id, Path: r.URL.RequestURI()})
	s.notify()
	go w.run()

	for {
		// Read answers pings and close frames; anything the app sends is ignored.
		if _, _, err := c.Read(ctx); err != nil {
			break
		}
	}

	s.mu.Lock()
	delete(s.conns, w)
	if s.live == w {
		s.live = nil
	}
	s.mu.Unlock()
	w.cut()
	s.record(Record{Kind: KindClose, Time: s.now(), Conn: w.id})
	s.notify()
}

// replaceLive makes w the app's socket; nil stands for another process's. As in Asterisk's
// app_update, the socket it replaces gets ApplicationReplaced and then nothing more, but stays
// open (deaf). The frame is built as app_send and the websocket layer build it: type and
// application from app_update, asterisk_id appended, no timestamp.
func (s *Server) replaceLive(w *wsConn) {
	if old := s.live; old != nil {
		ev := object{{"type", "ApplicationReplaced"}, {"application", s.opt.App}, {"asterisk_id", s.opt.AsteriskID}}
		old.push(&item{f: &frame{ev: ev}, typ: "ApplicationReplaced"})
	}
	s.live = w
	s.phantom = w == nil
}

// DropConnections cuts every events websocket, live or deaf, as a network failure would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.openConns()
	s.live = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.cut()
	}
	s.notify()
}

// RefuseConnections makes websocket upgrades fail with 503 while on is true.
func (s *Server) RefuseConnections(on bool) {
	s.mu.Lock()
	s.refuse = on
	s.mu.Unlock()
	s.notify()
}

// ReplaceApp acts as if another process connected with the same app name: the live socket gets
// ApplicationReplaced and goes deaf, and the app stays active, so calls still enter Stasis but
// their events go to the other process.
func (s *Server) ReplaceApp() {
	s.mu.Lock()
	s.replaceLive(nil)
	s.mu.Unlock()
	s.notify()
}

// SendRaw delivers frame as a text message to the app's socket, in order with the events.
func (s *Server) SendRaw(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.raw.Add(1)
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(frame, &head) // best effort, for Log's Type
	s.deliver(head.Type, append([]byte(nil), frame...))
}

// HoldEvents queues events instead of sending them, as a slow reader or a congested link
// would; ReleaseEvents sends them all, in order.
func (s *Server) HoldEvents() {
	s.held.Store(true)
	s.mu.Lock()
	conns := s.openConns()
	s.mu.Unlock()
	for _, c := range conns {
		c.releaseWaiters()
	}
}

// ReleaseEvents ends HoldEvents.
func (s *Server) ReleaseEvents() {
	s.held.Store(false)
	s.mu.Lock()
	conns := s.openConns()
	s.mu.Unlock()
	for _, c := range conns {
		c.poke()
	}
	s.notify()
}

// Connected reports whether the app has a live, non-replaced socket.
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live != nil
}

// appActive is Asterisk's view: some socket (ours or, after ReplaceApp, another process's)
// serves the app, so Stasis() succeeds.
func (s *Server) appActive() bool { return s.live != nil || s.phantom }
