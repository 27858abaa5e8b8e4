package ari

import (
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"

	"callmon/metrics"
)

// A StasisStart the intake dispatches while Stop runs must not start a flow:
// its mailbox would never be closed, Stop's wait would race its wg.Add, and
// the process would hang on the way out (seen once in TestDemo).
func TestNoFlowStartsAfterStop(t *testing.T) {
	m, err := metrics.New(prometheus.NewRegistry(), stopClock{}, time.UTC, []metrics.Queue{{Name: "general"}, {Name: DirectQueue}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{URL: "http://127.0.0.1:1/ari", Application: "callmon", Metrics: m, Clock: stopClock{},
		Open:      func(time.Time) bool { return true },
		Queues:    []Queue{{Name: "general"}},
		Employees: []Employee{{ID: "erik", Numbers: []string{"0503161234"}, Endpoint: "PJSIP/2001"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Stop()
	ts := ari.DateTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	a.dispatch(&ari.StasisStart{EventData: ari.EventData{Type: "StasisStart", Timestamp: ts},
		Args: []string{"queue", "general"}, Channel: ari.ChannelData{ID: "q1"}})
	a.dispatch(&ari.StasisStart{EventData: ari.EventData{Type: "StasisStart", Timestamp: ts},
		Args: []string{"direct", "0503161234"}, Channel: ari.ChannelData{ID: "d1"}})
	a.transferToQueue("t1", CallerInfo{}, time.Time(ts))
	a.mu.Lock()
	n := len(a.calls) + len(a.directs) + len(a.routes)
	a.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d flows or routes registered after Stop, want 0", n)
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a flow started after Stop is still running")
	}
}

type stopClock struct{}

func (stopClock) Now() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
func (stopClock) AfterFunc(time.Duration, func()) func() bool {
	return func() bool { return false }
}
