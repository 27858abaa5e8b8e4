package aritest

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Asterisk's http.conf defaults (main/http.c: DEFAULT_SESSION_LIMIT, DEFAULT_SESSION_KEEP_ALIVE).
const (
	DefaultSessionLimit = 100
	DefaultKeepAlive    = 15 * time.Second
)

// SessionStats counts the TCP connections to the fake's HTTP server. Asterisk calls each one an
// HTTP session, REST and websocket alike.
type SessionStats struct {
	Accepted int // connections accepted, refused ones included
	Refused  int // closed at once, without a response, because SessionLimit sessions were open
	Open     int // sessions open now
	Peak     int // most sessions open at once
}

// sessions is the fake's session_count. Like httpd_helper_thread in main/http.c it counts a
// connection from accept until it is closed, whatever it carries: a REST request still being
// handled (or delayed by RESTFaults) after its client gave up holds its session, and so does
// an events websocket for its whole life.
type sessions struct {
	mu    sync.Mutex
	limit int
	stats SessionStats
	log   *slog.Logger
}

// Sessions returns the counters of HTTP sessions.
func (s *Server) Sessions() SessionStats {
	s.sess.mu.Lock()
	defer s.sess.mu.Unlock()
	return s.sess.stats
}

// admit counts a new connection and reports whether it may stay.
func (ss *sessions) admit() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.stats.Accepted++
	// http.c: if (ast_atomic_fetchadd_int(&session_count, +1) >= session_limit) refuse.
	if ss.stats.Open >= ss.limit {
		ss.stats.Refused++
		return false
	}
	ss.stats.Open++
	ss.stats.Peak = max(ss.stats.Peak, ss.stats.Open)
	return true
}

func (ss *sessions) release() {
	ss.mu.Lock()
	ss.stats.Open--
	ss.mu.Unlock()
}

// sessionListener admits connections as Asterisk's HTTP server does.
type sessionListener struct {
	net.Listener
	s *Server
}

// Accept returns the next connection within the session limit. One above it is closed before
// anything is read or written, as http.c does ("goto done": the session is closed with no HTTP
// response); the client sees its connection reset or closed.
func (l sessionListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ss := &l.s.sess
		if !ss.admit() {
			ss.log.Warn(fmt.Sprintf("HTTP session count exceeded %d sessions.", ss.limit))
			_ = c.Close()
			l.s.notify()
			continue
		}
		l.s.notify()
		return &sessionConn{Conn: c, s: l.s}, nil
	}
}

// sessionConn releases its session once, when closed: by the HTTP server after a response, an
// idle keep-alive or a dropped client, or by the websocket code for a hijacked connection.
type sessionConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *sessionConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.sess.release()
		c.s.notify()
	})
	return err
}
