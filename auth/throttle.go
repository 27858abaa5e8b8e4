package auth

import (
	"sync"
	"time"
)

// throttle counts failed sign-ins per key (a client address, or an id) in
// fixed windows: after limit failures in a window the key is refused until
// the window ends. A success does not reset it, or one valid token would
// open the door to guessing others from the same address.
type throttle struct {
	limit  int
	window time.Duration

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	n     int
	since time.Time
}

// maxThrottleKeys bounds memory under a flood of addresses; expired keys
// are dropped first.
const maxThrottleKeys = 100_000

func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{limit: limit, window: window, keys: map[string]*failures{}}
}

// blocked returns how long key must wait, or 0.
func (t *throttle) blocked(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.keys[key]
	if f == nil {
		return 0
	}
	end := f.since.Add(t.window)
	if !now.Before(end) {
		delete(t.keys, key)
		return 0
	}
	if f.n >= t.limit {
		return end.Sub(now)
	}
	return 0
}

// fail counts one failure of key.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.keys[key]
	if f == nil || !now.Before(f.since.Add(t.window)) {
		if len(t.keys) >= maxThrottleKeys {
			t.prune(now)
		}
		f = &failures{since: now}
		t.keys[key] = f
	}
	f.n++
}

func (t *throttle) prune(now time.Time) {
	for k, f := range t.keys {
		if !now.Before(f.since.Add(t.window)) {
			delete(t.keys, k)
		}
	}
	if len(t.keys) >= maxThrottleKeys {
		clear(t.keys) // a flood of live keys: forget rather than grow
	}
}
