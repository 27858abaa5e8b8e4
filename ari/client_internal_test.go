package ari

import (
	"net/http"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

func TestRESTClientTransportIsSized(t *testing.T) {
	c, err := newREST("http://127.0.0.1:1/ari", "u", "p", "callmon", 48)
	if err != nil {
		t.Fatal(err)
	}
	hc := httpClientOf(c)
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport = %T, want *http.Transport (ari/v5's default would churn connections)", hc.Transport)
	}
	if tr.MaxIdleConnsPerHost != 48 || tr.ResponseHeaderTimeout == 0 || hc.Timeout == 0 {
		t.Errorf("transport not configured: idle/host=%d header timeout=%v timeout=%v",
			tr.MaxIdleConnsPerHost, tr.ResponseHeaderTimeout, hc.Timeout)
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
