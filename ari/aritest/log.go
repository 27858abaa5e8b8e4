package aritest

import (
	"context"
	"sync/atomic"
	"time"
)

// RecordKind says what a Record is.
type RecordKind string

const (
	KindEvent   RecordKind = "event"   // a text frame written to an events websocket
	KindREST    RecordKind = "rest"    // a REST request and the response written for it
	KindConnect RecordKind = "connect" // an events websocket was accepted
	KindClose   RecordKind = "close"   // an events websocket ended
)

// Record is one step of the conversation as the app saw it, in the order the fake wrote it.
type Record struct {
	Kind RecordKind
	Time time.Time // the fake's clock
	Conn int       // websocket number (1, 2, ...) for events and connect/close

	// Events.
	Type    string // "" for a SendRaw frame without a type
	Raw     []byte // the frame, byte for byte
	Request int    // Seq of the REST request whose handling produced the event; 0 if none

	// REST (Path also for connect: the request URI).
	Seq      int // requests are numbered from 1 in the order they were handled; 0 if not (401, RESTFaults)
	Method   string
	Path     string // with the query string
	Body     []byte
	Status   int    // 0: no response, the connection was dropped (RESTFaults)
	Response []byte // the body written; nil for 204, and for audio (see Length)
	// ContentType is the response's Content-Type ("" without a body), Length the bytes of its
	// body: for a stored recording's audio only these are kept, as in the traces.
	ContentType string
	Length      int
}

// Stats counts what the fake has done.
type Stats struct {
	EventsSent  int // frames written to websockets (events, ApplicationReplaced, raw)
	EventsLost  int // frames for the app that no socket took: disconnected, replaced, cut off
	RawSent     int // SendRaw calls
	Pending     int // frames queued and not yet written (held, or in flight)
	Requests    int // REST requests handled
	Calls       int // calls that entered Stasis
	Rejected    int // calls refused with ErrAppNotActive
	Originates  int // POST /channels that created a channel
	Connections int // events websockets accepted
	Refused     int // websocket upgrades refused (401, 503)
	// REST requests affected by RESTFaults: delayed (in total; Holding are waiting now),
	// answered 500, dropped without a response.
	Delayed, Holding, Failed, Dropped int
}

type statCounters struct {
	sent, lost, raw, pending, requests, calls, rejected, originates, connections, refused, holding atomic.Int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		EventsSent:  int(c.sent.Load()),
		EventsLost:  int(c.lost.Load()),
		RawSent:     int(c.raw.Load()),
		Pending:     int(c.pending.Load()),
		Requests:    int(c.requests.Load()),
		Calls:       int(c.calls.Load()),
		Rejected:    int(c.rejected.Load()),
		Originates:  int(c.originates.Load()),
		Connections: int(c.connections.Load()),
		Refused:     int(c.refused.Load()),
		Holding:     int(c.holding.Load()),
	}
	s.faults.mu.Lock()
	st.Delayed, st.Failed, st.Dropped = s.faults.delayed, s.faults.failed, s.faults.dropped
	s.faults.mu.Unlock()
	return st
}

func (s *Server) record(r Record) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = append(s.log, r)
	if n := s.opt.LogLimit; n > 0 && len(s.log) > 2*n {
		s.log = append(s.log[:0:0], s.log[len(s.log)-n:]...) // trim in batches, not per record
	}
}

// Log returns a copy of the conversation so far.
func (s *Server) Log() []Record {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := s.log
	if n := s.opt.LogLimit; n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return append([]Record(nil), out...)
}

// notify wakes every Await.
func (s *Server) notify() {
	s.changeMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changeMu.Unlock()
}

func (s *Server) changes() <-chan struct{} {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	return s.changed
}

// Await returns nil once cond is true, re-evaluating it after every state change (a REST
// request handled, an event written, a connection opened or closed, a timer fired), or
// ctx.Err() when ctx ends first. cond runs without the fake's locks, so it may call Channels,
// Log and the like.
func (s *Server) Await(ctx context.Context, cond func() bool) error {
	for {
		ch := s.changes() // before cond: a change during cond is not missed
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
