package ari

import "sync"

// mailbox is an unbounded FIFO: the intake appends without ever blocking,
// one goroutine per call takes messages in order. Unbounded on purpose: a
// bounded buffer would have to block intake or drop events, and a call's
// backlog is small and finite (its events end with its channels).
type mailbox struct {
	mu     sync.Mutex
	cond   sync.Cond
	items  []any
	head   int
	closed bool
	// abandoned: the flow was dropped (its App stopped being the active
	// callmon); it acts and records nothing more.
	abandoned bool
}

func newMailbox() *mailbox {
	m := &mailbox{}
	m.cond.L = &m.mu
	return m
}

// post appends msg; it reports false if the mailbox was closed.
func (m *mailbox) post(msg any) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.items = append(m.items, msg)
	m.cond.Signal()
	return true
}

// next blocks until a message is there or the mailbox is closed and empty.
func (m *mailbox) next() (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.head == len(m.items) && !m.closed {
		m.cond.Wait()
	}
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

// len is the number of messages not yet taken.
func (m *mailbox) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items) - m.head
}

func (m *mailbox) close() {
	m.mu.Lock()
	m.closed = true
	m.cond.Broadcast()
	m.mu.Unlock()
}

// abandon discards what is pending and closes the mailbox: the flow ends
// after the message it is handling.
func (m *mailbox) abandon() {
	m.mu.Lock()
	clear(m.items)
	m.items, m.head = nil, 0
	m.closed, m.abandoned = true, true
	m.cond.Broadcast()
	m.mu.Unlock()
}

// isAbandoned reports whether abandon was called.
func (m *mailbox) isAbandoned() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.abandoned
}
