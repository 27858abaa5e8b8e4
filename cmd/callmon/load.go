package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"callmon/ari/aritest"
)

// loadRequest is the body of POST /-/control/load: a closed-loop run of Calls queue calls,
// Concurrency of them at a time.
type loadRequest struct {
	Calls       int `json:"calls"`
	Concurrency int `json:"concurrency"`
}

// loadResult is its answer, once every caller of the run has ended.
type loadResult struct {
	Calls      int     `json:"calls"`   // callers that entered Stasis and ended
	Refused    int     `json:"refused"` // calls refused: no app connected
	Seconds    float64 `json:"seconds"` // from the first call placed to the last caller gone
	Events     int     `json:"events"`  // frames written to the app meanwhile
	EventsLost int     `json:"events_lost"`
	Requests   int     `json:"requests"` // REST requests handled meanwhile
}

// load runs the queue-answered shape as fast as callmon takes it: every agent's phone
// answers at once and stays, every caller hangs up as soon as an agent is bridged with them,
// and each caller that ends is replaced by the next until req.Calls have been placed. It
// needs the first queue's agents logged in on callmon's side; a caller nobody answers waits
// (there is no patience), so a run that stalls ends with ctx.
func (t *traffic) load(ctx context.Context, req loadRequest) (loadResult, error) {
	if req.Calls <= 0 || req.Concurrency <= 0 {
		return loadResult{}, errors.New("calls and concurrency must be > 0")
	}
	for _, ep := range t.endpoints() {
		t.fake.SetBehaviour(ep, aritest.Behaviour{})
	}
	q := t.cfg.Queues[0]
	exten := firstOr(q.Numbers, "0503164911")
	var next, ended, refused atomic.Int64
	before := t.fake.Stats()
	begin := time.Now()
	var wg sync.WaitGroup
	for range min(req.Concurrency, req.Calls) {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(req.Calls) || ctx.Err() != nil {
					return
				}
				c, err := t.fake.Call(aritest.CallSpec{Exten: exten, Args: []string{"queue", q.Name},
					CallerName: fmt.Sprintf("Load %d", n), CallerNumber: fmt.Sprintf("06%08d", n%100000000),
					HangupWhenAnswered: true})
				if err != nil {
					refused.Add(1)
					continue
				}
				select {
				case <-c.Done():
					ended.Add(1)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	after := t.fake.Stats()
	res := loadResult{Calls: int(ended.Load()), Refused: int(refused.Load()), Seconds: elapsed.Seconds(),
		Events: after.EventsSent - before.EventsSent, EventsLost: after.EventsLost - before.EventsLost,
		Requests: after.Requests - before.Requests}
	return res, ctx.Err()
}
