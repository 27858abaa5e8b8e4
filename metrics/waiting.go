package metrics

// waiters are a queue's waiting calls, kept so that a scrape reads the
// figures that depend on them (how many, the oldest, how many waited past
// the threshold per window) without visiting every call: two min-heaps by
// entry, one of the calls still within the threshold and one of those past
// it. A scrape moves the calls that crossed the threshold since the last one
// from the first heap to the second and counts them in their windows, so
// its cost follows the calls that arrive, not the calls that wait.
//
// Calls live in a slab reused through a free list and the heaps hold slab
// indexes, so entering and leaving allocate nothing once the slab has grown.
// A call once past the threshold stays past it, also if the clock steps
// back. Callers hold the queue's lock.
type waiters struct {
	byID    map[string]int32 // call id → slot
	slots   []waiter
	free    []int32
	within  []int32 // heap of slots not yet past the threshold at the last scrape
	crossed []int32 // heap of slots past the threshold
}

type waiter struct {
	entry   int64 // Unix milliseconds
	pos     int32 // index in its heap
	crossed bool
}

func newWaiters() waiters {
	return waiters{byID: map[string]int32{}}
}

func (ws *waiters) len() int { return len(ws.byID) }

func (ws *waiters) has(id string) bool {
	_, ok := ws.byID[id]
	return ok
}

func (ws *waiters) add(id string, entry int64) {
	var s int32
	if n := len(ws.free); n > 0 {
		s, ws.free = ws.free[n-1], ws.free[:n-1]
	} else {
		s = int32(len(ws.slots))
		ws.slots = append(ws.slots, waiter{})
	}
	ws.slots[s] = waiter{entry: entry}
	ws.byID[id] = s
	ws.push(&ws.within, s)
}

// remove forgets the call and reports its entry and whether it had crossed
// the threshold.
func (ws *waiters) remove(id string) (entry int64, crossed, ok bool) {
	s, ok := ws.byID[id]
	if !ok {
		return 0, false, false
	}
	delete(ws.byID, id)
	w := ws.slots[s]
	if w.crossed {
		ws.removeAt(&ws.crossed, int(w.pos))
	} else {
		ws.removeAt(&ws.within, int(w.pos))
	}
	ws.free = append(ws.free, s)
	if len(ws.byID) == 0 && cap(ws.slots) > 1024 {
		// Nothing waits: give back what a peak left behind.
		ws.slots, ws.free, ws.within, ws.crossed = nil, nil, nil, nil
		ws.byID = map[string]int32{} // a Go map never shrinks
	}
	return w.entry, w.crossed, true
}

// cross moves the calls that entered before limit to the crossed heap and
// calls f with the entry of each.
func (ws *waiters) cross(limit int64, f func(entry int64)) {
	for len(ws.within) > 0 && ws.slots[ws.within[0]].entry < limit {
		s := ws.within[0]
		ws.removeAt(&ws.within, 0)
		ws.slots[s].crossed = true
		ws.push(&ws.crossed, s)
		f(ws.slots[s].entry)
	}
}

// oldest is the earliest entry of a waiting call; ok is false when none waits.
func (ws *waiters) oldest() (entry int64, ok bool) {
	switch {
	case len(ws.within) == 0 && len(ws.crossed) == 0:
		return 0, false
	case len(ws.within) == 0:
		return ws.slots[ws.crossed[0]].entry, true
	case len(ws.crossed) == 0:
		return ws.slots[ws.within[0]].entry, true
	}
	return min(ws.slots[ws.within[0]].entry, ws.slots[ws.crossed[0]].entry), true
}

// The heaps are min-heaps of slots by entry; each slot knows its position.

func (ws *waiters) less(h []int32, i, j int) bool {
	return ws.slots[h[i]].entry < ws.slots[h[j]].entry
}

func (ws *waiters) swap(h []int32, i, j int) {
	h[i], h[j] = h[j], h[i]
	ws.slots[h[i]].pos, ws.slots[h[j]].pos = int32(i), int32(j)
}

func (ws *waiters) push(h *[]int32, s int32) {
	*h = append(*h, s)
	i := len(*h) - 1
	ws.slots[s].pos = int32(i)
	ws.up(*h, i)
}

func (ws *waiters) removeAt(h *[]int32, i int) {
	n := len(*h) - 1
	if i != n {
		ws.swap(*h, i, n)
	}
	*h = (*h)[:n]
	if i < n && !ws.down(*h, i) {
		ws.up(*h, i)
	}
}

func (ws *waiters) up(h []int32, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !ws.less(h, i, p) {
			return
		}
		ws.swap(h, i, p)
		i = p
	}
}

// down reports whether the element at i moved.
func (ws *waiters) down(h []int32, i int) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && ws.less(h, r, c) {
			c = r
		}
		if !ws.less(h, c, i) {
			break
		}
		ws.swap(h, i, c)
		i = c
	}
	return i > start
}
