package ari

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
)

// Terms (DESIGN §10.1): with Config.Standby, several callmon processes run
// with one configuration and exactly one of them — chosen outside this
// package, through PostgreSQL — drives calls. Its App is active for a term:
// Activate connects the events websocket and adopts what Asterisk has;
// Deactivate ends the term. From the moment a term ends no REST request
// leaves this process (requests in flight are cancelled), and every call
// flow is dropped without another command: the next active process adopts
// the calls from Asterisk's inventory and the journal.

// ErrNotActive is the error of every REST request made while this App is not
// the active callmon, or while Config.Fence says its lease may have run out.
var ErrNotActive = errors.New("ari: this callmon is not the active one")

// fence is the outermost layer of the REST client's transport.
type fence struct {
	next    http.RoundTripper
	valid   func() bool // Config.Fence; nil: always valid
	standby bool        // terms are used (Config.Standby)
	term    atomic.Pointer[context.Context]
}

func (f *fence) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.valid != nil && !f.valid() {
		return nil, ErrNotActive
	}
	if !f.standby {
		return f.next.RoundTrip(req)
	}
	t := f.term.Load()
	if t == nil || (*t).Err() != nil {
		return nil, ErrNotActive
	}
	// The response body is read whole below (readWhole), so cancelling once
	// RoundTrip returns cuts nothing short.
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	stop := context.AfterFunc(*t, cancel)
	defer stop()
	return f.next.RoundTrip(req.WithContext(ctx))
}

// driving reports whether this App may still command Asterisk: a flow whose
// request failed because it may not (its term ended, its lease may have run
// out, Stop) leaves the call as it is, for the next active process to adopt.
func (a *App) driving() bool {
	if a.fence.valid != nil && !a.fence.valid() {
		return false
	}
	if !a.fence.standby {
		a.mu.Lock()
		defer a.mu.Unlock()
		return !a.stopped
	}
	t := a.fence.term.Load()
	return t != nil && (*t).Err() == nil
}

// term is the App's current term, if it is active.
type term struct {
	mu     sync.Mutex
	cancel context.CancelFunc // nil while standing by
	done   chan struct{}      // closed when the term's intake has returned
}

// Active reports whether this App drives calls now.
func (a *App) Active() bool {
	a.term.mu.Lock()
	defer a.term.mu.Unlock()
	return a.term.cancel != nil
}

// Activate starts a term: the App connects to Asterisk, adopts the calls it
// finds and drives them until Deactivate or Stop. It does nothing before
// Start, after Stop, or while a term runs.
func (a *App) Activate() {
	a.term.mu.Lock()
	defer a.term.mu.Unlock()
	a.mu.Lock()
	root, stopped := a.root, a.stopped
	a.inactive = false
	a.mu.Unlock()
	if a.term.cancel != nil || root == nil || stopped {
		return
	}
	ctx, cancel := context.WithCancel(root)
	done := make(chan struct{})
	a.term.cancel, a.term.done = cancel, done
	a.fence.term.Store(&ctx)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		a.in.run(ctx)
	}()
}

// Deactivate ends the term: no REST request leaves any more, the events
// websocket closes, and every call flow is dropped without acting. It
// returns once they are gone.
func (a *App) Deactivate() {
	a.term.mu.Lock()
	defer a.term.mu.Unlock()
	cancel, done := a.term.cancel, a.term.done
	a.term.cancel, a.term.done = nil, nil
	a.fence.term.Store(nil)
	if cancel == nil {
		return
	}
	cancel()
	<-done
	a.dropFlows()
}

// dropFlows abandons every call flow: pending events are discarded, nothing
// more is recorded or sent, and the calls leave the live figures uncounted.
func (a *App) dropFlows() {
	a.mu.Lock()
	a.inactive = true
	var boxes []*mailbox
	for _, c := range a.calls {
		boxes = append(boxes, &c.mb)
		a.m.Handed(c.q.Name, c.id)
	}
	for _, d := range a.directs {
		boxes = append(boxes, d.mb)
		a.m.Handed(DirectQueue, d.id)
	}
	for _, d := range a.dials {
		boxes = append(boxes, d.mb)
	}
	for _, p := range a.pairs {
		boxes = append(boxes, p.mb)
	}
	a.mu.Unlock()
	for _, mb := range boxes {
		mb.abandon()
	}
	a.flows.Wait()
	a.janitor.mu.Lock()
	clear(a.janitor.tries) // the next active process cleans up from its inventory
	a.janitor.mu.Unlock()
}

// handOffMsg asks a waiting call to go to the dialplan fallback; the flow
// answers on handed whether it did.
type handOffMsg struct{ handed chan<- bool }

// HandOff sends every caller still waiting in a queue to the dialplan
// fallback (outcome fallback), for an active process that stops with no
// standby to take its calls over. It returns how many callers it handed
// off, once their flows have ended or ctx ends.
func (a *App) HandOff(ctx context.Context) int {
	a.mu.Lock()
	var calls []*queueCall
	for _, c := range a.calls {
		calls = append(calls, c)
	}
	a.mu.Unlock()
	n := 0
	for _, c := range calls {
		handed := make(chan bool, 1)
		if !c.mb.post(handOffMsg{handed: handed}) {
			continue
		}
		select {
		case h := <-handed:
			if !h {
				continue
			}
		case <-c.mb.doneChan():
		case <-ctx.Done():
			return n
		}
		n++
		select {
		case <-c.mb.doneChan():
		case <-ctx.Done():
			return n
		}
	}
	return n
}
