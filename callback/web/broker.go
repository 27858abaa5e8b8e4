package web

import (
	"context"
	"log/slog"
	"sync"

	"callmon/callback/tasks"
)

// maxPending is how many changes a subscriber keeps before it is told to
// re-read everything instead.
const maxPending = 64

// broker fans the task store's one LISTEN connection out to subscribers (the
// open event streams). Publishing never blocks: a subscriber that falls
// behind is told to re-read everything instead.
type broker struct {
	log *slog.Logger

	listening chan struct{} // closed at the first LISTEN
	once      sync.Once

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
}

// subscription receives the changes its match accepts.
type subscription struct {
	match func(tasks.Change) bool
	wake  chan struct{} // capacity 1: something is pending
	done  chan struct{} // closed when the broker closes

	mu      sync.Mutex
	pending []tasks.Change
	lost    bool // changes were missed: re-read everything
}

func newBroker(log *slog.Logger) *broker {
	return &broker{log: log, subs: map[*subscription]struct{}{}, listening: make(chan struct{})}
}

// subscribe registers match; the returned function unsubscribes. Once
// subscribe has returned, every later change that match accepts is delivered.
func (b *broker) subscribe(match func(tasks.Change) bool) (*subscription, func()) {
	sub := &subscription{match: match, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(sub.done)
		return sub, func() {}
	}
	b.subs[sub] = struct{}{}
	return sub, func() {
		b.mu.Lock()
		delete(b.subs, sub)
		b.mu.Unlock()
	}
}

// publish delivers c to every subscription that accepts it.
func (b *broker) publish(c tasks.Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs {
		if sub.match(c) {
			sub.add(c, false)
		}
	}
}

// resync tells every subscription that changes may have been missed.
func (b *broker) resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs {
		sub.add(tasks.Change{}, true)
	}
}

// close ends every subscription; later ones end at once.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for sub := range b.subs {
		close(sub.done)
		delete(b.subs, sub)
	}
}

// count is the number of subscriptions, for tests.
func (b *broker) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// run delivers the changes listen reports until ctx ends. listen
// re-establishes a lost connection itself, and reports each (re-)established
// LISTEN with a Resync change: changes before it were missed, so every
// subscriber is told to re-read.
func (b *broker) run(ctx context.Context, listen func(context.Context, func(tasks.Change)) error) {
	err := listen(ctx, func(c tasks.Change) {
		if c.Resync {
			b.resync()
			b.once.Do(func() { close(b.listening) })
			return
		}
		b.publish(c)
	})
	if ctx.Err() == nil {
		b.log.Error("task change notifications stopped: pages will not update themselves", "err", err)
	}
}

func (sub *subscription) add(c tasks.Change, lost bool) {
	sub.mu.Lock()
	switch {
	case lost:
		sub.lost, sub.pending = true, nil
	case sub.lost:
		// A re-read is due anyway; it will show this change too.
	case len(sub.pending) >= maxPending:
		sub.lost, sub.pending = true, nil
	default:
		sub.pending = append(sub.pending, c)
	}
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// take returns and clears what is pending.
func (sub *subscription) take() (changes []tasks.Change, lost bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	changes, lost = sub.pending, sub.lost
	sub.pending, sub.lost = nil, false
	return changes, lost
}
