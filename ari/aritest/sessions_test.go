package aritest_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/ari/aritest"
)

// syncBuffer is a log sink the fake may write to from its accept loop.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// rawGet sends GET /ari/asterisk/info on conn as a keep-alive request and reads the response.
func rawGet(t *testing.T, conn net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://fake/ari/asterisk/info", nil)
	req.SetBasicAuth(testUser, testPass)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// readsEOF reports whether the peer closed conn (EOF or reset) within the test's deadline.
func readsEOF(t *testing.T, conn net.Conn, br io.Reader) (bool, []byte) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, err := io.ReadAll(br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, data
	}
	return true, data // io.ReadAll turns EOF into nil; a reset is an error too
}

func dial(t *testing.T, s *aritest.Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(s.URL(), "/ari"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSessionLimitRefusesWithoutResponse: with sessionlimit sessions open (a websocket and a
// REST keep-alive connection) the next connection is closed with no HTTP response and the
// warning Asterisk logs; once a session ends a new connection is served.
func TestSessionLimitRefusesWithoutResponse(t *testing.T) {
	logs := &syncBuffer{}
	s := newServer(t, aritest.Options{SessionLimit: 2, Log: slog.New(slog.NewTextHandler(logs, nil))})
	mustDialEvents(t, s)
	rest := dial(t, s)
	if resp := rawGet(t, rest, bufio.NewReader(rest)); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET within the limit: %d", resp.StatusCode)
	}
	if got := s.Sessions(); got.Open != 2 || got.Refused != 0 {
		t.Fatalf("sessions = %+v, want 2 open, none refused", got)
	}

	third := dial(t, s)
	req, _ := http.NewRequest("GET", "http://fake/ari/asterisk/info", nil)
	req.SetBasicAuth(testUser, testPass)
	_ = req.Write(third) // may fail already: the fake closes at once
	closed, data := readsEOF(t, third, third)
	if !closed || len(data) != 0 {
		t.Fatalf("third connection: closed=%v, read %q; want closed with no response", closed, data)
	}
	waitFor(t, s, "the refusal counted", func() bool { return s.Sessions().Refused == 1 })
	if got := s.Sessions(); got.Accepted != 3 || got.Open != 2 || got.Peak != 2 {
		t.Errorf("sessions = %+v, want 3 accepted, 2 open, peak 2", got)
	}
	if !strings.Contains(logs.String(), "HTTP session count exceeded 2 sessions.") {
		t.Errorf("log = %q, want Asterisk's warning", logs.String())
	}

	rest.Close()
	waitFor(t, s, "the REST session to end", func() bool { return s.Sessions().Open == 1 })
	fourth := dial(t, s)
	if resp := rawGet(t, fourth, bufio.NewReader(fourth)); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET after a session ended: %d", resp.StatusCode)
	}
	if got := s.Sessions(); got.Accepted != 4 || got.Refused != 1 || got.Open != 2 || got.Peak != 2 {
		t.Errorf("sessions = %+v, want 4 accepted, 1 refused, 2 open, peak 2", got)
	}
}

// TestDefaultSessionLimitIsAsterisks: 100 connections are served, the 101st refused.
func TestDefaultSessionLimitIsAsterisks(t *testing.T) {
	s := newServer(t, aritest.Options{})
	for range aritest.DefaultSessionLimit {
		dial(t, s)
	}
	waitFor(t, s, "100 sessions", func() bool { return s.Sessions().Open == aritest.DefaultSessionLimit })
	extra := dial(t, s)
	if closed, data := readsEOF(t, extra, extra); !closed || len(data) != 0 {
		t.Fatalf("connection 101: closed=%v, read %q", closed, data)
	}
	if got := s.Sessions(); got.Refused != 1 || got.Peak != aritest.DefaultSessionLimit {
		t.Errorf("sessions = %+v, want 1 refused, peak 100", got)
	}
}

// TestIdleKeepAliveSessionClosed: an idle keep-alive connection is closed after KeepAlive, not
// before; a busy websocket is not idle.
func TestIdleKeepAliveSessionClosed(t *testing.T) {
	const keepAlive = 100 * time.Millisecond
	s := newServer(t, aritest.Options{KeepAlive: keepAlive})
	mustDialEvents(t, s)
	conn := dial(t, s)
	br := bufio.NewReader(conn)
	sent := time.Now() // the server's idle timer starts later, once it has answered
	resp := rawGet(t, conn, br)
	if resp.Close {
		t.Fatal("the response says Connection: close; want keep-alive")
	}
	closed, data := readsEOF(t, conn, br)
	idle := time.Since(sent)
	if !closed || len(data) != 0 {
		t.Fatalf("idle connection: closed=%v, read %q", closed, data)
	}
	if idle < keepAlive {
		t.Errorf("closed after %v idle, want at least %v", idle, keepAlive)
	}
	waitFor(t, s, "the REST session to end", func() bool { return s.Sessions().Open == 1 })
	if !s.Connected() {
		t.Error("the websocket was closed too")
	}
}

// TestKeepAliveDisabled: with session_keep_alive = 0 Asterisk closes every connection after
// its response.
func TestKeepAliveDisabled(t *testing.T) {
	s := newServer(t, aritest.Options{KeepAlive: -1})
	conn := dial(t, s)
	br := bufio.NewReader(conn)
	if resp := rawGet(t, conn, br); !resp.Close {
		t.Error("the response does not say Connection: close")
	}
	if closed, _ := readsEOF(t, conn, br); !closed {
		t.Fatal("the connection stayed open")
	}
	waitFor(t, s, "no session open", func() bool { return s.Sessions().Open == 0 })
}
