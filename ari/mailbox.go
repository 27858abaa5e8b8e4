package ari

import "sync"

// mailbox is an unbounded FIFO: the intake appends without ever blocking,
// one goroutine at a time takes messages in order. Unbounded on purpose: a
// bounded buffer would have to block intake or drop events, and a call's
// backlog is small and finite (its events end with its channels).
//
// It is drained in one of two ways. A flow made with newMailbox runs on a
// goroutine of its own that blocks in next. A flow whose mailbox is started
// (start) has no goroutine while its mailbox is empty: a post starts one
// that takes messages until none are left. A queue caller spends almost all
// of their call waiting, and a parked goroutine per waiting caller cost
// more than all the rest of the call's state (README, Benchmarks).
type mailbox struct {
	mu     sync.Mutex
	cond   *sync.Cond // newMailbox's; nil for a started mailbox
	items  []any
	head   int
	closed bool
	// abandoned: the flow was dropped (its App stopped being the active
	// callmon); it acts and records nothing more.
	abandoned bool

	drainer drainer       // set by start
	running bool          // a drainer goroutine is taking messages
	ended   bool          // the drainer's flow has ended (finish)
	done    chan struct{} // made by doneChan, closed by finish
}

// drainer is a flow driven by goroutines started on demand: drain takes
// messages (take) until there are none, or until the flow ends.
type drainer interface{ drain() }

func newMailbox() *mailbox {
	m := &mailbox{}
	m.cond = sync.NewCond(&m.mu)
	return m
}

// start makes d the mailbox's drainer and starts one if messages are
// pending. Posts before start only queue.
func (m *mailbox) start(d drainer) {
	m.mu.Lock()
	m.drainer = d
	wake := m.wakeLocked()
	m.mu.Unlock()
	if wake {
		go d.drain()
	}
}

// wakeLocked reports whether a drainer must be started now: there is work
// (a message, or the close the flow has not seen) and none is running.
func (m *mailbox) wakeLocked() bool {
	if m.drainer == nil || m.running || m.ended || (m.head == len(m.items) && !m.closed) {
		return false
	}
	m.running = true
	return true
}

// post appends msg; it reports false if the mailbox was closed.
func (m *mailbox) post(msg any) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.items = append(m.items, msg)
	if m.cond != nil {
		m.cond.Signal()
	}
	wake := m.wakeLocked()
	m.mu.Unlock()
	if wake {
		go m.drainer.drain()
	}
	return true
}

// next blocks until a message is there or the mailbox is closed and empty
// (newMailbox's flows).
func (m *mailbox) next() (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.head == len(m.items) && !m.closed {
		m.cond.Wait()
	}
	return m.popLocked()
}

// take is next for a drainer: it never blocks. With nothing to take the
// drainer's goroutine must end (ok false); closed says why: the mailbox is
// closed and empty, so the flow must finish, or it is only empty, and the
// next post starts another drainer.
func (m *mailbox) take() (msg any, ok, closed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg, ok = m.popLocked(); ok {
		return msg, true, false
	}
	if m.closed {
		return nil, false, true // running stays set: finish follows
	}
	m.running = false
	m.items = nil // an empty backlog keeps no array while the caller waits
	return nil, false, false
}

func (m *mailbox) popLocked() (any, bool) {
	if m.head == len(m.items) {
		return nil, false
	}
	msg := m.items[m.head]
	m.items[m.head] = nil
	m.head++
	if m.head == len(m.items) {
		m.items, m.head = m.items[:0], 0
	}
	return msg, true
}

// finish closes the mailbox for a drainer whose flow has ended: no drainer
// starts again, and doneChan's channel is closed.
func (m *mailbox) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed, m.ended = true, true
	if m.done != nil {
		close(m.done)
	}
}

// doneChan is closed once a drainer's flow has ended; made on demand, as
// only a hand-off waits for it.
func (m *mailbox) doneChan() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		m.done = make(chan struct{})
		if m.ended {
			close(m.done)
		}
	}
	return m.done
}

// len is the number of messages not yet taken.
func (m *mailbox) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items) - m.head
}

// close makes posts fail; the flow takes what is pending, then ends.
func (m *mailbox) close() {
	m.mu.Lock()
	m.closed = true
	m.closedLocked()
}

// closedLocked wakes whoever takes messages to see the close, and unlocks.
func (m *mailbox) closedLocked() {
	if m.cond != nil {
		m.cond.Broadcast()
	}
	wake := m.wakeLocked()
	m.mu.Unlock()
	if wake {
		go m.drainer.drain()
	}
}

// abandon discards what is pending and closes the mailbox: the flow ends
// after the message it is handling.
func (m *mailbox) abandon() {
	m.mu.Lock()
	clear(m.items)
	m.items, m.head = nil, 0
	m.closed, m.abandoned = true, true
	m.closedLocked()
}

// isAbandoned reports whether abandon was called.
func (m *mailbox) isAbandoned() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.abandoned
}
