package accesslog_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/cmd/callmon/accesslog"
)

// lockedBuffer is the log file: written by the server's goroutines.
type lockedBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{} // if set, told of every write
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wrote != nil {
		select {
		case l.wrote <- struct{}{}:
		default:
		}
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeClock advances 250 ms on every reading: the duration is exact.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(250 * time.Millisecond)
	return t
}

func TestAccessLogRedacts(t *testing.T) {
	var log lockedBuffer
	clk := &fakeClock{t: time.Date(2026, 12, 5, 23, 59, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/voicemails", func(w http.ResponseWriter, r *http.Request) {
		accesslog.SetPrincipal(r.Context(), "anna")
		io.WriteString(w, "hello") //nolint:errcheck
	})
	mux.HandleFunc("GET /api/calls/{number}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not here", http.StatusNotFound)
	})
	srv := httptest.NewServer(accesslog.New(&log, mux, accesslog.Options{Now: clk.now}))
	defer srv.Close()

	const secretToken = "tok-5ecr3t-value"
	get := func(path string, hdr map[string]string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
	}
	get("/api/voicemails?number=0612345678&token="+secretToken+"&page=2", map[string]string{
		"Authorization": "Bearer " + secretToken,
		"Cookie":        "callmon_session=" + secretToken,
	})
	get("/api/calls/+31%206%2012345678?q=06-1234%205678", nil)

	out := log.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, one per request, got:\n%s", out)
	}
	for _, leak := range []string{secretToken, "0612345678", "12345678", "1234 5678", "Bearer", "callmon_session"} {
		if strings.Contains(out, leak) {
			t.Errorf("the access log shows %q:\n%s", leak, out)
		}
	}
	want0 := []string{`time=2026-12-05T23:59:00.000Z`, `msg=http`, `remote=127.0.0.1:`, `method=GET`,
		`path="/api/voicemails?number=REDACTED&page=2&token=REDACTED"`, `status=200`, `bytes=5`, `duration=250ms`, `principal=anna`}
	for _, w := range want0 {
		if !strings.Contains(lines[0], w) {
			t.Errorf("line 1 lacks %q: %s", w, lines[0])
		}
	}
	for _, w := range []string{`path="/api/calls/REDACTED?q=REDACTED"`, `status=404`, `principal=""`} {
		if !strings.Contains(lines[1], w) {
			t.Errorf("line 2 lacks %q: %s", w, lines[1])
		}
	}
}

func TestRedactURLKeepsOrdinaryValues(t *testing.T) {
	for in, want := range map[string]string{
		"/api/tasks/1234":                   "/api/tasks/1234",             // an id, not a number
		"/api/report?from=2026-12-01":       "/api/report?from=2026-12-01", // a date has 8 digits and is no one's number
		"/api/agents/anna/login":            "/api/agents/anna/login",
		"/x?api_key=user:pw":                "/x?api_key=REDACTED",
		"/api/lookup/0031612345678/history": "/api/lookup/REDACTED/history",
	} {
		req := httptest.NewRequest("GET", in, nil)
		if got := accesslog.RedactURL(req.URL); got != want {
			t.Errorf("RedactURL(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestAccessLogStreams: server-sent events flush through the middleware and
// the line is written when the stream ends.
func TestAccessLogStreams(t *testing.T) {
	log := lockedBuffer{wrote: make(chan struct{}, 1)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n") //nolint:errcheck
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the middleware: %v", err)
		}
		<-r.Context().Done()
	})
	srv := httptest.NewServer(accesslog.New(&log, h, accesslog.Options{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event = %q, %v: not flushed", line, err)
	}
	resp.Body.Close()
	select {
	case <-log.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("no access line after the stream ended")
	}
	if !strings.Contains(log.String(), "path=/api/events status=200 bytes=11") {
		t.Errorf("access line of the stream: %s", log.String())
	}
}
