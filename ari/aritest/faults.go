package aritest

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// RESTFaults make REST answers slow or failing, for overload and chaos tests. They are
// extrapolated, not recorded: the traces hold no overloaded Asterisk. The zero value injects
// nothing. The events websocket is never affected.
type RESTFaults struct {
	// Delay holds every matching request this long, on the fake's Clock, before it is handled;
	// DelayJitter adds a uniform random [0, DelayJitter). A delayed request keeps its HTTP
	// session even if its client gives up, as a request stuck in Asterisk does.
	Delay, DelayJitter time.Duration
	// FailRate is the fraction of matching requests answered 500 {"error":"Allocation failed"},
	// ARI's answer when Asterisk cannot create what was asked; DropRate the fraction whose
	// connection is closed with no response at all. Neither request has any effect.
	FailRate, DropRate float64
	// Seed makes the draws reproducible: the n-th matching request to arrive gets the n-th
	// draw (which request is n-th depends on the client's concurrency).
	Seed uint64
	// Match picks the requests faults apply to; nil matches every REST request.
	Match func(method, path string) bool
}

// faults is the active RESTFaults with their random source.
type faults struct {
	mu  sync.Mutex
	f   RESTFaults
	rng *rand.Rand

	delayed, failed, dropped int // read by Stats
}

// SetRESTFaults replaces the faults injected from now on; requests already delayed keep their
// delay.
func (s *Server) SetRESTFaults(f RESTFaults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.f = f
	s.faults.rng = rand.New(rand.NewPCG(f.Seed, 0xfa17))
}

type faultKind int

const (
	faultNone faultKind = iota
	faultFail
	faultDrop
)

// draw decides what happens to one request.
func (fs *faults) draw(r *http.Request) (time.Duration, faultKind) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.f
	if fs.rng == nil || (f.Match != nil && !f.Match(r.Method, r.URL.Path)) {
		return 0, faultNone
	}
	// Two draws per request whatever the settings, so that changing one setting does not
	// shift the sequence the other comes from.
	jitter, p := fs.rng.Float64(), fs.rng.Float64()
	d := f.Delay + time.Duration(jitter*float64(f.DelayJitter))
	if d > 0 {
		fs.delayed++
	}
	switch {
	case p < f.FailRate:
		fs.failed++
		return d, faultFail
	case p < f.FailRate+f.DropRate:
		fs.dropped++
		return d, faultDrop
	}
	return d, faultNone
}

// hold waits d on the fake's clock, or until the server closes. The client's going away does
// not end it: Asterisk's HTTP thread finishes the request it is stuck in whatever the client
// does.
func (s *Server) hold(d time.Duration) {
	if d <= 0 {
		return
	}
	done := make(chan struct{})
	stop := s.clock.AfterFunc(d, func() { close(done) })
	// Counted once the timer is set, so that a test that sees it and advances a ManualClock
	// releases the request.
	s.stats.holding.Add(1)
	s.notify()
	select {
	case <-done:
	case <-s.quit:
		stop()
	}
	s.stats.holding.Add(-1)
}

// drop closes a request's connection without a response.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http then closes the connection without a response
}
