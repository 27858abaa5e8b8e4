package ari

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"callmon/ari/aritest"
)

func TestRESTClientTransportIsSized(t *testing.T) {
	c, err := newREST("http://127.0.0.1:1/ari", "u", "p", "callmon", 48, 0, 0, nil, &fence{})
	if err != nil {
		t.Fatal(err)
	}
	hc := httpClientOf(c)
	f, ok := hc.Transport.(*fence)
	if !ok {
		t.Fatalf("transport = %T, want the fence (no REST request while not the active callmon)", hc.Transport)
	}
	rw, ok := f.next.(readWhole)
	if !ok {
		t.Fatalf("transport = %T, want readWhole (unread bodies would churn connections)", hc.Transport)
	}
	tr, ok := rw.next.(*http.Transport)
	if !ok {
		t.Fatalf("transport = %T, want *http.Transport (ari/v5's default would churn connections)", rw.next)
	}
	if tr.MaxIdleConnsPerHost != 48 || tr.MaxConnsPerHost != 48 || tr.ResponseHeaderTimeout == 0 || hc.Timeout == 0 {
		t.Errorf("transport not configured: idle/host=%d conns/host=%d header timeout=%v timeout=%v",
			tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost, tr.ResponseHeaderTimeout, hc.Timeout)
	}
	if tr.IdleConnTimeout <= 0 || tr.IdleConnTimeout >= aritest.DefaultKeepAlive {
		t.Errorf("idle timeout %v, want below Asterisk's session_keep_alive %v", tr.IdleConnTimeout, aritest.DefaultKeepAlive)
	}
}

// connCounter is a test server that counts the TCP connections it accepts.
func connCounter(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestUnreadBodiesKeepTheirConnection: whether the caller closes a body
// without reading it (as ari/v5 does when it ignores the answer) or never
// closes it, the next request reuses the connection.
func TestUnreadBodiesKeepTheirConnection(t *testing.T) {
	srv, conns := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = io.WriteString(w, `{"id":"b1","technology":"simple_bridge","bridge_type":"holding","channels":[]}`)
	})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: readWhole{tr}}
	for i, path := range []string{"/", "/", "/chunked", "/chunked"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			resp.Body.Close()
		} // else: never closed
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections for 4 requests with unread bodies, want 1", got)
	}
}

// TestLargeBodiesPassWhole: a body above the buffer cap reaches the caller
// unchanged, with or without a Content-Length.
func TestLargeBodiesPassWhole(t *testing.T) {
	audio := bytes.Repeat([]byte("0123456789abcdef"), (maxBuffered+maxBuffered/2)/16)
	srv, _ := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush()
		}
		_, _ = w.Write(audio)
	})
	client := &http.Client{Transport: readWhole{&http.Transport{}}}
	for _, path := range []string{"/", "/chunked"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, audio) {
			t.Errorf("%s: read %d bytes (%v), want the %d sent", path, len(got), err, len(audio))
		}
	}
}

type countMetrics struct{ events, skipped int }

func (*countMetrics) ARIConnected(bool)                {}
func (*countMetrics) ARIReconnected()                  {}
func (m *countMetrics) ARIEvent(string, time.Duration) { m.events++ }
func (m *countMetrics) ARISkipped(string)              { m.skipped++ }

func TestDuplicateFramesAreDroppedOnce(t *testing.T) {
	var got []ari.Event
	m := &countMetrics{}
	in := &intake{clock: clockFunc(time.Now), m: m, logged: map[string]bool{},
		dispatch: func(ev ari.Event) { got = append(got, ev) }}
	a := []byte(`{"type":"ChannelStateChange","timestamp":"2026-11-23T19:34:22.254+0000","channel":{"id":"x","state":"Up"},"asterisk_id":"a","application":"callmon"}`)
	b := []byte(`{"type":"ChannelStateChange","timestamp":"2026-11-23T19:34:22.255+0000","channel":{"id":"x","state":"Up"},"asterisk_id":"a","application":"callmon"}`)
	// With an endpoint subscription Asterisk repeats every channel event
	// byte for byte (trace sip-endpoint-subscribed).
	for _, f := range [][]byte{a, a, b, b} {
		in.frame(f)
	}
	if len(got) != 2 || m.events != 2 {
		t.Fatalf("dispatched %d events (%d counted), want 2", len(got), m.events)
	}
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// A 404 from a Data getter (wrapped in a type with Cause but no Unwrap) is "gone".
func TestGoneSeesThroughDataErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Channel not found"}`))
	}))
	defer srv.Close()
	c, err := newREST(srv.URL+"/ari", "u", "p", "callmon", 4, 0, 0, nil, &fence{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Channel().Data(ari.NewKey(ari.ChannelKey, "1.1"))
	if err == nil || !gone(err) {
		t.Errorf("gone(%v) = false, want true for a 404", err)
	}
}
