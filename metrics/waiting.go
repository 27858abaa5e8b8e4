package metrics

import "container/heap"

// waiters are a queue's waiting calls, kept so that a scrape reads the
// figures that depend on them (how many, the oldest, how many waited past
// the threshold per window) without visiting every call: two min-heaps by
// entry, one of the calls still within the threshold and one of those past
// it. A scrape moves the calls that crossed the threshold since the last one
// from the first heap to the second and counts them in their windows, so
// its cost follows the calls that arrive, not the calls that wait.
//
// A call once past the threshold stays past it, also if the clock steps
// back. Callers hold the queue's lock.
type waiters struct {
	byID    map[string]*waiter
	within  waitHeap // entered, not yet past the threshold at the last scrape
	crossed waitHeap // past the threshold
}

type waiter struct {
	entry   int64 // Unix milliseconds
	idx     int   // position in its heap
	crossed bool
}

func newWaiters() waiters {
	return waiters{byID: map[string]*waiter{}}
}

func (ws *waiters) len() int { return len(ws.byID) }

func (ws *waiters) has(id string) bool {
	_, ok := ws.byID[id]
	return ok
}

func (ws *waiters) add(id string, entry int64) {
	w := &waiter{entry: entry}
	ws.byID[id] = w
	heap.Push(&ws.within, w)
}

// remove forgets the call and reports its entry and whether it had crossed
// the threshold.
func (ws *waiters) remove(id string) (entry int64, crossed, ok bool) {
	w, ok := ws.byID[id]
	if !ok {
		return 0, false, false
	}
	delete(ws.byID, id)
	if w.crossed {
		heap.Remove(&ws.crossed, w.idx)
	} else {
		heap.Remove(&ws.within, w.idx)
	}
	return w.entry, w.crossed, true
}

// cross moves the calls that entered before limit to the crossed heap and
// calls f with the entry of each.
func (ws *waiters) cross(limit int64, f func(entry int64)) {
	for len(ws.within) > 0 && ws.within[0].entry < limit {
		w := heap.Pop(&ws.within).(*waiter)
		w.crossed = true
		heap.Push(&ws.crossed, w)
		f(w.entry)
	}
}

// oldest is the earliest entry of a waiting call; ok is false when none waits.
func (ws *waiters) oldest() (entry int64, ok bool) {
	switch {
	case len(ws.within) == 0 && len(ws.crossed) == 0:
		return 0, false
	case len(ws.within) == 0:
		return ws.crossed[0].entry, true
	case len(ws.crossed) == 0:
		return ws.within[0].entry, true
	}
	return min(ws.within[0].entry, ws.crossed[0].entry), true
}

// waitHeap is a min-heap of waiters by entry (container/heap).
type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].entry < h[j].entry }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.idx = len(*h)
	*h = append(*h, w)
}

func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
