package tasks

import "time"

// SetListenIdle sets how long Listen waits on a quiet connection before it
// pings it, so tests can exercise that path.
func SetListenIdle(s *Store, d time.Duration) { s.listenIdle = d }
