package aritest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"callmon/ari/aritest"

	"github.com/coder/websocket"
)

const (
	testUser = "callmon"
	testPass = "secret"
)

// newServer starts a fake with the test credentials and closes it with the test.
func newServer(t *testing.T, opt aritest.Options) *aritest.Server {
	t.Helper()
	opt.User, opt.Password = testUser, testPass
	s, err := aritest.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitFor fails the test unless cond becomes true within a few seconds.
func waitFor(t *testing.T, s *aritest.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Await(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// drained reports that every queued event has been written.
func drained(s *aritest.Server) func() bool {
	return func() bool { return s.Stats().Pending == 0 }
}

// eventsClient is the app's websocket, recording every frame it receives.
type eventsClient struct {
	c       *websocket.Conn
	mu      sync.Mutex
	got     [][]byte
	changed chan struct{} // closed and replaced when a frame arrives or reading ends
	done    chan struct{}
	err     error
}

func dialEvents(t testing.TB, s *aritest.Server, query string) (*eventsClient, error) {
	t.Helper()
	h := http.Header{}
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(testUser, testPass)
	h.Set("Authorization", req.Header.Get("Authorization"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, s.WebsocketURL()+"?"+query, &websocket.DialOptions{HTTPHeader: h})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	ec := &eventsClient{c: c, done: make(chan struct{}), changed: make(chan struct{})}
	go ec.read()
	t.Cleanup(func() { ec.c.CloseNow() })
	return ec, nil
}

func mustDialEvents(t *testing.T, s *aritest.Server) *eventsClient {
	t.Helper()
	ec, err := dialEvents(t, s, "app=callmon")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "the app to be connected", s.Connected)
	return ec
}

func (ec *eventsClient) read() {
	defer close(ec.done)
	for {
		_, data, err := ec.c.Read(context.Background())
		ec.mu.Lock()
		if err != nil {
			ec.err = err
		} else {
			ec.got = append(ec.got, data)
		}
		close(ec.changed)
		ec.changed = make(chan struct{})
		ec.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// await waits until cond holds for the frames received so far, or reading ended.
func (ec *eventsClient) await(t *testing.T, what string, cond func(frames [][]byte) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		ec.mu.Lock()
		done, changed, err := cond(ec.got), ec.changed, ec.err
		ec.mu.Unlock()
		if done {
			return
		}
		if err != nil {
			t.Fatalf("waiting for %s: websocket ended: %v", what, err)
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("waiting for %s: timed out", what)
		}
	}
}

// awaitCount waits until n frames have arrived.
func (ec *eventsClient) awaitCount(t *testing.T, n int) {
	t.Helper()
	ec.await(t, fmt.Sprintf("%d frames", n), func(f [][]byte) bool { return len(f) >= n })
}

// readErr is why reading ended, nil while the socket is open.
func (ec *eventsClient) readErr() error {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return ec.err
}

func (ec *eventsClient) frames() [][]byte {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return append([][]byte(nil), ec.got...)
}

func (ec *eventsClient) close() {
	ec.c.Close(websocket.StatusNormalClosure, "")
	<-ec.done
}

// restCall is one REST request as the app sends it; body nil sends none.
func restCall(t testing.TB, s *aritest.Server, method, path string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(testUser, testPass)
	// Asterisk answers HEAD with a body the client does not read (the fake then closes the
	// connection): do not offer that connection to the next request.
	req.Close = method == "HEAD"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// eventTypes lists the types of the events in the log, in order.
func eventTypes(log []aritest.Record) []string {
	var out []string
	for _, r := range log {
		if r.Kind == aritest.KindEvent {
			out = append(out, r.Type)
		}
	}
	return out
}
