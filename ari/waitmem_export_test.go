package ari

// DrainersRunning is the number of queue calls that have a goroutine now
// (tests of memory per waiting caller wait for none).
func (a *App) DrainersRunning() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		c.mb.mu.Lock()
		if c.mb.running && !c.mb.ended {
			n++
		}
		c.mb.mu.Unlock()
	}
	return n
}
